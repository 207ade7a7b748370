"""stdout goes away while takes are written: every take is still written and recorded."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

IMAGEN = [sys.executable, "-m", "imagen"]


def slow_config(tmp_path: Path) -> Path:
    # One take at a time: each path is printed a while after the one before.
    config = tmp_path / "c.yaml"
    config.write_text("backends:\n  slow:\n    type: mock\n    latency: 0.4\n    concurrency: 1\n")
    return config


def history_rows(config: Path) -> list[dict[str, object]]:
    done = subprocess.run(
        [*IMAGEN, "--config", str(config), "log", "--json", "-n", "100"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, object]] = json.loads(done.stdout)
    return rows


def test_a_reader_that_stops_after_one_path_loses_no_take(tmp_path: Path) -> None:
    config, out = slow_config(tmp_path), tmp_path / "out"
    process = subprocess.Popen(
        [*IMAGEN, "--config", str(config), "generate", "a cat", "-b", "slow", "-n", "8",
         "-o", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    assert process.stderr is not None
    first = process.stdout.readline()
    process.stdout.close()  # like `| head -1`: seven takes are still to come
    stderr = process.stderr.read().decode()
    process.wait(timeout=60)

    assert Path(first.decode().strip()).is_file()
    assert process.returncode == 141, stderr
    assert stderr == ""
    assert len(list(out.rglob("*.png"))) == 8
    assert len(history_rows(config)) == 8


def test_stdout_on_a_full_device_keeps_every_take_and_says_where_they_are(
    tmp_path: Path,
) -> None:
    config, out = slow_config(tmp_path), tmp_path / "out"
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*IMAGEN, "--config", str(config), "generate", "a cat", "-b", "slow", "-n", "3",
             "-o", str(out)],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )  # fmt: skip

    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("imagen: error: could not print to stdout (No space left on device)")
    assert str(out) in line
    assert "Traceback" not in done.stderr
    assert len(list(out.rglob("*.png"))) == 3
    assert len(history_rows(config)) == 3


@pytest.mark.parametrize(
    "command",
    [
        ["generate", "a cat", "-b", "slow", "-n", "2", "--json"],
        ["log", "--json"],
        ["backends"],
    ],
    ids=["generate-json", "log", "backends"],
)
def test_any_command_with_stdout_on_a_full_device_is_one_error_line(
    tmp_path: Path, command: list[str]
) -> None:
    config = slow_config(tmp_path)
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [*IMAGEN, "--config", str(config), *command, *(["-o", str(tmp_path / "out")]
             if command[0] == "generate" else [])],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )  # fmt: skip

    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("imagen: error: could not print to stdout (No space left on device)")


def test_a_closed_pipe_ends_a_listing_quietly_with_141(tmp_path: Path) -> None:
    config = slow_config(tmp_path)
    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first line
    try:
        done = subprocess.run(
            [*IMAGEN, "--config", str(config), "backends"],
            stdout=write,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
        )
    finally:
        os.close(write)

    assert done.returncode == 141
    assert done.stderr == ""


def test_a_run_started_without_stdout_writes_every_take_and_says_so_once(
    tmp_path: Path,
) -> None:
    config, out = slow_config(tmp_path), tmp_path / "out"
    done = subprocess.run(
        [*IMAGEN, "--config", str(config), "generate", "a cat", "-b", "slow", "-n", "2",
         "-o", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.close(1),  # like `imagen generate ... >&-`
    )  # fmt: skip

    assert done.returncode == 1
    (line,) = done.stderr.splitlines()
    assert line.startswith("imagen: error: could not print to stdout (Bad file descriptor)")
    assert len(list(out.rglob("*.png"))) == 2
