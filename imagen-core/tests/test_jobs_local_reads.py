"""The local queue's shared reads: one read of a job per change of the file however many ask,
and never an answer older than the asking; and its saves, which show a take that lands at once.

"Another process" is a second LocalQueue on the same file: its commits reach this queue only
through SQLite, as another process's would.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from types import ModuleType
from typing import TypeVar

import pytest

from imagen.config.model import Config, Instance, QueueInstance
from imagen.jobs import local, runner
from imagen.jobs.local import LocalQueue
from imagen.jobs.model import Job
from imagen.jobs.queue import JobNotFound
from imagen.jobs.settings import LocalQueueSettings
from imagen.jobs.submit import submit
from imagen.jobs.worker import Worker
from imagen.models import Request

HERE = Path(__file__).parent
T = TypeVar("T")
WAITERS = 50


@pytest.fixture
def config(tmp_path: Path) -> Config:
    settings = LocalQueueSettings(path=str(tmp_path / "jobs.sqlite3"))
    return Config(queue=QueueInstance("local", settings))


def run(config: Config, work: Callable[[LocalQueue, LocalQueue], Awaitable[T]]) -> T:
    """``work(queue, other)``: two queues on one file, as two processes would have."""

    async def main() -> T:
        settings = config.queue.settings
        assert isinstance(settings, LocalQueueSettings)
        queue, other = LocalQueue("local", settings), LocalQueue("local", settings)
        try:
            return await work(queue, other)
        finally:
            await queue.aclose()
            await other.aclose()

    return asyncio.run(main())


async def queued(queue: LocalQueue, config: Config) -> Job:
    return await submit(queue, config, Request("a cat"), backend="mock")


async def parked(queue: LocalQueue, count: int) -> None:
    """Return once ``count`` long polls wait for a change (yielding to them, no sleeping)."""
    while queue.changes.waiting < count:  # noqa: ASYNC110 (a count, not an event)
        await asyncio.sleep(0)


def test_long_polls_woken_by_one_change_share_one_read(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> tuple[list[Job], int]:
        job = await queued(queue, config)
        await queue.get(job.id)
        polls = [
            asyncio.ensure_future(queue.wait(job.id, after=job.version, max_wait=60))
            for _ in range(WAITERS)
        ]
        await parked(queue, WAITERS)
        before = queue.reads.count
        await queue.cancel(job.id)
        answers = await asyncio.gather(*polls)
        return answers, queue.reads.count - before

    answers, reads = run(config, work)
    assert {(job.state, job.version) for job in answers} == {("canceled", 2)}
    assert reads == 1


def test_a_change_through_a_queue_on_another_thread_wakes_long_polls_at_once(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As the server's runner does on its own thread. The poller would see it only in an hour.
    monkeypatch.setattr(local, "POLL_SECONDS", 3600.0)
    settings = config.queue.settings
    assert isinstance(settings, LocalQueueSettings)

    def cancel_elsewhere(job_id: str) -> None:
        async def main() -> None:
            queue = LocalQueue("local", settings)
            try:
                await queue.cancel(job_id)
            finally:
                await queue.aclose()

        asyncio.run(main())

    async def work(queue: LocalQueue, other: LocalQueue) -> Job:
        job = await queued(queue, config)
        poll = asyncio.ensure_future(queue.wait(job.id, after=job.version, max_wait=3600))
        await parked(queue, 1)
        await asyncio.to_thread(cancel_elsewhere, job.id)
        return await asyncio.wait_for(poll, 60)  # woken by the change, not its deadline

    assert run(config, work).state == "canceled"


def test_a_long_poll_without_a_version_waits_for_the_jobs_next_change(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> Job:
        job = await queued(queue, config)
        poll = asyncio.ensure_future(queue.wait(job.id, max_wait=60))
        while queue.changes.waiting < 1 and not poll.done():  # noqa: ASYNC110 (a count)
            await asyncio.sleep(0)
        await other.cancel(job.id)
        return await poll

    job = run(config, work)
    assert (job.state, job.version) == ("canceled", 2)


def test_a_long_poll_for_a_version_already_gone_answers_at_once(config: Config) -> None:
    # The job changed since the asker last saw it: that is the change it waits for.
    async def work(queue: LocalQueue, other: LocalQueue) -> Job:
        job = await queued(queue, config)
        await other.cancel(job.id)
        poll = asyncio.ensure_future(queue.wait(job.id, after=job.version, max_wait=60))
        while not poll.done():
            assert queue.changes.waiting == 0, "it waited for another change"
            await asyncio.sleep(0)
        return await poll

    job = run(config, work)
    assert (job.state, job.version) == ("canceled", 2)


def test_a_long_poll_with_no_change_answers_the_job_as_it_is_after_max_wait(
    config: Config,
) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> Job:
        job = await queued(queue, config)
        async with asyncio.timeout(10):
            return await queue.wait(job.id, after=job.version, max_wait=0.05)

    job = run(config, work)
    assert (job.state, job.version) == ("queued", 1)


def test_a_long_poll_with_no_time_to_wait_answers_without_waiting(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> Job:
        job = await queued(queue, config)
        for max_wait in (0.0, -5.0):
            poll = asyncio.ensure_future(queue.wait(job.id, after=job.version, max_wait=max_wait))
            while not poll.done():
                assert queue.changes.waiting == 0, f"max_wait={max_wait} waited for a change"
                await asyncio.sleep(0)
        return await poll

    assert run(config, work).version == 1


def test_a_long_poll_of_a_second_or_less_still_waits_for_a_change(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> tuple[int, int]:
        job = await queued(queue, config)
        poll = asyncio.ensure_future(queue.wait(job.id, after=job.version, max_wait=1.0))
        most = 0
        while not poll.done():
            most = max(most, queue.changes.waiting)
            await asyncio.sleep(0)
        await poll
        return most, queue.changes.waiting

    most, after = run(config, work)
    assert (most, after) == (1, 0)  # it waited, alone; answered, nobody waits


def test_an_unchanged_job_is_read_once(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> int:
        job = await queued(queue, config)
        before = queue.reads.count
        for _ in range(10):
            assert (await queue.get(job.id)).version == job.version
        return queue.reads.count - before

    assert run(config, work) == 1


def test_a_job_changed_by_another_process_is_read_again(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> tuple[Job, Job]:
        job = await queued(queue, config)
        first = await queue.get(job.id)
        await other.cancel(job.id)  # this queue's change counter never hears of it
        return first, await queue.get(job.id)

    first, second = run(config, work)
    assert (first.state, first.version) == ("queued", 1)
    assert (second.state, second.version) == ("canceled", 2)


def test_who_asks_after_a_change_does_not_share_a_read_begun_before_it(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> tuple[Job, Job, Job, int]:
        job = await queued(queue, config)
        release, reading = threading.Event(), threading.Event()
        read = queue.file.get

        def held_read(job_id: str) -> Job:
            found = read(job_id)  # read now, answered once released: a slow read
            if not reading.is_set():
                reading.set()
                assert release.wait(60)
            return found

        queue.file.get = held_read  # type: ignore[method-assign]
        before = queue.reads.count
        early = asyncio.ensure_future(queue.get(job.id))
        await asyncio.to_thread(reading.wait, 60)
        await other.cancel(job.id)
        late = await queue.get(job.id)
        release.set()
        answered = await early
        # The early read landing last is not kept as the job now either.
        again = await queue.get(job.id)
        return answered, late, again, queue.reads.count - before

    early, late, again, reads = run(config, work)
    assert early.state == "queued"
    assert (late.state, late.version) == ("canceled", 2)
    assert (again.state, again.version) == ("canceled", 2)
    assert reads == 2


def test_an_asker_going_away_leaves_the_shared_read_to_the_others(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> Job:
        job = await queued(queue, config)
        release, reading = threading.Event(), threading.Event()
        read = queue.file.get

        def held_read(job_id: str) -> Job:
            reading.set()
            assert release.wait(60)
            return read(job_id)

        queue.file.get = held_read  # type: ignore[method-assign]
        leaving = asyncio.ensure_future(queue.get(job.id))
        staying = asyncio.ensure_future(queue.get(job.id))
        await asyncio.to_thread(reading.wait, 60)
        leaving.cancel()
        release.set()
        with pytest.raises(asyncio.CancelledError):
            await leaving
        return await staying

    assert run(config, work).state == "queued"


def test_a_missing_job_is_not_found_by_everyone_asking(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> list[BaseException | Job]:
        return await asyncio.gather(
            *(queue.get("no-such-job") for _ in range(3)), return_exceptions=True
        )

    assert all(isinstance(answer, JobNotFound) for answer in run(config, work))


def test_a_long_poll_on_an_unchanged_file_is_never_woken(config: Config) -> None:
    # The poller watches the file for the whole wait; with nothing committed, nobody is woken
    # (each wake sends every long poll and idle worker back to the file).
    async def work(queue: LocalQueue, other: LocalQueue) -> tuple[Job, int]:
        job = await queued(queue, config)
        seen = queue.changes.mark()
        answer = await queue.wait(job.id, after=job.version, max_wait=0.3)
        return answer, queue.changes.counter - seen

    job, wakes = run(config, work)
    assert (job.version, wakes) == (1, 0)


def test_one_change_wakes_the_waiters_once(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> tuple[Job, int]:
        job = await queued(queue, config)
        seen = queue.changes.mark()
        poll = asyncio.ensure_future(queue.wait(job.id, after=job.version, max_wait=60))
        await parked(queue, 1)
        await queue.cancel(job.id)
        canceled = await poll
        # the poller goes on looking while this one waits: it must not take the change again
        await queue.wait(job.id, after=canceled.version, max_wait=0.3)
        return canceled, queue.changes.counter - seen

    canceled, wakes = run(config, work)
    assert (canceled.state, wakes) == ("canceled", 1)


def test_a_change_to_one_jobs_file_wakes_nobody_waiting_on_another(
    config: Config, tmp_path: Path
) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> int:
        elsewhere = LocalQueue("local", LocalQueueSettings(path=str(tmp_path / "other.sqlite3")))
        try:
            seen = elsewhere.changes.mark()
            await queued(queue, config)
            return elsewhere.changes.counter - seen
        finally:
            await elsewhere.aclose()

    assert run(config, work) == 0


def test_a_closed_queue_is_woken_by_no_change_of_its_file(config: Config) -> None:
    async def work(queue: LocalQueue, other: LocalQueue) -> int:
        settings = config.queue.settings
        assert isinstance(settings, LocalQueueSettings)
        closed = LocalQueue("local", settings)
        seen = closed.changes.mark()
        await closed.aclose()
        await queued(queue, config)
        return closed.changes.counter - seen

    assert run(config, work) == 0


def test_a_read_that_failed_is_tried_again_by_the_next_asker(
    config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A failure is never kept as the answer for an unchanged file: the next asker reads again.
    async def work(queue: LocalQueue, other: LocalQueue) -> Job:
        job = await queued(queue, config)
        read = queue.file.get
        failures = [sqlite3.OperationalError("disk I/O error")]

        def failing_once(job_id: str) -> Job:
            if failures:
                raise failures.pop()
            return read(job_id)

        monkeypatch.setattr(queue.file, "get", failing_once)
        with pytest.raises(sqlite3.OperationalError, match="disk I/O error"):
            await queue.get(job.id)
        return await queue.get(job.id)

    assert run(config, work).state == "queued"
    assert [
        record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR
    ] == []


def test_a_job_is_read_afresh_while_the_files_version_cannot_be_told(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    # SQLite busy for a moment: the watcher's pragma answers nothing, so nothing kept is trusted.
    async def work(queue: LocalQueue, other: LocalQueue) -> tuple[list[Job], int]:
        job = await queued(queue, config)
        monkeypatch.setattr(queue.changes, "stamp", lambda: None)
        before = queue.reads.count
        answers = [await queue.get(job.id), await queue.get(job.id)]
        return answers, queue.reads.count - before

    answers, reads = run(config, work)
    assert [job.state for job in answers] == ["queued", "queued"]
    assert reads == 2


def test_the_jobs_kept_for_an_unchanged_file_are_bounded_the_oldest_giving_way(
    config: Config, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(local._Reads, "KEEP", 2)

    async def work(queue: LocalQueue, other: LocalQueue) -> tuple[int, int]:
        first, second, third = [await queued(queue, config) for _ in range(3)]
        for job in (first, second, third):
            await queue.get(job.id)
        before = queue.reads.count
        await queue.get(third.id)  # the newest is kept
        kept = queue.reads.count - before
        await queue.get(first.id)  # the oldest gave way to it
        return kept, queue.reads.count - before - kept

    assert run(config, work) == (0, 1)
    assert [
        record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR
    ] == []


# -- saves: a take that lands is shown at once ---------------------------------------------


@pytest.fixture
def gate(tmp_path: Path, gate_module: ModuleType) -> Config:
    """A config whose backend ``g`` holds a take while ``hold/hold-<seed>`` exists without
    ``hold/release-<seed>`` (jobs_gate.py, registered by conftest's ``gate_module``)."""
    (tmp_path / "hold").mkdir()
    hold = str(tmp_path / "hold")
    settings = gate_module.GateSettings(log=str(tmp_path / "calls.log"), hold=hold)
    return Config(
        default_backend="g",
        backends={"g": Instance("g", "gate", settings, concurrency=1)},
        queue=QueueInstance("local", LocalQueueSettings(path=str(tmp_path / "jobs.sqlite3"))),
    )


def test_a_take_that_lands_is_saved_while_the_next_one_runs(
    gate: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The runner's own batching would hold every change until the job's end; the local
    # queue's store saves a landing at once.
    monkeypatch.setattr(runner, "SAVE_BATCH", 3600.0)
    (tmp_path / "hold" / "hold-41").touch()

    async def work(queue: LocalQueue, other: LocalQueue) -> Job:
        job = await submit(queue, gate, Request("a cat", count=2, seed=40))
        worker = Worker(gate, backends=["g"])
        serving = asyncio.ensure_future(worker.serve(queue))
        seen = await queue.get(job.id)
        while seen.takes[0].state != "done":
            before = seen.version
            seen = await queue.wait(job.id, after=before, max_wait=60)
            assert seen.version != before, "take 1 landed unseen for 60 s"
        (tmp_path / "hold" / "release-41").touch()
        worker.stop()
        await serving
        return seen

    seen = run(gate, work)
    assert [take.state for take in seen.takes] == ["done", "running"]
