"""``imagen.testing.processes``: a server a test starts dies with the test process, even by SIGKILL.

Each test runs a small "test process" script that starts a server the way a fixture would,
reports the pids and blocks on stdin; the test then SIGKILLs that script (no teardown runs) and
waits for the server's exit as an event (a pidfd), bounded.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagen.testing.processes import ProcessExit, Watchdog, start_tied

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="parent-death signals and /proc are Linux's"
)

# A server that daemonises (its own session, so no signal to the test's group reaches it);
# it says "ready" once its signal handling is set up; argv[1] "stubborn" ignores SIGTERM.
SERVER = """
import signal, sys, time
if sys.argv[1] == "stubborn":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
print("ready", flush=True)
time.sleep(600)
"""

GUARDED = """
import signal, subprocess, sys
from imagen.testing.processes import Watchdog

watchdog = Watchdog()
server = subprocess.Popen(
    [sys.executable, "-c", sys.argv[1], sys.argv[2]],
    start_new_session=True,
    stdout=subprocess.PIPE,
    text=True,
)
assert server.stdout.readline() == "ready\\n"
watchdog.guard(server.pid, signal.SIGTERM, grace=float(sys.argv[3]))
watchdog.remove(sys.argv[4])
print(server.pid, watchdog.pid, flush=True)
sys.stdin.readline()
"""

TIED = """
import sys
from imagen.testing.processes import start_tied

server = start_tied([sys.executable, "-c", "import time; time.sleep(600)"])
print(server.pid, flush=True)
sys.stdin.readline()
"""


class KillableRun:
    """The script standing in for pytest: started, asked for its pids, then SIGKILLed."""

    def __init__(self, *argv: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-c", *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def pids(self) -> list[int]:
        assert self.process.stdout is not None
        line = self.process.stdout.readline()
        assert line, f"the test process ended early ({self.process.wait()})"
        return [int(word) for word in line.split()]

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


@pytest.fixture
def leftovers() -> Iterator[list[int]]:
    """Pids to SIGKILL at the end if a failing test left them running."""
    pids: list[int] = []
    yield pids
    for pid in pids:
        exit_ = ProcessExit(pid)
        if not exit_.wait(0):
            os.kill(pid, signal.SIGKILL)
        exit_.close()


def test_a_killed_test_process_takes_its_tied_server_with_it(leftovers: list[int]) -> None:
    test_process = KillableRun(TIED)
    (server_pid,) = test_process.pids()
    leftovers.append(server_pid)
    server = ProcessExit(server_pid)
    assert not server.wait(0)

    test_process.kill()

    assert server.wait(60), "the server outlived the process that started it"


def test_a_tied_server_leads_its_own_process_group() -> None:
    server = start_tied([sys.executable, "-c", "pass"])
    try:
        assert os.getpgid(server.pid) == server.pid
    finally:
        server.wait()


@pytest.mark.parametrize("server_kind", ["polite", "stubborn"])
def test_the_watchdog_stops_a_daemon_and_removes_its_files_when_the_test_dies(
    tmp_path: Path, leftovers: list[int], server_kind: str
) -> None:
    files = tmp_path / "cluster"
    (files / "data").mkdir(parents=True)
    # A stubborn server ignores the stop signal: SIGKILL follows after the grace period.
    test_process = KillableRun(GUARDED, SERVER, server_kind, "0.5", str(files))
    server_pid, watchdog_pid = test_process.pids()
    leftovers.append(server_pid)
    server, watchdog = ProcessExit(server_pid), ProcessExit(watchdog_pid)

    test_process.kill()

    assert server.wait(60), "the daemon outlived the test process"
    assert watchdog.wait(60), "the watchdog did not finish"
    assert not files.exists()


def test_a_released_watchdog_leaves_everything_alone(tmp_path: Path) -> None:
    server = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"],
        start_new_session=True,
        stdin=subprocess.PIPE,
    )
    try:
        with Watchdog() as watchdog:
            watchdog.guard(server.pid, grace=0)
            watchdog.remove(tmp_path)
        assert ProcessExit(watchdog.pid).wait(0)
        assert server.poll() is None
        assert tmp_path.exists()
    finally:
        server.kill()
        server.wait()
