"""What a job records while it runs: each take's progress, landing and failure, and the job's end.

A page polling a job reads only what the runner saved, so these tests read the saves. A scripted
backend reports the progress each test gives it and waits, after each report, until a save
shows it; it fails the seeds it is told to and holds a seed until the test lets it go. No test
waits on a timer.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import attrs
import pytest

from imagen import hookimpl
from imagen.config.model import Config, HistoryConfig, Instance, QueueInstance, SinkInstance
from imagen.errors import BackendError
from imagen.jobs import runner
from imagen.jobs.local import LocalQueue, _Store
from imagen.jobs.model import Job
from imagen.jobs.queue import open_queue
from imagen.jobs.settings import LocalQueueSettings
from imagen.jobs.store import JobStore
from imagen.jobs.submit import submit
from imagen.jobs.worker import worker_id
from imagen.models import Cost, Image, Progress, Request, Result, Status
from imagen.plugins import loader as plugins
from imagen.plugins.registry import BackendRegister, SinkRegister
from imagen.sinks.protocol import Delivery, Stored

T = TypeVar("T")
PRICE = Cost(Decimal("0.02"), "script price")
#: a bound on any one wait, so a broken runner fails the test instead of hanging it
PATIENCE = 10.0


class Saves:
    """A JobStore that keeps every job it saved, so a test can wait for one that shows a state."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.jobs: list[Job] = []
        self._changed = asyncio.Event()

    async def save(self, job: Job) -> Job:
        stored = await self.store.save(job)
        self.jobs.append(stored)
        self._changed.set()
        return stored

    async def until(self, check: Callable[[Job], bool]) -> Job:
        async with asyncio.timeout(PATIENCE):
            while True:
                for job in reversed(self.jobs):
                    if check(job):
                        return job
                self._changed.clear()
                await self._changed.wait()


class Unsaved:
    """A JobStore whose saves never reach the queue: a runner that dies before each record."""

    async def save(self, job: Job) -> Job:
        return job


@attrs.define
class Script:
    #: (done, total, message) reported by every take, each waited on until a save shows it
    steps: list[tuple[float, float | None, str]] = attrs.field(factory=list)
    #: seed -> the message its take fails with
    fail: dict[int, str] = attrs.field(factory=dict)
    #: seeds whose take waits, once started, until ``release`` is set
    hold: set[int] = attrs.field(factory=set)
    price: Cost | None = PRICE
    #: images per take, and the warnings the provider sends with them
    images: int = 1
    warnings: tuple[str, ...] = ()
    calls: list[int] = attrs.field(factory=list)
    saves: Saves | None = None
    held: asyncio.Event = attrs.field(factory=asyncio.Event)
    release: asyncio.Event = attrs.field(factory=asyncio.Event)


SCRIPT = Script()


@attrs.frozen
class ScriptSettings:
    pass


class ScriptBackend:
    def __init__(self, name: str, settings: ScriptSettings) -> None:
        self.name = name

    def status(self) -> Status:
        return Status.ready()

    def estimate_cost(self, request: Request) -> Cost:
        return SCRIPT.price or Cost.free("the script's takes are free")

    async def aclose(self) -> None:
        return None

    async def generate(self, request: Request, progress: Progress) -> Result:
        from imagen.mock import render

        seed = request.seed if request.seed is not None else 0
        SCRIPT.calls.append(seed)
        for done, total, message in SCRIPT.steps:
            progress.update(done, total, message)
            assert SCRIPT.saves is not None
            await SCRIPT.saves.until(functools.partial(_running_with, message=message))
        if seed in SCRIPT.hold:
            SCRIPT.held.set()
            await SCRIPT.release.wait()
        if seed in SCRIPT.fail:
            raise BackendError(SCRIPT.fail[seed], backend=self.name)
        images = tuple(
            Image(render(f"{request.prompt} {index}", seed, 32, 32), "image/png", 32, 32, seed)
            for index in range(SCRIPT.images)
        )
        return Result(images, model="script", cost=SCRIPT.price, warnings=SCRIPT.warnings)


