"""What ``imagen generate`` shows while it runs: a display on a TTY, nothing extra otherwise."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path


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
