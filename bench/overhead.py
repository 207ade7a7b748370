"""What the pipeline adds to each take once the image has arrived, and what a cache hit costs.

In-process, through the library API (``imagen.pipeline.prepare`` and ``execute``), with a
bench-only backend type registered as a plugin object: it returns a pre-encoded 1024x1024 PNG
(1.9 MB, gradients and noise, like a real render) at once, a fresh copy per take as a download
would be. Measured, median of ``--runs`` after a warm-up:

- per take: from the backend returning to the reporter's ``take_finished``, which is naming,
  the metadata embedded in the PNG, the sha256, the atomic write of image and sidecar, and the
  history row (target: at most 5 ms);
- a whole single-take ``execute()`` beside it (history opened and closed, hooks run);
- a cache hit: ``prepare()`` + ``execute()`` of a request with an explicit seed that was
  already written (history lookup, the file checked unchanged, a history row for the hit)
  (target: at most 2 ms);
- Pillow decoding and re-encoding the same PNG, as the yardstick for the ratio.

Peak memory: ``execute()`` of 1 and of 8 takes of a 4096x4096 PNG, each in its own process
(``ru_maxrss``). The growth over the process's size before the run should be one take's, not
eight.

    uv run python bench/overhead.py [--runs 50]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _results import record

from imagen import hookimpl
from imagen.config.model import Config, HistoryConfig, Instance, OutputConfig
from imagen.models import Cost, Generation, Image, Progress, Request, Result, Status

BACKEND_TYPE = "bench-instant"
INSTANCE = "bench"
PROMPT = "a lighthouse on a cliff at dusk, volumetric light"
WRITE_TARGET_MS = 5.0
CACHE_TARGET_MS = 2.0
MEMORY_TAKES = (1, 8)


@attrs.frozen
class InstantSettings:
    png: str
    width: int
    height: int


class InstantBackend:
    """Returns the PNG at ``settings.png`` at once: a fresh copy per take, as a download gives."""

    def __init__(self, name: str, settings: InstantSettings) -> None:
        self.name = name
        self.settings = settings
        self.png = Path(settings.png).read_bytes()
        self.returned_at = 0.0

    async def generate(self, request: Request, progress: Progress) -> Result:
        data = bytes(memoryview(self.png))  # one new copy, as a download would allocate
        images = tuple(
            Image(data, "image/png", self.settings.width, self.settings.height, request.seed)
            for _ in range(request.count)
        )
        self.returned_at = time.perf_counter()
        return Result(images, model="bench/instant", latency=0.0, metadata={"bench": True})

    def estimate_cost(self, request: Request) -> Cost | None:
        return Cost(Decimal("0.003"), "bench price")

    def status(self) -> Status:
        return Status(ok=True, message="ok (bench)")

    async def aclose(self) -> None:
        return None


class BenchPlugin:
    """Registers the bench backend type, in this process only."""

    @hookimpl
    def register_backends(self, register: Any) -> None:
        register(BACKEND_TYPE, InstantBackend, InstantSettings, concurrency=8)


def install_plugin() -> None:
    from imagen.plugins import loader as plugins

    plugins.manager().register(BenchPlugin(), name="bench")
    plugins.registry.cache_clear()


def bench_config(root: Path, png: Path, size: int) -> Config:
    settings = InstantSettings(str(png), size, size)
    return Config(
        default_backend=INSTANCE,
        output=OutputConfig(directory=str(root / "out")),
        history=HistoryConfig(path=str(root / "history.db")),
        backends={INSTANCE: Instance(INSTANCE, BACKEND_TYPE, settings)},
    )


@attrs.define
class FinishClock:
    """A Reporter that notes when each take was finished (written and recorded)."""

    finished_at: float = 0.0

    def take_started(self, take: int, total: int) -> None:
        return None

    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None:
        return None

    def take_finished(self, take: int, generation: Generation) -> None:
        self.finished_at = time.perf_counter()

    def take_failed(self, take: int, error: Exception) -> None:
        raise SystemExit(f"take {take} failed: {error}")

    def warning(self, message: str) -> None:
        return None


def make_png(size: int, *, compress_level: int = 6) -> bytes:
    """A deterministic RGB PNG that compresses like a rendered image (gradients and noise)."""
    from PIL import Image as PILImage

    noise = PILImage.effect_noise((size, size), 24).convert("L")
    gradient = PILImage.linear_gradient("L").resize((size, size))
    red = PILImage.blend(gradient, noise, 0.35)
    green = PILImage.blend(gradient.rotate(90), noise.rotate(180), 0.35)
    blue = PILImage.radial_gradient("L").resize((size, size))
    buffer = io.BytesIO()
    PILImage.merge("RGB", (red, green, blue)).save(
        buffer, format="PNG", compress_level=compress_level
    )
    return buffer.getvalue()


@attrs.frozen
class Timings:
    write_ms: list[float]
    execute_ms: list[float]
    cache_ms: list[float]
    cache_prepare_ms: list[float]
    #: a written take of the seeded request (the one the cache hits return)
    written: Generation
    identity: str


async def time_pipeline(config: Config, runs: int) -> Timings:
    from imagen.pipeline import execute, open_backend, prepare

    backend = open_backend(config, INSTANCE)
    assert isinstance(backend, InstantBackend)
    clock = FinishClock()
    write_ms, execute_ms = [], []
    for run in range(runs + 1):
        plan = prepare(config, Request(PROMPT, width=1024, height=1024), estimator=backend)
        start = time.perf_counter()
        outcome = await execute(plan, backend=backend, reporter=clock)
        done = time.perf_counter()
        assert outcome.ok, outcome.failures
        assert not outcome.generations[0].cache_hit
        if run:  # the first run is the warm-up
            write_ms.append((clock.finished_at - backend.returned_at) * 1000)
            execute_ms.append((done - start) * 1000)

    seeded = Request(PROMPT, width=1024, height=1024, seed=424242)
    first = await execute(prepare(config, seeded, estimator=backend), backend=backend)
    assert first.ok, first.failures
    assert not first.generations[0].cache_hit
    cache_ms, cache_prepare_ms = [], []
    for run in range(runs + 1):
        start = time.perf_counter()
        plan = prepare(config, seeded, estimator=backend)
        prepared = time.perf_counter()
        outcome = await execute(plan, backend=backend, reporter=clock)
        done = time.perf_counter()
        assert outcome.ok, outcome.failures
        assert outcome.generations[0].cache_hit, "expected a cache hit"
        if run:
            cache_ms.append((done - start) * 1000)
            cache_prepare_ms.append((prepared - start) * 1000)
    return Timings(
        write_ms, execute_ms, cache_ms, cache_prepare_ms, first.generations[0], plan.identity
    )


def time_steps(config: Config, timings: Timings, png: bytes, runs: int) -> dict[str, list[float]]:
    """Each step of a take and of a cache hit on its own, to show where the time goes."""
    import hashlib
    from unittest import mock

    from imagen.output import files as output
    from imagen.output import sidecar
    from imagen.output.write import absolute_path, embed_metadata
    from imagen.pipeline import open_backend, prepare
    from imagen.store import cache
    from imagen.store.history import History

    generation = timings.written
    data = embed_metadata(generation, png)
    sidecar_bytes = sidecar.sidecar_bytes(
        sidecar.sidecar_data(generation, plugin_fields=generation.plugin_fields)
    )
    steps: dict[str, list[float]] = {}

    def clock(label: str, step: Any) -> None:
        samples = steps.setdefault(label, [])
        start = time.perf_counter()
        step()
        samples.append((time.perf_counter() - start) * 1000)

    backend = open_backend(config, INSTANCE)
    directory = str(Path(config.output.directory) / "steps")
    history = History.open(config.history.path)
    try:
        for run in range(runs):
            clock("take: embed metadata in the PNG", lambda: embed_metadata(generation, png))
            clock("take: sha256 of the PNG", lambda: hashlib.sha256(data).hexdigest())
            clock(
                "take: write image + sidecar (temp, fsync, link, folder fsync)",
                lambda run=run: output.write_take(
                    directory, f"take-{run}", "png", data, sidecar_bytes
                ),
            )
            with mock.patch("os.fsync"):
                clock(
                    "take: the same write with fsync a no-op (the rest is the disk's flush)",
                    lambda run=run: output.write_take(
                        directory, f"nosync-{run}", "png", data, sidecar_bytes
                    ),
                )
            clock(
                "for scale: a plain write of the same bytes to a new file (no fsync)",
                lambda run=run: raw_write(Path(directory) / f"raw-{run}.png", data),
            )
            clock(
                "take: history row (insert, open connection)",
                lambda: history.record(generation, backend_identity="bench:steps"),
            )
            clock(
                "per run: History.open() + close()",
                lambda: History.open(config.history.path).close(),
            )
            clock(
                "cache hit, file touched since: sha256 of the file on disk",
                lambda: cache.file_sha256(absolute_path(generation)),
            )
            clock(
                "cache hit: `prepare()` of the same request without the cache",
                lambda: prepare(config, generation.request, estimator=backend, use_cache=False),
            )
            clock(
                "cache hit: find_cached() rows",
                lambda: history.find_cached(timings.identity, generation.request.fingerprint()),
            )
    finally:
        history.close()
    return steps


def raw_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)


def time_pillow(png: bytes, runs: int) -> list[float]:
    from PIL import Image as PILImage

    samples = []
    for run in range(runs + 1):
        start = time.perf_counter()
        with PILImage.open(io.BytesIO(png)) as image:
            image.load()
            image.save(io.BytesIO(), format="PNG")
        if run:
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def memory_child(takes: int, png: Path, root: Path, size: int) -> None:
    """Run ``takes`` takes in this process; print its RSS before and at its peak, in KiB."""
    install_plugin()
    from imagen.pipeline import execute, open_backend, prepare

    config = bench_config(root, png, size)
    backend = open_backend(config, INSTANCE)
    plan = prepare(config, Request(PROMPT, width=size, height=size, count=takes), estimator=backend)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm_before = vm_hwm_kib()
    outcome = asyncio.run(execute(plan, backend=backend))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    hwm_peak = vm_hwm_kib()
    assert outcome.ok, outcome.failures
    assert len(outcome.generations) == takes
    print(
        json.dumps(
            {
                "takes": takes,
                "before_kib": before,
                "peak_kib": peak,
                "hwm_before_kib": hwm_before,
                "hwm_peak_kib": hwm_peak,
            }
        )
    )


def vm_hwm_kib() -> int:
    """This process's own peak RSS (``VmHWM``; unlike ``ru_maxrss``, not carried over exec)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return 0