async def _held(running: asyncio.Future[Any]) -> None:
    """Return once the held take started; fail at once if the job ends first."""
    held: asyncio.Future[object] = asyncio.ensure_future(SCRIPT.held.wait())
    either: set[asyncio.Future[object]] = {held, running}
    await asyncio.wait(either, timeout=PATIENCE, return_when=asyncio.FIRST_COMPLETED)
    if not held.done():
        held.cancel()
        raise AssertionError(f"the held take never started: {running}")


def _running_with(job: Job, message: str) -> bool:
    return any(take.state == "running" and take.message == message for take in job.takes)


class ShelfSink:
    """A storage sink: keeps each image under its own name, at a made-up URL."""

    def __init__(self, name: str, settings: ScriptSettings) -> None:
        self.name = name

    def enabled_auto(self) -> bool:
        return True

    async def deliver(self, delivery: Delivery) -> Stored:
        path = delivery.generation.path
        return Stored(f"{self.name}/{path}", f"https://{self.name}.example/{path}")

    async def aclose(self) -> None:
        return None


class ScriptPlugin:
    @hookimpl
    def register_backends(self, register: BackendRegister) -> None:
        register("script", ScriptBackend, ScriptSettings, concurrency=1)

    @hookimpl
    def register_sinks(self, register: SinkRegister) -> None:
        register("shelf", ShelfSink, ScriptSettings)


@pytest.fixture(autouse=True)
def script() -> Iterator[None]:
    global SCRIPT
    SCRIPT = Script()
    plugins.manager().register(ScriptPlugin(), name="script-backend")
    plugins.registry.cache_clear()
    yield
    plugins.manager().unregister(name="script-backend")
    plugins.registry.cache_clear()


@pytest.fixture
def config(tmp_path: Path) -> Config:
    return Config(
        default_backend="s",
        backends={"s": Instance("s", "script", ScriptSettings(), concurrency=1)},
        history=HistoryConfig(path=str(tmp_path / "history.sqlite3")),
        queue=QueueInstance("local", LocalQueueSettings(path=str(tmp_path / "jobs.sqlite3"))),
    )


async def _claimed(queue: LocalQueue, config: Config, count: int, out: Path) -> Job:
    await submit(queue, config, Request("a lighthouse", count=count, seed=1), output_dir=out)
    job = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
    assert job is not None
    return job


def _run(work: Callable[[LocalQueue], Awaitable[T]], config: Config) -> T:
    async def main() -> T:
        queue = open_queue(config)
        assert isinstance(queue, LocalQueue)
        try:
            async with asyncio.timeout(3 * PATIENCE):
                return await work(queue)
        finally:
            await queue.aclose()

    return asyncio.run(main())


