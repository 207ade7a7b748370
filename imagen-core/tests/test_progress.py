"""What ``imagen generate`` shows while it runs: a display on a TTY, nothing extra otherwise."""

from __future__ import annotations

import os
import pty
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagen.testing.processes import Watchdog


def generate_with_tty_stderr(tmp_path: Path) -> tuple[str, str]:
    """Run generate with stderr on a pseudo-terminal and stdout on a pipe."""
    config = tmp_path / "c.yaml"
    config.write_text("backends:\n  slowish:\n    type: mock\n    latency: 0.6\n")
    controller, terminal = pty.openpty()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "imagen",
            "--config",
            str(config),
            "generate",
            "a cat",
            "-b",
            "slowish",
            "-n",
            "2",
            "-o",
            str(tmp_path / "out"),
        ],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"},
    )
    os.close(terminal)
    chunks = []
    while True:
        try:
            data = os.read(controller, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    stdout, _ = process.communicate(timeout=30)
    os.close(controller)
    assert process.returncode == 0
    return stdout.decode(), b"".join(chunks).decode(errors="replace")


def test_tty_shows_progress_per_take_and_stdout_stays_paths(tmp_path: Path) -> None:
    stdout, terminal = generate_with_tty_stderr(tmp_path)
    lines = stdout.splitlines()
    assert len(lines) == 2
    assert all(Path(line).is_file() for line in lines)
    assert "slowish 1/2" in terminal
    assert "slowish 2/2" in terminal
    assert "drawing" in terminal


def test_non_tty_stderr_gets_nothing_but_warnings_and_errors(
    imagen_process, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "c.yaml"
    config.write_text("backends:\n  slowish:\n    type: mock\n    latency: 0.2\n")
    ran = imagen_process("--config", str(config), "generate", "a cat", "-b", "slowish", "-n", "2",
                         "-o", str(tmp_path / "out"))  # fmt: skip
    assert ran.code == 0
    assert ran.err == ""
    assert len(ran.lines) == 2


class Tmux:
    """A tmux server of the test's own, with one 100x20 window per ``run``."""

    def __init__(self, socket: str, watchdog: Watchdog) -> None:
        self.base = ["tmux", "-S", socket, "-f", os.devnull]
        self.watchdog = watchdog

    def run(self, command: list[str]) -> None:
        # The shell stays a while after imagen so the screen can be read.
        script = f"{shlex.join(command)}; echo EXIT=$?; sleep 60"
        self.tmux("new-session", "-d", "-x", "100", "-y", "20", "-s", "t", script)
        self.watchdog.guard(int(self.tmux("display-message", "-p", "#{pid}")))

    def tmux(self, *args: str) -> str:
        done = subprocess.run([*self.base, *args], capture_output=True, text=True, timeout=30)
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> list[str]:
        return self.tmux("capture-pane", "-p", "-t", "t").rstrip("\n").split("\n")

    def wait_for(self, text: str) -> list[str]:
        """The screen, once ``text`` is on it (read again and again, never a fixed sleep)."""
        for _ in range(3000):
            screen = self.screen()
            if any(text in line for line in screen):
                return screen
            threading.Event().wait(0.02)
        raise AssertionError(f"{text!r} never appeared: {self.screen()}")


@pytest.fixture
def tmux() -> Iterator[Tmux]:
    if shutil.which("tmux") is None:
        pytest.skip("tmux is not installed")
    # A short directory: a unix socket path must stay under ~100 bytes. The watchdog stops the
    # (daemonised) tmux server if the test run is killed before the end.
    with (
        tempfile.TemporaryDirectory(prefix="imr", dir="/tmp") as directory,
        Watchdog() as watchdog,
    ):
        watchdog.remove(directory)
        server = Tmux(str(Path(directory) / "s"), watchdog)
        try:
            yield server
        finally:
            subprocess.run([*server.base, "kill-server"], capture_output=True, timeout=30)


def test_ctrl_c_on_a_terminal_clears_the_display_and_shows_the_cursor(
    tmp_path: Path, tmux: Tmux
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("backends:\n  slow:\n    type: mock\n    latency: 60\n")
    tmux.run([sys.executable, "-m", "imagen", "--config", str(config), "generate", "a cat",
              "-b", "slow", "-n", "2", "-o", str(tmp_path / "out")])  # fmt: skip
    tmux.wait_for("drawing")
    tmux.tmux("send-keys", "-t", "t", "C-c")
    screen = tmux.wait_for("EXIT=")
    cursor_shown = tmux.tmux("display-message", "-p", "-t", "t", "#{cursor_flag}")

    # No frame left behind, no blank line: the message is the first line the run leaves.
    assert screen[:2] == ["imagen: interrupted", "EXIT=130"]
    assert cursor_shown.strip() == "1"


def test_sigterm_on_a_terminal_erases_the_display_and_shows_the_cursor(tmp_path: Path) -> None:
    controller, terminal = pty.openpty()
    config = tmp_path / "c.yaml"
    config.write_text("backends:\n  slow:\n    type: mock\n    latency: 60\n")
    process = subprocess.Popen(
        [sys.executable, "-m", "imagen", "--config", str(config), "generate", "a cat",
         "-b", "slow", "-o", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        stderr=terminal,
        env={**os.environ, "TERM": "xterm-256color", "COLUMNS": "100"},
    )  # fmt: skip
    os.close(terminal)
    seen = b""
    while b"drawing" not in seen:
        seen += os.read(controller, 4096)
    process.send_signal(signal.SIGTERM)
    while True:
        try:
            chunk = os.read(controller, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    process.communicate(timeout=60)
    os.close(controller)

    assert process.returncode == 143
    hide, show = b"\x1b[?25l", b"\x1b[?25h"
    assert hide in seen
    assert seen.rindex(show) > seen.rindex(hide)
    # The message starts its own line, right after the display was erased.
    assert seen.endswith(b"\rimagen: terminated\r\n")
