"""How much time the replicate backend adds to a prediction, beside Replicate's own client.

A local fake Replicate (imagen_replicate.fake_server, real loopback HTTP) runs a prediction
that takes 1.0 s and honours ``Prefer: wait``. Measured, median of several runs each:

- imagen's ``ReplicateBackend.generate()`` in-process (client warm, as in a server or worker);
- the official ``replicate`` client's ``Client.run()`` plus reading every output, same server;
- ``imagen generate`` as a subprocess (cold: interpreter start, plugin loading, file writing),
  with ``imagen generate --backend mock`` beside it for the CLI's own fixed cost.

Target: generate() adds at most 50 ms to the 1.0 s prediction.

    uv run --with replicate python bench/replicate_overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import cli_available, median_ms, record, time_generate

from imagen.testing.servers import serve_app
from imagen_replicate.fake_server import FakeReplicate, Scenario

PREDICT_TIME = 1.0
TARGET_MS = 50.0
TOKEN = "r8_bench_token_not_secret"
MODEL = "black-forest-labs/flux-schnell"
PROMPT = "a cat in a fishbowl"


def time_imagen_backend(url: str, runs: int) -> list[float]:
    from imagen.models import Progress, Request
    from imagen_replicate.backend import ReplicateBackend
    from imagen_replicate.settings import ReplicateSettings

    async def main() -> list[float]:
        backend = ReplicateBackend("bench", ReplicateSettings(model=MODEL, base_url=url))
        samples = []
        try:
            await backend.generate(Request(PROMPT, aspect_ratio="1:1", seed=0), Progress())
            for seed in range(1, runs + 1):
                start = time.perf_counter()
                result = await backend.generate(
                    Request(PROMPT, aspect_ratio="1:1", seed=seed), Progress()
                )
                samples.append(time.perf_counter() - start)
                assert len(result.images) == 1
        finally:
            await backend.aclose()
        return samples

    return asyncio.run(main())


def time_official_client(url: str, runs: int) -> list[float] | None:
    try:
        import replicate
    except ImportError:
        return None
    client = replicate.Client(api_token=TOKEN, base_url=url)

    def once(seed: int) -> None:
        output = client.run(
            MODEL,
            input={"prompt": PROMPT, "aspect_ratio": "1:1", "output_format": "png", "seed": seed},
        )
        items = output if isinstance(output, list) else [output]
        for item in items:
            # FileOutput wraps only https:/data: URLs; the fake serves http://127.0.0.1, so
            # read those with the client's own HTTP session, as FileOutput.read() would.
            data = item.read() if hasattr(item, "read") else client._client.get(item).content
            assert data

    once(0)
    samples = []
    for seed in range(1, runs + 1):
        start = time.perf_counter()
        once(seed)
        samples.append(time.perf_counter() - start)
    return samples


def time_cli(url: str, runs: int, backend: str, work: Path) -> list[float]:
    config_text = (
        f"default_backend: bench\n"
        f"output: {{directory: '{work / 'out'}', preview: 'off', cloud_sync: 'off'}}\n"
        f"backends:\n"
        f"  bench: {{type: replicate, model: {MODEL}, base_url: '{url}'}}\n"
        f"  mock: {{type: mock}}\n"
    )
    return time_generate(
        config_text,
        work,
        backend=backend,
        prompt=PROMPT,
        options=["--aspect", "1:1"],
        runs=runs,
        env={"REPLICATE_API_TOKEN": TOKEN},
    )


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


def row(label: str, samples: list[float], base: float = PREDICT_TIME) -> str:
    median = median_ms(samples)
    spread = f"{min(samples) * 1000:.0f}-{max(samples) * 1000:.0f}"
    return f"| {label} | {median:.1f} | {median - base * 1000:+.1f} | {spread} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    os.environ["REPLICATE_API_TOKEN"] = (
        TOKEN  # the fake's token, for imagen and the official client
    )
    fake = FakeReplicate(token=TOKEN, scenario=Scenario(predict_time=PREDICT_TIME))
    lines = [
        f"Prediction time on the fake server: {PREDICT_TIME:.1f} s; median of {args.runs} runs "
        "after one warm-up; overhead = median - prediction time.",
        "",
        "| what | median ms | overhead ms | range ms |",
        "| --- | --- | --- | --- |",
    ]
    measured: dict[str, list[float]] = {}
    with serve_app(fake.app()) as url:
        measured["imagen ReplicateBackend.generate() (in-process)"] = time_imagen_backend(
            url, args.runs
        )
        official = time_official_client(url, args.runs)
        if official is not None:
            measured["replicate.Client.run() + read outputs (official client)"] = official
        if cli_available():
            with tempfile.TemporaryDirectory() as work:
                measured["`imagen generate` subprocess, replicate backend"] = time_cli(
                    url, args.runs, "bench", Path(work)
                )
                measured["`imagen generate` subprocess, mock backend (CLI fixed cost)"] = time_cli(
                    url, args.runs, "mock", Path(work)
                )
            imports = time_http_imports(args.runs)
    for label, samples in measured.items():
        base = 0.0 if "mock" in label else PREDICT_TIME
        lines.append(row(label, samples, base))

    ours = median_ms(measured["imagen ReplicateBackend.generate() (in-process)"])
    overhead = ours - PREDICT_TIME * 1000
    verdict = "met" if overhead <= TARGET_MS else "NOT met"
    target = f"generate() adds at most {TARGET_MS:.0f} ms"
    lines += ["", f"Target ({target}): {verdict}, {overhead:+.1f} ms."]
    if official is None:
        lines.append("The official client was not installed: run with `uv run --with replicate`.")
    cli = [label for label in measured if "subprocess" in label]
    if len(cli) == 2:
        extra = statistics.median(measured[cli[0]]) - statistics.median(measured[cli[1]])
        lines.append(
            f"CLI: replicate minus mock = {extra * 1000:.0f} ms, of which "
            f"{PREDICT_TIME * 1000:.0f} ms is the prediction itself and about "
            f"{median_ms(imports):.0f} ms the cold `import httpx, tenacity` of the core's HTTP "
            "layer (the mock backend needs neither)."
        )
    record(
        "replicate_overhead",
        "uv run --with replicate python bench/replicate_overhead.py",
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()
