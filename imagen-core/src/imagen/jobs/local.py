"""The built-in ``local`` queue: jobs in SQLite in the data dir, next to the history.

Every process that opens the file sees the same jobs: ``imagen submit`` adds one, any process
hosting a runner (``imagen worker``, the HTTP server) claims it in one ``BEGIN IMMEDIATE``
transaction, so two runners never both start it. A runner records each change of its job as
it happens and shows it is alive (``heartbeat``); a running job whose runner's process is gone
(same host) or that stayed silent for ``stale_after`` seconds is claimed again by the next
runner, which skips the takes already done. A job whose runners died ``max_attempts`` times
is ``interrupted`` with the takes it has.

Waiting for a change costs nothing per waiter: this process's own writes, through any of its
queues on the file, wake its waiters at once, and one small task per queue reads SQLite's
``PRAGMA data_version`` (which changes when another connection commits) every ``POLL_SECONDS``
while anyone waits, for other processes' writes. Reading a job costs one read per change of
the file, however many ask: everyone asking for a job while it is being read shares that
read, and the job read is kept until the file's ``data_version`` moves, so fifty long polls
woken by one change, or fifty pages polling an unchanged job, read it once.
"""

from __future__ import annotations

import asyncio
import builtins
import contextlib
import functools
import json
import os
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from imagen.errors import ConfigError, OutputError
from imagen.jobs.model import FORMAT_VERSION, Job, Problem, job_from_record, job_to_record, now
from imagen.jobs.queue import ClaimLost, JobConflict, JobNotFound, JobQuery
from imagen.jobs.settings import LocalQueueSettings
from imagen.store.sqlitefile import SQLiteFile, immediate, open_database

if TYPE_CHECKING:
    from imagen.jobs.worker import Worker

JOBS_ENV = "IMAGEN_JOBS"
FILE_NAME = "jobs.sqlite3"
SCHEMA_VERSION = 1
#: how often a waiting process looks for other processes' changes (one cheap pragma)
POLL_SECONDS = 0.02

_SCHEMA = """
CREATE TABLE jobs (
    seq              INTEGER PRIMARY KEY AUTOINCREMENT,  -- submission order: claims are FIFO
    id               TEXT    NOT NULL UNIQUE,            -- UUIDv7
    state            TEXT    NOT NULL,
    backend          TEXT    NOT NULL,                   -- the instance name
    caller           TEXT,
    prompt           TEXT    NOT NULL,                   -- as asked, for text search
    record           TEXT    NOT NULL,                   -- JSON: model.job_to_record
    format_version   INTEGER NOT NULL,                   -- of record (newer: left to newer runners)
    version          INTEGER NOT NULL,                   -- grows at every change of the job
    worker           TEXT,                               -- host:pid:tag of the runner holding it
    worker_host      TEXT,
    worker_pid       INTEGER,
    heartbeat        REAL,                               -- time.time() of its last sign of life
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX jobs_state ON jobs (state, seq);
"""

CANCELED = Problem("urn:imagen:canceled", "Canceled", "the job was canceled while this take ran")
RUNNER_DIED = Problem(
    "urn:imagen:interrupted",
    "Interrupted",
    "the runner of this job stopped while this take ran",
)


def default_path() -> str:
    """``$IMAGEN_JOBS`` if set, else ``jobs.sqlite3`` in the user data dir."""
    from_env = os.environ.get(JOBS_ENV, "").strip()
    if from_env:
        return os.path.expanduser(from_env)
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("imagen"), FILE_NAME)


