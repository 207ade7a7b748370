"""How much time the replicate backend adds to a prediction, beside Replicate's own client.

A local fake Replicate (imagen_replicate.fake_server, real loopback HTTP, in a process of its
own) runs a prediction that takes 1.0 s and honours ``Prefer: wait``; its handlers' time is
measured there (bench/_overhead.py) and taken off each run, so the overhead is the client's
alone. Measured, median of several runs each:

- imagen's ``ReplicateBackend.generate()`` in-process (client warm, as in a server or worker);
- the official ``replicate`` client's ``Client.run()`` plus reading every output, same server;
- ``imagen generate`` as a subprocess (cold: interpreter start, plugin loading, file writing),
  with ``imagen generate --backend mock`` beside it for the CLI's own fixed cost.

Target: generate() adds at most 50 ms to the 1.0 s prediction.

    uv run --with replicate python bench/replicate_overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import itertools
import os
import statistics
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _overhead import (
    Clock,
    Comparison,
    Loop,
    Sample,
    cli_against_mock,
    load,
    sample_turns,
    serve_fake,
)

if TYPE_CHECKING:
    from aiohttp import web

PREDICT_TIME = 1.0
TARGET_MS = 50.0
TOKEN = "r8_bench_token_not_secret"
MODEL = "black-forest-labs/flux-schnell"
PROMPT = "a cat in a fishbowl"


def fake_app() -> web.Application:
    """The fake Replicate the benchmark talks to (built in the fake's own process)."""
    from imagen_replicate.fake_server import FakeReplicate, Scenario

    return FakeReplicate(token=TOKEN, scenario=Scenario(predict_time=PREDICT_TIME)).app()


def in_turns(url: str, clock: Clock, runs: int) -> dict[str, list[Sample]]:
    """imagen's generate() and (when installed) the official client's run(), in turns."""
    from imagen.models import Progress, Request
    from imagen_replicate.backend import ReplicateBackend
    from imagen_replicate.settings import ReplicateSettings

    backend = ReplicateBackend("bench", ReplicateSettings(model=MODEL, base_url=url))
    seeds = itertools.count()

    async def ours() -> None:
        request = Request(PROMPT, aspect_ratio="1:1", seed=next(seeds))
        assert len((await backend.generate(request, Progress())).images) == 1

    with Loop() as loop:
        calls = {"ours": loop.call(ours)}
        theirs = official_client(url)
        if theirs is not None:
            calls["official"] = theirs
        try:
            return sample_turns(calls, clock, runs)
        finally:
            loop.call(backend.aclose)()


def official_client(url: str) -> Callable[[], None] | None:
    """One ``Client.run()`` reading every output, or None without ``replicate``."""
    try:
        import replicate
    except ImportError:
        return None
    client = replicate.Client(api_token=TOKEN, base_url=url)
    seeds = itertools.count()

    def once() -> None:
        output = client.run(
            MODEL,
            input={
                "prompt": PROMPT,
                "aspect_ratio": "1:1",
                "output_format": "png",
                "seed": next(seeds),
            },
        )
        for item in output if isinstance(output, list) else [output]:
            # FileOutput wraps only https:/data: URLs; the fake serves http://127.0.0.1, so
            # read those with the client's own HTTP session, as FileOutput.read() would.
            data = item.read() if hasattr(item, "read") else client._client.get(item).content
            assert data

    return once


def time_http_imports(runs: int) -> list[float]:
    """Cold ``import httpx, tenacity`` (the core's HTTP layer), which the mock backend skips,
    done as the CLI does it (without httpx's own command-line client)."""
    code = "import time; from imagen.cli import _skip_httpx_cli; _skip_httpx_cli(); "
    code += "t = time.perf_counter(); import httpx, tenacity; "
    code += "print(time.perf_counter() - t)"
    samples = []
    for _ in range(runs):
        done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        samples.append(float(done.stdout))
    return samples


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    os.environ["REPLICATE_API_TOKEN"] = (
        TOKEN  # the fake's token, for imagen and the official client
    )
    load_before = load()
    notes: list[str] = []
    with serve_fake(fake_app) as (url, clock):
        measured = in_turns(url, clock, args.runs)
        cli = cli_against_mock(
            f"{{type: replicate, model: {MODEL}, base_url: '{url}'}}",
            clock,
            prompt=PROMPT,
            options=["--aspect", "1:1"],
            runs=args.runs,
            env={"REPLICATE_API_TOKEN": TOKEN},
        )
        if cli is not None:
            imports = statistics.median(time_http_imports(args.runs)) * 1000
            notes.append(
                f"Of the CLI's extra, about {imports:.0f} ms is the cold `import httpx, tenacity` "
                "of the core's HTTP layer (the mock backend needs neither)."
            )
    Comparison(
        name="replicate_overhead",
        command="uv run --with replicate python bench/replicate_overhead.py",
        setup=(
            f"The fake runs each prediction {PREDICT_TIME:.1f} s (held by `Prefer: wait`), "
            "then serves its PNG output for download."
        ),
        target_ms=TARGET_MS,
        ours=("imagen ReplicateBackend.generate() (in-process)", measured["ours"]),
        official=(
            ("replicate.Client.run() + read outputs (official client)", measured["official"])
            if "official" in measured
            else None
        ),
        official_hint="run with `uv run --with replicate`",
        cli=cli,
        notes=tuple(notes),
    ).write(args.runs, load_before)


if __name__ == "__main__":
    main()
