"""A worker serving the postgres queue in this process: claims, takes, cancels and hand-backs
seen through the jobs a user reads back (the subprocess workers are in test_workers.py).

The ``held`` backend records each call and holds a take on an ``asyncio.Event`` until the test
lets it go, so "running" is a state the test waits for, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import psycopg
import pytest

from imagen import hookimpl
from imagen.config.model import Config, Instance, QueueInstance
from imagen.jobs.model import Job
from imagen.jobs.queue import open_queue
from imagen.jobs.submit import submit
from imagen.jobs.worker import Worker
from imagen.models import Cost, Image, Progress, Request, Result, Status
from imagen.plugins import loader as plugins
from imagen_postgres.queue import PostgresQueue
from imagen_postgres.settings import PostgresQueueSettings

from .conftest import traced

PRICE = Cost(Decimal("0.01"), "held test price")
#: the longest a test waits for a change it caused (a busy CI box is slow, never this slow)
PATIENCE = 60.0


@attrs.frozen
class HeldSettings:
    pass


@attrs.define
class Calls:
    """What the held backend did, and the takes it holds (by seed) until released."""

    started: list[int] = attrs.field(factory=list)
    paid: list[int] = attrs.field(factory=list)
    holds: dict[int, asyncio.Event] = attrs.field(factory=dict)
    changed: asyncio.Event | None = None

    def hold(self, seed: int) -> None:
        self.holds[seed] = asyncio.Event()

    def release(self, seed: int) -> None:
        self.holds[seed].set()

    def note(self, kind: list[int], seed: int) -> None:
        kind.append(seed)
        if self.changed is not None:
            self.changed.set()

    async def until_started(self, seed: int) -> None:
        async with asyncio.timeout(PATIENCE):
            while seed not in self.started:
                self.changed = asyncio.Event()
                await self.changed.wait()


CALLS = Calls()


class HeldBackend:
    def __init__(self, name: str, settings: HeldSettings) -> None:
        self.name = name

    def status(self) -> Status:
        return Status.ready()

    def estimate_cost(self, request: Request) -> Cost:
        return PRICE

    async def aclose(self) -> None:
        return None

    async def generate(self, request: Request, progress: Progress) -> Result:
        from imagen.mock import render

        seed = request.seed if request.seed is not None else 0
        CALLS.note(CALLS.started, seed)
        held = CALLS.holds.get(seed)
        if held is not None:
            await held.wait()
        data = render(request.prompt, seed, 64, 64)
        CALLS.note(CALLS.paid, seed)
        return Result((Image(data, "image/png", 64, 64, seed),), model="held", cost=PRICE)


class HeldPlugin:
    @hookimpl
    def register_backends(self, register: Any) -> None:
        register("held", HeldBackend, HeldSettings, concurrency=1)


@pytest.fixture
def config(queue_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Config]:
    global CALLS
    CALLS = Calls()
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    plugins.manager().register(HeldPlugin(), name="held-test")
    plugins.registry.cache_clear()
    yield Config(
        default_backend="h",
        backends={"h": Instance("h", "held", HeldSettings(), concurrency=1)},
        queue=QueueInstance(
            "postgres", PostgresQueueSettings(heartbeat=0.2, stale_after=2.0, pool_size=4)
        ),
    )
    plugins.manager().unregister(name="held-test")
    plugins.registry.cache_clear()


def run(config: Config, work: Callable[[PostgresQueue], Awaitable[Any]]) -> Any:
    async def main() -> Any:
        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        try:
            return await work(queue)
        finally:
            await queue.aclose()

    return asyncio.run(main())


async def submitted(queue: PostgresQueue, config: Config, tmp_path: Path, count: int,
                    seed: int) -> Job:  # fmt: skip
    request = Request("a cat", count=count, seed=seed)
    return await submit(queue, config, request, output_dir=str(tmp_path / "out"))


async def claimed_by_a_dead_worker(queue: PostgresQueue, queue_db: str, job_id: str, *,
                                   just_beat: bool = False) -> int:  # fmt: skip
    """Claim ``job_id`` for a worker that then died: its procrastinate job is "doing" with no
    live worker. Returns that procrastinate job's id.

    With ``just_beat`` that worker is still registered, its last heartbeat a moment ago (it
    died just now): its job is stalled only once that heartbeat is ``stale_after`` old.
    """
    from imagen_postgres import records

    claimed = await queue._once(lambda conn: records.claim(conn, job_id, "dead:1:x", 3))
    assert not isinstance(claimed, str)
    async with await psycopg.AsyncConnection.connect(queue_db, autocommit=True) as conn:
        await conn.execute("SET search_path TO imagen_queue, public")  # for its triggers
        worker_id = None
        if just_beat:
            cursor = await conn.execute(
                "INSERT INTO procrastinate_workers (last_heartbeat) VALUES (now()) RETURNING id"
            )
            registered = await cursor.fetchone()
            assert registered is not None
            worker_id = registered[0]
        cursor = await conn.execute(
            "UPDATE procrastinate_jobs SET status = 'doing', worker_id = %s"
            " WHERE id = (SELECT task_id FROM imagen.jobs WHERE id = %s) RETURNING id",
            (worker_id, job_id),
        )
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


async def until(queue: PostgresQueue, job_id: str, check: Callable[[Job], bool]) -> Job:
    """The job once ``check`` holds, waiting on its changes (bounded: PATIENCE without one)."""
    job = await queue.get(job_id)
    while not check(job):
        before = job.version
        job = await queue.wait(job_id, after=before, max_wait=PATIENCE)
        assert job.version != before or check(job), f"no change in {PATIENCE} s: {job}"
    return job


async def finished_by_a_worker(queue: PostgresQueue, config: Config, job_id: str) -> Job:
    """A worker of backend "h" serves ``queue`` until ``job_id`` finished, then stops; the job."""
    worker = Worker(config, backends=["h"])
    serving = asyncio.ensure_future(worker.serve(queue))
    done = await until(queue, job_id, lambda j: j.finished)
    worker.stop()
    await serving
    return done


def task_of(config: Config, job_id: str) -> tuple[str, int]:
    """The status and attempts of the job's procrastinate job."""
    import os

    with psycopg.connect(os.environ["IMAGEN_QUEUE_URL"]) as conn:
        row = conn.execute(
            "SELECT t.status, t.attempts FROM imagen.jobs j JOIN imagen_queue.procrastinate_jobs t"
            " ON t.id = j.task_id WHERE j.id = %s",
            (job_id,),
        ).fetchone()
    assert row is not None
    return row[0], row[1]


