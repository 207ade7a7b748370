"""Several takes of one request, run together, with one progress for all of them.

A backend asked for ``count`` images that its provider makes one per call runs the calls with
:func:`run_takes`; each take reports its own progress, and the caller's ``Progress`` sees them
added up::

    outcome = await run_takes(request.count, self._take, progress)
    images = [image for take in outcome.results for image in take]
    warnings = outcome.warnings("Acme calls failed")

    async def _take(self, take: TakeProgress) -> list[Image]:
        take.note("sent to Acme")              # take.index is 0, 1, ...
        ...
        take.update(step, steps, "sampling")   # this take's own steps, when the provider says

How the takes add up: a take that reports steps counts them (a take not yet started counts as
many as the others); takes that report none count one each, done when they return. The sum
never goes backwards, and a progress callback that raises never stops a take (``Progress``
swallows it).
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

import attrs

from imagen.errors import ImagenError
from imagen.models import Progress

T = TypeVar("T")


@attrs.frozen
class Takes(Generic[T]):
    """What the takes gave: ``results`` of those that landed, in take order, and the errors of
    those that failed (never empty together: with no result the first failure is raised)."""

    results: tuple[T, ...]
    failures: tuple[ImagenError, ...] = ()

    @property
    def count(self) -> int:
        return len(self.results) + len(self.failures)

    def warnings(self, what: str) -> tuple[str, ...]:
        """``("1 of 3 <what>: <the first failure>",)`` when some takes failed, else ``()``."""
        if not self.failures:
            return ()
        return (f"{len(self.failures)} of {self.count} {what}: {self.failures[0]}",)


class TakeProgress:
    """One take's view of the shared progress: ``update`` its own steps, ``note`` a message."""

    def __init__(self, combined: _Combined, index: int, count: int) -> None:
        self._combined = combined
        #: This take's number, from 0, and how many takes there are.
        self.index = index
        self.count = count

    def update(self, done: float, total: float | None = None, message: str = "") -> None:
        """This take has ``done`` of its ``total`` steps (None: it does not know its total)."""
        self._combined.take_update(self.index, done, total, message)

    def note(self, message: str) -> None:
        """A message with no new step ("queued", "sent to Acme")."""
        self._combined.emit(message)

    def retrying(self, reason: str, seconds: float) -> None:
        """For ``HttpApi.call(on_retry=...)``: says what failed and how long the wait is."""
        self.note(f"{reason}; retrying in {seconds:g} s")


class _Combined:
    """The takes' steps added up into one ``Progress`` that never goes backwards."""

    def __init__(self, progress: Progress, count: int, steps: float | None) -> None:
        self.progress = progress
        self.count = count
        self.steps = steps
        self.done: list[float] = [0.0] * count
        self.totals: list[float | None] = [steps] * count
        self.finished = [False] * count
        self.reported = 0.0

    def take_update(self, index: int, done: float, total: float | None, message: str) -> None:
        if not math.isfinite(done) or done < 0:
            return
        if total is not None and math.isfinite(total) and total > 0:
            self.totals[index] = float(total)
            done = min(done, total)
        self.done[index] = max(self.done[index], float(done))
        self.emit(message)

    def take_finished(self, index: int, message: str) -> None:
        self.finished[index] = True
        self.emit(message)

    def emit(self, message: str) -> None:
        known = [total for total in self.totals if total is not None]
        if not known:
            # No take counts steps: each counts one, done when it returns.
            done, total = float(sum(self.finished)), float(self.count)
        else:
            unit = self.steps if self.steps is not None else max(known)
            sizes = [t if t is not None else unit for t in self.totals]
            total = sum(sizes)
            done = sum(
                size if finished else (taken if counted is not None else 0.0)
                for size, finished, taken, counted in zip(
                    sizes, self.finished, self.done, self.totals, strict=True
                )
            )
        self.reported = max(self.reported, done)
        self.progress.update(self.reported, max(total, self.reported), message)


async def run_takes(
    count: int,
    take: Callable[[TakeProgress], Awaitable[T]],
    progress: Progress,
    *,
    steps: float | None = None,
    limit: int | None = None,
    keep_going: bool = True,
    received: str = "image received",
) -> Takes[T]:
    """Run ``take`` ``count`` times (each with its own :class:`TakeProgress`) and gather them.

    ``steps``: how many steps each take reports, when known before it starts (the first update
    then shows the whole total). ``limit``: at most that many takes at once (1: one after
    another, for a server that works through a queue). ``received``: the message when a take
    returns.

    With ``keep_going`` (the default) a take that fails with an :class:`ImagenError` leaves
    the others running and is listed in ``Takes.failures``; when every take failed, the first
    (in take order) is raised. Without it the first failure cancels the others and is raised.
    Any other exception is a bug: it cancels the others and is raised as it is.
    """
    import asyncio

    count = max(1, count)
    combined = _Combined(progress, count, steps)
    gate = asyncio.Semaphore(limit) if limit is not None else None
    landed: dict[int, T] = {}
    failed: dict[int, ImagenError] = {}

    async def one(index: int) -> None:
        try:
            if gate is None:
                landed[index] = await take(TakeProgress(combined, index, count))
            else:
                async with gate:
                    landed[index] = await take(TakeProgress(combined, index, count))
        except ImagenError as error:
            if not keep_going:
                raise
            failed[index] = error
            return
        combined.take_finished(index, received)

    try:
        async with asyncio.TaskGroup() as group:
            for index in range(count):
                group.create_task(one(index))
    except BaseExceptionGroup as group_failed:
        # The first failure stands for the group: the others were cancelled because of it.
        raise group_failed.exceptions[0] from None
    failures = tuple(failed[index] for index in sorted(failed))
    if not landed:
        raise failures[0]
    return Takes(tuple(landed[index] for index in sorted(landed)), failures)


__all__ = ["TakeProgress", "Takes", "run_takes"]
