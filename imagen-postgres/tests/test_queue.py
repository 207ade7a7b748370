"""The postgres queue in one process: its tables, its config, long polls, and clear errors."""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import attrs
import psycopg
import pytest

from imagen.config.load import load_config
from imagen.config.model import Config
from imagen.jobs.model import Job
from imagen.jobs.queue import JobNotFound, JobQuery, open_queue
from imagen.jobs.store import ClaimLost
from imagen.jobs.submit import submit
from imagen.models import Request
from imagen.testing.postgres import Postgres
from imagen_postgres.fetcher import AnnouncedJobManager
from imagen_postgres.queue import PostgresQueue, queue_name
from imagen_postgres.schema import apply, script

from .conftest import fresh_database, traced

T = TypeVar("T")


def imagen(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imagen", "--config", str(config), *args],
        capture_output=True,
        text=True,
        timeout=120,
    )


def postgres_config(tmp_path: Path, extra: str = "") -> Path:
    config = tmp_path / "imagen.yaml"
    config.write_text(f"queue: {{type: postgres{extra}}}\n")
    return config


def refusal(config: Config) -> str:
    """What the queue of ``config`` says (one line) when a read cannot use its database."""
    from imagen_postgres.connection import QueueUnavailable

    async def scenario() -> str:
        queue = open_queue(config)
        try:
            async with asyncio.timeout(120):  # a hang is a failure, not a stuck run
                with pytest.raises(QueueUnavailable) as raised:
                    await queue.get("any")
            return str(raised.value)
        finally:
            await queue.aclose()

    return asyncio.run(scenario())


def test_migrate_applies_both_schemas_once_and_is_safe_to_repeat(
    postgres_server: Postgres,
) -> None:
    url = fresh_database(postgres_server, migrate=False)
    assert apply(url) == ["procrastinate's schema in imagen_queue", "imagen.jobs"]
    assert apply(url) == []
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT to_regclass('imagen.jobs'), to_regclass('imagen_queue.procrastinate_jobs'),"
            " to_regclass('public.procrastinate_jobs')"
        ).fetchone()
    assert row is not None
    assert row[0] is not None
    assert row[1] is not None
    assert row[2] is None  # nothing in public, which Supabase's API exposes


def test_migrate_prints_the_sql_and_applies_it_from_url_env(
    tmp_path: Path, postgres_server: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    config = postgres_config(tmp_path)
    printed = imagen(config, "queue", "migrate")
    assert printed.returncode == 0, printed.stderr
    assert printed.stdout == script()
    assert "CREATE TABLE IF NOT EXISTS imagen.jobs" in printed.stdout
    assert "CREATE TABLE procrastinate_jobs" in printed.stdout

    missing = imagen(config, "queue", "migrate", "--apply")
    assert missing.returncode != 0
    assert "IMAGEN_QUEUE_URL is not set" in missing.stderr

    monkeypatch.setenv("IMAGEN_QUEUE_URL", fresh_database(postgres_server, migrate=False))
    first = imagen(config, "queue", "migrate", "--apply")
    assert first.returncode == 0, first.stderr
    assert "created procrastinate's schema in imagen_queue and imagen.jobs" in first.stderr
    again = imagen(config, "queue", "migrate", "--apply")
    assert again.returncode == 0, again.stderr
    assert "already there; nothing to do" in again.stderr


def test_an_inline_url_with_a_password_is_refused_without_showing_it(tmp_path: Path) -> None:
    config = tmp_path / "imagen.yaml"
    config.write_text("queue: {type: postgres, url: 'postgresql://imagen:hunter2@db/jobs'}\n")
    done = imagen(config, "config", "validate")
    assert done.returncode != 0
    assert "queue.url" in done.stderr
    assert "environment variable" in done.stderr
    assert "hunter2" not in done.stderr + done.stdout


def test_an_unmigrated_database_is_one_line_that_says_what_to_run(
    tmp_path: Path, postgres_server: Postgres, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_QUEUE_URL", fresh_database(postgres_server, migrate=False))
    done = imagen(postgres_config(tmp_path), "jobs")
    assert done.returncode != 0
    assert (
        done.stderr.strip()
        .splitlines()[-1]
        .endswith("create them with: imagen queue migrate --apply")
    )


def test_an_unreachable_server_is_one_line_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.testing.postgres import free_port

    url = f"postgresql://imagen:hunter2-secret@127.0.0.1:{free_port()}/jobs"
    monkeypatch.setenv("IMAGEN_QUEUE_URL", url)
    done = imagen(postgres_config(tmp_path), "jobs")
    assert done.returncode != 0
    assert "the job queue's database cannot be used" in done.stderr
    assert "hunter2" not in done.stderr
    assert "Traceback" not in done.stderr


def test_queue_names_fit_postgresql_channel_names() -> None:
    assert queue_name("flux-schnell") == "imagen/flux-schnell"
    long = queue_name("a" * 80)
    assert len(("procrastinate_queue_v1#" + long).encode()) <= 63
    assert long != queue_name("a" * 79 + "b")


def test_submit_get_list_cancel_and_a_long_poll_in_one_process(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path, ", heartbeat: 0.2"))

    async def scenario() -> None:
        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        try:
            job = await submit(queue, config, Request("a cat in a hat", count=2), backend="mock",
                               output_dir=str(tmp_path / "out"))  # fmt: skip
            assert (await queue.get(job.id)).state == "queued"
            found = await queue.list(JobQuery(text="CAT IN", backend="mock"))
            assert [listed.id for listed in found] == [job.id]
            assert await queue.list(JobQuery(states=("done",))) == []
            # A long poll returns at the first change, made by another connection.
            waiting = asyncio.ensure_future(queue.wait(job.id, after=job.version, max_wait=60))
            await asyncio.sleep(0)
            canceled = await queue.cancel(job.id)
            changed = await waiting
            assert changed.state == canceled.state == "canceled"
            with pytest.raises(JobNotFound):
                await queue.get("no-such-job")
        finally:
            await queue.aclose()

    asyncio.run(scenario())


def test_a_submit_names_its_procrastinate_job_and_a_cancel_drops_it(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))

    async def scenario() -> str:
        queue = open_queue(config)
        try:
            job = await submit(queue, config, Request("a cat"), backend="mock")
            await queue.cancel(job.id)
            return job.id
        finally:
            await queue.aclose()

    job_id = asyncio.run(scenario())
    with psycopg.connect(queue_db) as conn:
        row = conn.execute(
            "SELECT j.task_id, t.status, t.queue_name, t.lock FROM imagen.jobs j"
            " JOIN imagen_queue.procrastinate_jobs t ON t.id = j.task_id WHERE j.id = %s",
            (job_id,),
        ).fetchone()
    assert row is not None
    assert row[1:] == ("cancelled", "imagen/mock", job_id)


