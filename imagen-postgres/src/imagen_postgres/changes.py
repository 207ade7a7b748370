"""Hearing about job changes: one LISTEN connection per process, shared by every waiter.

The ``imagen.jobs`` trigger NOTIFYs ``<id> <version> <cancel_requested>`` on each change. A
waiter (a long poll, a worker watching its jobs for cancels) registers for a job id and is woken
when that job's notification arrives. When the connection drops (the server restarted) it is
opened again with backoff, and every waiter is woken once so it reads the job afresh: a change
made while nobody listened is never missed.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import Callable, Iterator
from typing import Any

from imagen import debug

#: backoff between attempts to reconnect (seconds), doubling up to the last
RECONNECT_DELAYS = (0.1, 0.2, 0.5, 1.0, 2.0)


def reconnect_delays() -> Iterator[float]:
    """The waits between attempts to reach a server that went away: ``RECONNECT_DELAYS``,
    then its last one for as long as it takes."""
    yield from RECONNECT_DELAYS
    yield from itertools.repeat(RECONNECT_DELAYS[-1])


class Changes:
    """Wakes waiters when a job changes (see the module docstring)."""

    def __init__(self, connect: Callable[[], Any], channel: str) -> None:
        self._connect = connect
        self._channel = channel
        self._events: dict[str, set[asyncio.Event]] = {}
        self._everything: set[Callable[[str, bool], None]] = set()
        self._connection_watchers: set[Callable[[BaseException | None], None]] = set()
        self._task: asyncio.Task[None] | None = None
        #: set once the first LISTEN is in place (a waiter must not miss the first change)
        self._listening = asyncio.Event()
        self.reconnects = 0

    async def start(self) -> None:
        """Listen (in the background) and return once listening, or after a first failure."""
        if self._task is None or self._task.done():
            self._listening = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._listen())
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._listening.wait(), 10.0)

    def watch(self, job_id: str) -> asyncio.Event:
        """An event set at the next change of ``job_id`` (or after a reconnect)."""
        event = asyncio.Event()
        self._events.setdefault(job_id, set()).add(event)
        return event

    def unwatch(self, job_id: str, event: asyncio.Event) -> None:
        events = self._events.get(job_id)
        if events is not None:
            events.discard(event)
            if not events:
                del self._events[job_id]

    def on_every_change(self, callback: Callable[[str, bool], None]) -> Callable[[], None]:
        """Call ``callback(job_id, cancel_requested)`` for every change; returns the remover.

        After a reconnect it is called with ``("", False)``: look at everything again.
        """
        self._everything.add(callback)
        return lambda: self._everything.discard(callback)

    def on_connection(self, callback: Callable[[BaseException | None], None]) -> Callable[[], None]:
        """Call ``callback(error)`` when the connection is lost and ``callback(None)`` when it
        is back (not for the first connection); returns the remover."""
        self._connection_watchers.add(callback)
        return lambda: self._connection_watchers.discard(callback)

    def _tell(self, error: BaseException | None) -> None:
        for callback in list(self._connection_watchers):
            callback(error)

    def _fire(self, job_id: str, cancel: bool) -> None:
        for event in self._events.pop(job_id, set()):
            event.set()
        for callback in list(self._everything):
            callback(job_id, cancel)

    def _fire_all(self) -> None:
        events, self._events = self._events, {}
        for waiting in events.values():
            for event in waiting:
                event.set()
        for callback in list(self._everything):
            callback("", False)

    async def _listen(self) -> None:
        delays = reconnect_delays()
        lost = False
        while True:
            try:
                connection = await self._connect()
                async with connection:
                    await connection.execute(f"LISTEN {self._channel}")
                    if self._listening.is_set():
                        self.reconnects += 1
                        self._fire_all()  # anything may have changed while deaf
                    if lost:
                        lost = False
                        self._tell(None)
                    self._listening.set()
                    delays = reconnect_delays()
                    async for note in connection.notifies():
                        job_id, _, rest = note.payload.partition(" ")
                        self._fire(job_id, rest.endswith(" 1"))
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the server went away: listen again when it is back
                debug.log_exception(error)
                if not lost:
                    lost = True
                    self._tell(error)
                self._listening.set()  # nobody waits for a listener that cannot connect
                await asyncio.sleep(next(delays))

    async def aclose(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None


__all__ = ["Changes", "reconnect_delays"]
