"""How quickly the comfyui backend notices a finished run, and how much time it adds to one.

A local fake ComfyUI (imagen_comfyui.fake, real loopback HTTP and websocket) runs the built-in
flux-schnell workflow in 1.0 s (4 sampler steps with progress and preview frames). Measured,
median of several runs each:

- notice: from the server announcing the end (``executing`` with ``node: null`` on the
  websocket) to the backend acting on it (its "fetching images" progress update);
- overhead: ``ComfyUIBackend.generate()`` wall time minus the server's own run time (from the
  prompt starting to the announcement): submitting, the websocket, history and the download;
- ``imagen generate`` as a subprocess (cold: interpreter start, plugin loading, file writing),
  with ``imagen generate --backend mock`` beside it for the CLI's own fixed cost.

Targets: notice within 20 ms (websocket, not a polling tick); generate() adds at most 50 ms.

    uv run python bench/comfyui_overhead.py [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import cli_available, median_ms, record, time_generate

from imagen.testing.servers import serve_app
from imagen_comfyui.fake import FakeComfyUI

RUN_TIME = 1.0
NOTICE_TARGET_MS = 20.0
OVERHEAD_TARGET_MS = 50.0
PROMPT = "a cat in a fishbowl"


def time_backend(
    fake: FakeComfyUI, url: str, runs: int
) -> tuple[list[float], list[float], list[float]]:
    """(wall times, notice delays, overheads) of ``runs`` generations after one warm-up."""
    from imagen.models import Progress, Request
    from imagen_comfyui.backend import ComfyUIBackend
    from imagen_comfyui.settings import ComfyUISettings

    async def main() -> tuple[list[float], list[float], list[float]]:
        backend = ComfyUIBackend("bench", ComfyUISettings(url=url))
        noticed: list[float] = []

        def progress(done: float, total: float | None, message: str) -> None:
            if message == "fetching images":
                noticed.append(time.perf_counter())

        walls, notices, overheads = [], [], []
        try:
            await backend.generate(Request(PROMPT, width=1024, height=1024, seed=0), Progress())
            for seed in range(1, runs + 1):
                noticed.clear()
                start = time.perf_counter()
                result = await backend.generate(
                    Request(PROMPT, width=1024, height=1024, seed=seed), Progress(progress)
                )
                wall = time.perf_counter() - start
                assert len(result.images) == 1
                (prompt_id,) = result.metadata["prompt_ids"]
                server_run = fake.announced[prompt_id] - fake.started[prompt_id]
                walls.append(wall)
                notices.append(noticed[0] - fake.announced[prompt_id])
                overheads.append(wall - server_run)
        finally:
            await backend.aclose()
        return walls, notices, overheads

    return asyncio.run(main())


def time_cli(url: str, runs: int, backend: str, work: Path) -> list[float]:
    config_text = (
        "default_backend: bench\n"
        f"output: {{directory: '{work / 'out'}', preview: 'off'}}\n"
        "backends:\n"
        f"  bench: {{type: comfyui, url: '{url}', workflow: flux-schnell}}\n"
        "  mock: {type: mock}\n"
    )
    return time_generate(
        config_text,
        work,
        backend=backend,
        prompt=PROMPT,
        options=["--size", "1024x1024"],
        runs=runs,
    )


def import_cost(module: str, runs: int) -> float:
    """Median seconds a fresh interpreter spends importing ``module`` (beyond starting up)."""

    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    # As the CLI imports it: without httpx's own command-line client.
    prefix = "from imagen.cli import _skip_httpx_cli; _skip_httpx_cli(); "
    with_module = statistics.median(once(f"{prefix}import {module}") for _ in range(runs))
    bare = statistics.median(once(prefix) for _ in range(runs))
    return with_module - bare


def spread(samples: list[float]) -> str:
    return f"{min(samples) * 1000:.1f}-{max(samples) * 1000:.1f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()

    fake = FakeComfyUI(run_time=RUN_TIME)
    with serve_app(fake.app()) as url:
        walls, notices, overheads = time_backend(fake, url, args.runs)
        lines = [
            f"Run time on the fake server: {RUN_TIME} s (flux-schnell, 4 steps, 1024x1024 PNG); "
            f"median of {args.runs} runs after one warm-up.",
            "",
            "| what | median ms | range ms |",
            "| --- | --- | --- |",
            f"| ComfyUIBackend.generate() wall time (in-process) | {median_ms(walls):.1f} | "
            f"{spread(walls)} |",
            f"| completion noticed after the server announced it | {median_ms(notices):.2f} | "
            f"{spread(notices)} |",
            f"| generate() minus the server's run time | {median_ms(overheads):.1f} | "
            f"{spread(overheads)} |",
        ]
        cli = None
        if cli_available():
            with tempfile.TemporaryDirectory() as work:
                comfy = time_cli(url, args.runs, "bench", Path(work))
                mock = time_cli(url, args.runs, "mock", Path(work))
            cli = (statistics.median(comfy), statistics.median(mock))
            lines += [
                f"| `imagen generate` subprocess, comfyui backend | {median_ms(comfy):.1f} | "
                f"{spread(comfy)} |",
                f"| `imagen generate` subprocess, mock backend (CLI fixed cost) | "
                f"{median_ms(mock):.1f} | {spread(mock)} |",
            ]
    notice, overhead = median_ms(notices), median_ms(overheads)
    lines += [
        "",
        f"Target (completion noticed within {NOTICE_TARGET_MS:.0f} ms): "
        f"{'met' if notice <= NOTICE_TARGET_MS else 'NOT met'}, {notice:.2f} ms.",
        f"Target (generate() adds at most {OVERHEAD_TARGET_MS:.0f} ms): "
        f"{'met' if overhead <= OVERHEAD_TARGET_MS else 'NOT met'}, +{overhead:.1f} ms.",
    ]
    if cli is not None:
        comfy_s, mock_s = cli
        httpx_s = import_cost("httpx", args.runs)
        lines.append(
            f"CLI: comfyui minus mock = {(comfy_s - mock_s) * 1000:.0f} ms, of which "
            f"{RUN_TIME * 1000:.0f} ms is the run itself and {httpx_s * 1000:.0f} ms importing "
            "httpx (imported the way the CLI does, without httpx's own command-line client)."
        )
    else:
        lines.append("CLI: `imagen generate` was not available; not measured.")
    record("comfyui_overhead", "uv run python bench/comfyui_overhead.py", "\n".join(lines))


if __name__ == "__main__":
    main()