def without_sweeper(config: Config) -> Config:
    """``config`` with a heartbeat so long the worker's sweeper never runs during a test: a
    cancel reaches the worker by its notification (or a reconnect's check) only."""
    settings = attrs.evolve(config.queue.settings, heartbeat=3600.0, stale_after=7200.0)
    return attrs.evolve(config, queue=attrs.evolve(config.queue, settings=settings))


def test_a_worker_runs_a_queued_job_to_done_with_every_take_once(
    config: Config, tmp_path: Path
) -> None:
    lines: list[str] = []

    async def work(queue: PostgresQueue) -> Job:
        job = await submitted(queue, config, tmp_path, 3, 10)
        await Worker(config, backends=["h"], once=True, log=lines.append).serve(queue)
        return await queue.get(job.id)

    job = run(config, work)

    assert job.state == "done"
    assert [take.state for take in job.takes] == ["done"] * 3
    assert all(take.path and Path(take.path).is_file() for take in job.takes)
    assert job.attempts == 1
    assert job.cost_actual is not None
    assert str(job.cost_actual.amount) == "0.03"
    assert CALLS.paid == [10, 11, 12]
    assert [line.split()[:3] for line in lines] == [["job", job.id, "done:"]]
    assert task_of(config, job.id) == ("succeeded", 1)  # ended at its first run, not offered again


def test_a_canceled_queued_job_never_reaches_the_backend(config: Config, tmp_path: Path) -> None:
    async def work(queue: PostgresQueue) -> Job:
        job = await submitted(queue, config, tmp_path, 2, 20)
        assert (await queue.cancel(job.id)).state == "canceled"
        await Worker(config, backends=["h"], once=True).serve(queue)
        return await queue.get(job.id)

    job = run(config, work)

    assert job.state == "canceled"
    assert CALLS.started == []


def test_a_running_job_canceled_through_other_connections_stops_and_keeps_its_finished_takes(
    config: Config, tmp_path: Path
) -> None:
    config = without_sweeper(config)

    async def work(queue: PostgresQueue) -> Job:
        CALLS.hold(31)
        job = await submitted(queue, config, tmp_path, 3, 30)
        worker = Worker(config, backends=["h"])
        serving = asyncio.ensure_future(worker.serve(queue))
        await CALLS.until_started(31)
        other = open_queue(config)  # the user's `imagen jobs cancel`: its own connections
        try:
            await other.cancel(job.id)
        finally:
            await other.aclose()
        job = await until(queue, job.id, lambda j: j.finished)
        worker.stop()
        await serving
        return job

    job = run(config, work)

    assert job.state == "canceled"
    assert job.takes[0].state == "done"
    assert "done" not in [take.state for take in job.takes][1:]
    assert CALLS.paid == [30]


