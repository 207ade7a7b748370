"""The job records in ``imagen.jobs``: every statement the queue runs on them.

Each function takes an open connection and runs in the caller's transaction, so a submit can
store its record and defer its procrastinate job in one commit. Rows are locked (``FOR UPDATE``)
wherever a state is read and then changed in a transaction (a cancel, a pick), and a claim writes
only over the version it read, so a cancel and a worker's claim or save never cross.
"""

from __future__ import annotations

import builtins
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Literal, overload

import attrs

from imagen.jobs.model import FORMAT_VERSION, Job, Problem, job_from_record, job_to_record, now
from imagen.jobs.queue import ClaimLost, JobConflict, JobNotFound, JobQuery

if TYPE_CHECKING:
    import psycopg


CANCELED = Problem("urn:imagen:canceled", "Canceled", "the job was canceled while this take ran")
RUNNER_DIED = Problem(
    "urn:imagen:interrupted", "Interrupted", "the worker running this job stopped during this take"
)

_COLUMNS = "id, state, record, format_version, version, worker, cancel_requested, task_id"


def _job(row: Mapping[str, Any]) -> Job:
    if row["format_version"] > FORMAT_VERSION:
        raise JobConflict(
            f"job {row['id']} was written by a newer imagen (format {row['format_version']});"
            " upgrade imagen to read it"
        )
    try:
        job = job_from_record(row["record"])
    except ValueError as error:
        raise JobConflict(f"job {row['id']} cannot be read: {error}") from None
    return attrs.evolve(job, version=row["version"], cancel_requested=bool(row["cancel_requested"]))


def _jsonb(job: Job) -> Any:
    from psycopg.types.json import Jsonb

    return Jsonb(job_to_record(job))


async def _row(conn: psycopg.AsyncConnection[Any], job_id: str, *, lock: bool = False) -> Any:
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM imagen.jobs WHERE id = %s{' FOR UPDATE' if lock else ''}",
        (job_id,),
    )
    row = await cursor.fetchone()
    if row is None:
        raise JobNotFound(job_id)
    return row


@overload
async def _write(
    conn: psycopg.AsyncConnection[Any], job: Job, *, worker: str | None = None
) -> Job: ...


@overload
async def _write(
    conn: psycopg.AsyncConnection[Any], job: Job, *, worker: str | None = None, version: int
) -> Job | None: ...


async def _write(
    conn: psycopg.AsyncConnection[Any],
    job: Job,
    *,
    worker: str | None = None,
    version: int | None = None,
) -> Job | None:
    """Store ``job`` whole over its row, one version later; with ``version``, only if the row
    is still at that version (None when it moved on)."""
    cursor = await conn.execute(
        "UPDATE imagen.jobs SET state = %s, record = %s, format_version = %s,"
        " version = version + 1, worker = %s, updated_at = now()"
        " WHERE id = %s AND (%s::bigint IS NULL OR version = %s)"
        " RETURNING version, cancel_requested",
        (job.state, _jsonb(job), FORMAT_VERSION, worker if job.state == "running" else None,
         job.id, version, version),
    )  # fmt: skip
    row = await cursor.fetchone()
    if row is None:
        if version is None:
            raise JobNotFound(job.id)
        return None
    return attrs.evolve(job, version=row["version"], cancel_requested=row["cancel_requested"])


async def insert(conn: psycopg.AsyncConnection[Any], job: Job, task_id: int) -> Job:
    """Store a new job, run by procrastinate's job ``task_id`` (deferred in this transaction)."""
    job = attrs.evolve(job, version=1)
    await conn.execute(
        "INSERT INTO imagen.jobs (id, state, backend, caller, prompt, record, format_version,"
        " version, task_id, created_at) VALUES (%s, %s, %s, %s, %s, %s, %s, 1, %s, %s)",
        (job.id, job.state, job.backend, job.caller, job.request.prompt, _jsonb(job),
         FORMAT_VERSION, task_id, job.created_at),
    )  # fmt: skip
    return job


async def get(conn: psycopg.AsyncConnection[Any], job_id: str) -> Job:
    return _job(await _row(conn, job_id))


async def query(conn: psycopg.AsyncConnection[Any], query: JobQuery) -> builtins.list[Job]:
    where: builtins.list[str] = []
    params: builtins.list[Any] = []
    if query.states:
        where.append("state = ANY(%s)")
        params.append(builtins.list(query.states))
    for column, value in (("caller", query.caller), ("backend", query.backend)):
        if value is not None:
            where.append(f"{column} = %s")
            params.append(value)
    if query.text:
        escaped = query.text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
        where.append("prompt ILIKE %s")
        params.append(f"%{escaped}%")
    clause = f"WHERE {' AND '.join(where)}" if where else ""
    cursor = await conn.execute(
        f"SELECT {_COLUMNS} FROM imagen.jobs {clause} ORDER BY created_at DESC, id DESC LIMIT %s",
        [*params, query.limit],
    )
    return [_job(row) for row in await cursor.fetchall()]


def _stopped_takes(job: Job, problem: Problem) -> Job:
    for take in job.takes:
        if take.state == "running":
            job = job.with_take(
                attrs.evolve(take, state="failed", error=problem, finished_at=now())
            )
    return job


def canceled(job: Job) -> Job:
    """``job`` canceled where it stands (its running takes failed as canceled)."""
    return attrs.evolve(
        _stopped_takes(job, CANCELED), state="canceled", finished_at=now(), updated_at=now()
    )


