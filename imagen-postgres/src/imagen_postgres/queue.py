"""The ``postgres`` queue: job records in ``imagen.jobs``, runs scheduled by procrastinate.

    queue:
      type: postgres
      url_env: IMAGEN_QUEUE_URL

A submit stores the job's record and defers one procrastinate job for it in one transaction, on
the procrastinate queue of its backend instance (``imagen/<instance>``), so a worker fetches
only jobs for the instances it can run, and its LISTEN hears the insert at once. procrastinate
gives each job a lock (never two runs of one job), worker heartbeats, and retries; this module
adds the rest of the ``Queue`` contract:

- a worker's procrastinate task claims the record (``records.claim``) and runs it with the core's
  runner (``imagen.jobs.runner`` through ``Worker.start``), which skips finished takes and
  recovers the ones a dead worker wrote but did not record, so nothing is paid twice;
- a job handed back (a worker stopping) or newer than this imagen is retried by procrastinate;
  a job whose worker went silent for ``stale_after`` seconds is found by every worker's
  sweeper (procrastinate's stalled jobs) and retried, so another worker takes it over;
- waits and cancels ride the ``imagen_jobs`` channel (see ``changes.py``);
- a lost connection (the server restarted) is retried: saves of running jobs wait for the
  server (up to ``stale_after``), and the worker starts its procrastinate worker again.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import hashlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import procrastinate
from procrastinate.retry import BaseRetryStrategy, RetryDecision

from imagen import debug
from imagen.jobs.queue import JobConflict, JobQuery
from imagen_postgres import records
from imagen_postgres.changes import Changes, reconnect_delays
from imagen_postgres.connection import QueueUnavailable, describe_error, pool, queue_url
from imagen_postgres.fetcher import AnnouncedJobManager
from imagen_postgres.schema import CHANNEL, QUEUE_SCHEMA
from imagen_postgres.settings import PostgresQueueSettings

if TYPE_CHECKING:
    import psycopg
    from procrastinate.job_context import JobContext

    from imagen.jobs.model import Job
    from imagen.jobs.worker import Worker

T = TypeVar("T")

TASK_NAME = "imagen.run_job"
#: how long a running job's save waits for a server that went away (seconds); after that the
#: worker gives the job up (the sweeper of a worker that can reach the server takes it over)
SAVE_PATIENCE = 300.0
#: the longest a job can wait for a worker with room when its notification was missed (s)
FETCH_POLL = 1.0
#: a job written by a newer imagen is offered again this much later (seconds)
NEWER_RETRY = 60.0
# procrastinate's NOTIFY channel is "procrastinate_queue_v1#" + the queue name, and PostgreSQL
# channel names end at 63 bytes.
_MAX_QUEUE_NAME = 63 - len("procrastinate_queue_v1#")


def queue_name(backend: str) -> str:
    """The procrastinate queue of a backend instance's jobs (``imagen/<instance>``)."""
    name = f"imagen/{backend}"
    if len(name.encode()) <= _MAX_QUEUE_NAME:
        return name
    digest = hashlib.sha256(backend.encode()).hexdigest()[:12]
    head = name.encode()[: _MAX_QUEUE_NAME - 13].decode(errors="ignore")
    return f"{head}~{digest}"


class Requeue(Exception):
    """Ask procrastinate to offer the job again ``delay`` seconds from now."""

    def __init__(self, delay: float) -> None:
        super().__init__(f"offered again in {delay:g} s")
        self.delay = delay


def _quiet_libraries() -> None:
    # procrastinate and psycopg_pool log every reconnect as an error with a traceback; the
    # worker says what happened in one line instead (IMAGEN_DEBUG shows the details).
    for name in ("procrastinate", "psycopg.pool"):
        logger = logging.getLogger(name)
        if not logger.handlers:
            logger.addHandler(logging.NullHandler())
        logger.propagate = False


class _Store:
    """The JobStore a worker records its job in; waits out a short loss of the server."""

    def __init__(self, queue: PostgresQueue, worker: str) -> None:
        self._queue = queue
        self._worker = worker
        self.last: Job | None = None

    async def save(self, job: Job) -> Job:
        stored = await self._queue._patiently(
            lambda conn: records.save(conn, job, self._worker),
            patience=SAVE_PATIENCE,
            atomic=False,  # one statement
        )
        self.last = stored
        return stored


