"""The server's job runner works on a thread of its own: whatever blocks a job (a synchronous
SDK call, a slow disk) holds up no answer."""

from __future__ import annotations

import os
import select
import sys
from pathlib import Path

from imagen_studio.testing import Server, write_config

HERE = Path(__file__).parent


def read_line(fifo: Path, within: float) -> str:
    """The first line written to ``fifo`` (waiting for a writer at most ``within`` seconds)."""
    handle = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        ready, _, _ = select.select([handle], [], [], within)
        return os.read(handle, 64).decode() if ready else ""
    finally:
        os.close(handle)


def release(fifo: Path) -> None:
    """Send the blocked backend on (if it is blocked reading ``fifo``)."""
    try:
        handle = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # no reader: the backend is not blocked there
        return
    try:
        os.write(handle, b"go\n")
    finally:
        os.close(handle)


def test_a_job_blocking_its_thread_holds_up_no_answer(tmp_path: Path) -> None:
    fifos = tmp_path / "fifos"
    fifos.mkdir()
    os.mkfifo(fifos / "stalled")
    os.mkfifo(fifos / "release")
    extra = f"  stall:\n    type: stall\n    fifo_dir: {fifos}\n"
    program = (sys.executable, str(HERE / "stall_backend.py"))
    server = Server(write_config(tmp_path, extra=extra), program=program)
    try:
        accepted = server.request("POST", "/v1/jobs", json={"prompt": "a kite", "backend": "stall"})
        assert accepted.status_code == 202, accepted.text
        assert read_line(fifos / "stalled", 60) == "stalled\n"
        # The job's thread is blocked now; the server answers as ever.
        assert server.request("GET", "/v1/health").status_code == 200
        job = server.job(accepted.json()["job_id"])
        assert job["state"] == "running"
        estimate = server.request("POST", "/v1/estimate", json={"prompt": "a kite", "takes": 2})
        assert estimate.status_code == 200
    finally:
        release(fifos / "release")
        server.stop()
