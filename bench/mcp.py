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
import os
import statistics
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

# This file has the mcp SDK's name: keep its folder at the end of the path, so ``import mcp``
# finds the SDK and ``_results`` is still found here.
HERE = Path(__file__).resolve().parent
sys.path[:] = [entry for entry in sys.path if Path(entry or ".").resolve() != HERE]
sys.path.append(str(HERE))

from _results import record  # noqa: E402 (after the path is set)
from _servers import (  # noqa: E402
    PROMPT,
    SIZE,
    TABLE_HEAD,
    InProcess,
    load_average,
    row,
    scratch_home,
    verdict,
)

if TYPE_CHECKING:
    from mcp import StdioServerParameters

CALL_TARGET_MS = 10.0


def _params(env: dict[str, str]) -> StdioServerParameters:
    from mcp import StdioServerParameters

    return StdioServerParameters(command=sys.executable, args=["-m", "imagen", "mcp"], env=env)


def time_calls(
    config_path: Path, env: dict[str, str], runs: int
) -> tuple[list[float], list[float]]:
    """ms per in-process prepare() + execute() and per generate_image call over stdio of the
    same one-take request, taken in turns so a change in the machine's load hits both."""
    from mcp import Client

    arguments = {"prompt": PROMPT, "backend": "bench", "size": SIZE}

    async def main() -> tuple[list[float], list[float]]:
        inner, calls = [], []
        async with (
            InProcess(config_path) as in_process,
            Client(_params(env), cache=None, read_timeout_seconds=60) as client,
        ):
            for run in range(runs + 1):
                here = await in_process.timed()
                start = time.perf_counter()
                result = await client.call_tool("generate_image", arguments)
                there = (time.perf_counter() - start) * 1000
                if result.is_error:
                    raise SystemExit(f"generate_image failed: {result.content}")
                if run:  # the first of each is the warm-up
                    inner.append(here)
                    calls.append(there)
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

    loads = [load_average()]
    with scratch_home("imagen-bench-mcp-") as config:
        env = {**os.environ, "IMAGEN_CONFIG": str(config)}
        in_process, calls = time_calls(config, env, args.runs)
        starts = time_starts(env, args.starts)
    loads.append(load_average())

    overhead = statistics.median(calls) - statistics.median(in_process)
    rows = [
        row("in-process `prepare()` + `execute()`, same request", in_process),
        row("`generate_image` over stdio (request to result)", calls),
        f"| call overhead over in-process execute() (p50 - p50) | - | {overhead:.2f} | - | - "
        f"| <= {CALL_TARGET_MS:.0f} ms p50 | {verdict(overhead, CALL_TARGET_MS)} |",
        row("`imagen mcp` start-up: spawn to the tools/list answer", starts),
    ]
    table = "\n".join(rows)
    body = f"""\
`imagen mcp` subprocess over stdio with the MCP SDK's client in this process; mock backend at \
{SIZE}, one take per call, no seed (never a cache hit); the result carries the image content \
(a PNG within `mcp.image_max_px`), its path and the cost. In-process runs and calls are \
taken in turns, so a change in load hits both. The machine is shared: load average (1, 5, \
15 min) {loads[0]} at the start and {loads[1]} at the end, on 2 cores.

{TABLE_HEAD}
{table}
"""
    record("mcp", f"uv run python bench/mcp.py --runs {args.runs} --starts {args.starts}", body)


if __name__ == "__main__":
    main()
