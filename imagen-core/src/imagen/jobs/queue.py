"""The queue contract: what every queue type (``local``, ``postgres``, a plugin's) offers.

Front ends (the CLI, the HTTP server, MCP) submit, read, list, cancel, pick and long-poll
jobs; ``imagen worker`` (and the server's in-process runner) hands a ``Worker`` to ``work``,
which claims jobs the worker can run and starts them through ``Worker.start`` with a
``JobStore`` to record every change in. Queue types are registered with the
``register_queues`` hook and chosen by ``queue.type`` in config; ``open_queue`` builds the
configured one.

    queue = open_queue(config)
    job = await queue.submit(new_job(plan, request=request))
    job = await queue.wait(job.id, after=job.version, max_wait=30)   # the next change
"""

from __future__ import annotations

import builtins
from collections.abc import Collection
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

from imagen.errors import ConfigError, ImagenError
from imagen.jobs.store import ClaimLost as ClaimLost
from imagen.jobs.store import JobStore as JobStore

if TYPE_CHECKING:
    from imagen.config.model import Config
    from imagen.jobs.model import Job, JobState
    from imagen.jobs.worker import Worker


class JobNotFound(ImagenError):
    """No job with that id in this queue."""

    def __init__(self, job_id: str) -> None:
        self.job_id = job_id
        super().__init__(f"no job {job_id!r} in the queue (list them with: imagen jobs)")


class JobConflict(ImagenError):
    """The job is not in a state that allows this (picking a take that failed, ...)."""

    exit_code = 2


@attrs.frozen
class JobQuery:
    """Which jobs ``Queue.list`` returns: newest first, filtered by every field that is set.

    ``text`` is a case-insensitive substring of the prompt; ``backend`` the instance name.
    """

    states: Collection[JobState] = ()
    caller: str | None = None
    backend: str | None = None
    text: str | None = None
    limit: int = 50


@runtime_checkable
class Queue(Protocol):
    """A durable job queue. Every method may be called from any task of one event loop."""

    async def submit(self, job: Job) -> Job:
        """Store a new queued job; return it as stored."""
        ...

    async def get(self, job_id: str) -> Job:
        """The job now; ``JobNotFound`` when there is none."""
        ...

    async def list(self, query: JobQuery) -> builtins.list[Job]:
        """Jobs matching ``query``, newest first."""
        ...

    async def cancel(self, job_id: str) -> Job:
        """Cancel: a queued job never starts; a running job's runner cancels its takes (the
        finished ones stay). Cancelling a finished job changes nothing."""
        ...

    async def pick(self, job_id: str, take: int) -> Job:
        """Record take ``take`` (a done one) as the job's pick; ``JobConflict`` otherwise."""
        ...

    async def wait(self, job_id: str, *, after: int | None = None, max_wait: float = 30.0) -> Job:
        """The job once its ``version`` differs from ``after`` (default: its version now), or
        as it is after ``max_wait`` seconds: a long poll, without hammering the store."""
        ...

    async def work(self, worker: Worker) -> None:
        """Claim jobs for ``worker`` and start them until it stops; return once its runs end."""
        ...

    async def aclose(self) -> None:
        """Release connections and background tasks."""
        ...


def open_queue(config: Config) -> Queue:
    """The queue ``config.queue`` names (the built-in ``local`` one unless set)."""
    from imagen.plugins.loader import registry

    block = config.queue
    kind = registry().queues.get(block.type)
    if kind is None:
        known = ", ".join(sorted(registry().queues)) or "none"
        raise ConfigError(
            f"queue type {block.type!r} is not installed (installed: {known}); "
            f"try: pip install imagen-{block.type}",
            path="queue.type",
        )
    settings = block.settings if block.settings is not None else kind.config_class()
    try:
        queue: Queue = kind.factory(block.type, settings)
    except ImagenError:
        raise
    except Exception as error:
        raise ConfigError(
            f"the {block.type} queue could not be opened: {type(error).__name__}: {error}"
        ) from error
    return queue


__all__ = [
    "ClaimLost",
    "JobConflict",
    "JobNotFound",
    "JobQuery",
    "JobStore",
    "Queue",
    "open_queue",
]
