"""Stopping on a signal: SIGINT (Ctrl-C), SIGTERM and SIGHUP all stop imagen the same way.

While ``run`` drives a coroutine, a signal cancels it, as ``asyncio.run`` does for Ctrl-C:
backends see ``CancelledError`` and cancel their provider's job, temp files are removed and the
progress display is cleared; then ``Stopped`` is raised. Anywhere else (loading the config,
printing) the signal raises ``Stopped`` at once. ``handled()`` turns it into one line
(``imagen: terminated``) and the shell's code for it, 128 + the signal number (143, 129, 130).

A second signal while the first is being cleaned up is ignored: that cleanup is what cancels
the provider's job, and it is bounded by the backend's own grace period (5 s for Replicate), so
it is neither cut short nor interrupted by a traceback.
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections.abc import Coroutine, Iterator
from contextlib import contextmanager
from typing import Any, NoReturn, TypeVar

import click

T = TypeVar("T")

_WHAT_HAPPENED: dict[int, str] = {
    signal.SIGINT: "interrupted",
    signal.SIGTERM: "terminated",
}
if hasattr(signal, "SIGHUP"):  # not on Windows
    _WHAT_HAPPENED[signal.SIGHUP] = "hung up"


class Stopped(KeyboardInterrupt):
    """imagen was told to stop by signal ``signum``.

    A ``KeyboardInterrupt``, so that no ``except Exception`` swallows it and asyncio and every
    library treat it exactly as Ctrl-C.
    """

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum

    @property
    def exit_code(self) -> int:
        return 128 + self.signum

    @property
    def message(self) -> str:
        return _WHAT_HAPPENED.get(self.signum, f"stopped by signal {self.signum}")


class _State:
    """What the one handler needs to know: the signals seen, and the work ``run`` drives."""

    def __init__(self) -> None:
        self.received: list[int] = []
        #: True from the moment ``run`` starts until its event loop is closed
        self.in_run = False
        #: the event loop and the task ``run`` drives, once that task has started
        self.work: tuple[Any, Any] | None = None


_state = _State()


def _on_signal(signum: int, frame: object) -> None:
    first = not _state.received
    _state.received.append(signum)
    if not first:
        return  # already stopping: the cleanup under way is what stops the provider billing
    if not _state.in_run:
        raise Stopped(signum)
    if _state.work is not None:
        loop, task = _state.work
        if not task.done():
            task.cancel()
            # The loop may be asleep in select(): wake it so the cancel is seen now.
            loop.call_soon_threadsafe(_nothing)
    # Otherwise the loop is starting or closing: run() raises Stopped once it is closed.


def _nothing() -> None:
    return None


@contextmanager
def handled() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM and SIGHUP stop imagen cleanly with one line and code.

    Only signals left at their default are taken over: a SIGHUP ignored by ``nohup`` or a
    SIGINT ignored by a shell's background job stays ignored. The previous handlers are back
    after the block.
    """
    import threading

    previous: dict[int, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for signum in _WHAT_HAPPENED:
            current = signal.getsignal(signum)
            if current in (signal.SIG_DFL, signal.default_int_handler):
                previous[signum] = current
                signal.signal(signum, _on_signal)
    _state.received = []
    try:
        yield
    except KeyboardInterrupt as stop:
        exit_for(stop)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)
        _state.received = []


def exit_for(stop: BaseException) -> NoReturn:
    """Say how imagen was stopped, in one line on stderr, and exit with the shell's code.

    ``stop`` is a ``Stopped``, or a plain ``KeyboardInterrupt`` / click ``Abort`` (Ctrl-C).
    """
    signum = stop.signum if isinstance(stop, Stopped) else int(signal.SIGINT)
    stopped = Stopped(signum)
    # A hung-up terminal or a closed stderr loses the line; the exit code still says it.
    with contextlib.suppress(OSError, ValueError):
        # On a terminal, start at the line's beginning: over the "^C" the terminal echoed.
        start = "\r" if sys.stderr.isatty() else ""
        click.echo(f"{start}imagen: {stopped.message}", err=True)
    sys.exit(stopped.exit_code)


def run(work: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run(work)``, where SIGINT, SIGTERM and SIGHUP cancel ``work``, then stop.

    Raises ``Stopped`` for the first signal once ``work`` has unwound and the loop is closed,
    even when ``work`` finished anyway: imagen was asked to stop.
    """
    import asyncio

    async def main() -> T:
        _state.work = (asyncio.get_running_loop(), asyncio.current_task())
        if _state.received:  # a signal came while the loop was starting
            work.close()
            raise asyncio.CancelledError
        return await work

    _state.in_run = True
    try:
        with asyncio.Runner() as runner:
            try:
                result = runner.run(main())
            except (asyncio.CancelledError, Exception):
                # Whatever the cancel unwound into, imagen was asked to stop: say that.
                if not _state.received:
                    raise
                result = None
    finally:
        _state.in_run = False
        _state.work = None
    if _state.received:
        raise Stopped(_state.received[0])
    return result  # type: ignore[return-value]
