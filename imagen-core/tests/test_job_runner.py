"""The job runner's saves: how often a job is written while it runs, and how the last one ends.

Every save is a round trip to the queue's database (a transaction on PostgreSQL), so the runner
writes a take's change of state a moment later, together with whatever changed meanwhile.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from types import ModuleType

import pytest

from imagen.config.model import Config, QueueInstance
from imagen.jobs import runner
from imagen.jobs.local import LocalQueue
from imagen.jobs.model import Job
from imagen.jobs.queue import open_queue
from imagen.jobs.settings import LocalQueueSettings
from imagen.jobs.store import JobStore
from imagen.jobs.submit import submit
from imagen.jobs.worker import worker_id
from imagen.models import Request


class Recording:
    """A JobStore that records every job it is asked to save, then saves it in ``store``."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.saved: list[Job] = []

    async def save(self, job: Job) -> Job:
        self.saved.append(job)
        return await self.store.save(job)


def test_a_job_whose_takes_end_before_a_save_is_due_is_saved_once_at_its_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No save falls due while the takes run: the claim stored the job as it started, and its
    # one save is the end, with every take in it.
    monkeypatch.setattr(runner, "SAVE_BATCH", 3600.0)
    config = Config(queue=QueueInstance("local", LocalQueueSettings(path=str(tmp_path / "j.db"))))

    async def scenario() -> tuple[Job, Recording]:
        from imagen.jobs.local import _Store

        queue = open_queue(config)
        assert isinstance(queue, LocalQueue)
        try:
            job = await submit(queue, config, Request("a cat", count=2), backend="mock",
                               output_dir=tmp_path / "out")  # fmt: skip
            me = worker_id()
            claimed = await asyncio.to_thread(queue.file.claim, me, ["mock"], queue.settings)
            assert claimed is not None
            assert claimed.id == job.id
            store = Recording(_Store(queue, me))
            final = await runner.run_job(config, claimed, store)
            assert (await queue.get(job.id)).version == final.version
            return final, store
        finally:
            await queue.aclose()

    final, store = asyncio.run(scenario())
    assert final.state == "done"
    assert [saved.state for saved in store.saved] == ["done"]
    assert [take.state for take in store.saved[0].takes] == ["done", "done"]


class HeldStore:
    """A JobStore whose saves wait until the test lets them through."""

    def __init__(self) -> None:
        self.started = asyncio.Event()
        self.release = asyncio.Event()
        self.finished: list[Job] = []
        self.cut_off = False

    async def save(self, job: Job) -> Job:
        self.started.set()
        try:
            await self.release.wait()
        except asyncio.CancelledError:
            self.cut_off = True
            raise
        self.finished.append(job)
        return job


def test_a_save_under_way_when_the_run_ends_is_finished_not_cut_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Cutting a save off mid-statement costs more than letting it end (the driver cancels the
    # statement on the server) and leaves unknown whether it was stored.
    monkeypatch.setattr(runner, "SAVE_BATCH", 0.0)

    async def scenario() -> HeldStore:
        store = HeldStore()
        job = _job()
        recorder = runner._Recorder(job, store, Config(), concurrency=1)
        saver = asyncio.ensure_future(recorder.keep_saving())
        recorder.take_started(1, 1)
        await store.started.wait()
        closing = asyncio.ensure_future(recorder.close(saver))
        for _ in range(5):  # every chance to cut the save off
            await asyncio.sleep(0)
        assert not closing.done()
        assert not store.cut_off
        store.release.set()
        await closing
        assert saver.done()
        return store

    store = asyncio.run(scenario())
    assert not store.cut_off
    assert [job.take(1).state for job in store.finished] == ["running"]


def test_an_idle_saver_is_stopped_at_once() -> None:
    async def scenario() -> HeldStore:
        store = HeldStore()
        recorder = runner._Recorder(_job(), store, Config(), concurrency=1)
        saver = asyncio.ensure_future(recorder.keep_saving())
        await asyncio.sleep(0)
        await recorder.close(saver)
        assert saver.cancelled()
        return store

    store = asyncio.run(scenario())
    assert not store.started.is_set()


def _job() -> Job:
    from imagen.jobs.model import new_job
    from imagen.pipeline import prepare

    config = Config()
    plan = prepare(config, Request("a cat", seed=1), backend="mock")
    return new_job(plan, request=Request("a cat", seed=1))


class RefusingStore:
    """A JobStore whose first ``refuse`` saves raise ``error`` (by default the queue's database
    gone for good, as the postgres queue's save says after its patience), then saves again."""

    def __init__(self, refuse: int, error: Exception | None = None) -> None:
        from imagen.errors import ImagenError

        self.refuse = refuse
        self.error = error or ImagenError(
            "the job queue's database cannot be used: connection refused"
        )
        self.finished: list[Job] = []

    async def save(self, job: Job) -> Job:
        if self.refuse:
            self.refuse -= 1
            raise self.error
        self.finished.append(job)
        return job


def held_job(tmp_path: Path, gate_module: ModuleType) -> tuple[Config, Job, Path]:
    """A job of three takes on the ``gate`` backend whose first take waits for a release that
    never comes; its config and the backend's call log."""
    from imagen.config.model import Instance
    from imagen.jobs.model import new_job
    from imagen.pipeline import prepare

    hold = tmp_path / "hold"
    hold.mkdir()
    (hold / "hold-7").touch()
    log = tmp_path / "calls.log"
    settings = gate_module.GateSettings(log=str(log), hold=str(hold))
    config = Config(default_backend="g", backends={"g": Instance("g", "gate", settings)})
    request = Request("a cat", count=3, seed=7)
    return (
        config,
        new_job(prepare(config, request, output_dir=tmp_path / "out"), request=request),
        log,
    )


def test_a_job_whose_progress_cannot_be_saved_stops_spending_and_ends_failed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gate_module: ModuleType
) -> None:
    # Its runner no longer records what it pays for, and another worker may take the job
    # over: no take may start after the save failed (the first take's is cancelled).
    monkeypatch.setattr(runner, "SAVE_BATCH", 0.0)
    config, job, log = held_job(tmp_path, gate_module)
    store = RefusingStore(refuse=1)

    ended = asyncio.run(asyncio.wait_for(runner.run_job(config, job, store), 60))

    assert ended.state == "failed"
    assert ended.error is not None
    assert "cannot be used: connection refused" in ended.error.detail
    assert [line.split()[::2] for line in log.read_text().splitlines()] == [["start", "7"]]
    assert [saved.state for saved in store.finished] == ["failed"]


def test_a_runner_that_lost_its_job_stops_spending_and_writes_nothing_more(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gate_module: ModuleType
) -> None:
    # The job is another runner's now: this one neither records it as failed nor goes on.
    from imagen.jobs.store import ClaimLost

    monkeypatch.setattr(runner, "SAVE_BATCH", 0.0)
    config, job, log = held_job(tmp_path, gate_module)
    store = RefusingStore(refuse=1, error=ClaimLost(f"job {job.id} was taken over"))

    with pytest.raises(ClaimLost):
        asyncio.run(asyncio.wait_for(runner.run_job(config, job, store), 60))

    assert [line.split()[::2] for line in log.read_text().splitlines()] == [["start", "7"]]
    assert store.finished == []
