"""The local queue with its runner, in one process: submit, run, cancel, pick, wait, bad jobs.

The ``gate`` backend (jobs_gate.py) logs each call and holds a take until the test releases
it, so "running" is a state the test waits for, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sqlite3
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import attrs
import pytest

from imagen.config.model import Config, Instance, QueueInstance
from imagen.jobs.local import LocalQueue
from imagen.jobs.model import Job, Problem
from imagen.jobs.queue import JobConflict, JobQuery
from imagen.jobs.settings import LocalQueueSettings
from imagen.jobs.submit import submit
from imagen.jobs.worker import Worker
from imagen.models import Request

from .conftest import run, until


@attrs.frozen
class Setup:
    config: Config
    out: Path
    log: Path
    hold: Path

    def calls(self, event: str) -> list[int]:
        """The seeds of the gate's ``start`` or ``paid`` events, in order."""
        if not self.log.exists():
            return []
        lines = [line.split() for line in self.log.read_text().splitlines()]
        return [int(seed) for kind, _, seed in lines if kind == event]


@pytest.fixture
def setup(tmp_path: Path, gate_module: ModuleType) -> Setup:
    hold = tmp_path / "hold"
    hold.mkdir()
    log = tmp_path / "calls.log"
    settings = gate_module.GateSettings(log=str(log), hold=str(hold))
    config = Config(
        default_backend="g",
        backends={"g": Instance("g", "gate", settings, concurrency=1)},
        queue=QueueInstance(
            "local", LocalQueueSettings(path=str(tmp_path / "jobs.sqlite3"), heartbeat=0.2)
        ),
    )
    return Setup(config, tmp_path / "out", log, hold)


async def submitted(queue: LocalQueue, setup: Setup, count: int, seed: int) -> Job:
    request = Request("a cat", count=count, seed=seed)
    return await submit(queue, setup.config, request, output_dir=setup.out)


