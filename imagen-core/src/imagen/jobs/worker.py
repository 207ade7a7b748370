"""A worker: claims jobs from a queue and runs them, several at once, until told to stop.

    worker = Worker(config, backends=ready_backends(config), concurrency=2)
    await worker.serve(queue)          # until worker.stop(); ``once=True``: until idle

``stop()`` once: claim nothing more and let the running jobs finish (a drain). ``stop()``
again: hand the running jobs back to the queue (their finished takes stay; another runner
does the rest) and return. One line per finished job goes to ``log``.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import socket
import time
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING, Protocol

from imagen import debug
from imagen.jobs.runner import Control, run_job

if TYPE_CHECKING:
    from imagen.config.model import Config
    from imagen.jobs.model import Job
    from imagen.jobs.store import JobStore


def worker_id() -> str:
    """``host:pid:tag``: the host and process a job's runner is on, and which runner."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


def ready_backends(config: Config, names: Collection[str] | None = None) -> list[str]:
    """The instances (of ``names``, default all configured and ``mock``) that are ready here.

    Readiness is ``Backend.status()``: credentials present, no network call. An unknown
    name is a ConfigError; a name that is not ready is left out.
    """
    from imagen.config.model import MOCK_INSTANCE
    from imagen.errors import ImagenError
    from imagen.instances import instance_for, open_backend

    chosen = list(names) if names else [*config.backends, MOCK_INSTANCE]
    ready = []
    for name in dict.fromkeys(chosen):
        instance_for(config, name)  # an unknown name: the one-line error with the known ones
        try:
            if open_backend(config, name).status().ok:
                ready.append(name)
        except ImagenError as error:
            debug.log_exception(error)
    return ready


class _Serves(Protocol):
    """A queue, as the worker sees it (:class:`imagen.jobs.queue.Queue` names the worker)."""

    async def work(self, worker: Worker) -> None: ...


class Worker:
    """Runs claimed jobs (see the module docstring). Use from one event loop."""

    def __init__(
        self,
        config: Config,
        *,
        backends: Collection[str],
        concurrency: int = 1,
        once: bool = False,
        log: Callable[[str], None] | None = None,
    ) -> None:
        self.config = config
        self.id = worker_id()
        self.backends = tuple(backends)
        self.concurrency = max(1, concurrency)
        self.once = once
        self.log = log or (lambda line: None)
        #: set by the first stop(): claim nothing more
        self.stopping = asyncio.Event()
        #: set whenever a run ends or stop() is called, so the queue's loop looks again
        self.wakeup = asyncio.Event()
        self._runs: dict[str, tuple[asyncio.Task[None], Control]] = {}
        self.jobs_run = 0

    def has_room(self) -> bool:
        return len(self._runs) < self.concurrency

    @property
    def idle(self) -> bool:
        return not self._runs

    @property
    def running(self) -> list[str]:
        return list(self._runs)

    async def serve(self, queue: _Serves) -> None:
        """Claim and run jobs from ``queue`` until stopped (or, with ``once``, idle)."""
        try:
            await queue.work(self)
        finally:
            await self._hand_back_all()

    def start(self, job: Job, store: JobStore) -> asyncio.Task[None]:
        """Run ``job`` (claimed for this worker) in the background, recording it in ``store``.

        Returns the run's task, for a queue whose scheduler awaits each job (``postgres``).
        """
        control = Control()
        task = asyncio.ensure_future(self._run(job, store, control))
        self._runs[job.id] = (task, control)
        return task

    def cancel(self, job_id: str) -> None:
        """The job's cancel was asked for: cancel its takes (the finished ones stay)."""
        run = self._runs.get(job_id)
        if run is not None and run[1].reason is None:
            run[1].reason = "cancel"
            run[0].cancel()

    def stop(self) -> None:
        """First call: drain. Second call: hand the running jobs back to the queue."""
        if self.stopping.is_set():
            for task, control in self._runs.values():
                if control.reason is None:
                    control.reason = "hand_back"
                    task.cancel()
        self.stopping.set()
        self.wakeup.set()

    async def _hand_back_all(self) -> None:
        # The queue's loop ended early (an error, a cancel from outside): nothing may be left
        # running under this worker's name.
        for task, control in list(self._runs.values()):
            if control.reason is None:
                control.reason = "hand_back"
            task.cancel()
        if self._runs:
            await asyncio.gather(*(task for task, _ in self._runs.values()), return_exceptions=True)

    async def _run(self, job: Job, store: JobStore, control: Control) -> None:
        from imagen.jobs.store import ClaimLost

        started = time.monotonic()
        try:
            final = await run_job(self.config, job, store, control=control)
            self.log(job_line(final, time.monotonic() - started))
        except ClaimLost:
            self.log(f"job {job.id} was taken over by another runner; stopped here")
        except asyncio.CancelledError:
            self.log(f"job {job.id} handed back to the queue")
        except Exception as error:  # a broken store or a bug: this job only, never the worker
            debug.log_exception(error)
            self.log(f"job {job.id} could not be recorded: {type(error).__name__}: {error}")
        finally:
            self._runs.pop(job.id, None)
            self.jobs_run += 1
            self.wakeup.set()


def job_line(job: Job, seconds: float) -> str:
    """``job 0190... done: 4/4 takes on mock, $0.00, 3.2 s`` (one line per job)."""
    from imagen.console import terminal_safe

    cost = job.cost_actual
    spent = f", {cost.format()}" if cost is not None else ""
    if job.state == "queued":
        return f"job {job.id} handed back to the queue ({job.takes_done}/{job.takes_total} takes)"
    line = (
        f"job {job.id} {job.state}: {job.takes_done}/{job.takes_total} takes on "
        f"{job.backend}{spent}, {seconds:.1f} s"
    )
    if job.error is not None and job.state != "done":
        line += f": {job.error.detail}"
    return terminal_safe(line)


__all__ = ["Worker", "job_line", "ready_backends", "worker_id"]
