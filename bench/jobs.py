"""The job queues under load: ``local`` (SQLite) and ``postgres`` (procrastinate), side by side.

Jobs are one take each of a tiny zero-latency mock image (64x64), so what is measured is the
queue and the runner, not a backend. Workers are real ``imagen worker`` processes; jobs are
submitted in this process through the library (``imagen.jobs.submit``). The postgres queue runs
on a throw-away local server (``imagen.testing.postgres``, Debian's ``postgresql`` package).

- submit-to-start latency: one idle worker; a job is submitted, and the time from ``submit``
  returning (committed) to the worker's claim (the job's ``started_at``) is taken; the next job
  goes in once this one is done. p50 and p99 (target p50 <= 50 ms: a notification, not a
  polling tick);
- queue overhead per job: the same jobs, submit call to ``finished_at`` minus the take's own
  time (``take.finished_at - take.started_at``) (target p50 <= 20 ms);
- throughput: ``--jobs`` jobs queued first, then one (then two) workers started; jobs per
  second from the first claim to the last finish;
- worker memory: one worker runs ``--memory-jobs`` jobs; its resident set size after the first
  tenth and at the end (no growth expected).

    uv run python bench/jobs.py [--samples 100] [--jobs 200] [--memory-jobs 1000]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from _results import record

BACKEND = "tiny"
CONFIG = """\
default_backend: tiny
history: {{enabled: true}}
queue: {queue}
backends:
  tiny: {{type: mock, width: 64, height: 64, concurrency: 1}}
"""


def percentile(samples: list[float], fraction: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


class Setup:
    """One queue type's config, environment and worker processes in a scratch folder."""

    def __init__(self, name: str, queue: str, work: Path, env: dict[str, str]) -> None:
        self.name = name
        self.work = work
        self.config = work / "imagen.yaml"
        self.config.write_text(CONFIG.format(queue=queue))
        self.env = {
            **os.environ,
            **env,
            "HOME": str(work / "home"),
            "XDG_DATA_HOME": str(work / "data"),
            "XDG_CACHE_HOME": str(work / "cache"),
            "XDG_CONFIG_HOME": str(work / "config"),
        }
        self.out = work / "out"
        self.workers: list[subprocess.Popen[bytes]] = []

    @contextlib.contextmanager
    def environment(self) -> Iterator[None]:
        saved = dict(os.environ)
        os.environ.clear()
        os.environ.update(self.env)
        try:
            yield
        finally:
            os.environ.clear()
            os.environ.update(saved)

    def start_worker(self) -> subprocess.Popen[bytes]:
        log = (self.work / f"worker-{len(self.workers)}.err").open("wb")
        process = subprocess.Popen(
            [sys.executable, "-m", "imagen", "--config", str(self.config), "worker",
             "--backends", BACKEND],
            env=self.env, stdout=subprocess.DEVNULL, stderr=log,
        )  # fmt: skip
        log.close()
        self.workers.append(process)
        return process

    def worker_ready(self, process: subprocess.Popen[bytes]) -> None:
        log = self.work / f"worker-{self.workers.index(process)}.err"
        deadline = time.monotonic() + 60
        while "claiming jobs" not in log.read_text():
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"the {self.name} worker did not start:\n{log.read_text()}")
            time.sleep(0.05)

    def stop_workers(self) -> None:
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.workers:
            try:
                process.wait(timeout=120)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self.workers.clear()


async def _open(setup: Setup) -> tuple[Any, Any]:
    from imagen.config.load import load_config
    from imagen.jobs.queue import open_queue

    config = load_config(setup.config)
    return config, open_queue(config)


async def _submit(queue: Any, config: Any, seed: int, out: Path) -> Any:
    from imagen.jobs.submit import submit
    from imagen.models import Request

    return await submit(queue, config, Request("a cat", seed=seed), backend=BACKEND,
                        output_dir=str(out))  # fmt: skip


async def _until_done(queue: Any, job_id: str) -> Any:
    from imagen.jobs.submit import follow

    job = await follow(queue, job_id, max_wait=120)
    if job.state != "done":
        raise SystemExit(f"job {job_id} ended {job.state}: {job.error}")
    return job


async def latency(setup: Setup, samples: int, seed: int) -> dict[str, list[float]]:
    """Sequential jobs through one idle worker: start latency and overhead (seconds)."""
    config, queue = await _open(setup)
    started, overhead = [], []
    try:
        for index in range(samples + 5):  # the first five warm up the worker and the caches
            before = time.time()
            job = await _submit(queue, config, seed + index, setup.out)
            submitted = time.time()
            done = await _until_done(queue, job.id)
            if index < 5:
                continue
            take = done.takes[0]
            started.append(max(0.0, done.started_at.timestamp() - submitted))
            own = (take.finished_at - take.started_at).total_seconds()
            overhead.append(done.finished_at.timestamp() - before - own)
    finally:
        await queue.aclose()
    return {"start": started, "overhead": overhead}


async def throughput(setup: Setup, jobs: int, workers: int, seed: int) -> float:
    """Jobs per second through ``workers`` worker processes, the jobs queued beforehand."""
    config, queue = await _open(setup)
    try:
        ids = [(await _submit(queue, config, seed + index, setup.out)).id for index in range(jobs)]
        for _ in range(workers):
            setup.start_worker()
        finished = [await _until_done(queue, job_id) for job_id in ids]
    finally:
        await queue.aclose()
        setup.stop_workers()
    first = min(job.started_at for job in finished)
    last = max(job.finished_at for job in finished)
    return jobs / (last - first).total_seconds()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise SystemExit("no VmRSS in /proc (Linux only)")


