"""SIGINT, SIGTERM and SIGHUP stop imagen the same way: work cancelled, one line, 128 + N.

The CLI cases run ``imagen`` as a process with stderr on a pseudo-terminal: the progress
display drawing "drawing" is the event that says the takes are running. The Replicate plugin's
tests check that the provider's job is cancelled remotely (imagen-replicate/tests).
"""

from __future__ import annotations

import asyncio
import os
import pty
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from imagen.cli import signals

IMAGEN = [sys.executable, "-m", "imagen"]

CASES = [
    pytest.param(signal.SIGTERM, 143, "imagen: terminated", id="SIGTERM"),
    pytest.param(signal.SIGHUP, 129, "imagen: hung up", id="SIGHUP"),
    pytest.param(signal.SIGINT, 130, "imagen: interrupted", id="SIGINT"),
]


def hang_up_as_a_terminal_does() -> None:
    """In the child: SIGHUP at its default, as in a terminal, even when the tests themselves
    run under ``nohup`` (which leaves it ignored, and imagen then keeps ignoring it)."""
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


class Terminal:
    """A process whose stderr is a pseudo-terminal; everything it draws is kept in ``seen``."""

    def __init__(self, command: list[str]) -> None:
        controller, terminal = pty.openpty()
        self.controller = controller
        self.process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=terminal,
            env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"},
            preexec_fn=hang_up_as_a_terminal_does,
        )
        os.close(terminal)
        self.seen = b""

    def wait_for(self, text: bytes) -> None:
        while text not in self.seen:
            chunk = self._read()
            assert chunk, f"the process ended before showing {text!r}: {self.seen!r}"
            self.seen += chunk

    def finish(self) -> tuple[int, str, str]:
        while chunk := self._read():
            self.seen += chunk
        stdout, _ = self.process.communicate(timeout=60)
        os.close(self.controller)
        return self.process.returncode, stdout.decode(), self.seen.decode(errors="replace")

    def _read(self) -> bytes:
        try:
            return os.read(self.controller, 4096)
        except OSError:  # EIO: the process closed the terminal
            return b""


def slow_generate(tmp_path: Path) -> list[str]:
    config = tmp_path / "c.yaml"
    config.write_text("backends:\n  slow:\n    type: mock\n    latency: 60\n")
    return [*IMAGEN, "--config", str(config), "generate", "a cat", "-b", "slow", "-n", "2",
            "-o", str(tmp_path / "out")]  # fmt: skip


@pytest.mark.parametrize(("signum", "code", "line"), CASES)
def test_a_signal_during_the_takes_cancels_them_with_one_line_and_its_code(
    tmp_path: Path, signum: int, code: int, line: str
) -> None:
    terminal = Terminal(slow_generate(tmp_path))
    terminal.wait_for(b"drawing")
    terminal.process.send_signal(signum)
    returncode, stdout, seen = terminal.finish()

    assert returncode == code, seen
    assert seen.count("imagen:") == 1
    assert seen.rstrip().endswith(line)
    assert "Traceback" not in seen
    assert stdout == ""
    out = tmp_path / "out"
    assert [p for p in out.rglob("*") if p.is_file()] == []


def test_a_signal_while_the_config_loads_gives_the_same_line_and_code(tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    os.mkfifo(config)  # reading the config blocks until the test says otherwise
    process = subprocess.Popen(
        [*IMAGEN, "--config", str(config), "generate", "a cat"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    writer = _open_when_read(config)
    process.send_signal(signal.SIGTERM)
    stdout, stderr = process.communicate(timeout=60)
    os.close(writer)

    assert process.returncode == 143, stderr
    assert stderr == "imagen: terminated\n"
    assert stdout == ""


def _open_when_read(fifo: Path) -> int:
    """Open ``fifo`` for writing once a reader has it open (ENXIO until then)."""
    while True:
        try:
            return os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as error:
            if error.errno != 6:  # ENXIO: no reader yet
                raise
            threading.Event().wait(0.01)


def test_a_second_signal_during_cleanup_lets_the_cleanup_finish() -> None:
    cleaned: list[str] = []

    async def work() -> None:
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            # Cleaning up (a backend cancelling its provider's job) when the next one comes.
            os.kill(os.getpid(), signal.SIGINT)
            await asyncio.sleep(0)
            cleaned.append("done")
            raise

    with signals.handled():
        assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        with pytest.raises(signals.Stopped) as stopped:
            signals.run(work())

    assert stopped.value.exit_code == 143

    assert cleaned == ["done"]


def test_a_signal_after_the_work_is_done_still_stops(capsys: pytest.CaptureFixture[str]) -> None:
    async def work() -> str:
        os.kill(os.getpid(), signal.SIGTERM)  # SIGHUP may be ignored (nohup)
        return "finished"

    def run_handled() -> None:
        with signals.handled():
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL  # never end pytest
            signals.run(work())

    with pytest.raises(SystemExit) as done:
        run_handled()

    assert done.value.code == 143
    assert capsys.readouterr().err == "imagen: terminated\n"


def test_an_ignored_signal_stays_ignored() -> None:
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)  # as under nohup
    try:
        with signals.handled():
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
    finally:
        signal.signal(signal.SIGHUP, previous)


def test_work_without_a_signal_returns_its_result() -> None:
    async def work() -> int:
        return 7

    with signals.handled():
        assert signals.run(work()) == 7
