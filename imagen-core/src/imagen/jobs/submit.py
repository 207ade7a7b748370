"""Submitting a job and following it: what ``imagen submit``, the HTTP server and MCP all call.

job = await submit(queue, config, Request("a cat", count=4), backend="flux")
job = await follow(queue, job.id, on_change=print)     # until it ends
"""

from __future__ import annotations

import os
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagen.config.model import Config
    from imagen.jobs.model import Job
    from imagen.jobs.queue import Queue
    from imagen.models import Request

#: how long one long poll waits before asking again (seconds)
POLL_WAIT = 30.0


async def submit(
    queue: Queue,
    config: Config,
    request: Request,
    *,
    backend: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    caller: str | None = None,
    use_cache: bool = True,
    no_cloud: bool = False,
    max_cost: Decimal | None = None,
) -> Job:
    """Resolve ``request`` as ``imagen generate`` would (instance, style, seeds, estimate),
    refuse it when the estimate is over ``max_cost``, and queue it. Nothing is spent here."""
    from imagen import cost
    from imagen.caller import resolve_caller
    from imagen.jobs.model import new_job
    from imagen.pipeline import open_backend, prepare

    estimator = open_backend(config, backend)
    try:
        plan = prepare(
            config,
            request,
            backend=backend,
            output_dir=output_dir,
            caller=resolve_caller(caller),
            estimator=estimator,
            use_cache=use_cache,
            no_cloud=no_cloud,
        )
    finally:
        await estimator.aclose()
    cost.check_budget(plan.cost_estimate, len(plan.to_run), plan.instance.name, max_cost)
    return await queue.submit(new_job(plan, request=request, use_cache=use_cache))


async def pick(queue: Queue, config: Config, job_id: str, take: int) -> Job:
    """Pick take ``take`` of a job: recorded in the job, the history and the takes' sidecars.

    The queue's record comes first (it refuses a take that is not done); the sidecars and the
    history then say ``picked`` for this take and no longer for the one picked before. A file
    that cannot be updated is a warning: the pick itself stands.
    """
    import asyncio

    before = await queue.get(job_id)
    job = await queue.pick(job_id, take)
    await asyncio.to_thread(record_pick, config, job, before.picked)
    return job


def record_pick(config: Config, job: Job, previous: int | None) -> None:
    """Write ``job.picked`` into its takes' sidecars and history rows (see ``pick``)."""
    from imagen import console, debug
    from imagen.errors import ImagenError
    from imagen.output import sidecar

    changes = [(job.picked, True)] if job.picked is not None else []
    if previous is not None and previous != job.picked:
        changes.append((previous, False))
    for number, picked in changes:
        images = job.take(number).images
        for image in images:
            if image.sidecar_path is None:
                continue
            try:
                sidecar.set_picked(image.sidecar_path, picked)
            except (OSError, ValueError) as error:
                debug.log_exception(error)
                console.warn(f"the sidecar {image.sidecar_path} could not record the pick: {error}")
        if not config.history.enabled:
            continue
        from imagen.store.history import History

        paths = [
            os.path.relpath(image.path, job.output_dir).replace(os.sep, "/") for image in images
        ]
        try:
            History.shared(config.history.path).mark_picked(job.output_dir, paths, picked=picked)
        except ImagenError as error:
            console.warn(f"history: {error}; the pick is recorded in the job only")


async def follow(
    queue: Queue,
    job_id: str,
    *,
    on_change: Callable[[Job], None] | None = None,
    max_wait: float | None = None,
) -> Job:
    """Long-poll ``job_id`` until it ends (or ``max_wait`` seconds pass); return it as it is.

    ``on_change`` hears every version seen, the first one included.
    """
    import time

    deadline = None if max_wait is None else time.monotonic() + max_wait
    job = await queue.get(job_id)
    seen: int | None = None
    while True:
        if on_change is not None and job.version != seen:
            on_change(job)
        seen = job.version
        if job.finished:
            return job
        left = POLL_WAIT if deadline is None else min(POLL_WAIT, deadline - time.monotonic())
        if left <= 0:
            return job
        job = await queue.wait(job_id, after=job.version, max_wait=left)


__all__ = ["follow", "pick", "record_pick", "submit"]