async def memory(setup: Setup, jobs: int, seed: int) -> tuple[float, float]:
    """The worker's RSS (MiB) after the first tenth of ``jobs`` and after all of them."""
    config, queue = await _open(setup)
    worker = setup.start_worker()
    setup.worker_ready(worker)
    early = 0.0
    try:
        batch = max(1, jobs // 10)
        for start in range(0, jobs, batch):
            ids = [(await _submit(queue, config, seed + start + index, setup.out)).id
                   for index in range(min(batch, jobs - start))]  # fmt: skip
            for job_id in ids:
                await _until_done(queue, job_id)
            if start == 0:
                early = rss_mib(worker.pid)
        final = rss_mib(worker.pid)
    finally:
        await queue.aclose()
        setup.stop_workers()
    return early, final


def measure(setup: Setup, options: argparse.Namespace) -> dict[str, Any]:
    with setup.environment():
        worker = setup.start_worker()
        setup.worker_ready(worker)
        try:
            timings = asyncio.run(latency(setup, options.samples, 10_000))
        finally:
            setup.stop_workers()
        one = asyncio.run(throughput(setup, options.jobs, 1, 100_000))
        two = asyncio.run(throughput(setup, options.jobs, 2, 200_000))
        early, final = asyncio.run(memory(setup, options.memory_jobs, 300_000))
    return {"timings": timings, "one": one, "two": two, "early": early, "final": final}


@contextlib.contextmanager
def postgres_url() -> Iterator[str]:
    import psycopg

    from imagen.testing.postgres import postgres_cluster
    from imagen_postgres.schema import apply

    with postgres_cluster() as server:
        with psycopg.connect(server.url(), autocommit=True) as admin:
            admin.execute("CREATE DATABASE bench")
        apply(server.url("bench"))
        yield server.url("bench")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--samples", type=int, default=100, help="jobs for the latency figures")
    parser.add_argument("--jobs", type=int, default=200, help="jobs for each throughput run")
    parser.add_argument("--memory-jobs", type=int, default=1000, help="jobs one worker runs")
    parser.add_argument(
        "--shared", action="store_true", help="say in the results that the machine was busy"
    )
    parser.add_argument("--no-record", action="store_true", help="print, do not write RESULTS.md")
    options = parser.parse_args()

    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="imagen-bench-jobs-") as scratch:
        root = Path(scratch)
        (root / "local").mkdir()
        local = Setup("local", f"{{type: local, path: {root / 'local' / 'jobs.sqlite3'}}}",
                      root / "local", {})  # fmt: skip
        results["local"] = measure(local, options)
        (root / "postgres").mkdir()
        with postgres_url() as url:
            remote = Setup("postgres", "{type: postgres, url_env: BENCH_QUEUE_URL}",
                           root / "postgres", {"BENCH_QUEUE_URL": url})  # fmt: skip
            results["postgres"] = measure(remote, options)

    rows = []
    for name, result in results.items():
        start, overhead = result["timings"]["start"], result["timings"]["overhead"]
        rows.append(
            f"| {name} | {statistics.median(start) * 1000:.1f} | "
            f"{percentile(start, 0.99) * 1000:.1f} | {statistics.median(overhead) * 1000:.1f} | "
            f"{percentile(overhead, 0.99) * 1000:.1f} | {result['one']:.1f} | "
            f"{result['two']:.1f} | {result['early']:.1f} -> {result['final']:.1f} |"
        )
    body = (
        f"{options.samples} sequential one-take jobs of a zero-latency 64x64 mock image for the "
        f"latencies, {options.jobs} queued jobs per throughput run, {options.memory_jobs} jobs "
        "through one worker for its memory (RSS after the first tenth -> at the end). PostgreSQL "
        "is a local throw-away server (fsync off), so network round trips are not in it.\n\n"
        "| queue | start p50 (ms) | start p99 (ms) | overhead p50 (ms) | overhead p99 (ms) | "
        "jobs/s, 1 worker | jobs/s, 2 workers | worker RSS (MiB) |\n"
        "| --- | --- | --- | --- | --- | --- | --- | --- |\n" + "\n".join(rows) + "\n\n"
        "Targets: start p50 <= 50 ms, overhead p50 <= 20 ms, no memory growth.\n"
    )
    missed = [
        f"{name} overhead p50 {statistics.median(result['timings']['overhead']) * 1000:.1f} ms"
        for name, result in results.items()
        if statistics.median(result["timings"]["overhead"]) > 0.020
    ] + [
        f"{name} start p50 {statistics.median(result['timings']['start']) * 1000:.1f} ms"
        for name, result in results.items()
        if statistics.median(result["timings"]["start"]) > 0.050
    ]
    body += f"Missed: {'; '.join(missed)}.\n" if missed else "All targets met.\n"
    if options.shared:
        body += (
            "\nThe machine was shared with other work while this ran (2 cores): the figures are "
            "upper bounds, and the two-worker throughput is bounded by the cores, not the queue.\n"
        )
    command = (
        f"uv run python bench/jobs.py --samples {options.samples} --jobs {options.jobs} "
        f"--memory-jobs {options.memory_jobs}" + (" --shared" if options.shared else "")
    )
    if options.no_record:
        print(body)
    else:
        record("jobs", command, body)


if __name__ == "__main__":
    main()
