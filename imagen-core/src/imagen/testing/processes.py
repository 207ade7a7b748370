"""Servers a test starts die with the test run, even when the run is killed without teardown.

A fixture's ``finally`` does not run when pytest is killed (a CI timeout's SIGKILL, an OOM
kill, a closed terminal), so a server it started would run forever. Two independent guards:

- ``start_tied(argv)`` starts a server as a direct child in its own process group with a
  parent-death signal (Linux ``PR_SET_PDEATHSIG``): the kernel signals the server the moment
  the thread that started it dies, however it dies.
- ``Watchdog`` is a tiny separate process that holds the read end of a pipe whose write end
  only this process holds. When the pipe closes without a release, this process is dead: the
  watchdog signals every process group it guards, waits (bounded) for the leader to exit, kills
  what is left of the group and removes the guarded paths. It also covers servers that
  daemonise themselves (tmux), where no parent-death signal can reach, and systems without one.

    with Watchdog() as watchdog:
        server = start_tied([...], death_signal=signal.SIGTERM)
        watchdog.guard(server.pid, signal.SIGTERM)
        watchdog.remove(data_dir)
        ...  # the test; on the way out stop the server and remove the data as usual

This module uses only the standard library: the watchdog runs it as a script (``python -I``),
without importing imagen.
"""

from __future__ import annotations

import contextlib
import os
import select
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import IO, Any

__all__ = ["ProcessExit", "Watchdog", "start_tied"]

# prctl(2) option: the signal the kernel sends this process when its parent dies.
PR_SET_PDEATHSIG = 1
# How long a guarded group gets to stop on its stop signal before the watchdog SIGKILLs it.
STOP_GRACE = 10.0


def _death_signal_setter(death_signal: int) -> Callable[[], None] | None:
    """A ``preexec_fn`` that asks the kernel for ``death_signal`` when the parent dies.

    None where prctl is unavailable (not Linux); the watchdog still covers those systems.
    """
    if not sys.platform.startswith("linux"):
        return None
    import ctypes

    try:
        # Looked up before the fork: the child only calls it.
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def set_death_signal() -> None:
        prctl(PR_SET_PDEATHSIG, death_signal, 0, 0, 0)
        # The parent may have died between the fork and prctl: then no signal will come.
        if os.getppid() != parent:
            os.kill(os.getpid(), death_signal)

    return set_death_signal


def start_tied(
    argv: Sequence[str],
    *,
    death_signal: int = signal.SIGKILL,
    user: str | None = None,
    **popen: Any,
) -> subprocess.Popen[Any]:
    """Start ``argv`` in its own process group, signalled with ``death_signal`` if we die.

    Own group: a terminal's Ctrl-C reaches pytest (which then tears down in order) and not the
    server, and the whole server (its worker processes too) can be signalled as one. ``user``
    (root only) runs it as that user with that user's primary group and no supplementary ones,
    set before the death signal because a change of credentials clears it.

    The kernel sends the death signal when the *thread* that called this exits, so call it
    from the main thread (pytest fixtures run there). Other arguments go to ``Popen``.
    """
    if user is not None:
        import pwd

        entry = pwd.getpwnam(user)
        popen.update(user=entry.pw_uid, group=entry.pw_gid, extra_groups=[])
    return subprocess.Popen(
        list(argv),
        process_group=0,
        preexec_fn=_death_signal_setter(death_signal),
        **popen,
    )


class Watchdog:
    """A process that cleans up after this one if it dies: see the module docstring.

    Use as a context manager: leaving the block normally (or with an exception, once the test's
    own cleanup has run) releases the watchdog, which then exits without touching anything.
    """

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, "-I", "-S", os.path.abspath(__file__)],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            # Its own session: a terminal's Ctrl-C or hangup must not end it before pytest.
            start_new_session=True,
            text=True,
        )
        assert self._process.stdin is not None
        self._pipe: IO[str] = self._process.stdin

    @property
    def pid(self) -> int:
        return self._process.pid

    def _send(self, *words: object) -> None:
        self._pipe.write(" ".join(map(str, words)) + "\n")
        self._pipe.flush()

    def guard(
        self, pid: int, stop_signal: int = signal.SIGTERM, *, grace: float = STOP_GRACE
    ) -> None:
        """If we die: send ``stop_signal`` to the process group led by ``pid``; SIGKILL the
        group once the leader has exited or after ``grace`` seconds.

        ``pid`` must lead its own group (``start_tied`` does that; a daemon that calls
        ``setsid`` does too).
        """
        self._send("group", int(pid), int(stop_signal), float(grace))

    def remove(self, path: str | os.PathLike[str]) -> None:
        """If we die: remove ``path`` (a tree) once the guarded groups are gone."""
        self._send("path", os.fspath(path))

    def release(self) -> None:
        """All is cleaned up: the watchdog exits and does nothing."""
        if self._pipe.closed:
            return
        with contextlib.suppress(BrokenPipeError):
            self._send("release")
            self._pipe.close()
        self._process.wait(timeout=30)

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.release()


# -- the watchdog process ------------------------------------------------------------------


class ProcessExit:
    """Waits for a process to exit, though it need not be our child (so ``waitpid`` cannot).

    Create it while the process is known to run: on Linux 5.3+ it holds a pidfd, which pins
    the process itself (not its number, which may be reused) and becomes readable when it
    exits. Elsewhere it checks the process at short intervals. A zombie counts as exited.
    """

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self._pidfd: int | None
        try:
            self._pidfd = os.pidfd_open(pid)
        except (AttributeError, OSError):
            self._pidfd = None

    def wait(self, timeout: float) -> bool:
        """True once the process has exited; False if it still runs after ``timeout`` seconds."""
        if self._pidfd is not None:
            poller = select.poll()
            poller.register(self._pidfd, select.POLLIN)
            return bool(poller.poll(timeout * 1000))
        deadline = time.monotonic() + timeout
        while not self._gone():
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def _gone(self) -> bool:
        try:
            stat = Path(f"/proc/{self.pid}/stat").read_text()
        except FileNotFoundError:
            return True
        except OSError:
            try:
                os.kill(self.pid, 0)
            except ProcessLookupError:
                return True
            return False
        return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")

    def close(self) -> None:
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None


def _stop_group(leader: ProcessExit, stop_signal: int, grace: float) -> None:
    # While the leader lives its number cannot be reused, so its group is still the one we
    # were told about; a leader that is already gone is not signalled.
    if not leader.wait(0):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(leader.pid, stop_signal)
        leader.wait(grace)
    # Stragglers (workers that outlive their leader) keep the group id in use while they run.
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(leader.pid, signal.SIGKILL)


def _watch(commands: Iterator[str]) -> None:
    groups: list[tuple[ProcessExit, int, float]] = []
    paths: list[str] = []
    for line in commands:
        kind, _, rest = line.rstrip("\n").partition(" ")
        if kind == "release":
            return
        if kind == "group":
            pid, number, seconds = rest.split()
            groups.append((ProcessExit(int(pid)), int(number), float(seconds)))
        elif kind == "path":
            paths.append(rest)
    # End of input without a release: the process that started us is gone.
    for leader, stop_signal, grace in groups:
        _stop_group(leader, stop_signal, grace)
    for path in paths:
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                Path(path).unlink()


if __name__ == "__main__":
    _watch(iter(sys.stdin.readline, ""))