def _prepare(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA synchronous = NORMAL")
    with immediate(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"the jobs file has schema version {version}, newer than this imagen "
                f"understands ({SCHEMA_VERSION}); upgrade imagen or set {JOBS_ENV}"
            )
        if version == 0:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


def process_alive(pid: int) -> bool:
    """Whether process ``pid`` on this host still runs (a zombie does not)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def _stopped_takes(job: Job, problem: Problem) -> Job:
    """``job`` with its running takes marked failed with ``problem``."""
    for take in job.takes:
        if take.state == "running":
            job = job.with_take(
                attrs.evolve(take, state="failed", error=problem, finished_at=now())
            )
    return job


class JobFile(SQLiteFile):
    """The open jobs file; every method is one short transaction (blocking: call in a thread)."""

    @classmethod
    def open(cls, path: str) -> JobFile:
        conn = open_database(path, what="the jobs file", env=JOBS_ENV, prepare=_prepare)
        return cls(conn, path)

    def _failed(self, error: sqlite3.Error) -> OutputError:
        return OutputError(
            f"the jobs file {self.path} failed: {error}; check the disk or set {JOBS_ENV}"
        )

    def _job(self, row: sqlite3.Row) -> Job:
        if row["format_version"] > FORMAT_VERSION:
            raise JobConflict(
                f"job {row['id']} was written by a newer imagen (format {row['format_version']});"
                " upgrade imagen to read it"
            )
        try:
            job = job_from_record(json.loads(row["record"]))
        except ValueError as error:
            raise JobConflict(f"job {row['id']} in {self.path} cannot be read: {error}") from None
        return attrs.evolve(
            job, version=row["version"], cancel_requested=bool(row["cancel_requested"])
        )

    def _row(self, job_id: str) -> sqlite3.Row:
        row = self._conn.execute("SELECT * FROM jobs WHERE id = ?", (job_id,)).fetchone()
        if row is None:
            raise JobNotFound(job_id)
        return row  # type: ignore[no-any-return]

    def _write(self, job: Job, *, worker: str | None = None, beat: bool = False) -> Job:
        """Store ``job`` whole over its row, one version later (inside a transaction)."""
        running = job.state == "running"
        host, pid = _host_pid(worker) if running and worker else (None, None)
        cursor = self._conn.execute(
            "UPDATE jobs SET state = ?, record = ?, format_version = ?, version = version + 1,"
            " worker = ?, worker_host = ?, worker_pid = ?,"
            " heartbeat = CASE WHEN ? THEN ? ELSE heartbeat END"
            " WHERE id = ? RETURNING version, cancel_requested",
            (job.state, _json(job_to_record(job)), FORMAT_VERSION,
             worker if running else None, host, pid, beat, time.time(), job.id),
        )  # fmt: skip
        version, cancel = cursor.fetchone()
        return attrs.evolve(job, version=version, cancel_requested=bool(cancel))

    def insert(self, job: Job) -> Job:
        job = attrs.evolve(job, version=1)
        with self._lock:
            try:
                self._conn.execute(
                    "INSERT INTO jobs (id, state, backend, caller, prompt, record,"
                    " format_version, version) VALUES (?, ?, ?, ?, ?, ?, ?, 1)",
                    (job.id, job.state, job.backend, job.caller, job.request.prompt,
                     _json(job_to_record(job)), FORMAT_VERSION),
                )  # fmt: skip
            except sqlite3.Error as error:
                raise self._failed(error) from error
        return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            return self._job(self._row(job_id))

    def query(self, query: JobQuery) -> list[Job]:
        where: list[str] = []
        params: list[Any] = []
        if query.states:
            where.append(f"state IN ({', '.join('?' for _ in query.states)})")
            params.extend(query.states)
        for column, value in (("caller", query.caller), ("backend", query.backend)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if query.text:
            escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
            where.append("prompt LIKE ? ESCAPE '\\'")
            params.append(f"%{escaped}%")
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT * FROM jobs {clause} ORDER BY seq DESC LIMIT ?", [*params, query.limit]
            ).fetchall()
            return [self._job(row) for row in rows]

    def cancel(self, job_id: str, settings: LocalQueueSettings) -> Job:
        with self._lock, immediate(self._conn):
            row = self._row(job_id)
            job = self._job(row)
            if job.finished or job.cancel_requested:
                return job
            if job.state == "queued" or _orphaned(row, settings):
                # Nobody runs it: canceled here and now (it never starts, or never resumes).
                done = attrs.evolve(
                    _stopped_takes(job, CANCELED),
                    state="canceled",
                    finished_at=now(),
                    updated_at=now(),
                    cancel_requested=True,
                )
                # Flagged first, so the job returned says what the file now holds.
                self._conn.execute("UPDATE jobs SET cancel_requested = 1 WHERE id = ?", (job_id,))
                return self._write(done)
            # Running: its runner sees the request (a change) and cancels the takes.
            cursor = self._conn.execute(
                "UPDATE jobs SET cancel_requested = 1, version = version + 1 WHERE id = ?"
                " RETURNING version",
                (job_id,),
            )
            return attrs.evolve(job, version=cursor.fetchone()[0], cancel_requested=True)

    def pick(self, job_id: str, take: int) -> Job:
        with self._lock, immediate(self._conn):
            job = self._job(self._row(job_id))
            if not 1 <= take <= job.takes_total:
                raise JobConflict(
                    f"job {job_id} has takes 1 to {job.takes_total}; there is no take {take}"
                )
            state = job.take(take).state
            if state != "done":
                raise JobConflict(f"take {take} of job {job_id} is {state}; pick a done take")
            picked = attrs.evolve(job, picked=take, updated_at=now())
            cursor = self._conn.execute(
                "UPDATE jobs SET record = ?, version = version + 1 WHERE id = ? RETURNING version",
                (_json(job_to_record(picked)), job_id),
            )
            return attrs.evolve(picked, version=cursor.fetchone()[0])

    def claim(
        self, worker: str, backends: Collection[str], settings: LocalQueueSettings
    ) -> Job | None:
        """The next job ``worker`` can run, now running under it; None when there is none.

        Jobs of dead runners come first (they were started before anything queued); a job
        whose runners died ``max_attempts`` times is marked ``interrupted`` on the way.
        """
        if not backends:
            return None
        marks = ", ".join("?" for _ in backends)
        with self._lock, immediate(self._conn):
            rows = self._conn.execute(
                "SELECT * FROM jobs WHERE state = 'running' AND"
                f" (heartbeat < ? OR worker_host = ?) AND backend IN ({marks})"
                " AND format_version <= ? ORDER BY seq",
                [time.time() - settings.stale_after, socket.gethostname(), *backends,
                 FORMAT_VERSION],
            ).fetchall()  # fmt: skip
            for row in rows:
                if not _orphaned(row, settings):
                    continue
                job = self._job(row)
                if job.cancel_requested:
                    self._write(
                        attrs.evolve(
                            _stopped_takes(job, CANCELED), state="canceled", finished_at=now()
                        )
                    )
                    continue
                if job.attempts >= settings.max_attempts:
                    problem = Problem(
                        "urn:imagen:interrupted",
                        "Interrupted",
                        f"the runner stopped {job.attempts} times while running this job; "
                        "the finished takes are kept. Submit it again to retry the others",
                    )
                    self._write(
                        attrs.evolve(
                            _stopped_takes(job, RUNNER_DIED),
                            state="interrupted",
                            error=problem,
                            finished_at=now(),
                            updated_at=now(),
                        )
                    )
                    continue
                return self._take(job, worker)
            row = self._conn.execute(
                "SELECT * FROM jobs WHERE state = 'queued' AND cancel_requested = 0"
                f" AND backend IN ({marks}) AND format_version <= ? ORDER BY seq LIMIT 1",
                [*backends, FORMAT_VERSION],
            ).fetchone()
            return None if row is None else self._take(self._job(row), worker)

    def _take(self, job: Job, worker: str) -> Job:
        # Takes the last runner left half done start again; finished ones stay as they are.
        for take in job.takes:
            if take.state == "running":
                job = job.with_take(attrs.evolve(take, state="queued", progress=0.0, message=""))
        claimed = attrs.evolve(
            job,
            state="running",
            worker=worker,
            attempts=job.attempts + 1,
            started_at=job.started_at or now(),
            updated_at=now(),
        )
        return self._write(claimed, worker=worker, beat=True)

    def save(self, job: Job, worker: str) -> Job:
        with self._lock, immediate(self._conn):
            row = self._row(job.id)
            if row["worker"] != worker:
                raise ClaimLost(f"job {job.id} was taken over by another runner")
            return self._write(job, worker=worker, beat=True)

    def heartbeat(self, worker: str) -> list[str]:
        """Say ``worker`` is alive; return the ids of its jobs whose cancel was asked for."""
        with self._lock:
            try:
                self._conn.execute(
                    "UPDATE jobs SET heartbeat = ? WHERE worker = ? AND state = 'running'",
                    (time.time(), worker),
                )
                rows = self._conn.execute(
                    "SELECT id FROM jobs WHERE worker = ? AND state = 'running'"
                    " AND cancel_requested = 1",
                    (worker,),
                ).fetchall()
            except sqlite3.Error as error:
                raise self._failed(error) from error
        return [row[0] for row in rows]

    def cancel_requests(self, worker: str) -> list[str]:
        with self._lock:
            rows = self._conn.execute(
                "SELECT id FROM jobs WHERE worker = ? AND state = 'running'"
                " AND cancel_requested = 1",
                (worker,),
            ).fetchall()
        return [row[0] for row in rows]


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def _host_pid(worker: str) -> tuple[str, int | None]:
    """The host and process id in a worker id (``host:pid:tag``)."""
    host, _, rest = worker.rpartition(":")[0].rpartition(":")
    try:
        return host, int(rest)
    except ValueError:
        return host, None


def _orphaned(row: sqlite3.Row, settings: LocalQueueSettings) -> bool:
    """Whether the runner holding this running job is gone: its process, or its heartbeat."""
    if row["state"] != "running":
        return False
    if row["heartbeat"] is None or row["heartbeat"] < time.time() - settings.stale_after:
        return True
    pid = row["worker_pid"]
    return row["worker_host"] == socket.gethostname() and pid is not None and not process_alive(pid)


#: this process's change trackers by jobs file (see ``_Changes.bump``)
_TRACKERS: dict[str, weakref.WeakSet[_Changes]] = {}
_TRACKERS_LOCK = threading.Lock()


class _Changes:
    """Wakes waiters when the jobs file changes (see the module docstring).

    A change made through this queue wakes its waiters at once, and those of every other
    queue on the same file in this process too, whatever thread and event loop they run in
    (the server runs its jobs on a thread of its own, with a queue of its own).
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._conn: sqlite3.Connection | None = None
        self.counter = 0
        #: resolved (and replaced) at every change: one future all waiters share
        self._changed: asyncio.Future[None] | None = None
        self._poller: asyncio.Task[None] | None = None
        self._waiters = 0
        #: the loop this queue's waiters run in (bound by ``mark``)
        self._loop: asyncio.AbstractEventLoop | None = None
        #: the data_version the waiters were last woken for
        self._last: int | None = None
        self._key = os.path.realpath(path)
        with _TRACKERS_LOCK:
            _TRACKERS.setdefault(self._key, weakref.WeakSet()).add(self)

    @property
    def waiting(self) -> int:
        """How many wait for a change now."""
        return self._waiters

    def mark(self) -> int:
        """The change count now, for ``wait`` to wait from (binds this queue to the loop)."""
        self._loop = asyncio.get_running_loop()
        return self.counter

    def _watcher(self) -> sqlite3.Connection:
        # Its own connection: data_version moves for the commits of every other connection,
        # this process's JobFile included. Used from the event loop only.
        if self._conn is None:
            self._conn = sqlite3.connect(self._path, isolation_level=None, timeout=0.5)
        return self._conn

    def stamp(self) -> int | None:
        """The file's ``data_version`` now: the same number means nobody committed since.

        One pragma (microseconds, no disk read); None when SQLite is busy for a moment.
        """
        try:
            return int(self._watcher().execute("PRAGMA data_version").fetchone()[0])
        except sqlite3.OperationalError:
            return None

    async def bump(self) -> None:
        """This process changed the file: wake the waiters of every queue on it now."""
        self._wake()
        with _TRACKERS_LOCK:
            others = [other for other in _TRACKERS.get(self._key, ()) if other is not self]
        for other in others:
            other._wake_soon()

    def _wake(self) -> None:
        # In this queue's loop. The poller need not wake anyone again for this commit.
        self._last = self.stamp()
        self.counter += 1
        changed, self._changed = self._changed, None
        if changed is not None:
            changed.set_result(None)

    def _wake_soon(self) -> None:
        """Another queue of this process changed the file: wake the waiters here (any thread)."""
        loop = self._loop
        if loop is None:  # nobody waited here yet: whoever does reads the file first
            return
        try:
            here: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            here = None
        if loop is here:
            self._wake()
            return
        with contextlib.suppress(RuntimeError):  # that loop has ended: nobody waits there
            loop.call_soon_threadsafe(self._wake)

    async def wait(self, seen: int, within: float) -> int:
        """Return once ``counter`` differs from ``seen`` or ``within`` seconds passed."""
        if self.counter != seen:
            return self.counter
        if self._changed is None:
            self._changed = asyncio.get_running_loop().create_future()
        changed = self._changed
        self._waiters += 1
        if self._poller is None or self._poller.done():
            self._poller = asyncio.get_running_loop().create_task(self._poll())
        try:
            # asyncio.wait, not wait_for: a waiter timing out must not cancel the shared future
            await asyncio.wait((changed,), timeout=within)
        finally:
            self._waiters -= 1
        return self.counter

    async def _poll(self) -> None:
        """Wake the waiters when another process commits (this one's commits woke them)."""
        self._last = self.stamp()
        while self._waiters > 0:
            await asyncio.sleep(POLL_SECONDS)
            current = self.stamp()
            if current is not None and current != self._last:
                self._wake()

    async def aclose(self) -> None:
        with _TRACKERS_LOCK:
            _TRACKERS.get(self._key, weakref.WeakSet()).discard(self)
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._conn is not None:
            self._conn.close()
            self._conn = None


class _Reads:
    """Reads of jobs, shared: one read per job per change of the file, however many ask.

    Everyone asking for a job while it is being read awaits that read; the job read is kept
    until the file's ``data_version`` moves, so an unchanged job is not read again. Nothing
    older than the asking is ever answered: a read is shared or kept only under the stamp
    taken before it began, and a new stamp drops everything read before it.
    """

    #: jobs kept for one unchanged file: every open page's job, never a whole busy file
    KEEP = 256

    def __init__(self, file: JobFile, changes: _Changes) -> None:
        self._file = file
        self._changes = changes
        self._stamp: int | None = None
        self._kept: dict[str, Job] = {}
        self._pending: dict[str, asyncio.Future[Job]] = {}
        #: reads that reached the file (what sharing saves shows in tests)
        self.count = 0

    async def get(self, job_id: str) -> Job:
        stamp = self._changes.stamp()
        if stamp is None:  # cannot tell whether the file changed: read afresh, alone
            return await self._start(job_id)
        if stamp != self._stamp:
            self._stamp = stamp
            self._kept.clear()
            self._pending.clear()
        kept = self._kept.get(job_id)
        if kept is not None:
            return kept
        pending = self._pending.get(job_id)
        if pending is None:
            pending = self._start(job_id)
            self._pending[job_id] = pending
            pending.add_done_callback(functools.partial(self._landed, job_id, stamp))
        # shielded: one asker going away (a closed page) must not cancel the others' read
        return await asyncio.shield(pending)

    def _start(self, job_id: str) -> asyncio.Future[Job]:
        self.count += 1
        return asyncio.get_running_loop().run_in_executor(None, self._file.get, job_id)

    def _landed(self, job_id: str, stamp: int, read: asyncio.Future[Job]) -> None:
        if self._pending.get(job_id) is read:
            del self._pending[job_id]
        if read.cancelled() or read.exception() is not None or stamp != self._stamp:
            return
        if len(self._kept) >= self.KEEP:
            self._kept.pop(next(iter(self._kept)))
        self._kept[job_id] = read.result()


class _Store:
    """The JobStore a local runner records its job in."""

    #: how long the runner lets a change wait for others to save with it (seconds; the
    #: runner's SAVE_BATCH otherwise): a save here is one SQLite commit without fsync (WAL,
    #: synchronous NORMAL), so a take that lands is shown within milliseconds; the few it
    #: waits let a job's last landing and its end be one save, not two in a row
    save_batch = 0.005

    def __init__(self, queue: LocalQueue, worker: str) -> None:
        self._queue = queue
        self._worker = worker

    async def save(self, job: Job) -> Job:
        stored = await asyncio.to_thread(self._queue.file.save, job, self._worker)
        await self._queue.changes.bump()
        return stored


class LocalQueue:
    """The ``local`` queue type (see the module docstring)."""

    def __init__(self, type: str, settings: LocalQueueSettings) -> None:
        self.settings = settings
        path = os.path.expanduser(settings.path) if settings.path else default_path()
        self.file = JobFile.open(path)
        self.changes = _Changes(path)
        self.reads = _Reads(self.file, self.changes)

    @property
    def path(self) -> str:
        return self.file.path

    async def _call(self, method: Any, *args: Any) -> Any:
        return await asyncio.to_thread(method, *args)

    async def submit(self, job: Job) -> Job:
        stored: Job = await self._call(self.file.insert, job)
        await self.changes.bump()
        return stored

    async def get(self, job_id: str) -> Job:
        return await self.reads.get(job_id)

    async def list(self, query: JobQuery) -> builtins.list[Job]:
        jobs: builtins.list[Job] = await self._call(self.file.query, query)
        return jobs

    async def cancel(self, job_id: str) -> Job:
        job: Job = await self._call(self.file.cancel, job_id, self.settings)
        await self.changes.bump()
        return job

    async def pick(self, job_id: str, take: int) -> Job:
        job: Job = await self._call(self.file.pick, job_id, take)
        await self.changes.bump()
        return job

    async def wait(self, job_id: str, *, after: int | None = None, max_wait: float = 30.0) -> Job:
        seen = self.changes.mark()
        version = after if after is not None else (await self.get(job_id)).version
        deadline = time.monotonic() + max(max_wait, 0.0)
        while True:
            job = await self.get(job_id)
            left = deadline - time.monotonic()
            if job.version != version or left <= 0:
                return job
            seen = await self.changes.wait(seen, left)

    async def work(self, worker: Worker) -> None:
        settings = self.settings
        seen = self.changes.mark()
        next_beat = 0.0
        while True:
            worker.wakeup.clear()
            claimed = False
            while not worker.stopping.is_set() and worker.has_room():
                job = await self._call(self.file.claim, worker.id, worker.backends, settings)
                if job is None:
                    break
                claimed = True
                await self.changes.bump()
                worker.start(job, _Store(self, worker.id))
            if worker.idle and (worker.stopping.is_set() or (worker.once and not claimed)):
                return
            if time.monotonic() >= next_beat:
                next_beat = time.monotonic() + settings.heartbeat / 2
                canceled = await self._call(self.file.heartbeat, worker.id)
            else:
                canceled = await self._call(self.file.cancel_requests, worker.id)
            for job_id in canceled:
                worker.cancel(job_id)
            seen = await self._idle(worker, seen, max(0.0, next_beat - time.monotonic()))

    async def _idle(self, worker: Worker, seen: int, within: float) -> int:
        """Sleep until the file changes, the worker has news, or ``within`` seconds pass."""
        change = asyncio.ensure_future(self.changes.wait(seen, within))
        news = asyncio.ensure_future(worker.wakeup.wait())
        try:
            await asyncio.wait({change, news}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in (change, news):
                waiter.cancel()
            await asyncio.gather(change, news, return_exceptions=True)
        return self.changes.counter

    async def aclose(self) -> None:
        await self.changes.aclose()
        self.file.close()


__all__ = ["JOBS_ENV", "JobFile", "LocalQueue", "default_path", "process_alive"]
