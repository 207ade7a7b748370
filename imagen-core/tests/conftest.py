"""Fixtures for the core tests: run the real ``imagen`` entry point and capture what it did."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable, Mapping

import attrs
import pytest


@attrs.frozen
class Ran:
    code: int
    out: str
    err: str

    @property
    def lines(self) -> list[str]:
        return self.out.splitlines()


Runner = Callable[..., Ran]


@pytest.fixture
def imagen(capsys: pytest.CaptureFixture[str]) -> Runner:
    """``imagen(*args)`` runs the CLI in this process (fast); plugins stay loaded."""

    def invoke(*args: str) -> Ran:
        return _run(capsys, *args)

    return invoke


@pytest.fixture
def imagen_process() -> Runner:
    """``imagen_process(*args, env=...)`` runs ``python -m imagen`` as its own process."""
    return run_process


def _run(capsys: pytest.CaptureFixture[str], *args: str) -> Ran:
    from imagen.cli import main

    capsys.readouterr()
    try:
        main(list(args))
    except SystemExit as done:
        code = done.code if isinstance(done.code, int) else (0 if done.code is None else 1)
    else:
        code = 0
    captured = capsys.readouterr()
    return Ran(code, captured.out, captured.err)


def run_process(*args: str, env: Mapping[str, str] | None = None, timeout: float = 60) -> Ran:
    """``imagen ARGS`` as a separate process (real start-up, plugin loading, signals)."""
    full_env = {**os.environ, **(env or {})}
    done = subprocess.run(
        [sys.executable, "-m", "imagen", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
    )
    return Ran(done.returncode, done.stdout, done.stderr)