async def cancel(conn: psycopg.AsyncConnection[Any], job_id: str) -> tuple[Job, int | None]:
    """Cancel the job; return it and, when it was queued, its procrastinate job to cancel too."""
    row = await _row(conn, job_id, lock=True)
    job = _job(row)
    if job.finished or job.cancel_requested:
        return job, None
    if job.state == "queued":
        # Nobody runs it: canceled here and now, and it never starts.
        await conn.execute(
            "UPDATE imagen.jobs SET cancel_requested = true WHERE id = %s", (job_id,)
        )
        stored = await _write(conn, attrs.evolve(canceled(job), cancel_requested=True))
        return stored, row["task_id"]
    # Running: its worker hears the change (NOTIFY) and cancels the takes.
    cursor = await conn.execute(
        "UPDATE imagen.jobs SET cancel_requested = true, version = version + 1,"
        " updated_at = now() WHERE id = %s RETURNING version",
        (job_id,),
    )
    row = await cursor.fetchone()
    assert row is not None
    return attrs.evolve(job, version=row["version"], cancel_requested=True), None


async def pick(conn: psycopg.AsyncConnection[Any], job_id: str, take: int) -> Job:
    job = _job(await _row(conn, job_id, lock=True))
    if not 1 <= take <= job.takes_total:
        raise JobConflict(f"job {job_id} has takes 1 to {job.takes_total}; there is no take {take}")
    state = job.take(take).state
    if state != "done":
        raise JobConflict(f"take {take} of job {job_id} is {state}; pick a done take")
    picked = attrs.evolve(job, picked=take, updated_at=now())
    cursor = await conn.execute(
        "UPDATE imagen.jobs SET record = %s, version = version + 1, updated_at = now()"
        " WHERE id = %s RETURNING version",
        (_jsonb(picked), job_id),
    )
    row = await cursor.fetchone()
    assert row is not None
    return attrs.evolve(picked, version=row["version"])


Claim = Job | Literal["nothing", "newer"]


async def claim(
    conn: psycopg.AsyncConnection[Any], job_id: str, worker: str, max_attempts: int
) -> Claim:
    """Make the job running under ``worker`` (its procrastinate job was fetched by it).

    ``"nothing"``: there is nothing to run (it ended, was canceled, or ran out of attempts and
    is now ``interrupted``); ``"newer"``: a newer imagen wrote it, leave it to a newer worker.
    A job another worker was running (that worker is gone: procrastinate found it stalled) is
    taken over: its finished takes stay, its half-done ones start again.

    Two statements and no transaction: the row is read, and written only if its version is
    still the one read (every change moves it). A change in between (a cancel) makes the
    write miss, and the job is looked at again.
    """
    while True:
        row = await _row(conn, job_id)
        if row["format_version"] > FORMAT_VERSION:
            return "newer"
        job = _job(row)
        outcome = _claimed(job, worker, max_attempts)
        if outcome is None:
            return "nothing"
        written = await _write(conn, outcome, worker=worker, version=job.version)
        if written is not None:
            return written if written.state == "running" else "nothing"


def _claimed(job: Job, worker: str, max_attempts: int) -> Job | None:
    """What a claim by ``worker`` makes of ``job``: running under it, or ended (canceled,
    interrupted); None when there is nothing to do."""
    if job.finished:
        return None
    if job.cancel_requested:
        return canceled(job)
    if job.state == "running" and job.attempts >= max_attempts:
        problem = Problem(
            "urn:imagen:interrupted",
            "Interrupted",
            f"the worker stopped {job.attempts} times while running this job; "
            "the finished takes are kept. Submit it again to retry the others",
        )
        return attrs.evolve(
            _stopped_takes(job, RUNNER_DIED),
            state="interrupted",
            error=problem,
            finished_at=now(),
            updated_at=now(),
        )
    for take in job.takes:
        if take.state == "running":
            job = job.with_take(attrs.evolve(take, state="queued", progress=0.0, message=""))
    return attrs.evolve(
        job,
        state="running",
        worker=worker,
        attempts=job.attempts + 1,
        started_at=job.started_at or now(),
        updated_at=now(),
    )


async def save(conn: psycopg.AsyncConnection[Any], job: Job, worker: str) -> Job:
    """Store ``job`` whole, held by ``worker``: one statement (the row is still ``worker``'s,
    or nothing is written and ``ClaimLost`` says another worker took the job over)."""
    cursor = await conn.execute(
        "UPDATE imagen.jobs SET state = %s, record = %s, format_version = %s,"
        " version = version + 1, worker = %s, updated_at = now()"
        " WHERE id = %s AND worker = %s RETURNING version, cancel_requested",
        (job.state, _jsonb(job), FORMAT_VERSION, worker if job.state == "running" else None,
         job.id, worker),
    )  # fmt: skip
    row = await cursor.fetchone()
    if row is None:
        await _row(conn, job.id)  # JobNotFound when there is no such job at all
        raise ClaimLost(f"job {job.id} was taken over by another worker")
    return attrs.evolve(job, version=row["version"], cancel_requested=row["cancel_requested"])


async def cancel_requests(
    conn: psycopg.AsyncConnection[Any], job_ids: builtins.list[str]
) -> builtins.list[str]:
    """Which of ``job_ids`` (running here) were asked to cancel."""
    if not job_ids:
        return []
    cursor = await conn.execute(
        "SELECT id FROM imagen.jobs WHERE id = ANY(%s) AND cancel_requested", (job_ids,)
    )
    return [row["id"] for row in await cursor.fetchall()]


__all__ = [
    "cancel",
    "cancel_requests",
    "canceled",
    "claim",
    "get",
    "insert",
    "pick",
    "query",
    "save",
]
