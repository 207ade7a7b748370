"""How much time the openai backend adds to an image, beside OpenAI's own client.

A local fake OpenAI Images API (imagen_openai.fake_server, real loopback HTTP) holds each answer
for 1.0 s, as a render would, then answers with a real base64 PNG and its token usage. Measured,
median of several runs each, on the same fake in the same run:

- imagen's ``OpenAIBackend.generate()`` in-process (client warm, as in a server or worker);
- the official ``openai`` client's ``images.generate()`` plus decoding the base64 image;
- ``imagen generate`` as a subprocess (cold: interpreter start, plugin loading, file writing),
  with ``imagen generate --backend mock`` beside it for the CLI's own fixed cost.

Target: generate() adds at most 10 ms to the server's time.

    uv run --with openai python bench/openai_overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import cli_available, median_ms, record, time_generate

from imagen.testing.servers import serve_app
from imagen_openai.fake_server import FakeOpenAI

RENDER_TIME = 1.0
TARGET_MS = 10.0
KEY = "sk-bench-key-not-secret"
MODEL = "gpt-image-1"
PROMPT = "a cat in a fishbowl"


def time_imagen_backend(base_url: str, runs: int) -> list[float]:
    from imagen.models import Progress, Request
    from imagen_openai.backend import OpenAIBackend
    from imagen_openai.settings import OpenAISettings

    settings = OpenAISettings(model=MODEL, base_url=base_url, quality="low")

    async def main() -> list[float]:
        backend = OpenAIBackend("bench", settings)
        samples = []
        try:
            await backend.generate(Request(PROMPT, width=1024, height=1024), Progress())
            for _ in range(runs):
                start = time.perf_counter()
                result = await backend.generate(
                    Request(PROMPT, width=1024, height=1024), Progress()
                )
                samples.append(time.perf_counter() - start)
                assert len(result.images) == 1
        finally:
            await backend.aclose()
        return samples

    return asyncio.run(main())


def time_official_client(base_url: str, runs: int) -> list[float] | None:
    try:
        import openai
    except ImportError:
        return None
    client = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0)

    def once() -> None:
        answer = client.images.generate(
            model=MODEL, prompt=PROMPT, size="1024x1024", quality="low", n=1
        )
        assert answer.data
        data = answer.data[0].b64_json
        assert data
        assert base64.b64decode(data)

    once()
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        once()
        samples.append(time.perf_counter() - start)
    client.close()
    return samples


def time_cli(base_url: str, runs: int, backend: str, work: Path) -> list[float]:
    config_text = (
        f"default_backend: bench\n"
        f"output: {{directory: '{work / 'out'}', preview: 'off', cloud_sync: 'off'}}\n"
        f"backends:\n"
        f"  bench: {{type: openai, model: {MODEL}, quality: low, base_url: '{base_url}'}}\n"
        f"  mock: {{type: mock}}\n"
    )
    return time_generate(
        config_text,
        work,
        backend=backend,
        prompt=PROMPT,
        options=["--size", "1024x1024"],
        runs=runs,
        env={"OPENAI_API_KEY": KEY},
    )


def row(label: str, samples: list[float], base: float = RENDER_TIME) -> str:
    median = median_ms(samples)
    spread = f"{min(samples) * 1000:.0f}-{max(samples) * 1000:.0f}"
    return f"| {label} | {median:.1f} | {median - base * 1000:+.1f} | {spread} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    os.environ["OPENAI_API_KEY"] = KEY  # the fake's key, for imagen and the official client
    fake = FakeOpenAI(key=KEY)
    fake.delay = RENDER_TIME
    lines = [
        f"Render time on the fake server: {RENDER_TIME:.1f} s (gpt-image-1, low, 1024x1024 PNG); "
        f"median of {args.runs} runs after one warm-up; overhead = median - render time.",
        "",
        "| what | median ms | overhead ms | range ms |",
        "| --- | --- | --- | --- |",
    ]
    measured: dict[str, list[float]] = {}
    with serve_app(fake.app()) as url:
        base_url = f"{url}/v1"
        measured["imagen OpenAIBackend.generate() (in-process)"] = time_imagen_backend(
            base_url, args.runs
        )
        official = time_official_client(base_url, args.runs)
        if official is not None:
            measured["openai.OpenAI().images.generate() + decode (official client)"] = official
        if cli_available():
            with tempfile.TemporaryDirectory() as work:
                measured["`imagen generate` subprocess, openai backend"] = time_cli(
                    base_url, args.runs, "bench", Path(work)
                )
                measured["`imagen generate` subprocess, mock backend (CLI fixed cost)"] = time_cli(
                    base_url, args.runs, "mock", Path(work)
                )
    for label, samples in measured.items():
        base = 0.0 if "mock" in label else RENDER_TIME
        lines.append(row(label, samples, base))

    ours = median_ms(measured["imagen OpenAIBackend.generate() (in-process)"])
    overhead = ours - RENDER_TIME * 1000
    verdict = "met" if overhead <= TARGET_MS else "NOT met"
    lines += [
        "",
        f"Target (generate() adds at most {TARGET_MS:.0f} ms): {verdict}, {overhead:+.1f} ms.",
    ]
    if official is None:
        lines.append("The official client was not installed: run with `uv run --with openai`.")
    else:
        theirs = median_ms(official) - RENDER_TIME * 1000
        lines.append(f"The official client on the same fake: {theirs:+.1f} ms.")
    cli = [label for label in measured if "subprocess" in label]
    if len(cli) == 2:
        extra = statistics.median(measured[cli[0]]) - statistics.median(measured[cli[1]])
        lines.append(
            f"CLI: openai minus mock = {extra * 1000:.0f} ms, of which "
            f"{RENDER_TIME * 1000:.0f} ms is the render itself."
        )
    record(
        "openai_overhead",
        "uv run --with openai python bench/openai_overhead.py",
        "\n".join(lines),
    )


if __name__ == "__main__":
    main()
