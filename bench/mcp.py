"""What ``imagen mcp`` adds to a generate_image call, and how fast it starts.

A real ``imagen mcp`` subprocess over stdio, spoken to with the MCP SDK's own client, with
the ``mock`` backend at 256x256; HOME and the XDG dirs are a temporary folder. Measured:

- a ``generate_image`` call (one take, no seed, so never a cache hit) from the client's
  request to its result (image content, path, cost), minus an in-process ``prepare()`` +
  ``execute()`` of the same request in this process, the two taken in turns (target: at
  most 10 ms at p50);
- ``imagen mcp`` start-up: from spawning the process to the answer to ``tools/list``.

    uv run python bench/mcp.py [--runs 50] [--starts 7]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

# This file has the mcp SDK's name: keep its folder at the end of the path, so ``import mcp``
# finds the SDK and ``_results`` is still found here.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.append(str(HERE))

from _results import record  # noqa: E402 (after the path is set)

if TYPE_CHECKING:
    from mcp import StdioServerParameters

PROMPT = "a lighthouse on a cliff at dusk"
SIZE = "256x256"
CALL_TARGET_MS = 10.0

CONFIG = """\
default_backend: bench
output:
  directory: {out}
  preview: "off"
backends:
  bench:
    type: mock
"""


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def row(label: str, samples: list[float], target: str = "-", verdict: str = "-") -> str:
    return (
        f"| {label} | {len(samples)} | {percentile(samples, 0.5):.2f} | "
        f"{percentile(samples, 0.99):.2f} | {max(samples):.2f} | {target} | {verdict} |"
    )


def _params(env: dict[str, str]) -> StdioServerParameters:
    from mcp import StdioServerParameters

    return StdioServerParameters(command=sys.executable, args=["-m", "imagen", "mcp"], env=env)


def time_calls(
    config_path: Path, env: dict[str, str], runs: int
) -> tuple[list[float], list[float]]:
    """ms per in-process prepare() + execute() and per generate_image call over stdio of the
    same one-take request, taken in turns so a change in the machine's load hits both."""
    from mcp import Client

    from imagen.config.load import load_config
    from imagen.models import Request
    from imagen.pipeline import execute, open_backend, prepare

    config = load_config(config_path)
    width, height = (int(side) for side in SIZE.split("x"))
    arguments = {"prompt": PROMPT, "backend": "bench", "size": SIZE}

    async def main() -> tuple[list[float], list[float]]:
        inner, calls = [], []
        backend = open_backend(config, "bench")
        try:
            async with Client(_params(env), cache=None, read_timeout_seconds=60) as client:
                for run in range(runs + 1):
                    start = time.perf_counter()
                    request = Request(PROMPT, width=width, height=height)
                    plan = prepare(config, request, estimator=backend)
                    outcome = await execute(plan, backend=backend)
                    middle = time.perf_counter()
                    result = await client.call_tool("generate_image", arguments)
                    end = time.perf_counter()
                    assert outcome.ok, outcome.failures
                    if result.is_error:
                        raise SystemExit(f"generate_image failed: {result.content}")
                    if run:  # the first of each is the warm-up
                        inner.append((middle - start) * 1000)
                        calls.append((end - middle) * 1000)
        finally:
            await backend.aclose()
        return inner, calls

    return asyncio.run(main())


def time_starts(env: dict[str, str], starts: int) -> list[float]:
    """ms from spawning ``imagen mcp`` to its answer to tools/list."""
    from mcp import Client

    async def once() -> float:
        start = time.perf_counter()
        async with Client(_params(env), cache=None, read_timeout_seconds=60) as client:
            tools = await client.list_tools()
            elapsed = time.perf_counter() - start
        assert any(tool.name == "generate_image" for tool in tools.tools)
        return elapsed * 1000

    return [asyncio.run(once()) for _ in range(starts)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="generate_image calls timed")
    parser.add_argument("--starts", type=int, default=7, help="start-ups timed")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="imagen-bench-mcp-") as folder:
        root = Path(folder)
        for name, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"),
                          ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):  # fmt: skip
            os.environ[name] = str(root / sub)
        for name in [name for name in os.environ if name.startswith("IMAGEN_")]:
            del os.environ[name]
        config = root / "imagen.yaml"
        config.write_text(CONFIG.format(out=root / "out"))
        env = {**os.environ, "IMAGEN_CONFIG": str(config)}

        in_process, calls = time_calls(config, env, args.runs)
        starts = time_starts(env, args.starts)

    overhead = statistics.median(calls) - statistics.median(in_process)
    verdict = "met" if overhead <= CALL_TARGET_MS else f"NOT met ({overhead:.1f} ms)"
    rows = [
        row("in-process `prepare()` + `execute()`, same request", in_process),
        row("`generate_image` over stdio (request to result)", calls),
        f"| call overhead over in-process execute() (p50 - p50) | - | {overhead:.2f} | - | - "
        f"| <= {CALL_TARGET_MS:.0f} ms p50 | {verdict} |",
        row("`imagen mcp` start-up: spawn to the tools/list answer", starts),
    ]
    table = "\n".join(rows)
    body = f"""\
`imagen mcp` subprocess over stdio with the MCP SDK's client in this process; mock backend at \
{SIZE}, one take per call, no seed (never a cache hit); the result carries the image content \
(a PNG within `mcp.image_max_px`), its path and the cost. In-process runs and calls are \
taken in turns, so a change in load hits both. The machine is shared: other \
agents' builds and tests were running during this run.

| what | n | p50 ms | p99 ms | max ms | target | verdict |
| --- | --- | --- | --- | --- | --- | --- |
{table}
"""
    record("mcp", f"uv run python bench/mcp.py --runs {args.runs} --starts {args.starts}", body)


if __name__ == "__main__":
    main()