def test_a_save_by_a_worker_that_lost_the_job_changes_nothing(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))

    async def scenario() -> None:
        from imagen_postgres import records

        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        try:
            job = await submit(queue, config, Request("a cat"), backend="mock")
            first = await queue._once(lambda conn: records.claim(conn, job.id, "a:1:x", 3))
            assert not isinstance(first, str)
            saved = await queue._once(lambda conn: records.save(conn, first, "a:1:x"))
            assert saved.version == first.version + 1
            # Worker b takes the job over (a went silent): a's next save is refused.
            async with queue._transaction() as conn:
                await conn.execute("UPDATE imagen.jobs SET worker = 'b:2:y' WHERE id = %s",
                                   (job.id,))  # fmt: skip
            with pytest.raises(ClaimLost, match="taken over by another worker"):
                await queue._once(lambda conn: records.save(conn, saved, "a:1:x"))
            after = await queue.get(job.id)
            assert after.version == saved.version
            assert after.state == "running"
            with pytest.raises(JobNotFound):
                await queue._once(
                    lambda conn: records.save(conn, attrs.evolve(saved, id="nope"), "a:1:x")
                )
        finally:
            await queue.aclose()

    asyncio.run(scenario())


def test_the_pool_checks_only_a_connection_the_server_wrote_to(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A loan costs no round trip of its own; a connection the server ended (a restart, a
    # terminated backend) is found out before it is lent, and replaced.
    from psycopg_pool import AsyncConnectionPool

    checked: list[object] = []
    real_check = AsyncConnectionPool.check_connection

    async def counting(connection: psycopg.AsyncConnection[object]) -> None:
        checked.append(connection)
        await real_check(connection)

    monkeypatch.setattr(AsyncConnectionPool, "check_connection", staticmethod(counting))
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))

    async def scenario() -> None:
        queue = open_queue(config)
        try:
            job = await submit(queue, config, Request("a cat"), backend="mock")
            for _ in range(3):
                assert (await queue.get(job.id)).id == job.id
            assert checked == []
            with psycopg.connect(queue_db, autocommit=True) as admin:
                admin.execute(
                    # Each backend waited for until it is gone (it said why and closed).
                    "SELECT pg_terminate_backend(pid, 60000) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            assert (await queue.get(job.id)).id == job.id
            assert len(checked) >= 1
        finally:
            await queue.aclose()

    asyncio.run(scenario())


def test_a_job_announced_while_a_fetch_is_under_way_is_fetched_by_that_fetch(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # procrastinate's worker forgets an announcement that arrives during a fetch; the job
    # would then wait for the next polling tick.
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))
    channel = f"procrastinate_queue_v1#{queue_name('mock')}"
    announcement = '{"type": "job_inserted", "job_id": 0}'

    async def scenario() -> tuple[str, str | None]:
        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        app = await queue._open()
        manager = app.job_manager
        assert isinstance(manager, AnnouncedJobManager)
        heard = asyncio.Event()

        async def on_notification(**_: object) -> None:
            heard.set()

        listener = asyncio.ensure_future(
            manager.listen_for_jobs(on_notification=on_notification, queues=[queue_name("mock")])
        )
        try:
            while not heard.is_set():  # until the listener is in place
                async with queue._transaction() as conn:
                    await conn.execute("SELECT pg_notify(%s, %s)", (channel, announcement))
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(heard.wait(), 0.5)
            worker = await manager.register_worker()
            fetch = manager.connector.execute_query_one_async
            raced: list[str] = []

            async def racing(query: str, **arguments: object) -> dict[str, object]:
                row: dict[str, object] = await fetch(query, **arguments)
                if not raced:  # the fetch looked (nothing queued); a job lands before it returns
                    heard.clear()
                    job = await submit(queue, config, Request("a cat"), backend="mock")
                    raced.append(job.id)
                    await asyncio.wait_for(heard.wait(), 60)
                return row

            monkeypatch.setattr(manager.connector, "execute_query_one_async", racing)
            fetched = await manager.fetch_job([queue_name("mock")], worker)
            return raced[0], None if fetched is None else fetched.task_kwargs["job_id"]
        finally:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
            await queue.aclose()

    submitted, fetched = asyncio.run(scenario())
    assert fetched == submitted