def test_a_job_handed_back_by_a_stopping_worker_is_finished_by_the_next_without_paying_twice(
    config: Config, tmp_path: Path
) -> None:
    lines: list[str] = []

    async def work(queue: PostgresQueue) -> tuple[Job, Job]:
        CALLS.hold(41)
        job = await submitted(queue, config, tmp_path, 2, 40)
        first = Worker(config, backends=["h"], log=lines.append)
        serving = asyncio.ensure_future(first.serve(queue))
        await CALLS.until_started(41)
        first.stop()
        first.stop()  # the second stop hands the running job back
        await serving
        handed_back = await queue.get(job.id)
        CALLS.release(41)
        await Worker(config, backends=["h"], once=True).serve(queue)
        return handed_back, await queue.get(job.id)

    handed_back, job = run(config, work)

    assert handed_back.state == "queued"
    assert handed_back.takes[0].state == "done"
    assert f"job {job.id} handed back to the queue (1/2 takes)" in lines
    assert job.state == "done"
    assert job.attempts == 2
    assert CALLS.paid == [40, 41]


def test_a_job_written_by_a_newer_imagen_is_left_for_a_newer_worker(
    config: Config, tmp_path: Path, queue_db: str
) -> None:
    lines: list[str] = []

    async def work(queue: PostgresQueue) -> str:
        job = await submitted(queue, config, tmp_path, 1, 50)
        async with await psycopg.AsyncConnection.connect(queue_db, autocommit=True) as conn:
            await conn.execute(
                "UPDATE imagen.jobs SET format_version = format_version + 1 WHERE id = %s",
                (job.id,),
            )
        await Worker(config, backends=["h"], once=True, log=lines.append).serve(queue)
        return job.id

    job_id = run(config, work)

    assert lines == [f"job {job_id} was written by a newer imagen; left for a newer worker"]
    assert CALLS.started == []
    with psycopg.connect(queue_db) as conn:
        row = conn.execute(
            "SELECT j.state, t.status, t.scheduled_at > now() + interval '30 seconds'"
            " FROM imagen.jobs j JOIN imagen_queue.procrastinate_jobs t ON t.id = j.task_id"
            " WHERE j.id = %s",
            (job_id,),
        ).fetchone()
    # Untouched, and offered again in a minute (to a newer worker, or this one upgraded).
    assert row == ("queued", "todo", True)


def test_a_job_whose_worker_went_silent_is_taken_over_by_a_live_worker(
    config: Config, tmp_path: Path, queue_db: str
) -> None:

    async def work(queue: PostgresQueue) -> Job:
        job = await submitted(queue, config, tmp_path, 1, 60)
        task_id = await claimed_by_a_dead_worker(queue, queue_db, job.id)
        async with await psycopg.AsyncConnection.connect(queue_db, autocommit=True) as listener:
            # procrastinate announces inserts only: the retry of a stalled job is announced by
            # the sweeper, so every worker of the queue fetches it at once.
            await listener.execute('LISTEN "procrastinate_queue_v1#imagen/h"')
            worker = Worker(config, backends=["h"])
            serving = asyncio.ensure_future(worker.serve(queue))
            done = await until(queue, job.id, lambda j: j.finished)
            worker.stop()
            await serving
            heard = [
                json.loads(notice.payload)
                async for notice in listener.notifies(timeout=PATIENCE, stop_after=1)
            ]
        assert heard == [{"type": "job_inserted", "job_id": task_id}]
        return done

    job = run(config, work)

    assert job.state == "done"
    assert job.attempts == 2
    assert job.worker != "dead:1:x"
    assert CALLS.paid == [60]


def test_a_done_take_is_picked_and_a_take_that_is_not_done_is_refused(
    config: Config, tmp_path: Path
) -> None:
    from imagen.jobs.queue import JobConflict

    async def work(queue: PostgresQueue) -> tuple[Job, list[str]]:
        job = await submitted(queue, config, tmp_path, 2, 70)
        refused = []
        with pytest.raises(JobConflict) as early:
            await queue.pick(job.id, 1)
        refused.append(str(early.value))
        await Worker(config, backends=["h"], once=True).serve(queue)
        with pytest.raises(JobConflict) as beyond:
            await queue.pick(job.id, 3)
        refused.append(str(beyond.value))
        picked = await queue.pick(job.id, 2)
        assert picked == await queue.get(job.id)
        return picked, refused

    picked, refused = run(config, work)

    assert picked.picked == 2
    assert refused == [
        f"take 1 of job {picked.id} is queued; pick a done take",
        f"job {picked.id} has takes 1 to 2; there is no take 3",
    ]


