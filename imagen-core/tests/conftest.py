"""Fixtures for the core tests: run the real ``imagen`` entry point and capture what it did."""

from __future__ import annotations

import asyncio
import importlib.util
import os
from collections.abc import Awaitable, Callable, Iterator, Mapping
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, TypeVar

import pytest

from imagen.plugins import loader as plugins
from imagen.testing.cli import Ran, run_imagen

if TYPE_CHECKING:
    from imagen.config.model import Config
    from imagen.jobs.local import LocalQueue
    from imagen.jobs.model import Job

T = TypeVar("T")

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


@pytest.fixture
def gate_module() -> Iterator[ModuleType]:
    """The ``gate`` backend of jobs_gate.py, registered as a plugin for the test."""
    spec = importlib.util.spec_from_file_location(
        "jobs_gate", Path(__file__).with_name("jobs_gate.py")
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    plugins.manager().register(module, name="jobs-gate")
    plugins.registry.cache_clear()
    yield module
    plugins.manager().unregister(name="jobs-gate")
    plugins.registry.cache_clear()


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
    return run_imagen(*args, env={**os.environ, **(env or {})}, timeout=timeout)


def run(work: Callable[[LocalQueue], Awaitable[T]], config: Config) -> T:
    """``work`` given the local queue of ``config``, closed after it."""
    from imagen.jobs.local import LocalQueue
    from imagen.jobs.queue import open_queue

    async def main() -> T:
        queue = open_queue(config)
        assert isinstance(queue, LocalQueue)
        try:
            return await work(queue)
        finally:
            await queue.aclose()

    return asyncio.run(main())


async def until(queue: LocalQueue, job_id: str, check: Callable[[Job], bool]) -> Job:
    """The job once ``check`` holds, waiting on its changes (bounded: 60 s without one)."""
    job = await queue.get(job_id)
    while not check(job):
        before = job.version
        job = await queue.wait(job_id, after=before, max_wait=60)
        assert job.version != before or check(job), f"no change in 60 s: {job}"
    return job