def test_a_claim_is_two_round_trips_and_a_read_a_list_and_a_save_one_each(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Single statements run in autocommit (no BEGIN and COMMIT around them), and a claim is a
    # read and a write over the version read, no transaction.
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path, ", pool_size: 2"))
    trace = tmp_path / "wire.trace"

    async def scenario() -> dict[str, int]:
        from imagen_postgres import records
        from imagen_postgres.queue import _Store

        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        try:
            job = await submit(queue, config, Request("a cat"), backend="mock")
            claimed: list[Job] = []

            async def claim() -> None:
                outcome = await queue._once(
                    lambda conn: records.claim(conn, job.id, "a:1:x", 3), atomic=False
                )
                assert not isinstance(outcome, str)
                claimed.append(outcome)

            async with traced(queue, trace):
                counts = {}
                for name, step in (
                    ("claim", claim),
                    ("get", lambda: queue.get(job.id)),
                    ("list", lambda: queue.list(JobQuery())),
                    ("save", lambda: _Store(queue, "a:1:x").save(claimed[0])),
                ):
                    before = _round_trips(trace)
                    await step()
                    counts[name] = _round_trips(trace) - before
            return counts
        finally:
            await queue.aclose()

    assert asyncio.run(scenario()) == {"claim": 2, "get": 1, "list": 1, "save": 1}


def _round_trips(trace: Path) -> int:
    """How many times the client waited for the server: its Sync and simple Query messages."""
    fields = [line.split("\t") for line in trace.read_text().splitlines()]
    return sum(1 for f in fields if len(f) > 3 and f[1] == "F" and f[3] in ("Sync", "Query"))


def test_a_claim_that_crosses_a_cancel_leaves_the_job_canceled(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The claim reads the job, a cancel lands, then the claim writes: its write must miss (the
    # version moved) and the job stays canceled, never running.
    from imagen_postgres import records

    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))
    read = records._row

    async def scenario() -> tuple[object, str]:
        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        crossed: list[str] = []

        async def read_then_cancel(conn: object, job_id: str, *, lock: bool = False) -> object:
            row = await read(conn, job_id, lock=lock)  # type: ignore[arg-type]
            if not crossed:
                crossed.append(job_id)
                await queue.cancel(job_id)  # on another connection, between read and write
            return row

        try:
            job = await submit(queue, config, Request("a cat"), backend="mock")
            monkeypatch.setattr(records, "_row", read_then_cancel)
            outcome = await queue._once(
                lambda conn: records.claim(conn, job.id, "a:1:x", 3), atomic=False
            )
            monkeypatch.setattr(records, "_row", read)
            return outcome, (await queue.get(job.id)).state
        finally:
            await queue.aclose()

    assert asyncio.run(scenario()) == ("nothing", "canceled")


def test_a_backend_name_that_just_fits_is_kept_and_a_longer_one_is_cut_between_letters() -> None:
    room = 63 - len("procrastinate_queue_v1#") - len("imagen/")
    assert queue_name("b" * room) == "imagen/" + "b" * room
    # Two-byte letters after one ASCII letter: the cut falls inside a letter, which is dropped.
    cut = queue_name("a" + "é" * 40)
    assert len(("procrastinate_queue_v1#" + cut).encode()) <= 63
    assert cut.startswith("imagen/aééé")
    assert cut != queue_name("a" + "é" * 39 + "e")


