"""The adapter contract every backend implements."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from imagen.models import Cost, Progress, Request, Result, Status


@runtime_checkable
class Backend(Protocol):
    """One configured backend instance (``name`` is the user's instance name).

    The framework constructs it from the instance's YAML block, calls ``generate`` inside an
    event loop, and ``aclose`` when done. Construction and ``status``/``estimate_cost`` must not
    touch the network or fail for a missing credential: ``imagen backends`` lists every instance.
    """

    name: str
    #: Optional (read with ``getattr``, default True): False for a backend whose provider
    #: ignores seeds (Gemini). Its takes are never cache hits for a seeded request, and dry runs
    #: do not show seeds it would not use.
    #: honors_seeds: bool
    #:
    #: Optional (read with ``getattr``): ``async def check(self) -> Status``, for a backend
    #: whose readiness depends on a server that ``status`` does not ask. ``imagen backends
    #: --check`` calls it when ``status()`` is ok, inside an event loop (then ``aclose``), and
    #: shows its answer instead: ``Status.ready(...)`` when the server answers,
    #: ``Status.unreachable(url, reason)`` or another one-line reason when not. One or two
    #: quick requests with a timeout of a few seconds; the framework gives up on a check after
    #: ``backends_info.CHECK_TIMEOUT`` (10 s). Without it, ``--check`` shows ``status()``. Such
    #: a backend's ``status`` is ``Status.unchecked(detail)``, "configured (detail; server not
    #: checked)", never "ok".

    async def generate(self, request: Request, progress: Progress) -> Result:
        """Generate ``request.count`` images. Raise only ``imagen.errors`` types.

        Cancellation (``asyncio.CancelledError``) must cancel the provider's job where it has
        one and leave no task or connection behind.
        """
        ...

    def estimate_cost(self, request: Request) -> Cost | None:
        """The cost of ONE take of ``request``, without network or spend; None if unknown."""
        ...

    def status(self) -> Status:
        """``ok``, ``configured (server not checked)`` or ``not configured (set X)``, without
        any network call."""
        ...

    async def aclose(self) -> None:
        """Release connections. Called once; must be safe when nothing was opened."""
        ...


__all__ = ["Backend"]