class PostgresQueue:
    """The ``postgres`` queue type (see the module docstring)."""

    def __init__(self, type: str, settings: PostgresQueueSettings) -> None:
        self.settings = settings
        self._app: procrastinate.App | None = None
        self._task: Any = None
        self._changes: Changes | None = None
        self._opening: asyncio.Lock | None = None
        self._worker: Worker | None = None

    # -- connections ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return queue_url(self.settings)

    def _unavailable(self, error: BaseException) -> QueueUnavailable:
        return QueueUnavailable(
            f"the job queue's database cannot be used: {describe_error(error, self.url)}"
        )

    async def _open(self) -> procrastinate.App:
        """procrastinate's app on a small pool (opened on first use)."""
        if self._opening is None:
            self._opening = asyncio.Lock()
        async with self._opening:
            if self._app is not None:
                return self._app
            url = self.url
            await self._check(url)
            connector = procrastinate.PsycopgConnector(
                conninfo=url,
                min_size=1,
                max_size=self.settings.pool_size,
                configure=_configure,
                # A caller waits this long for a connection; a broken one is replaced with
                # backoff for at most reconnect_timeout, after which the next caller starts
                # afresh: so the pool is back within seconds of the server, however long it
                # was away (psycopg_pool's own backoff would grow to minutes).
                timeout=5.0,
                reconnect_timeout=5.0,
                # A connection is checked before a loan only when the server wrote to it.
                pool_factory=pool,
            )
            app = procrastinate.App(connector=connector)
            app.job_manager = AnnouncedJobManager(connector)
            self._task = app.task(name=TASK_NAME, pass_context=True, retry=_RequeueStrategy())(
                self._run_task
            )
            try:
                await app.open_async()
            except Exception as error:
                raise self._unavailable(error) from None
            self._app = app
            return app

    async def _check(self, url: str) -> None:
        """One line for the usual first problems: the server is down, or not migrated."""
        import psycopg

        try:
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=10)
            async with conn:
                cursor = await conn.execute(
                    "SELECT to_regclass('imagen.jobs'), to_regclass(%s)",
                    (f"{QUEUE_SCHEMA}.procrastinate_jobs",),
                )
                row = await cursor.fetchone()
        except psycopg.Error as error:
            raise self._unavailable(error) from None
        if row is None or None in row:
            raise QueueUnavailable(
                "the job queue's tables are missing from the database in "
                f"{self.settings.url_env}; create them with: imagen queue migrate --apply"
            )

    async def _listen_connection(self) -> psycopg.AsyncConnection[Any]:
        import psycopg

        return await psycopg.AsyncConnection.connect(self.url, autocommit=True, connect_timeout=10)

    async def _changes_started(self) -> Changes:
        if self._changes is None:
            self._changes = Changes(self._listen_connection, CHANNEL)
        await self._changes.start()
        return self._changes

    @contextlib.asynccontextmanager
    async def _transaction(
        self, *, atomic: bool = True
    ) -> AsyncIterator[psycopg.AsyncConnection[Any]]:
        """A pooled connection; with ``atomic``, in a transaction committed at the end.

        Without ``atomic`` every statement commits on its own (the connections are in
        autocommit): for work that is one statement, which then costs one round trip, not
        three (BEGIN, the statement, COMMIT).
        """
        import psycopg
        import psycopg_pool

        app = await self._open()
        pool: psycopg_pool.AsyncConnectionPool[Any] = app.connector.pool  # type: ignore[attr-defined]
        try:
            async with pool.connection() as conn:
                if not atomic:
                    yield conn
                    return
                async with conn.transaction():
                    yield conn
        except (psycopg.OperationalError, psycopg_pool.PoolTimeout) as error:
            raise self._unavailable(error) from error

    async def _once(
        self,
        work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        *,
        atomic: bool = True,
    ) -> T:
        async with self._transaction(atomic=atomic) as conn:
            return await work(conn)

    async def _patiently(
        self,
        work: Callable[[psycopg.AsyncConnection[Any]], Awaitable[T]],
        *,
        patience: float,
        atomic: bool = True,
    ) -> T:
        """``work`` (see ``_transaction``), tried again while the server cannot be reached."""
        deadline = time.monotonic() + patience
        delays = reconnect_delays()
        while True:
            try:
                return await self._once(work, atomic=atomic)
            except QueueUnavailable as error:
                if time.monotonic() >= deadline:
                    raise
                debug.log_exception(error)
                await asyncio.sleep(next(delays))

    # -- the Queue contract --------------------------------------------------------------------

    async def submit(self, job: Job) -> Job:
        # One transaction, two statements: procrastinate's job, then the record that names it.
        # Workers see both at the commit (procrastinate's NOTIFY goes out then too). The
        # record's primary key refuses a second submit of one job id, and so its run too.
        import psycopg

        try:
            async with self._transaction() as conn:
                task_id = await self._task.configure(
                    queue=queue_name(job.backend),
                    lock=job.id,
                    task_kwargs={"job_id": job.id},
                    connection=conn,
                ).defer_async()
                return await records.insert(conn, job, task_id)
        except psycopg.errors.UniqueViolation:
            raise JobConflict(
                f"job {job.id} is in the queue already; submit it again for a new job"
            ) from None

    async def get(self, job_id: str) -> Job:
        return await self._once(lambda conn: records.get(conn, job_id), atomic=False)

    async def list(self, query: JobQuery) -> builtins.list[Job]:
        return await self._once(lambda conn: records.query(conn, query), atomic=False)

    async def cancel(self, job_id: str) -> Job:
        job, task_id = await self._once(lambda conn: records.cancel(conn, job_id))
        if task_id is not None:
            # Its procrastinate job is dropped too; if a worker fetched it meanwhile, the
            # worker's claim finds the record canceled and runs nothing.
            app = await self._open()
            with contextlib.suppress(Exception):
                await app.job_manager.cancel_job_by_id_async(task_id)
        return job

    async def pick(self, job_id: str, take: int) -> Job:
        return await self._once(lambda conn: records.pick(conn, job_id, take))

    async def wait(self, job_id: str, *, after: int | None = None, max_wait: float = 30.0) -> Job:
        changes = await self._changes_started()
        deadline = time.monotonic() + max(max_wait, 0.0)
        version = after
        while True:
            # Watch before reading: a change between the read and the wait still wakes us.
            event = changes.watch(job_id)
            try:
                job = await self.get(job_id)
                if version is None:
                    version = job.version
                left = deadline - time.monotonic()
                if job.version != version or left <= 0:
                    return job
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(event.wait(), left)
            finally:
                changes.unwatch(job_id, event)

    async def work(self, worker: Worker) -> None:
        from procrastinate.worker import Worker as TaskWorker

        _quiet_libraries()
        app = await self._open()
        self._worker = worker
        changes = await self._changes_started()
        removers = [
            changes.on_every_change(self._cancel_listener(worker)),
            changes.on_connection(self._connection_logger(worker)),
        ]
        queues = [queue_name(backend) for backend in worker.backends]
        sweeper = asyncio.ensure_future(self._sweep(worker, queues))
        stopping = asyncio.ensure_future(worker.stopping.wait())
        try:
            while not worker.stopping.is_set():
                tasks = TaskWorker(
                    app,
                    queues=queues,
                    name="imagen",
                    concurrency=worker.concurrency,
                    wait=not worker.once,
                    install_signal_handlers=False,
                    listen_notify=True,
                    # LISTEN starts jobs at once (a job announced during a fetch too: see
                    # fetcher.py); the poll bounds the wait for one whose announcement was
                    # lost with the LISTEN connection.
                    fetch_job_polling_interval=min(self.settings.heartbeat, FETCH_POLL),
                    abort_job_polling_interval=max(self.settings.heartbeat, 5.0),
                    update_heartbeat_interval=self.settings.heartbeat,
                    stalled_worker_timeout=self.settings.stale_after,
                )
                running = asyncio.ensure_future(tasks.run())  # type: ignore[no-untyped-call]
                await asyncio.wait({running, stopping}, return_when=asyncio.FIRST_COMPLETED)
                if not running.done():
                    # Drain: fetch nothing more, let the running jobs end.
                    tasks.stop()  # type: ignore[no-untyped-call]
                    await asyncio.gather(running, return_exceptions=True)
                    break
                error = running.exception()
                if error is None and worker.once:
                    break
                # procrastinate stops when its connection breaks (the server went away or
                # restarted): say so once, and start it again once the server is back.
                # procrastinate stops when it cannot reach the server (the listener says so
                # in the log): start it again once the server answers.
                if error is not None:
                    debug.log_exception(error)
                await self._until_reachable(worker)
        finally:
            for remove in removers:
                remove()
            for task in (sweeper, stopping):
                task.cancel()
            await asyncio.gather(sweeper, stopping, return_exceptions=True)
            self._worker = None

    async def aclose(self) -> None:
        if self._changes is not None:
            await self._changes.aclose()
            self._changes = None
        if self._app is not None:
            app, self._app = self._app, None
            with contextlib.suppress(Exception):
                await app.close_async()

    # -- the worker's side ---------------------------------------------------------------------

    async def _run_task(self, context: JobContext, job_id: str) -> None:
        """procrastinate's task: claim the record and run it to its end with the core's runner."""
        worker = self._worker
        if worker is None:  # a task fetched by a process that is not working: offer it again
            raise Requeue(0)
        claimed = await self._patiently(
            lambda conn: records.claim(conn, job_id, worker.id, self.settings.max_attempts),
            patience=self.settings.stale_after,
            atomic=False,  # a read, then a write over the version read (see records.claim)
        )
        if claimed == "nothing":
            return
        if claimed == "newer":
            worker.log(f"job {job_id} was written by a newer imagen; left for a newer worker")
            raise Requeue(NEWER_RETRY)
        store = _Store(self, worker.id)
        await asyncio.shield(worker.start(claimed, store))
        if store.last is not None and store.last.state == "queued":
            raise Requeue(0)  # handed back: another worker (or this one, later) does the rest

    def _connection_logger(self, worker: Worker) -> Callable[[BaseException | None], None]:
        def heard(error: BaseException | None) -> None:
            if error is None:
                worker.log(f"worker {worker.id} reconnected to the job queue")
            else:
                worker.log(
                    f"worker {worker.id} lost the job queue's database "
                    f"({describe_error(error, self.url)}); reconnecting"
                )

        return heard

    def _cancel_listener(self, worker: Worker) -> Callable[[str, bool], None]:
        checks: set[asyncio.Future[None]] = set()

        def heard(job_id: str, cancel: bool) -> None:
            if not job_id:  # reconnected: ask about every running job
                check = asyncio.ensure_future(self._check_cancels(worker))
                checks.add(check)
                check.add_done_callback(checks.discard)
            elif cancel and job_id in worker.running:
                worker.cancel(job_id)

        return heard

    async def _check_cancels(self, worker: Worker) -> None:
        running = worker.running
        if not running:
            return
        try:
            asked = await self._once(
                lambda conn: records.cancel_requests(conn, running), atomic=False
            )
        except QueueUnavailable as error:
            debug.log_exception(error)
            return
        for job_id in asked:
            worker.cancel(job_id)

    async def _sweep(self, worker: Worker, queues: builtins.list[str]) -> None:
        """Every heartbeat: offer again the jobs of workers that went silent, check cancels."""
        assert self._app is not None
        manager = self._app.job_manager
        while True:
            await asyncio.sleep(self.settings.heartbeat)
            try:
                stalled = await manager.get_stalled_jobs(
                    seconds_since_heartbeat=self.settings.stale_after
                )
                for task in stalled:
                    if task.queue not in queues or task.id is None:
                        continue
                    with contextlib.suppress(Exception):  # another worker was quicker
                        await manager.retry_job(task)
                        await self._announce(task.id, task.queue)
                await self._check_cancels(worker)
            except Exception as error:  # the server is away: the next round tries again
                debug.log_exception(error)

    async def _announce(self, task_id: int, queue: str) -> None:
        # A retried procrastinate job is not announced by procrastinate (only inserts are).
        import json

        payload = json.dumps({"type": "job_inserted", "job_id": task_id})
        await self._once(
            lambda conn: conn.execute(
                "SELECT pg_notify(%s, %s)", (f"procrastinate_queue_v1#{queue}", payload)
            ),
            atomic=False,
        )

    async def _until_reachable(self, worker: Worker) -> bool:
        """Wait (with backoff) until the server answers; False when the worker stopped first."""
        delays = reconnect_delays()
        while not worker.stopping.is_set():
            try:
                await self._once(lambda conn: conn.execute("SELECT 1"), atomic=False)
            except QueueUnavailable as error:
                debug.log_exception(error)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(worker.stopping.wait(), next(delays))
            else:
                return True
        return False


async def _configure(connection: psycopg.AsyncConnection[Any]) -> None:
    from psycopg.rows import dict_row

    from imagen_postgres.connection import set_search_path

    connection.row_factory = dict_row
    # One statement, one round trip (no BEGIN and COMMIT around it): what procrastinate runs
    # and most of ours are single statements; the rest are in explicit transactions
    # (``PostgresQueue._transaction``).
    await connection.set_autocommit(True)
    await set_search_path(connection)


class _RequeueStrategy(BaseRetryStrategy):
    """Offer the job again when the task asks to (``Requeue``) or lost the server; else not."""

    def get_retry_decision(
        self, *, exception: BaseException, job: procrastinate.jobs.Job
    ) -> RetryDecision | None:
        if isinstance(exception, Requeue):
            return RetryDecision(retry_in={"seconds": int(exception.delay)})
        if isinstance(exception, QueueUnavailable):
            return RetryDecision(retry_in={"seconds": 1})
        return None


__all__ = ["PostgresQueue", "Requeue", "queue_name"]