def test_the_queue_says_why_its_server_cannot_be_reached_without_the_password(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.testing.postgres import free_port

    port = free_port()
    monkeypatch.setenv("IMAGEN_QUEUE_URL", f"postgresql://imagen:hunter2-secret@127.0.0.1:{port}/q")

    said = refusal(load_config(postgres_config(tmp_path)))
    assert said.startswith("the job queue's database cannot be used: ")
    assert f'"127.0.0.1", port {port} failed' in said  # psycopg's reason: which server
    assert "hunter2" not in said


def test_a_job_whose_worker_lost_the_database_is_offered_again_a_moment_later() -> None:
    from datetime import UTC, datetime, timedelta

    from imagen_postgres.connection import QueueUnavailable
    from imagen_postgres.queue import _RequeueStrategy

    strategy = _RequeueStrategy()
    before = datetime.now(UTC)
    lost = strategy.get_retry_decision(exception=QueueUnavailable("gone"), job=None)  # type: ignore[arg-type]
    assert lost is not None
    assert lost.retry_at is not None
    assert before < lost.retry_at < before + timedelta(seconds=10)
    # Any other error was recorded on the job by the runner: procrastinate does not retry it.
    assert strategy.get_retry_decision(exception=ValueError("x"), job=None) is None  # type: ignore[arg-type]


def test_a_sweepers_announcement_and_cancel_check_and_a_reachability_check_are_one_round_trip(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # One statement each, in autocommit: one round trip, not three (BEGIN, it, COMMIT).
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path, ", pool_size: 2"))
    trace = tmp_path / "wire.trace"

    class Running:
        """The worker's side that the checks read: the jobs it runs, its stop, its cancels."""

        def __init__(self, job_id: str) -> None:
            self.running = [job_id]
            self.stopping = asyncio.Event()
            self.canceled: list[str] = []

        def cancel(self, job_id: str) -> None:
            self.canceled.append(job_id)

    async def scenario() -> tuple[dict[str, int], list[str], str]:
        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        try:
            job = await submit(queue, config, Request("a cat"), backend="mock")
            async with queue._transaction() as conn:
                await conn.execute(
                    "UPDATE imagen.jobs SET cancel_requested = true WHERE id = %s", (job.id,)
                )
            worker = Running(job.id)
            async with traced(queue, trace):
                counts = {}
                for name, step in (
                    ("announce", lambda: queue._announce(1, queue_name("mock"))),
                    ("cancel check", lambda: queue._check_cancels(worker)),  # type: ignore[arg-type]
                    ("reachable", lambda: queue._until_reachable(worker)),  # type: ignore[arg-type]
                ):
                    before = _round_trips(trace)
                    await step()
                    counts[name] = _round_trips(trace) - before
            return counts, worker.canceled, job.id
        finally:
            await queue.aclose()

    counts, canceled, job_id = asyncio.run(scenario())
    assert counts == {"announce": 1, "cancel check": 1, "reachable": 1}
    assert canceled == [job_id]


def test_a_cancel_whose_scheduled_run_cannot_be_dropped_still_cancels_the_job(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The record's cancel is what counts: a worker that fetches the run claims nothing.
    from procrastinate.exceptions import ConnectorException

    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))

    async def refuse(*args: object, **kwargs: object) -> bool:
        raise ConnectorException("the server went away")

    async def scenario() -> tuple[Job, Job]:
        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        try:
            job = await submit(queue, config, Request("a cat"), backend="mock")
            app = await queue._open()
            monkeypatch.setattr(app.job_manager, "cancel_job_by_id_async", refuse)
            return await queue.cancel(job.id), await queue.get(job.id)
        finally:
            await queue.aclose()

    canceled, read = asyncio.run(scenario())
    assert canceled.state == read.state == "canceled"


def test_a_submit_whose_record_is_not_written_leaves_no_run_for_a_worker(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The scheduled run and the record are one transaction: a worker never fetches a run whose
    # record is missing.
    from imagen_postgres import records

    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))

    async def refuse(*args: object) -> Job:
        raise RuntimeError("the record could not be written")

    async def scenario() -> None:
        queue = open_queue(config)
        try:
            monkeypatch.setattr(records, "insert", refuse)
            with pytest.raises(RuntimeError, match="could not be written"):
                await submit(queue, config, Request("a cat"), backend="mock")
        finally:
            await queue.aclose()

    asyncio.run(scenario())
    with psycopg.connect(queue_db) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM imagen_queue.procrastinate_jobs),"
            " (SELECT count(*) FROM imagen.jobs)"
        ).fetchone()
    assert row == (0, 0)


def test_a_cancel_and_a_pick_each_hold_their_row_from_their_read_to_their_write(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each reads the row locked, then writes it: one transaction (BEGIN, the read, the write,
    # COMMIT), so no other writer lands in between.
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path, ", pool_size: 2"))
    trace = tmp_path / "wire.trace"

    async def scenario() -> dict[str, list[str]]:
        from imagen.jobs.queue import JobConflict

        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        try:
            job = await submit(queue, config, Request("a cat"), backend="mock")
            async with traced(queue, trace):
                sent = {}
                for name, step in (
                    ("pick", lambda: queue.pick(job.id, 1)),
                    ("cancel", lambda: queue.cancel(job.id)),
                ):
                    before = len(_simple_queries(trace))
                    with contextlib.suppress(JobConflict):  # a queued take is not picked
                        await step()
                    sent[name] = _simple_queries(trace)[before:]
            return sent
        finally:
            await queue.aclose()

    sent = asyncio.run(scenario())
    assert sent["pick"][0] == "BEGIN"
    assert sent["pick"][-1] == "ROLLBACK"  # refused: nothing written
    assert sent["cancel"] == ["BEGIN", "COMMIT"]


def _simple_queries(trace: Path) -> list[str]:
    """The simple Query messages the client sent (BEGIN, COMMIT...), in order."""
    fields = [line.split("\t") for line in trace.read_text().splitlines()]
    return [f[4].split('"')[1] for f in fields if len(f) > 4 and f[1] == "F" and f[3] == "Query"]


def test_a_second_submit_of_one_job_is_refused_and_leaves_one_run(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.jobs.queue import JobConflict

    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))

    async def scenario() -> tuple[Job, str, Job]:
        queue = open_queue(config)
        try:
            job = await submit(queue, config, Request("a cat"), backend="mock")
            with pytest.raises(JobConflict) as refused:
                await queue.submit(attrs.evolve(job, caller="someone else"))
            return job, str(refused.value), await queue.get(job.id)
        finally:
            await queue.aclose()

    job, said, stored = asyncio.run(scenario())
    assert said == f"job {job.id} is in the queue already; submit it again for a new job"
    assert stored == job
    with psycopg.connect(queue_db) as conn:
        row = conn.execute(
            "SELECT count(*), min(task_name) FROM imagen_queue.procrastinate_jobs"
        ).fetchone()
    # One run, under the task name every imagen version runs (a job queued by one version is
    # run by the workers of the next).
    assert row == (1, "imagen.run_job")