def test_an_unreachable_server_is_one_line_without_the_password(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.testing.postgres import free_port
    from imagen_postgres.connection import QueueUnavailable

    port = free_port()
    monkeypatch.setenv("IMAGEN_QUEUE_URL", f"postgresql://imagen:hunter2-secret@127.0.0.1:{port}/q")

    with pytest.raises(QueueUnavailable) as raised:
        run(config, lambda queue: queue.get("any"))

    said = str(raised.value)
    assert said.startswith("the job queue's database cannot be used: ")
    assert "hunter2" not in said


def test_an_unmigrated_database_says_what_to_run(
    config: Config, monkeypatch: pytest.MonkeyPatch, postgres_server: Any
) -> None:
    import uuid

    from imagen_postgres.connection import QueueUnavailable

    name = f"unmigrated_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    monkeypatch.setenv("IMAGEN_QUEUE_URL", postgres_server.url(name))

    with pytest.raises(QueueUnavailable) as raised:
        run(config, lambda queue: queue.get("any"))

    assert str(raised.value) == (
        "the job queue's tables are missing from the database in IMAGEN_QUEUE_URL; create them "
        "with: imagen queue migrate --apply"
    )


def test_a_long_poll_returns_at_once_for_a_stale_version_and_as_it_is_when_nothing_changed(
    config: Config, tmp_path: Path
) -> None:
    async def work(queue: PostgresQueue) -> tuple[Job, Job, Job]:
        job = await submitted(queue, config, tmp_path, 1, 80)
        stale = await queue.wait(job.id, after=job.version - 1, max_wait=PATIENCE)
        unchanged = await queue.wait(job.id, after=job.version, max_wait=0.2)
        return job, stale, unchanged

    job, stale, unchanged = run(config, work)

    assert stale == job
    assert unchanged == job


def test_a_long_poll_without_a_version_returns_at_the_next_change(
    config: Config, tmp_path: Path
) -> None:
    async def work(queue: PostgresQueue) -> tuple[Job, Job]:
        CALLS.hold(90)
        job = await submitted(queue, config, tmp_path, 1, 90)
        worker = Worker(config, backends=["h"])
        serving = asyncio.ensure_future(worker.serve(queue))
        await CALLS.until_started(90)
        before = await queue.get(job.id)
        waiting = asyncio.ensure_future(queue.wait(job.id, max_wait=PATIENCE))
        CALLS.release(90)
        changed = await waiting
        await until(queue, job.id, lambda j: j.finished)
        worker.stop()
        await serving
        return before, changed

    before, changed = run(config, work)

    assert changed.version > before.version


def test_a_cancel_whose_notification_was_lost_is_found_by_the_workers_next_round(
    config: Config, tmp_path: Path, queue_db: str
) -> None:
    # The NOTIFY of a cancel can be lost (the worker's LISTEN connection was down at that
    # moment): every heartbeat the worker asks about the jobs it runs.
    async def work(queue: PostgresQueue) -> Job:
        CALLS.hold(101)
        job = await submitted(queue, config, tmp_path, 2, 100)
        worker = Worker(config, backends=["h"])
        serving = asyncio.ensure_future(worker.serve(queue))
        await CALLS.until_started(101)
        async with await psycopg.AsyncConnection.connect(queue_db, autocommit=True) as conn:
            await conn.execute("SET session_replication_role = replica")  # no trigger: no NOTIFY
            await conn.execute(
                "UPDATE imagen.jobs SET cancel_requested = true WHERE id = %s", (job.id,)
            )
        ended = await until(queue, job.id, lambda j: j.finished)
        worker.stop()
        await serving
        return ended

    job = run(config, work)

    assert job.state == "canceled"
    assert job.takes[0].state == "done"
    assert CALLS.paid == [100]


def test_a_finished_job_offered_again_runs_nothing_and_ends_its_task(
    config: Config, tmp_path: Path, queue_db: str
) -> None:
    # A stalled job's retry that lost the race with its own end: procrastinate offers it again,
    # the claim finds nothing to run.
    lines: list[str] = []

    async def work(queue: PostgresQueue) -> Job:
        job = await submitted(queue, config, tmp_path, 1, 110)
        await Worker(config, backends=["h"], once=True).serve(queue)
        async with await psycopg.AsyncConnection.connect(queue_db, autocommit=True) as conn:
            await conn.execute("SET search_path TO imagen_queue, public")
            await conn.execute(
                "UPDATE procrastinate_jobs SET status = 'todo', attempts = 1"
                " WHERE id = (SELECT task_id FROM imagen.jobs WHERE id = %s)",
                (job.id,),
            )
        await Worker(config, backends=["h"], once=True, log=lines.append).serve(queue)
        return await queue.get(job.id)

    job = run(config, work)

    assert job.state == "done"
    assert job.attempts == 1
    assert CALLS.started == [110]
    assert lines == []
    with psycopg.connect(queue_db) as conn:
        row = conn.execute(
            "SELECT t.status FROM imagen.jobs j JOIN imagen_queue.procrastinate_jobs t"
            " ON t.id = j.task_id WHERE j.id = %s",
            (job.id,),
        ).fetchone()
    assert row == ("succeeded",)


def test_a_worker_whose_listener_was_cut_says_so_and_checks_its_jobs_on_reconnecting(
    config: Config, tmp_path: Path, queue_db: str
) -> None:
    # A cancel made while the worker was deaf is found when its listener is back.
    config = without_sweeper(config)
    lines: list[str] = []

    async def work(queue: PostgresQueue) -> tuple[Job, str]:
        CALLS.hold(121)
        job = await submitted(queue, config, tmp_path, 2, 120)
        worker = Worker(config, backends=["h"], log=lines.append)
        serving = asyncio.ensure_future(worker.serve(queue))
        await CALLS.until_started(121)
        async with await psycopg.AsyncConnection.connect(queue_db, autocommit=True) as conn:
            await conn.execute("SET session_replication_role = replica")  # no NOTIFY
            await conn.execute(
                "UPDATE imagen.jobs SET cancel_requested = true WHERE id = %s", (job.id,)
            )
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query = 'LISTEN imagen_jobs'"
            )
        ended = await until(queue, job.id, lambda j: j.finished)
        worker.stop()
        await serving
        return ended, worker.id

    job, worker_id = run(config, work)

    assert job.state == "canceled"
    assert CALLS.paid == [120]
    lost = [line for line in lines if "lost the job queue's database" in line]
    assert len(lost) == 1
    assert lost[0].startswith(f"worker {worker_id} lost the job queue's database (")
    # psycopg's reason, whichever words it finds for a terminated backend
    assert "connection" in lost[0].removeprefix(f"worker {worker_id} lost the job queue's database")
    assert lost[0].endswith("); reconnecting")
    back = lines.index(f"worker {worker_id} reconnected to the job queue")
    assert lines.index(lost[0]) < back


