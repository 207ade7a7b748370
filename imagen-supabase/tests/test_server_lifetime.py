"""A test run killed mid-way (a CI timeout's SIGKILL) leaves no PostgreSQL server behind.

An inner pytest runs one test that uses the ``postgres_server`` fixture, reports the server's
pid and directory, and blocks. The outer test SIGKILLs that pytest, so no teardown runs, and
waits for the server and the fixture's watchdog to exit.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from imagen.testing.processes import ProcessExit

pytestmark = [
    pytest.mark.postgres,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc (Linux)"),
]

HERE = Path(__file__).resolve().parent

HOLD_THE_SERVER = """
import sys


def test_hold_the_server(postgres_server):
    server = postgres_server
    print("server", server.pid, server.watchdog_pid, server.directory, flush=True)
    sys.stdin.readline()
"""


def children(parent: int) -> list[int]:
    """The processes ``parent`` started (PostgreSQL's workers each run in their own session)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(stat.parent.name))
    return found


def test_a_killed_test_run_leaves_no_postgres_server_behind(tmp_path: Path) -> None:
    (tmp_path / "test_hold.py").write_text(HOLD_THE_SERVER, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(HERE)}
    # -p conftest: this directory's conftest (on PYTHONPATH) provides the fixture; -s keeps
    # stdin, on which the inner test blocks, and stdout, on which it reports.
    inner = subprocess.Popen(
        [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "conftest"],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert inner.stdout is not None
    output = []
    for line in inner.stdout:
        output.append(line)
        if line.startswith("server "):
            break
    else:
        inner.wait()
        text = "".join(output)
        if " skipped" in text and " passed" not in text:
            pytest.skip(f"the inner run skipped: {text.strip().splitlines()[-1]}")
        pytest.fail(f"the inner test run did not report its server:\n{text}")
    _, pid, watchdog_pid, directory = line.split(maxsplit=3)
    server, watchdog = ProcessExit(int(pid)), ProcessExit(int(watchdog_pid))
    workers = [ProcessExit(child) for child in children(int(pid))]
    cluster = Path(directory.strip())
    try:
        assert not server.wait(0), "the server is not running"
        assert workers, "the server has no worker processes"
        assert (cluster / "data" / "postmaster.pid").exists()

        inner.send_signal(signal.SIGKILL)
        inner.wait()

        assert server.wait(60), f"PostgreSQL (pid {pid}) still runs after its test run was killed"
        assert watchdog.wait(60), "the watchdog did not finish"
        still_running = [worker.pid for worker in workers if not worker.wait(60)]
        assert still_running == [], "the server's worker processes still run"
        assert not cluster.exists(), f"{cluster} was left behind"
    finally:
        for process in (server, watchdog, *workers):
            process.close()
        if inner.poll() is None:
            inner.kill()
            inner.wait()