def test_a_running_take_shows_the_share_its_provider_reports_within_0_and_1(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Every report is saved here (progress alone is otherwise saved at most every 0.25 s).
    monkeypatch.setattr(runner, "PROGRESS_EVERY", 0.0)
    SCRIPT.steps = [
        (-1, 4, "starting"),
        (1, 4, "sampling"),
        (3, None, "waiting for a slot"),
        (6, 4, "past its total"),
        (1, 8, "a second pass"),
    ]

    async def work(queue: LocalQueue) -> tuple[dict[str, float], Job]:
        job = await _claimed(queue, config, 1, tmp_path / "out")
        SCRIPT.saves = Saves(_Store(queue, job.worker or ""))
        final = await runner.run_job(config, job, SCRIPT.saves)
        shown = {
            take.message: take.progress
            for saved in SCRIPT.saves.jobs
            for take in saved.takes
            if take.state == "running"
        }
        return shown, final

    shown, final = _run(work, config)
    # A total it does not give keeps the share shown; one past its total shows it complete.
    assert shown == {
        "starting": 0.0,
        "sampling": 0.25,
        "waiting for a slot": 0.25,
        "past its total": 1.0,
        "a second pass": 0.125,
    }
    take = final.take(1)
    assert (take.state, take.progress, take.message, take.error) == ("done", 1.0, "done", None)
    assert take.started_at is not None
    assert take.finished_at is not None
    assert take.started_at <= take.finished_at


def test_a_job_whose_takes_fail_says_how_many_of_them_and_why_the_first_did(
    config: Config, tmp_path: Path
) -> None:
    SCRIPT.fail = {2: "the provider lost take two", 3: "the provider lost take three"}

    async def work(queue: LocalQueue) -> tuple[Job, Job]:
        job = await _claimed(queue, config, 3, tmp_path / "out")
        final = await runner.run_job(config, job, _Store(queue, job.worker or ""))
        return final, await queue.get(job.id)

    final, stored = _run(work, config)
    assert stored.version == final.version
    assert stored.state == "failed"
    assert [take.state for take in stored.takes] == ["done", "failed", "failed"]
    second = stored.take(2).error
    assert second is not None
    assert second.type == "urn:imagen:backend-error"
    assert "the provider lost take two" in second.detail
    assert stored.error is not None
    assert (stored.error.type, stored.error.title) == (second.type, second.title)
    assert stored.error.detail == f"2 of 3 takes failed: {second.detail}"
    assert all(take.finished_at is not None for take in stored.takes)
    assert stored.finished_at is not None
    assert stored.eta is None
    first = stored.take(1)
    assert first.path is not None
    assert Path(first.path).is_file()


def test_a_job_canceled_while_a_take_runs_ends_canceled_with_that_take_failed(
    config: Config, tmp_path: Path
) -> None:
    SCRIPT.hold = {2}

    async def work(queue: LocalQueue) -> tuple[Job, Job]:
        job = await _claimed(queue, config, 3, tmp_path / "out")
        control = runner.Control()
        running = asyncio.ensure_future(
            runner.run_job(config, job, _Store(queue, job.worker or ""), control=control)
        )
        await _held(running)
        control.reason = "cancel"
        running.cancel()
        final = await running
        return final, await queue.get(job.id)

    final, stored = _run(work, config)
    assert stored.version == final.version
    assert stored.state == "canceled"
    assert stored.finished_at is not None
    assert stored.eta is None
    assert [take.state for take in stored.takes] == ["done", "failed", "queued"]
    canceled = stored.take(2)
    assert canceled.error == runner.CANCELED
    assert canceled.finished_at is not None
    assert SCRIPT.calls == [1, 2]


def test_a_job_handed_back_keeps_its_ended_takes_and_the_next_runner_does_the_rest(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A worker shutting down hands its job back: the take it was running goes back to the
    # queue as if never started; a take that failed is tried again by the next runner.
    monkeypatch.setattr(runner, "PROGRESS_EVERY", 0.0)
    SCRIPT.fail = {2: "the provider lost take two"}
    SCRIPT.hold = {3}
    SCRIPT.steps = [(1, 2, "drawing")]

    async def work(queue: LocalQueue) -> tuple[Job, Job, Job]:
        job = await _claimed(queue, config, 3, tmp_path / "out")
        control = runner.Control()
        SCRIPT.saves = Saves(_Store(queue, job.worker or ""))
        running = asyncio.ensure_future(runner.run_job(config, job, SCRIPT.saves, control=control))
        await _held(running)
        control.reason = "hand_back"
        running.cancel()
        handed = await running
        stored = await queue.get(job.id)
        SCRIPT.fail, SCRIPT.hold = {}, set()
        again = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert again is not None
        assert again.id == job.id
        SCRIPT.saves = Saves(_Store(queue, again.worker or ""))
        final = await runner.run_job(config, again, SCRIPT.saves)
        return handed, stored, final

    handed, stored, final = _run(work, config)
    assert stored.version == handed.version
    assert stored.state == "queued"
    assert stored.worker is None
    assert [take.state for take in stored.takes] == ["done", "failed", "queued"]
    back = stored.take(3)
    assert (back.progress, back.message) == (0.0, "")
    assert final.state == "done"
    assert final.attempts == 2
    assert all(take.error is None for take in final.takes)
    # Take 1 was not made (nor paid for) again.
    assert SCRIPT.calls == [1, 2, 3, 2, 3]


def test_a_runner_cancelled_for_no_reason_given_hands_the_job_back_and_stops(
    config: Config, tmp_path: Path
) -> None:
    SCRIPT.hold = {1}

    async def work(queue: LocalQueue) -> Job:
        job = await _claimed(queue, config, 1, tmp_path / "out")
        running = asyncio.ensure_future(
            runner.run_job(config, job, _Store(queue, job.worker or ""))
        )
        await _held(running)
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        return await queue.get(job.id)

    stored = _run(work, config)
    assert stored.state == "queued"
    assert stored.take(1).state == "queued"


def test_a_landed_take_gives_the_job_an_eta_from_its_own_time_without_a_history(
    config: Config, tmp_path: Path
) -> None:
    config = attrs.evolve(config, history=HistoryConfig(enabled=False))
    SCRIPT.hold = {2}

    async def work(queue: LocalQueue) -> tuple[Job, Job, dt.datetime]:
        job = await _claimed(queue, config, 3, tmp_path / "out")
        assert job.eta is None  # nothing known of the instance yet
        SCRIPT.saves = Saves(_Store(queue, job.worker or ""))
        running = asyncio.ensure_future(runner.run_job(config, job, SCRIPT.saves))
        await _held(running)
        landed = await SCRIPT.saves.until(lambda saved: saved.take(1).state == "done")
        seen = dt.datetime.now(dt.UTC)
        SCRIPT.release.set()
        return landed, await running, seen

    landed, final, seen = _run(work, config)
    assert landed.eta is not None
    # Two takes left at the pace of the first, which took far less than a minute.
    assert landed.eta <= seen + dt.timedelta(minutes=1)
    assert final.state == "done"
    assert final.eta is None


def _taken_over(config: Config, out: Path) -> tuple[Job, Job]:
    """A job of two takes written by a runner that died before recording them, then taken
    over: the job as the first runner had it, and as the second ended it."""
    dead = f"{socket.gethostname()}:{_dead_pid()}:gone"

    async def work(queue: LocalQueue) -> tuple[Job, Job]:
        request = Request("a lighthouse", count=2, seed=1)
        await submit(queue, config, request, output_dir=out, use_cache=False)
        first = await asyncio.to_thread(queue.file.claim, dead, ["s"], queue.settings)
        assert first is not None
        written = await runner.run_job(config, first, Unsaved())
        again = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert again is not None
        assert again.id == first.id
        return written, await runner.run_job(config, again, _Store(queue, again.worker or ""))

    return _run(work, config)


def test_a_job_taken_over_from_a_dead_runner_keeps_the_takes_that_runner_wrote(
    config: Config, tmp_path: Path
) -> None:
    # The first runner wrote both takes (files, history) but died before recording them in the
    # job: the next runner finds them in the history and pays for neither again.
    output = attrs.evolve(config.output, naming="{date}/take {seed}")
    written, final = _taken_over(attrs.evolve(config, output=output), tmp_path / "out")
    assert written.state == "done"
    assert SCRIPT.calls == [1, 2]
    assert final.state == "done"
    assert final.attempts == 2
    for number in (1, 2):
        before, after = written.take(number).images, final.take(number).images
        assert len(after) == 1
        was, now = before[0], after[0]
        assert (now.generation_id, now.path, now.sidecar_path) == (
            was.generation_id,
            was.path,
            was.sidecar_path,
        )
        assert (now.media_type, now.width, now.height, now.seed) == ("image/png", 32, 32, number)
        assert now.cost == Cost(PRICE.amount, "as recorded in the history")
        assert Path(now.path).is_file()
        take = final.take(number)
        assert (take.progress, take.message, take.error) == (1.0, "done", None)
        assert take.finished_at is not None
    assert final.cost_actual is not None
    assert final.cost_actual.amount == 2 * PRICE.amount


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def test_a_free_take_without_a_sidecar_is_taken_over_as_it_was_written(
    config: Config, tmp_path: Path
) -> None:
    # Names with spaces and folders, no sidecar, no price: each comes back as written.
    output = attrs.evolve(
        config.output, naming="take {seed}/a lighthouse {seed}", write_metadata_json=False
    )
    config = attrs.evolve(config, output=output)
    SCRIPT.price = None
    written, final = _taken_over(config, tmp_path / "out")
    assert SCRIPT.calls == [1, 2]
    assert final.state == "done"
    for number in (1, 2):
        now = final.take(number).images[0]
        assert now.path == written.take(number).images[0].path
        assert now.path == str(tmp_path / "out" / f"take {number}" / f"a lighthouse {number}.png")
        assert Path(now.path).is_file()
        assert (now.sidecar_path, now.cost) == (None, None)
    assert final.cost_actual is None


def test_a_jobs_eta_follows_the_instances_recent_takes_not_its_own_first_one(
    config: Config, tmp_path: Path
) -> None:
    # One quick take says little: the median of this instance's recent takes sets the pace
    # (another instance's takes say nothing of it), two takes at a time.
    from imagen.store.history import History
    from imagen.testing.samples import sample_generation

    instance = Instance("s", "script", ScriptSettings(), concurrency=2)
    config = attrs.evolve(config, backends={"s": instance}, default_backend="mock")
    history = History.shared(config.history.path)
    for seed in (7, 8, 9):
        history.record(sample_generation(backend="s", latency=600.0, seed=seed))
    for seed in (10, 11, 12, 13):
        history.record(sample_generation(backend="other", latency=6000.0, seed=seed))
    SCRIPT.hold = {2, 3, 4}

    async def work(queue: LocalQueue) -> tuple[Job, dt.datetime]:
        request = Request("a lighthouse", count=4, seed=1)
        await submit(queue, config, request, backend="s", output_dir=tmp_path / "out")
        job = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert job is not None
        SCRIPT.saves = Saves(_Store(queue, job.worker or ""))
        running = asyncio.ensure_future(runner.run_job(config, job, SCRIPT.saves))
        await _held(running)
        landed = await SCRIPT.saves.until(lambda saved: saved.take(1).state == "done")
        seen = dt.datetime.now(dt.UTC)
        SCRIPT.release.set()
        await running
        return landed, seen

    landed, seen = _run(work, config)
    assert landed.eta is not None
    # Three takes left, two at a time: two rounds of ten minutes.
    assert seen + dt.timedelta(minutes=19) <= landed.eta <= seen + dt.timedelta(minutes=20)


def test_each_image_of_a_take_records_where_a_sink_stored_that_image(
    config: Config, tmp_path: Path
) -> None:
    # Two storing sinks, two images per take: the first sink to store an image is recorded on
    # that image, never on its sibling.
    sinks = {name: SinkInstance(name, "shelf", ScriptSettings()) for name in ("one", "two")}
    config = attrs.evolve(config, sinks=sinks)
    SCRIPT.images = 2

    async def work(queue: LocalQueue) -> Job:
        job = await _claimed(queue, config, 1, tmp_path / "out")
        return await runner.run_job(config, job, _Store(queue, job.worker or ""))

    final = _run(work, config)
    images = final.take(1).images
    assert len(images) == 2
    for image in images:
        relative = Path(image.path).relative_to(tmp_path / "out").as_posix()
        assert image.remote_object in (f"one/{relative}", f"two/{relative}")


def test_a_providers_warning_is_shown_with_the_job_it_came_from(
    config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    SCRIPT.warnings = ("the seed was ignored",)

    async def work(queue: LocalQueue) -> Job:
        job = await _claimed(queue, config, 1, tmp_path / "out")
        return await runner.run_job(config, job, _Store(queue, job.worker or ""))

    final = _run(work, config)
    assert final.state == "done"
    assert f"imagen: warning: job {final.id}: s: the seed was ignored" in capsys.readouterr().err


class FailsOnce:
    """A JobStore whose first save breaks as a bug would (not an imagen error)."""

    def __init__(self, store: JobStore) -> None:
        self.store = store
        self.broke = False

    async def save(self, job: Job) -> Job:
        if not self.broke:
            self.broke = True
            raise RuntimeError("the store tripped")
        return await self.store.save(job)


def test_a_bug_while_a_job_runs_fails_that_job_as_an_internal_error(
    config: Config, tmp_path: Path
) -> None:
    SCRIPT.hold = {1}  # the take is still running when the save of its start breaks

    async def work(queue: LocalQueue) -> Job:
        job = await _claimed(queue, config, 1, tmp_path / "out")
        final = await runner.run_job(config, job, FailsOnce(_Store(queue, job.worker or "")))
        assert (await queue.get(job.id)).version == final.version
        return final

    final = _run(work, config)
    assert final.state == "failed"
    assert final.error is not None
    assert final.error.type == "urn:imagen:internal-error"
    assert "RuntimeError: the store tripped" in final.error.detail


def test_a_job_whose_instance_is_gone_from_the_config_fails_saying_so(
    config: Config, tmp_path: Path
) -> None:
    async def work(queue: LocalQueue) -> Job:
        job = await _claimed(queue, config, 1, tmp_path / "out")
        without = attrs.evolve(config, backends={}, default_backend="mock")
        return await runner.run_job(without, job, _Store(queue, job.worker or ""))

    final = _run(work, config)
    assert final.state == "failed"
    assert final.error is not None
    assert final.error.type == "urn:imagen:config-error"
    assert "'s'" in final.error.detail
    assert SCRIPT.calls == []


def test_a_job_runs_on_its_instance_for_its_caller_with_the_seeds_drawn_at_submit(
    config: Config, tmp_path: Path
) -> None:
    from imagen.store.history import History

    config = attrs.evolve(config, default_backend="mock")  # the job names another instance

    async def work(queue: LocalQueue) -> Job:
        request = Request("a lighthouse", count=2)  # no seed: drawn once, at submit
        await submit(queue, config, request, backend="s", caller="ann", output_dir=tmp_path)
        job = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert job is not None
        return await runner.run_job(config, job, _Store(queue, job.worker or ""))

    final = _run(work, config)
    assert final.state == "done"
    assert SCRIPT.calls == list(final.seeds)
    assert [take.images[0].seed for take in final.takes] == list(final.seeds)
    entries = History.shared(config.history.path).query()
    assert sorted((entry.backend, entry.caller, entry.seed) for entry in entries) == sorted(
        ("s", "ann", seed) for seed in final.seeds
    )


def test_a_job_takes_what_the_cache_has_unless_it_asked_not_to(
    config: Config, tmp_path: Path
) -> None:
    async def one(queue: LocalQueue, *, use_cache: bool) -> Job:
        request = Request("a lighthouse", seed=1)
        await submit(queue, config, request, output_dir=tmp_path / "out", use_cache=use_cache)
        job = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert job is not None
        return await runner.run_job(config, job, _Store(queue, job.worker or ""))

    async def work(queue: LocalQueue) -> tuple[Job, Job, Job]:
        return (
            await one(queue, use_cache=True),
            await one(queue, use_cache=True),
            await one(queue, use_cache=False),
        )

    first, cached, fresh = _run(work, config)
    assert [job.state for job in (first, cached, fresh)] == ["done"] * 3
    assert cached.take(1).images[0].cache_hit
    assert not fresh.take(1).images[0].cache_hit
    assert SCRIPT.calls == [1, 1]


def test_a_job_asked_without_cloud_delivers_to_no_automatic_sink(
    config: Config, tmp_path: Path
) -> None:
    config = attrs.evolve(config, sinks={"one": SinkInstance("one", "shelf", ScriptSettings())})

    async def work(queue: LocalQueue) -> Job:
        request = Request("a lighthouse", seed=1)
        await submit(queue, config, request, output_dir=tmp_path / "out", no_cloud=True)
        job = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert job is not None
        return await runner.run_job(config, job, _Store(queue, job.worker or ""))

    final = _run(work, config)
    assert final.state == "done"
    assert final.take(1).images[0].remote_object is None


def test_a_job_started_right_after_an_identical_one_makes_its_own_takes(
    config: Config, tmp_path: Path
) -> None:
    # The history has the first job's takes, in the same folder, from a moment ago: only a
    # job taken over from a dead runner looks for its own takes there.
    async def one(queue: LocalQueue) -> Job:
        request = Request("a lighthouse", seed=1)
        await submit(queue, config, request, output_dir=tmp_path / "out", use_cache=False)
        job = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert job is not None
        assert job.attempts == 1
        return await runner.run_job(config, job, _Store(queue, job.worker or ""))

    async def work(queue: LocalQueue) -> tuple[Job, Job]:
        return await one(queue), await one(queue)

    first, second = _run(work, config)
    assert SCRIPT.calls == [1, 1]
    assert first.take(1).path != second.take(1).path


class UntilSecondLands:
    """A JobStore that stops saving once take 2 is done: a runner dying right after it."""

    def __init__(self, store: JobStore) -> None:
        self.store = store

    async def save(self, job: Job) -> Job:
        if job.take(2).state == "done":
            return job
        return await self.store.save(job)


def test_a_takeover_keeps_the_recorded_takes_and_finds_the_unrecorded_ones(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(runner, "PROGRESS_EVERY", 0.0)
    dead = f"{socket.gethostname()}:{_dead_pid()}:gone"
    SCRIPT.hold = {2}

    async def work(queue: LocalQueue) -> tuple[Job, Job]:
        request = Request("a lighthouse", count=3, seed=1)
        # Without the cache, which would find the takes too: the takeover alone must.
        await submit(queue, config, request, output_dir=tmp_path / "out", use_cache=False)
        first = await asyncio.to_thread(queue.file.claim, dead, ["s"], queue.settings)
        assert first is not None
        SCRIPT.saves = Saves(UntilSecondLands(_Store(queue, dead)))
        running = asyncio.ensure_future(runner.run_job(config, first, SCRIPT.saves))
        await _held(running)
        recorded = await SCRIPT.saves.until(lambda job: job.take(1).state == "done")
        SCRIPT.release.set()
        await running
        again = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert again is not None
        assert [take.state for take in again.takes] == ["done", "queued", "queued"]
        final = await runner.run_job(config, again, _Store(queue, again.worker or ""))
        return recorded, final

    recorded, final = _run(work, config)
    assert final.state == "done"
    assert SCRIPT.calls == [1, 2, 3]  # takes 2 and 3 were found, not made again
    assert final.take(1).images == recorded.take(1).images


def test_a_worker_runs_no_more_jobs_at_once_than_its_concurrency(
    config: Config, tmp_path: Path
) -> None:
    from imagen.jobs.worker import Worker

    SCRIPT.hold = {1}

    async def work(queue: LocalQueue) -> tuple[Job, Job, str]:
        first = await submit(queue, config, Request("a lighthouse", seed=1), output_dir=tmp_path)
        second = await submit(queue, config, Request("a harbour", seed=5), output_dir=tmp_path)
        worker = Worker(config, backends=["s"], concurrency=1, once=True)
        serving = asyncio.ensure_future(worker.serve(queue))
        await _held(serving)
        waiting = (await queue.get(second.id)).state
        SCRIPT.release.set()
        await serving
        return await queue.get(first.id), await queue.get(second.id), waiting

    first, second, waiting = _run(work, config)
    assert waiting == "queued"
    assert (first.state, second.state) == ("done", "done")
    assert first.finished_at is not None
    assert second.started_at is not None
    assert second.started_at >= first.finished_at


def test_a_takeover_never_takes_an_identical_jobs_images_from_another_folder(
    config: Config, tmp_path: Path
) -> None:
    away = "far-away-host:1:w"  # its runner, silent from now on
    request = Request("a lighthouse", seed=1)

    async def work(queue: LocalQueue) -> tuple[Job, Job]:
        # Its first runner died before making anything; meanwhile the same request ran into
        # another folder.
        await submit(queue, config, request, output_dir=tmp_path / "mine", use_cache=False)
        orphan = await asyncio.to_thread(queue.file.claim, away, ["s"], queue.settings)
        assert orphan is not None
        await submit(queue, config, request, output_dir=tmp_path / "theirs", use_cache=False)
        other = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert other is not None
        theirs = await runner.run_job(config, other, _Store(queue, other.worker or ""))
        with sqlite3.connect(queue.path) as conn:  # silent past stale_after
            conn.execute("UPDATE jobs SET heartbeat = 0 WHERE id = ?", (orphan.id,))
        again = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert again is not None
        assert again.id == orphan.id
        return theirs, await runner.run_job(config, again, _Store(queue, again.worker or ""))

    theirs, mine = _run(work, config)
    assert SCRIPT.calls == [1, 1]
    path = mine.take(1).path
    assert path is not None
    assert Path(path).is_relative_to(tmp_path / "mine")
    assert path != theirs.take(1).path


def test_a_job_taken_over_leaves_its_done_cached_take_where_it_is(
    config: Config, tmp_path: Path
) -> None:
    # Take 1 came from the cache (copied from another folder) and was recorded done; the
    # runner died during take 2. The next runner neither copies take 1 again nor records it
    # anew: only take 2 runs.
    from imagen.store.history import History

    out = tmp_path / "out"

    async def work(queue: LocalQueue) -> tuple[Job, list[Job], list[Any]]:
        warm = await _claimed(queue, config, 1, tmp_path / "earlier")  # seed 1 into the cache
        assert (
            await runner.run_job(config, warm, _Store(queue, warm.worker or ""))
        ).state == "done"
        SCRIPT.hold = {2}
        job = await _claimed(queue, config, 2, out)  # seeds 1 (cached) and 2
        control = runner.Control()
        running = asyncio.ensure_future(
            runner.run_job(config, job, _Store(queue, job.worker or ""), control=control)
        )
        await _held(running)
        control.reason = "hand_back"
        running.cancel()
        handed = await running
        assert handed.take(1).state == "done"
        history = History.shared(config.history.path)
        before = {entry.path for entry in history.query()}
        SCRIPT.hold = set()
        again = await asyncio.to_thread(queue.file.claim, worker_id(), ["s"], queue.settings)
        assert again is not None
        SCRIPT.saves = Saves(_Store(queue, again.worker or ""))
        final = await runner.run_job(config, again, SCRIPT.saves)
        added = [entry for entry in history.query() if entry.path not in before]
        return final, SCRIPT.saves.jobs, added

    final, saved, added = _run(work, config)
    assert final.state == "done"
    assert [image.cache_hit for image in final.take(1).images] == [True]  # once, not twice
    assert [job.take(1).state for job in saved] == ["done"] * len(saved)
    assert SCRIPT.calls == [1, 2, 2]
    assert [entry.seed for entry in added] == [2]  # take 2 is recorded, take 1 not again
    images = sorted(str(path) for path in out.rglob("*.png"))
    assert images == sorted(str(take.path) for take in final.takes)  # one copy of take 1


def test_a_bug_in_a_run_fails_its_job_not_the_worker_and_debug_shows_its_traceback(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen import debug

    shown: list[BaseException] = []
    monkeypatch.setattr(debug, "log_exception", shown.append)

    def broken(config: Config, job: Job) -> float | None:
        raise ZeroDivisionError("a bug in the runner")

    monkeypatch.setattr(runner, "_recent_latency", broken)

    async def work(queue: LocalQueue) -> Job:
        job = await _claimed(queue, config, 1, tmp_path / "out")
        return await runner.run_job(config, job, _Store(queue, job.worker or ""))

    final = _run(work, config)
    assert final.state == "failed"
    assert final.error is not None
    assert final.error.detail == "internal error: ZeroDivisionError: a bug in the runner"
    assert [type(error) for error in shown] == [ZeroDivisionError]
    assert SCRIPT.calls == []