def test_a_pool_that_cannot_open_says_why_in_one_line(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The server answered the first check, then refused the pool (out of connections).
    import procrastinate

    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))

    async def refused(self: object) -> None:
        raise psycopg.OperationalError('FATAL:  too many connections for role "imagen"')

    monkeypatch.setattr(procrastinate.App, "open_async", refused)

    assert refusal(config) == (
        'the job queue\'s database cannot be used: FATAL: too many connections for role "imagen"'
    )


def test_a_closed_queue_opens_again_when_used_and_closing_never_raises(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    import procrastinate

    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))

    async def broken(self: object) -> None:
        raise psycopg.OperationalError("the server closed the connection unexpectedly")

    async def scenario() -> tuple[Job, Job]:
        queue = open_queue(config)
        job = await submit(queue, config, Request("a cat"), backend="mock")
        await queue.wait(job.id, max_wait=0)  # its listener started
        await queue.aclose()
        # Used again (a long-lived front end reopens it): a fresh pool and listener.
        waiting = asyncio.ensure_future(queue.wait(job.id, after=job.version, max_wait=60))
        await asyncio.sleep(0)
        canceled = await queue.cancel(job.id)
        changed = await waiting
        monkeypatch.setattr(procrastinate.App, "close_async", broken)
        await queue.aclose()  # an exit path: a pool that fails to close is let go
        return canceled, changed

    canceled, changed = asyncio.run(scenario())
    assert changed.state == canceled.state == "canceled"


def test_a_server_that_accepts_and_never_answers_is_given_up_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A host that lies: it takes the connection and says nothing. The queue stops waiting
    # (after connect_timeout) instead of hanging the command.
    import socket

    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)  # the kernel completes each handshake; nobody ever reads
        port = silent.getsockname()[1]
        monkeypatch.setenv("IMAGEN_QUEUE_URL", f"postgresql://imagen@127.0.0.1:{port}/q")
        said = refusal(load_config(postgres_config(tmp_path)))
    assert said.startswith("the job queue's database cannot be used: ")
    assert "timeout" in said


def test_reconnect_delays_grow_through_the_table_then_keep_its_last() -> None:
    import itertools

    from imagen_postgres.changes import RECONNECT_DELAYS, reconnect_delays

    waits = list(itertools.islice(reconnect_delays(), len(RECONNECT_DELAYS) + 3))
    assert waits == [*RECONNECT_DELAYS, *[RECONNECT_DELAYS[-1]] * 3]
    assert waits[: len(RECONNECT_DELAYS)] == sorted(RECONNECT_DELAYS)
    assert list(itertools.islice(reconnect_delays(), 2)) == list(RECONNECT_DELAYS[:2])  # afresh


# -- the job records, statement by statement (records.py) ---------------------------------------


def in_queue(
    tmp_path: Path,
    queue_db: str,
    monkeypatch: pytest.MonkeyPatch,
    scenario: Callable[[PostgresQueue, Config], Awaitable[T]],
) -> T:
    """``scenario`` given an open postgres queue on ``queue_db`` and its config; closed after."""
    monkeypatch.setenv("IMAGEN_QUEUE_URL", queue_db)
    config = load_config(postgres_config(tmp_path))

    async def main() -> T:
        queue = open_queue(config)
        assert isinstance(queue, PostgresQueue)
        try:
            return await scenario(queue, config)
        finally:
            await queue.aclose()

    return asyncio.run(main())


def with_takes(job: Job, *states: str) -> Job:
    """``job`` with its takes in ``states`` (a running take halfway, with a message)."""
    for number, state in enumerate(states, start=1):
        halfway = {"progress": 0.5, "message": "sampling"} if state == "running" else {}
        job = job.with_take(attrs.evolve(job.take(number), state=state, **halfway))
    return job


async def claimed(queue: PostgresQueue, job_id: str, worker: str, max_attempts: int = 3) -> Any:
    from imagen_postgres import records

    return await queue._once(lambda conn: records.claim(conn, job_id, worker, max_attempts))


async def holder(queue: PostgresQueue, job_id: str) -> str | None:
    """The worker the job's row is held by (its ``worker`` column: a save must name it)."""
    async with queue._transaction() as conn:
        cursor = await conn.execute("SELECT worker FROM imagen.jobs WHERE id = %s", (job_id,))
        row = await cursor.fetchone()
    assert row is not None
    return row["worker"]


async def saved(queue: PostgresQueue, job: Job, worker: str) -> Job:
    from imagen_postgres import records

    return await queue._once(lambda conn: records.save(conn, job, worker))