def with_backends(config: Config, *names: str, concurrency: int = 1) -> Config:
    backends = {name: Instance(name, "held", HeldSettings(), concurrency=concurrency)
                for name in names}  # fmt: skip
    return attrs.evolve(config, backends=backends)


def test_a_worker_leaves_the_jobs_of_backends_it_does_not_serve(
    config: Config, tmp_path: Path
) -> None:
    config = with_backends(config, "h", "k")

    async def work(queue: PostgresQueue) -> tuple[Job, Job]:
        theirs = await submit(queue, config, Request("a cat", seed=140), backend="k",
                              output_dir=str(tmp_path / "out"))  # fmt: skip
        ours = await submitted(queue, config, tmp_path, 1, 150)
        await Worker(config, backends=["h"], once=True).serve(queue)
        return await queue.get(theirs.id), await queue.get(ours.id)

    theirs, ours = run(config, work)

    assert theirs.state == "queued"
    assert ours.state == "done"
    assert CALLS.started == [150]


def test_a_worker_with_room_for_two_runs_two_jobs_at_once(config: Config, tmp_path: Path) -> None:
    config = with_backends(config, "h", concurrency=2)

    async def work(queue: PostgresQueue) -> list[Job]:
        CALLS.hold(160)
        CALLS.hold(170)
        jobs = [await submitted(queue, config, tmp_path, 1, seed) for seed in (160, 170)]
        worker = Worker(config, backends=["h"], concurrency=2)
        serving = asyncio.ensure_future(worker.serve(queue))
        await CALLS.until_started(160)
        await CALLS.until_started(170)  # both at once: neither finished yet
        CALLS.release(160)
        CALLS.release(170)
        done = [await until(queue, job.id, lambda j: j.finished) for job in jobs]
        worker.stop()
        await serving
        return done

    jobs = run(config, work)

    assert [job.state for job in jobs] == ["done", "done"]
    assert sorted(CALLS.paid) == [160, 170]


