"""The server's own job runner (local queue): a ``Worker`` on a thread of its own, with its own
event loop and its own handle on the queue.

Running a job blocks its event loop now and then: the pipeline writes each take and its
sidecar with fsync, records it in the history, and a backend may decode or hash an image. On
the loop that answers HTTP every request waited for that (each take landing held every poll
for 5 to 30 ms). On this thread the answers never wait for a job's work, and a change the
runner records still wakes the server's long polls at once (the local queues of one process
on one file wake each other's waiters).

    runner = RunnerThread(config, concurrency=4, log=say)
    await runner.start()         # claims and runs jobs from now on
    await runner.stop()          # hands the running jobs back (their finished takes stay)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagen.config.model import Config
    from imagen.jobs.worker import Worker


class RunnerThread:
    """A ``Worker`` serving the configured queue on its own thread (see the module docstring)."""

    def __init__(
        self, config: Config, *, concurrency: int, log: Callable[[str], None] | None = None
    ) -> None:
        self.config = config
        self.concurrency = concurrency
        self.log = log or (lambda line: None)
        self._thread = threading.Thread(target=self._main, name="imagen-runner", daemon=True)
        #: set by the thread once its worker runs (or with why it could not start)
        self._ready: concurrent.futures.Future[None] = concurrent.futures.Future()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._worker: Worker | None = None

    async def start(self) -> None:
        """Start the thread; return once its worker claims jobs (raise what stopped it)."""
        self._thread.start()
        await asyncio.wrap_future(self._ready)

    async def stop(self) -> None:
        """Hand the running jobs back to the queue and wait for the thread to end."""
        loop, worker = self._loop, self._worker
        if loop is not None and worker is not None:
            with contextlib.suppress(RuntimeError):  # its loop has ended already
                loop.call_soon_threadsafe(_hand_back, worker)
        await asyncio.to_thread(self._thread.join)

    def _main(self) -> None:
        asyncio.run(self._serve())

    async def _serve(self) -> None:
        from imagen import debug
        from imagen.jobs.queue import open_queue
        from imagen.jobs.worker import Worker, ready_backends

        try:
            queue = open_queue(self.config)
        except BaseException as error:
            self._ready.set_exception(error)
            return
        try:
            worker = Worker(
                self.config,
                backends=ready_backends(self.config),
                concurrency=self.concurrency,
                log=self.log,
            )
            self._loop, self._worker = asyncio.get_running_loop(), worker
            self._ready.set_result(None)
            await worker.serve(queue)
        except Exception as error:
            if not self._ready.done():
                self._ready.set_exception(error)
                return
            debug.log_exception(error)
            self.log(f"the job runner stopped: {type(error).__name__}: {error}")
        finally:
            await queue.aclose()


def _hand_back(worker: Worker) -> None:
    # The first stop() drains, the second hands the running jobs back: the next runner (this
    # server started again, or a worker) does the rest of them.
    worker.stop()
    worker.stop()


__all__ = ["RunnerThread"]