def test_a_claim_takes_over_a_job_keeping_its_finished_takes_and_restarting_the_others(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(queue: PostgresQueue, config: Config) -> tuple[Job, Job, Job]:
        job = await submit(queue, config, Request("a cat", count=3), backend="mock")
        first = await claimed(queue, job.id, "a:1:x")
        assert not isinstance(first, str)
        await saved(queue, with_takes(first, "done", "running", "queued"), "a:1:x")
        again = await claimed(queue, job.id, "b:2:y")  # a went silent
        assert not isinstance(again, str)
        assert await holder(queue, job.id) == "b:2:y"
        return first, again, await queue.get(job.id)

    first, again, stored = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    assert (first.state, first.worker, first.attempts) == ("running", "a:1:x", 1)
    assert first.started_at is not None
    assert (again.state, again.worker, again.attempts) == ("running", "b:2:y", 2)
    assert again.started_at == first.started_at  # when the job first started
    assert [take.state for take in again.takes] == ["done", "queued", "queued"]
    assert (again.take(2).progress, again.take(2).message) == (0.0, "")
    assert stored == again


def test_a_job_whose_workers_stopped_max_attempts_times_ends_interrupted_with_its_done_takes(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen_postgres.records import RUNNER_DIED

    async def scenario(queue: PostgresQueue, config: Config) -> tuple[Any, Any, Job]:
        job = await submit(queue, config, Request("a cat", count=3), backend="mock")
        first = await claimed(queue, job.id, "a:1:x", max_attempts=2)
        await saved(queue, with_takes(first, "done", "running", "queued"), "a:1:x")
        second = await claimed(queue, job.id, "b:2:y", max_attempts=2)  # attempt 2 of 2
        await saved(queue, with_takes(second, "done", "running", "queued"), "b:2:y")
        third = await claimed(queue, job.id, "c:3:z", max_attempts=2)
        assert await holder(queue, job.id) is None  # nobody's
        return second, third, await queue.get(job.id)

    second, third, stored = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    assert not isinstance(second, str)
    assert second.attempts == 2
    assert third == "nothing"
    assert stored.state == "interrupted"
    assert stored.finished_at is not None
    assert stored.error is not None
    assert stored.error.type == "urn:imagen:interrupted"
    assert stored.error.detail == (
        "the worker stopped 2 times while running this job; the finished takes are kept. "
        "Submit it again to retry the others"
    )
    assert [take.state for take in stored.takes] == ["done", "failed", "queued"]
    assert stored.take(2).error == RUNNER_DIED
    assert stored.take(2).finished_at is not None
    assert stored.take(1).error is None


def test_a_claim_of_a_job_asked_to_cancel_cancels_it_and_of_a_finished_job_writes_nothing(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen_postgres import records

    async def scenario(queue: PostgresQueue, config: Config) -> tuple[Any, Job, Any, Job, Job]:
        job = await submit(queue, config, Request("a cat", count=2), backend="mock")
        first = await claimed(queue, job.id, "a:1:x")
        await saved(queue, with_takes(first, "done", "running"), "a:1:x")
        await queue._once(lambda conn: records.cancel(conn, job.id))  # a's notice was lost
        canceled = await claimed(queue, job.id, "b:2:y")
        stored = await queue.get(job.id)
        other = await submit(queue, config, Request("a dog"), backend="mock")
        mine = await claimed(queue, other.id, "a:1:x")
        done = await saved(queue, attrs.evolve(with_takes(mine, "done"), state="done"), "a:1:x")
        assert await holder(queue, other.id) is None  # a job that is not running is nobody's
        assert await holder(queue, job.id) is None
        return (
            canceled,
            stored,
            await claimed(queue, other.id, "b:2:y"),
            done,
            await queue.get(other.id),
        )

    canceled, stored, again, done, after = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    assert canceled == "nothing"
    assert stored.state == "canceled"
    assert stored.cancel_requested
    assert stored.finished_at is not None
    assert [take.state for take in stored.takes] == ["done", "failed"]
    assert stored.take(2).error == records.CANCELED
    assert stored.take(1).error is None
    assert again == "nothing"
    assert after == done  # not written again: same version, still done


def test_a_cancel_of_a_queued_a_running_and_a_finished_job(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen_postgres import records

    async def cancel(queue: PostgresQueue, job_id: str) -> tuple[Job, int | None]:
        return await queue._once(lambda conn: records.cancel(conn, job_id))

    async def scenario(queue: PostgresQueue, config: Config) -> dict[str, Any]:
        queued = await submit(queue, config, Request("a cat"), backend="mock")
        running = await submit(queue, config, Request("a dog", count=2), backend="mock")
        mine = await claimed(queue, running.id, "a:1:x")
        before = await saved(queue, with_takes(mine, "done", "running"), "a:1:x")
        seen = {
            "queued": await cancel(queue, queued.id),
            "queued stored": await queue.get(queued.id),
            "running": await cancel(queue, running.id),
            "running again": await cancel(queue, running.id),
            "running stored": await queue.get(running.id),
            "before": before,
        }
        seen["asked"] = await queue._once(
            lambda conn: records.cancel_requests(conn, [queued.id, running.id, "none"])
        )
        seen["asked none"] = await queue._once(lambda conn: records.cancel_requests(conn, []))
        async with queue._transaction() as conn:
            cursor = await conn.execute(
                "SELECT task_id FROM imagen.jobs WHERE id = %s", (queued.id,)
            )
            seen["task"] = (await cursor.fetchone())["task_id"]
        return seen

    seen = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    job, task = seen["queued"]
    assert (job.state, job.cancel_requested, task) == ("canceled", True, seen["task"])
    assert job.finished_at is not None
    assert seen["queued stored"] == job
    job, task = seen["running"]
    # Its worker cancels the takes: the record only asks, one version later.
    assert (job.state, job.cancel_requested, task) == ("running", True, None)
    assert job.version == seen["before"].version + 1
    assert [take.state for take in job.takes] == ["done", "running"]
    assert seen["running again"] == (job, None)  # asked once: nothing changes
    assert seen["running stored"] == job
    assert sorted(seen["asked"]) == sorted([seen["queued"][0].id, job.id])
    assert seen["asked none"] == []


def test_a_pick_takes_a_done_take_from_the_first_to_the_last_and_refuses_the_rest(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.jobs.queue import JobConflict

    async def scenario(queue: PostgresQueue, config: Config) -> tuple[Job, Job, Job, list[str]]:
        job = await submit(queue, config, Request("a cat", count=3), backend="mock")
        mine = await claimed(queue, job.id, "a:1:x")
        done = await saved(
            queue, attrs.evolve(with_takes(mine, "done", "failed", "done"), state="done"), "a:1:x"
        )
        refused = []
        for take in (0, 2, 4):
            with pytest.raises(JobConflict) as raised:
                await queue.pick(job.id, take)
            refused.append(str(raised.value))
        first = await queue.pick(job.id, 1)
        last = await queue.pick(job.id, 3)
        return done, first, last, refused

    done, first, last, refused = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    assert (first.picked, first.version) == (1, done.version + 1)
    assert (last.picked, last.version) == (3, done.version + 2)
    assert first.updated_at > done.updated_at
    assert refused == [
        f"job {done.id} has takes 1 to 3; there is no take 0",
        f"take 2 of job {done.id} is failed; pick a done take",
        f"job {done.id} has takes 1 to 3; there is no take 4",
    ]


def test_a_list_filters_by_state_caller_backend_and_literal_text_newest_first(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def scenario(queue: PostgresQueue, config: Config) -> dict[str, list[str]]:
        made = {}
        for key, prompt, caller in (
            ("percent", "100% cat", "ann"),
            ("digits", "1000 cats", "bob"),
            ("under", "a_b dog", "ann"),  # moved to backend "other" below, and done
            ("plain", "axb dog", None),
            ("slash", "a\\b owl", "bob"),
        ):
            job = await submit(queue, config, Request(prompt), backend="mock", caller=caller)
            made[key] = job.id
        async with queue._transaction() as conn:
            await conn.execute(
                "UPDATE imagen.jobs SET backend = 'other', state = 'done' WHERE id = %s",
                (made["under"],),
            )

        async def ids(**query: Any) -> list[str]:
            names = {job_id: key for key, job_id in made.items()}
            return [names[job.id] for job in await queue.list(JobQuery(**query))]

        return {
            "all": await ids(),
            "two": await ids(limit=2),
            "percent": await ids(text="0%"),
            "under": await ids(text="a_b"),
            "slash": await ids(text="a\\b"),
            "ann": await ids(caller="ann"),
            "other": await ids(backend="other"),
            "done": await ids(states=("done",)),
            "queued bob": await ids(states=("queued",), caller="bob", backend="mock"),
        }

    found = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    assert found["all"] == ["slash", "plain", "under", "digits", "percent"]
    assert found["two"] == ["slash", "plain"]
    assert found["percent"] == ["percent"]  # % is a letter, not "anything"
    assert found["under"] == ["under"]  # _ too
    assert found["slash"] == ["slash"]
    assert found["ann"] == ["under", "percent"]
    assert found["other"] == ["under"]
    assert found["done"] == ["under"]
    assert found["queued bob"] == ["slash", "digits"]


def test_a_takeover_and_an_interruption_are_dated_and_titled(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # What `imagen jobs` shows of a job a worker left: when it last changed, and why it ended.
    async def scenario(queue: PostgresQueue, config: Config) -> tuple[Job, Any, Job, Job]:
        job = await submit(queue, config, Request("a cat", count=2), backend="mock")
        first = await claimed(queue, job.id, "a:1:x", max_attempts=2)
        left = await saved(queue, with_takes(first, "done", "running"), "a:1:x")
        again = await claimed(queue, job.id, "b:2:y", max_attempts=2)
        left_again = await saved(queue, with_takes(again, "done", "running"), "b:2:y")
        await claimed(queue, job.id, "c:3:z", max_attempts=2)
        return left, again, left_again, await queue.get(job.id)

    left, again, left_again, ended = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    assert again.updated_at > left.updated_at
    assert ended.updated_at > left_again.updated_at
    assert ended.error is not None
    assert (ended.error.type, ended.error.title) == ("urn:imagen:interrupted", "Interrupted")


def test_a_job_that_cannot_be_read_says_which_and_why(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from imagen.jobs.queue import JobConflict

    async def scenario(queue: PostgresQueue, config: Config) -> tuple[str, list[str]]:
        from imagen.jobs.model import FORMAT_VERSION

        newer = await submit(queue, config, Request("a cat"), backend="mock")
        broken = await submit(queue, config, Request("a dog"), backend="mock")
        async with queue._transaction() as conn:
            await conn.execute(
                "UPDATE imagen.jobs SET format_version = %s WHERE id = %s",
                (FORMAT_VERSION + 1, newer.id),
            )
            await conn.execute(
                "UPDATE imagen.jobs SET record = '{\"id\": 1}'::jsonb WHERE id = %s", (broken.id,)
            )
        said = []
        for job_id in (newer.id, broken.id, "no-such-job"):
            with pytest.raises((JobConflict, JobNotFound)) as raised:
                await queue.get(job_id)
            said.append(str(raised.value))
        return f"{newer.id} {broken.id} {FORMAT_VERSION + 1}", said

    ids, said = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    newer, broken, version = ids.split()
    assert said[0] == (
        f"job {newer} was written by a newer imagen (format {version}); upgrade imagen to read it"
    )
    assert said[1].startswith(f"job {broken} cannot be read: ")
    assert len(said[1]) > len(f"job {broken} cannot be read: ")  # and why
    assert said[2] == "no job 'no-such-job' in the queue (list them with: imagen jobs)"


def test_a_workers_save_brings_back_a_cancel_asked_meanwhile(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The save's answer is how a worker whose notification was lost still learns of it.
    async def scenario(queue: PostgresQueue, config: Config) -> tuple[Job, Job]:
        job = await submit(queue, config, Request("a cat", count=2), backend="mock")
        mine = await claimed(queue, job.id, "a:1:x")
        before = await saved(queue, with_takes(mine, "running"), "a:1:x")
        await queue.cancel(job.id)
        after = await saved(queue, with_takes(before, "done"), "a:1:x")
        return before, after

    before, after = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    assert not before.cancel_requested
    assert after.cancel_requested


async def blocked_behind(queue_db: str, job_id: str, change: str, step: Awaitable[T]) -> T:
    """Run ``step`` (a cancel, a pick) while another transaction holds the job's row, having
    made ``change`` to it (a worker's claim or save in flight), and commit that transaction only
    once ``step`` waits for the row: what ``step`` does must build on the committed change."""
    async with await psycopg.AsyncConnection.connect(queue_db) as other:
        await other.execute(change, (job_id,))  # BEGIN, and the row is locked until COMMIT
        running = asyncio.ensure_future(step)
        async with await psycopg.AsyncConnection.connect(queue_db, autocommit=True) as watch:
            async with asyncio.timeout(60):
                while not running.done():  # the server says when it waits on the lock
                    cursor = await watch.execute(
                        "SELECT count(*) FROM pg_stat_activity"
                        " WHERE datname = current_database() AND wait_event_type = 'Lock'"
                    )
                    row = await cursor.fetchone()
                    if row is not None and row[0] > 0:
                        break
        await other.commit()
    return await running


def test_a_cancel_and_a_pick_build_on_a_change_committed_while_they_waited_for_the_row(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each reads the row locked (FOR UPDATE): a read without the lock would see the row as it
    # was, and its write would undo the change (a claim, a worker's save) it waited for.
    claim = (
        "UPDATE imagen.jobs SET state = 'running', worker = 'w:1:x',"
        " record = jsonb_set(record, '{state}', '\"running\"'), version = version + 1"
        " WHERE id = %s"
    )
    more = (
        "UPDATE imagen.jobs SET record = jsonb_set(record, '{caller}', '\"later\"'),"
        " version = version + 1 WHERE id = %s"
    )

    async def scenario(queue: PostgresQueue, config: Config) -> tuple[Job, Job, Job]:
        queued = await submit(queue, config, Request("a cat"), backend="mock")
        canceled, _ = await blocked_behind(
            queue_db,
            queued.id,
            claim,
            queue._once(lambda conn: records_cancel(conn, queued.id)),
        )
        done = await submit(queue, config, Request("a dog"), backend="mock")
        mine = await claimed(queue, done.id, "a:1:x")
        await saved(queue, attrs.evolve(with_takes(mine, "done"), state="done"), "a:1:x")
        picked = await blocked_behind(queue_db, done.id, more, queue.pick(done.id, 1))
        return canceled, picked, await queue.get(done.id)

    canceled, picked, stored = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    # The claim won the row first: the job runs, asked to cancel (its worker stops it).
    assert (canceled.state, canceled.cancel_requested) == ("running", True)
    assert (picked.picked, picked.caller) == (1, "later")
    assert stored == picked


async def records_cancel(conn: Any, job_id: str) -> tuple[Job, int | None]:
    from imagen_postgres import records

    return await records.cancel(conn, job_id)


def test_a_job_left_before_its_first_take_is_dated_when_taken_over_and_when_interrupted(
    tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # No take was running (its worker died at once): the claim's own change dates the job.
    async def scenario(queue: PostgresQueue, config: Config) -> tuple[Any, Any, Job]:
        job = await submit(queue, config, Request("a cat", count=2), backend="mock")
        first = await claimed(queue, job.id, "a:1:x", max_attempts=2)
        again = await claimed(queue, job.id, "b:2:y", max_attempts=2)
        await claimed(queue, job.id, "c:3:z", max_attempts=2)
        return first, again, await queue.get(job.id)

    first, again, ended = in_queue(tmp_path, queue_db, monkeypatch, scenario)
    assert [take.state for take in again.takes] == ["queued", "queued"]
    assert again.updated_at > first.updated_at
    assert ended.state == "interrupted"
    assert [take.state for take in ended.takes] == ["queued", "queued"]
    assert ended.updated_at > again.updated_at
