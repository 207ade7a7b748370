"""What a job runner writes to: the ``JobStore`` a queue hands it, and ``ClaimLost``.

Kept below the queue contract (:mod:`imagen.jobs.queue`, which re-exports both) so the runner
and the worker need not import the queue, which names the worker.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, runtime_checkable

from imagen.errors import ImagenError

if TYPE_CHECKING:
    from imagen.jobs.model import Job


class ClaimLost(ImagenError):
    """A runner's job was taken over by another runner (this one was thought dead)."""


@runtime_checkable
class JobStore(Protocol):
    """Where a runner records the job it holds, at every change."""

    async def save(self, job: Job) -> Job:
        """Store ``job`` whole; return it as stored (``version`` and ``cancel_requested`` set).

        A job saved as ``queued`` without a worker is handed back for another runner. Raises
        ``ClaimLost`` when another runner has taken the job over.
        """
        ...


__all__ = ["ClaimLost", "JobStore"]