class Outage:
    """The queue's database refusing every connection, as a server that went away, until the
    worker has seen it: ``debug.log_exception`` is where its ``--debug`` shows each error, and
    the first error that ``ends_it`` accepts ends the outage (from inside the worker, so no
    sleep decides how long it lasts). The pool waits half a second for a connection (not
    five), so an attempt that cannot connect fails within the tests' bounds."""

    def __init__(self, queue_db: str, postgres_server: Any, monkeypatch: pytest.MonkeyPatch,
                 ends_it: Callable[[BaseException], bool]) -> None:  # fmt: skip
        from imagen import debug
        from imagen_postgres import queue as module
        from imagen_postgres.connection import pool

        self.admin_url = postgres_server.url()
        self.database = queue_db.rsplit("/", 1)[1]
        self.ends_it = ends_it
        self.logged: list[BaseException | None] = []
        self.over = asyncio.Event()
        monkeypatch.setattr(debug, "log_exception", self.log_exception)
        monkeypatch.setattr(module, "pool", lambda **options: pool(**{**options, "timeout": 0.5}))

    def start(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS false')
            admin.execute(
                "SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity WHERE datname = %s",
                (self.database,),
            )

    def end(self) -> None:
        with psycopg.connect(self.admin_url, autocommit=True) as admin:
            admin.execute(f'ALTER DATABASE "{self.database}" ALLOW_CONNECTIONS true')
        self.over.set()

    def log_exception(self, error: BaseException | None) -> None:
        self.logged.append(error)
        if not self.over.is_set() and error is not None and self.ends_it(error):
            self.end()

    async def until_over(self) -> None:
        async with asyncio.timeout(PATIENCE):
            await self.over.wait()


@contextlib.asynccontextmanager
async def reopened(config: Config) -> AsyncIterator[PostgresQueue]:
    """A queue of its own, as another process's (a user's ``imagen submit`` or ``jobs``): the
    worker's pool may still be between reconnect attempts when the outage ends."""
    queue = open_queue(config)
    assert isinstance(queue, PostgresQueue)
    try:
        yield queue
    finally:
        await queue.aclose()


def raised_in(function: str) -> Callable[[BaseException], bool]:
    """Whether an error is the job queue's database being away, caught in ``function`` (the
    frames --debug prints)."""
    import traceback

    from imagen_postgres.connection import QueueUnavailable

    def check(error: BaseException) -> bool:
        frames = traceback.extract_tb(error.__traceback__)
        return isinstance(error, QueueUnavailable) and function in frames[0].name

    return check


def test_a_worker_whose_database_went_away_says_so_in_its_own_lines_and_runs_jobs_again(
    config: Config, tmp_path: Path, queue_db: str, postgres_server: Any,
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # procrastinate and psycopg_pool log every reconnect as an error with a traceback: none of
    # it reaches the application's log (or stderr), the worker says it in one line. Their
    # loggers as a fresh process has them (an earlier worker in this process quieted them).
    for name in ("procrastinate", "psycopg.pool"):
        monkeypatch.setattr(logging.getLogger(name), "handlers", [])
        monkeypatch.setattr(logging.getLogger(name), "propagate", True)
    caplog.set_level(logging.INFO)
    config = without_sweeper(config)
    lines: list[str] = []
    # The outage lasts until the worker asked the server whether it is back, and was refused.
    down = Outage(queue_db, postgres_server, monkeypatch, raised_in("_until_reachable"))

    async def work(queue: PostgresQueue) -> tuple[Job, str]:
        first = await submitted(queue, config, tmp_path, 1, 180)
        caplog.clear()  # what the worker logs from here on
        worker = Worker(config, backends=["h"], log=lines.append)
        serving = asyncio.ensure_future(worker.serve(queue))
        await until(queue, first.id, lambda j: j.finished)  # the worker is at work
        down.start()
        await down.until_over()
        async with reopened(config) as user:
            job = await submitted(user, config, tmp_path, 1, 190)
            done = await until(user, job.id, lambda j: j.finished)
        worker.stop()
        await serving
        return done, worker.id

    job, worker_id = run(config, work)

    assert job.state == "done"
    assert CALLS.paid == [180, 190]
    assert None not in down.logged  # --debug shows each error, never "NoneType: None"
    refused = [error for error in down.logged if raised_in("_until_reachable")(error)]
    assert str(refused[0]).startswith("the job queue's database cannot be used: ")
    lost = f"worker {worker_id} lost the job queue's database ("
    assert len([line for line in lines if line.startswith(lost)]) == 1  # once, in one line
    names = [record.name for record in caplog.records]
    assert [name for name in names if name.startswith("procrastinate")] == []
    assert "psycopg.pool" not in names
    assert capsys.readouterr().err == ""


def test_a_running_jobs_save_waits_for_its_database_to_be_back(
    config: Config, tmp_path: Path, queue_db: str, postgres_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    config = without_sweeper(config)
    # The outage lasts until a save of the running job was refused.
    down = Outage(queue_db, postgres_server, monkeypatch, raised_in("_patiently"))

    async def work(queue: PostgresQueue) -> tuple[Job, Job]:
        CALLS.hold(200)
        CALLS.hold(201)
        job = await submitted(queue, config, tmp_path, 2, 200)
        worker = Worker(config, backends=["h"])
        serving = asyncio.ensure_future(worker.serve(queue))
        await CALLS.until_started(200)
        down.start()
        CALLS.release(200)  # the first take ends while the server is away: its save must wait
        await down.until_over()
        async with reopened(config) as user:
            # The job's progress reaches the queue while it still runs (a user watching sees it).
            progress = await until(user, job.id, lambda j: j.takes[0].state == "done")
            CALLS.release(201)
            done = await until(user, job.id, lambda j: j.finished)
        worker.stop()
        await serving
        return progress, done

    progress, job = run(config, work)

    assert progress.state == "running"
    assert job.state == "done"
    assert job.attempts == 1
    assert [take.state for take in job.takes] == ["done", "done"]
    assert CALLS.paid == [200, 201]
    assert None not in down.logged


def test_a_worker_runs_a_job_without_a_transaction_each_statement_one_round_trip(
    config: Config, tmp_path: Path
) -> None:
    # A claim is a read, then a write over the version read; a save is one statement: none
    # needs BEGIN and COMMIT around it (two more round trips each).
    settings = attrs.evolve(config.queue.settings, pool_size=2)
    config = attrs.evolve(config, queue=attrs.evolve(config.queue, settings=settings))
    trace = tmp_path / "wire.trace"

    async def work(queue: PostgresQueue) -> Job:
        job = await submitted(queue, config, tmp_path, 2, 210)
        async with traced(queue, trace):
            await Worker(config, backends=["h"], once=True).serve(queue)
        return await queue.get(job.id)

    job = run(config, work)

    assert job.state == "done"
    fields = [line.split("\t") for line in trace.read_text().splitlines()]
    sent = [f[4] for f in fields if len(f) > 4 and f[1] == "F" and f[3] == "Query"]
    assert [text for text in sent if "BEGIN" in text] == []
    assert any(f[3] == "Sync" for f in fields if len(f) > 3)  # the trace saw the statements


def test_a_workers_sweeper_round_shows_no_error_under_debug_as_it_takes_over_a_job(
    config: Config, tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # --debug prints what a worker rides out (a lost server); a healthy worker's sweeper
    # round (the stalled job offered again, then its cancel check) prints nothing.
    from imagen import debug

    shown: list[BaseException] = []
    monkeypatch.setattr(debug, "log_exception", shown.append)

    async def work(queue: PostgresQueue) -> Job:
        job = await submitted(queue, config, tmp_path, 1, 220)
        await claimed_by_a_dead_worker(queue, queue_db, job.id)
        return await finished_by_a_worker(queue, config, job.id)

    job = run(config, work)

    assert job.state == "done"
    assert shown == []


def test_a_job_whose_worker_stopped_beating_is_taken_over_once_its_heartbeat_is_stale(
    config: Config, tmp_path: Path, queue_db: str
) -> None:
    # The worker died just after a heartbeat: still registered, and its job is left alone until
    # that heartbeat is stale_after old.
    async def work(queue: PostgresQueue) -> Job:
        job = await submitted(queue, config, tmp_path, 1, 230)
        await claimed_by_a_dead_worker(queue, queue_db, job.id, just_beat=True)
        return await finished_by_a_worker(queue, config, job.id)

    job = run(config, work)

    assert job.state == "done"
    assert job.attempts == 2
    assert CALLS.paid == [230]


def test_a_worker_offers_again_only_the_stalled_jobs_of_the_backends_it_serves(
    config: Config, tmp_path: Path, queue_db: str
) -> None:
    config = with_backends(config, "h", "k")

    async def theirs(queue: PostgresQueue, seed: int) -> Job:
        job = await submit(queue, config, Request("a cat", seed=seed), backend="k",
                           output_dir=str(tmp_path / "out"))  # fmt: skip
        await claimed_by_a_dead_worker(queue, queue_db, job.id)
        return job

    async def work(queue: PostgresQueue) -> tuple[list[Job], Job]:
        # Stalled jobs on both sides of ours, whatever order the server lists them in.
        before = await theirs(queue, 240)
        ours = await submitted(queue, config, tmp_path, 1, 250)
        await claimed_by_a_dead_worker(queue, queue_db, ours.id)
        after = await theirs(queue, 260)
        done = await finished_by_a_worker(queue, config, ours.id)
        return [await queue.get(before.id), await queue.get(after.id)], done

    left, done = run(config, work)

    assert done.state == "done"
    assert CALLS.paid == [250]
    # The others are left for a worker of "k": still the dead worker's, their runs not retried.
    assert [(job.state, job.worker) for job in left] == [("running", "dead:1:x")] * 2
    assert [task_of(config, job.id) for job in left] == [("doing", 0)] * 2


def test_a_stalled_job_another_worker_offered_again_first_is_passed_over_quietly(
    config: Config, tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two workers' sweepers find one stalled job; the quicker one's retry wins, the other's
    # retry is refused by procrastinate: that is no error (--debug shows nothing).
    from imagen import debug

    shown: list[BaseException] = []
    monkeypatch.setattr(debug, "log_exception", shown.append)

    async def work(queue: PostgresQueue) -> Job:
        job = await submitted(queue, config, tmp_path, 1, 270)
        task_id = await claimed_by_a_dead_worker(queue, queue_db, job.id)
        manager = (await queue._open()).job_manager
        find = manager.get_stalled_jobs

        async def found_then_retried_elsewhere(**options: Any) -> list[Any]:
            stalled = list(await find(**options))
            if any(task.id == task_id for task in stalled):
                monkeypatch.setattr(manager, "get_stalled_jobs", find)
                await manager.retry_job_by_id_async(task_id, datetime.now(UTC))  # the other
            return stalled

        monkeypatch.setattr(manager, "get_stalled_jobs", found_then_retried_elsewhere)
        return await finished_by_a_worker(queue, config, job.id)

    job = run(config, work)

    assert job.state == "done"
    assert CALLS.paid == [270]
    assert shown == []


def test_a_workers_sweeper_round_that_lost_its_database_shows_why_under_debug(
    config: Config, tmp_path: Path, queue_db: str, postgres_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    def in_the_sweeper(error: BaseException) -> bool:
        import traceback

        # "in": mutation testing renames the function it runs (x..._sweep__mutmut_orig)
        return "_sweep" in traceback.extract_tb(error.__traceback__)[0].name

    # The outage lasts until the sweeper's round failed and --debug showed why.
    down = Outage(queue_db, postgres_server, monkeypatch, in_the_sweeper)

    async def work(queue: PostgresQueue) -> Job:
        worker = Worker(config, backends=["h"])
        serving = asyncio.ensure_future(worker.serve(queue))
        first = await submitted(queue, config, tmp_path, 1, 275)
        await until(queue, first.id, lambda j: j.finished)  # the worker is at work
        down.start()
        await down.until_over()
        async with reopened(config) as user:
            job = await submitted(user, config, tmp_path, 1, 280)
            done = await until(user, job.id, lambda j: j.finished)
        worker.stop()
        await serving
        return done

    job = run(config, work)

    assert job.state == "done"
    assert None not in down.logged  # a traceback each, never "NoneType: None"
    assert any(in_the_sweeper(error) for error in down.logged if error is not None)


def test_a_once_worker_started_while_its_database_is_away_waits_for_it_and_runs_the_job(
    config: Config, tmp_path: Path, queue_db: str, postgres_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    from procrastinate.exceptions import ConnectorException

    config = without_sweeper(config)

    def procrastinates(error: BaseException) -> bool:
        return isinstance(error, ConnectorException)

    # The outage lasts until procrastinate's worker stopped on it and --debug showed why.
    down = Outage(queue_db, postgres_server, monkeypatch, procrastinates)

    async def work(queue: PostgresQueue) -> Job:
        job = await submitted(queue, config, tmp_path, 1, 290)
        await queue.wait(job.id, max_wait=0)  # the pool and the listener are open
        down.start()
        async with asyncio.timeout(PATIENCE):
            await Worker(config, backends=["h"], once=True).serve(queue)
        return await queue.get(job.id)

    job = run(config, work)

    assert job.state == "done"
    assert CALLS.paid == [290]
    assert down.over.is_set()
    assert None not in down.logged


def test_a_stopping_worker_lets_its_running_job_end_and_leaves_no_task_behind(
    config: Config, tmp_path: Path
) -> None:
    async def work(queue: PostgresQueue) -> tuple[Job, list[asyncio.Task[Any]]]:
        CALLS.hold(301)
        job = await submitted(queue, config, tmp_path, 2, 300)
        await queue.wait(job.id, max_wait=0)  # its listener is the queue's, not the worker's
        before = asyncio.all_tasks()
        worker = Worker(config, backends=["h"])
        serving = asyncio.ensure_future(worker.serve(queue))
        await CALLS.until_started(301)
        worker.stop()  # drain: the running job ends first
        CALLS.release(301)
        await serving
        left = [task for task in asyncio.all_tasks() - before if not task.done()]
        return await queue.get(job.id), left

    job, left = run(config, work)

    assert job.state == "done"
    assert job.attempts == 1
    assert CALLS.paid == [300, 301]
    assert task_of(config, job.id) == ("succeeded", 1)
    assert left == []


def test_a_reconnected_listeners_cancel_check_leaves_no_error_in_the_event_loop(
    config: Config, tmp_path: Path, queue_db: str
) -> None:
    config = without_sweeper(config)
    errors: list[dict[str, Any]] = []

    async def work(queue: PostgresQueue) -> str:
        asyncio.get_running_loop().set_exception_handler(
            lambda loop, context: errors.append(context)
        )
        back = asyncio.Event()

        def log(line: str) -> None:
            if line.endswith("reconnected to the job queue"):
                back.set()

        worker = Worker(config, backends=["h"], log=log)
        serving = asyncio.ensure_future(worker.serve(queue))
        first = await submitted(queue, config, tmp_path, 1, 310)
        await until(queue, first.id, lambda j: j.finished)  # the worker is listening
        async with await psycopg.AsyncConnection.connect(queue_db, autocommit=True) as conn:
            await conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE query = 'LISTEN imagen_jobs'"
            )
        async with asyncio.timeout(PATIENCE):
            await back.wait()
        worker.stop()
        await serving
        return worker.id

    run(config, work)

    assert errors == []