def measure_memory(root: Path, size: int) -> tuple[int, list[dict[str, int]]]:
    """Peak RSS of a 1-take and an 8-take run, each in a new process.

    Run before this process grows: a child's ``ru_maxrss`` starts from its parent's size at
    fork, so the big PNG is made in a subprocess too.
    """
    png = root / f"big-{size}.png"
    subprocess.run([sys.executable, __file__, "--make-png", str(size), str(png)], check=True)
    rows = []
    for takes in MEMORY_TAKES:
        run_dir = root / f"memory-{takes}"
        completed = subprocess.run(
            [
                sys.executable,
                __file__,
                "--memory-size",
                str(size),
                "--memory-child",
                str(takes),
                str(png),
                str(run_dir),
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if completed.returncode != 0:
            raise SystemExit(f"memory run with {takes} takes failed:\n{completed.stderr}")
        rows.append(json.loads(completed.stdout.splitlines()[-1]))
    return png.stat().st_size, rows


def stats_row(label: str, samples: list[float], target: float | None, base: float) -> str:
    median = statistics.median(samples)
    verdict = "-" if target is None else ("met" if median <= target else "MISSED")
    target_text = "-" if target is None else f"<= {target:g}"
    return (
        f"| {label} | {median:.2f} | {min(samples):.2f} | {max(samples):.2f} | "
        f"{median / base:.3f} | {target_text} | {verdict} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--runs", type=int, default=50)
    parser.add_argument("--memory-size", type=int, default=4096)
    parser.add_argument("--memory-child", nargs=3, metavar=("TAKES", "PNG", "DIR"))
    parser.add_argument("--make-png", nargs=2, metavar=("SIZE", "PATH"))
    options = parser.parse_args()
    if options.make_png:
        size, path = options.make_png
        Path(path).write_bytes(make_png(int(size), compress_level=1))
        return
    if options.memory_child:
        takes, png, root = options.memory_child
        memory_child(int(takes), Path(png), Path(root), options.memory_size)
        return

    with tempfile.TemporaryDirectory(prefix="imagen-overhead-") as directory:
        root = Path(directory)
        big_size, memory = measure_memory(root, options.memory_size)
        install_plugin()
        png = root / "take.png"
        png.write_bytes(make_png(1024))
        config = bench_config(root, png, 1024)
        timings = asyncio.run(time_pipeline(config, options.runs))
        steps = time_steps(config, timings, png.read_bytes(), options.runs)
        pillow = time_pillow(png.read_bytes(), max(5, options.runs // 10))
        png_size = png.stat().st_size

    base = statistics.median(pillow)
    rows = [
        "| what | median ms | min ms | max ms | ratio to Pillow | target ms | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        stats_row(
            "per take: embed + sha256 + write image and sidecar + history row",
            timings.write_ms,
            WRITE_TARGET_MS,
            base,
        ),
        stats_row("whole single-take `execute()`", timings.execute_ms, None, base),
        stats_row("cache hit: `prepare()` + `execute()`", timings.cache_ms, CACHE_TARGET_MS, base),
        stats_row(
            "  of which `prepare()` (history lookup, file check)",
            timings.cache_prepare_ms,
            None,
            base,
        ),
        stats_row("Pillow: decode + re-encode the same PNG", pillow, None, base),
    ]
    step_rows = [
        "| step | median ms | min ms | max ms |",
        "| --- | --- | --- | --- |",
        *(
            f"| {label} | {statistics.median(samples):.2f} | {min(samples):.2f} | "
            f"{max(samples):.2f} |"
            for label, samples in steps.items()
        ),
    ]
    one, eight = (next(m for m in memory if m["takes"] == n) for n in MEMORY_TAKES)
    growth_one = (one["peak_kib"] - one["before_kib"]) / 1024
    growth_eight = (eight["peak_kib"] - eight["before_kib"]) / 1024
    image_mib = big_size / 2**20
    memory_ok = growth_eight - growth_one < image_mib
    body = "\n".join(
        [
            f"In-process, instant bench backend; take PNG 1024x1024, {png_size / 1e6:.2f} MB; "
            f"{options.runs} runs after one warm-up (Pillow: {len(pillow)} runs). "
            "Embedded metadata, JSON sidecar and history on (the defaults).",
            "",
            *rows,
            "",
            "Where the time goes: each step alone, same run, same PNG:",
            "",
            *step_rows,
            "",
            "File writes here are bimodal (min vs median): once the kernel's dirty-page limit "
            "is reached, every write waits for writeback, imagen's or not; the plain write "
            "shows what the machine charges for the bytes alone.",
            "",
            f"Peak RSS, {options.memory_size}x{options.memory_size} PNG of "
            f"{image_mib:.1f} MiB, one process per run:",
            "",
            "| takes | ru_maxrss before MiB | ru_maxrss peak MiB | growth MiB | VmHWM peak MiB |",
            "| --- | --- | --- | --- | --- |",
            *(
                f"| {m['takes']} | {m['before_kib'] / 1024:.1f} | {m['peak_kib'] / 1024:.1f} | "
                f"{(m['peak_kib'] - m['before_kib']) / 1024:.1f} | "
                f"{m['hwm_peak_kib'] / 1024:.1f} |"
                for m in memory
            ),
            "",
            f"Memory: 8 takes grow {growth_eight - growth_one:+.1f} MiB over 1 take "
            f"(one image is {image_mib:.1f} MiB): "
            + ("grows with one take, not eight." if memory_ok else "GROWS WITH THE TAKES."),
        ]
    )
    record("overhead", f"uv run python bench/overhead.py --runs {options.runs}", body)


if __name__ == "__main__":
    main()