def test_a_job_runs_to_done_with_every_take_on_disk_and_its_cost(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> Job:
        job = await submitted(queue, setup, 3, 10)
        assert job.state == "queued"
        assert job.cost_estimate is not None
        assert str(job.cost_estimate.amount) == "0.03"
        worker = Worker(setup.config, backends=["g"], once=True)
        await worker.serve(queue)
        return await queue.get(job.id)

    job = run(work, setup.config)
    assert job.state == "done"
    assert [take.state for take in job.takes] == ["done"] * 3
    assert [take.seed for take in job.takes] == [10, 11, 12]
    assert all(take.path and Path(take.path).is_file() for take in job.takes)
    assert job.cost_actual is not None
    assert str(job.cost_actual.amount) == "0.03"
    assert job.attempts == 1
    assert job.worker is not None
    assert job.finished_at is not None
    assert setup.calls("paid") == [10, 11, 12]


def test_a_canceled_queued_job_never_reaches_the_backend(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> Job:
        job = await submitted(queue, setup, 2, 20)
        canceled = await queue.cancel(job.id)
        assert canceled.state == "canceled"
        await Worker(setup.config, backends=["g"], once=True).serve(queue)
        return await queue.get(job.id)

    job = run(work, setup.config)
    assert job.state == "canceled"
    assert setup.calls("start") == []
    assert not setup.out.exists()


def test_a_canceled_running_job_stops_and_keeps_its_finished_takes(setup: Setup) -> None:
    (setup.hold / "hold-31").touch()

    async def work(queue: LocalQueue) -> Job:
        job = await submitted(queue, setup, 3, 30)
        worker = Worker(setup.config, backends=["g"])
        serving = asyncio.ensure_future(worker.serve(queue))
        await until(queue, job.id, lambda j: j.takes[1].state == "running")
        await queue.cancel(job.id)
        job = await until(queue, job.id, lambda j: j.finished)
        worker.stop()
        await serving
        return job

    job = run(work, setup.config)
    assert job.state == "canceled"
    assert [take.state for take in job.takes] == ["done", "failed", "queued"]
    assert job.takes[1].error is not None
    assert job.takes[1].error.title == "Canceled"
    assert job.takes[0].path
    assert Path(job.takes[0].path).is_file()
    assert setup.calls("start") == [30, 31]
    assert setup.calls("paid") == [30]


def test_a_worker_busy_with_a_quiet_take_goes_on_showing_it_is_alive(setup: Setup) -> None:
    # Nothing about the job changes while its take is held, so only the worker's own heartbeat
    # keeps other runners from taking the job over once stale_after has passed.
    beats = _quiet_beats(setup, heartbeat=0.2, count=3)
    assert beats == sorted(set(beats))


def test_a_busy_workers_heartbeat_keeps_its_pace_instead_of_flooding_the_file(
    setup: Setup,
) -> None:
    # Signs of life come every heartbeat / 2; a load can only space them further apart. The
    # first may be the last save's (a save is a sign of life too): the next two are the loop's.
    beats = _quiet_beats(setup, heartbeat=1.0, count=3)
    assert beats[2] - beats[1] >= 1.0 / 4, beats


def test_a_cancel_reaches_a_busy_worker_at_once_not_at_its_next_heartbeat(setup: Setup) -> None:
    (setup.hold / "hold-70").touch()
    config = _with_heartbeat(setup.config, 3600.0)

    async def work(queue: LocalQueue) -> Job:
        job = await submitted(queue, setup, 2, 70)
        worker = Worker(config, backends=["g"])
        serving = asyncio.ensure_future(worker.serve(queue))
        try:
            await until(queue, job.id, lambda j: j.takes[0].state == "running")
            await queue.cancel(job.id)
            async with asyncio.timeout(10):  # an hour before the next heartbeat
                return await until(queue, job.id, lambda j: j.finished)
        finally:
            worker.stop()
            await serving

    job = run(work, config)
    assert job.state == "canceled"
    assert [take.state for take in job.takes] == ["failed", "queued"]
    assert setup.calls("paid") == []


def _with_heartbeat(config: Config, seconds: float) -> Config:
    settings = attrs.evolve(config.queue.settings, heartbeat=seconds)
    return attrs.evolve(config, queue=attrs.evolve(config.queue, settings=settings))


def _quiet_beats(setup: Setup, *, heartbeat: float, count: int) -> list[float]:
    """The heartbeats a worker records while its one take is held and its job is unchanged."""
    (setup.hold / "hold-60").touch()
    config = _with_heartbeat(setup.config, heartbeat)

    async def work(queue: LocalQueue) -> list[float]:
        job = await submitted(queue, setup, 1, 60)
        worker = Worker(config, backends=["g"])
        serving = asyncio.ensure_future(worker.serve(queue))
        try:
            await until(queue, job.id, lambda j: j.takes[0].state == "running")
            return await _beats_while_unchanged(queue, job.id, count)
        finally:
            (setup.hold / "release-60").touch()
            worker.stop()  # a drain: the take, released, ends first
            await serving

    return run(work, config)


async def _beats_while_unchanged(queue: LocalQueue, job_id: str, count: int) -> list[float]:
    """``count`` heartbeats of the job's runner in a row with no change of the job between."""
    seen = queue.changes.mark()
    beats: list[float] = []
    last_version = None
    deadline = asyncio.get_running_loop().time() + 10
    with contextlib.closing(sqlite3.connect(queue.path)) as conn:
        while len(beats) < count:
            version, beat = conn.execute(
                "SELECT version, heartbeat FROM jobs WHERE id = ?", (job_id,)
            ).fetchone()
            if version != last_version:
                last_version, beats = version, [beat]
            elif beat != beats[-1]:
                beats.append(beat)
            left = deadline - asyncio.get_running_loop().time()
            assert left > 0, f"the runner's heartbeat stopped while its job was unchanged: {beats}"
            seen = await queue.changes.wait(seen, left)
    return beats


def test_a_long_poll_wakes_when_another_process_changes_the_job(setup: Setup) -> None:
    config_file = setup.out.parent / "c.yaml"
    config_file.write_text(
        f"queue: {{type: local, path: {setup.config.queue.settings.path}}}\n"
        "backends: {g: {type: mock}}\n"
    )

    async def work(queue: LocalQueue) -> Job:
        job = await submit(queue, setup.config, Request("a cat"), backend="mock")
        waiting = asyncio.ensure_future(queue.wait(job.id, after=job.version, max_wait=120))
        cancel = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "imagen", "--config", str(config_file), "jobs", "cancel", job.id,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        assert await cancel.wait() == 0
        return await waiting

    job = run(work, setup.config)
    assert job.state == "canceled"


def test_only_a_done_take_can_be_picked(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> Job:
        job = await submit(queue, setup.config, Request("a cat", count=2), backend="mock",
                           output_dir=setup.out)  # fmt: skip
        with pytest.raises(JobConflict, match=r"take 1 of job .* is queued; pick a done take"):
            await queue.pick(job.id, 1)
        await Worker(setup.config, backends=["mock"], once=True).serve(queue)
        with pytest.raises(JobConflict, match="there is no take 3"):
            await queue.pick(job.id, 3)
        return await queue.pick(job.id, 2)

    job = run(work, setup.config)
    assert job.picked == 2


def test_a_job_whose_backend_is_not_ready_fails_with_a_problem_and_the_worker_goes_on(
    setup: Setup, gate_module: ModuleType
) -> None:
    off = Instance("off", "gate", gate_module.GateSettings(log=str(setup.log), ready=False))
    config = attrs.evolve(setup.config, backends={**setup.config.backends, "off": off})

    async def work(queue: LocalQueue) -> tuple[Job, Job]:
        bad = await submit(queue, config, Request("a cat"), backend="off", output_dir=setup.out)
        good = await submit(queue, config, Request("a cat", seed=50), output_dir=setup.out)
        await Worker(config, backends=["off", "g"], once=True).serve(queue)
        return await queue.get(bad.id), await queue.get(good.id)

    bad, good = run(work, config)
    assert bad.state == "failed"
    assert bad.error is not None
    assert bad.error.type == "urn:imagen:not-configured"
    assert "GATE_TOKEN" in bad.error.detail
    assert good.state == "done"
    assert setup.calls("paid") == [50]


def test_list_filters_by_state_backend_caller_and_text(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> list[list[str]]:
        a = await submit(queue, setup.config, Request("a red fox"), backend="mock", caller="ann")
        b = await submit(queue, setup.config, Request("a blue cat"), backend="g", caller="bob")
        await queue.cancel(a.id)
        found = [
            await queue.list(JobQuery()),
            await queue.list(JobQuery(states=["canceled"])),
            await queue.list(JobQuery(backend="g")),
            await queue.list(JobQuery(caller="ann")),
            await queue.list(JobQuery(text="BLUE")),
            await queue.list(JobQuery(text="%")),
        ]
        ids = {a.id: "a", b.id: "b"}
        return [[ids[job.id] for job in jobs] for jobs in found]

    assert run(work, setup.config) == [["b", "a"], ["a"], ["b"], ["a"], ["b"], []]


def test_a_job_written_by_a_newer_imagen_is_left_for_a_newer_runner(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> Job:
        job = await submit(queue, setup.config, Request("a cat"), backend="mock")
        with sqlite3.connect(queue.path) as conn:
            conn.execute("UPDATE jobs SET format_version = 99 WHERE id = ?", (job.id,))
        worker = Worker(setup.config, backends=["mock"], once=True)
        await worker.serve(queue)
        assert worker.jobs_run == 0
        with pytest.raises(JobConflict) as refused:
            await queue.get(job.id)
        assert str(refused.value) == (
            f"job {job.id} was written by a newer imagen (format 99); upgrade imagen to read it"
        )
        return job

    run(work, setup.config)


def test_a_job_whose_runners_keep_dying_is_interrupted_with_its_takes(setup: Setup) -> None:
    config = attrs.evolve(
        setup.config,
        queue=attrs.evolve(
            setup.config.queue, settings=attrs.evolve(setup.config.queue.settings, max_attempts=1)
        ),
    )
    dead = f"{socket.gethostname()}:{_dead_pid()}:gone"

    async def work(queue: LocalQueue) -> Job:
        job = await submitted(queue, setup, 2, 40)
        claimed = await asyncio.to_thread(queue.file.claim, dead, ["g"], queue.settings)
        assert claimed is not None
        assert claimed.state == "running"
        worker = Worker(config, backends=["g"], once=True)
        await worker.serve(queue)
        assert worker.jobs_run == 0
        return await queue.get(job.id)

    job = run(work, config)
    assert job.state == "interrupted"
    assert job.error == Problem(
        "urn:imagen:interrupted",
        "Interrupted",
        "the runner stopped 1 times while running this job; the finished takes are kept. "
        "Submit it again to retry the others",
    )
    assert setup.calls("start") == []


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)
