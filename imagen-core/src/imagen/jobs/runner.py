"""Running one job: the generate pipeline, with every step recorded in the job.

``run_job`` prepares the job's request as ``imagen generate`` would (same instance, style,
seeds, estimate), leaves out the takes the job already has, runs the rest through
``pipeline.execute`` and records each take in the job as it starts, progresses, lands or
fails. A job taken over from a runner that died also gets back the takes that runner wrote
but could not record: the history has them (written before the job record), so they are
neither generated nor paid for again.

Cancelling the task that runs ``run_job`` cancels the backend's work (and the provider's job,
as the adapters do); ``Control.reason`` says whether the job was canceled or is being handed
back to the queue (a worker shutting down), and the job is recorded that way.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from typing import TYPE_CHECKING, Literal

import attrs

from imagen import debug
from imagen.errors import ImagenError
from imagen.jobs.model import Job, Problem, Take, TakeImage, now
from imagen.jobs.store import ClaimLost, JobStore
from imagen.pipeline import Plan

if TYPE_CHECKING:
    from imagen.backend import Backend
    from imagen.config.model import Config
    from imagen.models import Generation
    from imagen.sinks.protocol import Stored
    from imagen.store.history import HistoryEntry

#: progress alone is saved at most this often (seconds)
PROGRESS_EVERY = 0.25
#: a take's change of state is saved this much later (seconds), together with whatever else
#: changed meanwhile: a take that ends within it costs no save of its own (the job's last
#: save has it), and a burst of changes is one save
SAVE_BATCH = 0.05

CANCELED = Problem("urn:imagen:canceled", "Canceled", "the job was canceled while this take ran")


@attrs.frozen
class JobPlan(Plan):
    """A Plan that leaves out the takes the job already has (``done``)."""

    done: frozenset[int] = frozenset()

    @property
    def to_run(self) -> list[int]:
        skip = self.done | set(self.cached)
        return [take for take in range(1, self.takes + 1) if take not in skip]


@attrs.define
class Control:
    """Why the task running a job is being cancelled (set before cancelling it)."""

    reason: Literal["cancel", "hand_back"] | None = None


class _Recorder:
    """The pipeline's Reporter for a job: keeps ``job`` current and has it saved."""

    def __init__(self, job: Job, store: JobStore, config: Config, concurrency: int) -> None:
        self.job = job
        self.store = store
        self.config = config
        self.concurrency = concurrency
        self.latency: float | None = None
        self._dirty = asyncio.Event()
        self._last_progress = 0.0
        self._saving = False
        self._closing = False

    def _set(self, take: Take) -> None:
        self.job = self.job.with_take(take)
        self._dirty.set()

    def take_started(self, take: int, total: int) -> None:
        self._set(attrs.evolve(self.job.take(take), state="running", started_at=now()))

    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None:
        current = self.job.take(take)
        fraction = min(max(done / total, 0.0), 1.0) if total else current.progress
        self.job = self.job.with_take(attrs.evolve(current, progress=fraction, message=message))
        clock = asyncio.get_running_loop().time()
        if clock - self._last_progress >= PROGRESS_EVERY:
            self._last_progress = clock
            self._dirty.set()

    def take_finished(self, take: int, generation: Generation) -> None:
        from imagen.jobs.eta import estimate_eta

        current = self.job.take(take)
        self._set(
            attrs.evolve(
                current,
                state="done",
                progress=1.0,
                message="done",
                images=(*current.images, TakeImage.of(generation)),
                error=None,
                finished_at=now(),
            )
        )
        if not generation.cache_hit and self.latency is None:
            self.latency = generation.latency
        eta = estimate_eta(self.config, self.job, self.concurrency, latency=self.latency)
        self.job = attrs.evolve(self.job, eta=eta)

    def take_stored(self, take: int, generation: Generation, sink: str, stored: Stored) -> None:
        """A storage sink put the take's image somewhere a front end elsewhere can read it."""
        current = self.job.take(take)
        images = list(current.images)
        for index, image in enumerate(images):
            if image.generation_id == generation.sha256 and image.remote_object is None:
                images[index] = attrs.evolve(
                    image, remote_object=stored.object, remote_url=stored.url
                )
                self._set(attrs.evolve(current, images=tuple(images)))
                return

    def take_failed(self, take: int, error: ImagenError) -> None:
        current = self.job.take(take)
        self._set(attrs.evolve(current, state="failed", error=Problem.of(error), finished_at=now()))

    def warning(self, message: str) -> None:
        from imagen import console

        console.warn(f"job {self.job.id}: {message}")

    async def keep_saving(self) -> None:
        """Save the job whenever it changed, the latest state only (runs until ``close``)."""
        # A store may wait less: a local queue's save is one SQLite commit, cheaper than a page
        # seeing a take land 50 ms late.
        batch = getattr(self.store, "save_batch", SAVE_BATCH)
        while not self._closing:
            await self._dirty.wait()
            await asyncio.sleep(batch)
            self._dirty.clear()
            self._saving = True
            try:
                stored = await self.store.save(self.job)
            finally:
                self._saving = False
            self.job = attrs.evolve(self.job, version=stored.version)

    async def close(self, saver: asyncio.Future[None]) -> None:
        """Stop ``saver`` (the ``keep_saving`` task): a save under way is finished, not cut off.

        Cutting a save off would cost more than finishing it (the driver has to cancel the
        statement on the server) and leave unknown whether it was stored.
        """
        self._closing = True
        if not self._saving:
            saver.cancel()
        await asyncio.gather(saver, return_exceptions=True)

    async def save(self, job: Job) -> Job:
        self.job = await self.store.save(job)
        return self.job


async def run_job(
    config: Config, job: Job, store: JobStore, *, control: Control | None = None
) -> Job:
    """Run ``job`` (claimed by this runner) to its end; return it as last saved.

    Never raises for a bad job (an unknown backend, an invalid size, a backend that is not
    ready): the job fails with a problem detail. Raises ``ClaimLost`` when another runner
    took the job over, and re-raises a cancellation that ``control`` did not ask for (after
    handing the job back).
    """
    from imagen.instances import default_concurrency, instance_for

    control = control or Control()
    try:
        concurrency = default_concurrency(instance_for(config, job.backend))
    except ImagenError:
        concurrency = 1
    recorder = _Recorder(job, store, config, concurrency)
    backend: Backend | None = None
    try:
        try:
            backend, plan = _plan(config, job)
            recorder.latency = _recent_latency(config, job)
            recovered = _recovered(config, job, plan)
            if recovered is not job:  # the claim stored the job as it is otherwise
                job = await recorder.save(recovered)
            plan = attrs.evolve(
                plan,
                done=frozenset(t.number for t in job.takes if t.state == "done"),
                cached={n: g for n, g in plan.cached.items() if job.take(n).state != "done"},
            )
            await _execute(plan, backend, recorder)
        except (ClaimLost, asyncio.CancelledError):  # ClaimLost first: it is an ImagenError
            raise
        except ImagenError as error:
            return await recorder.save(_ended(recorder.job, Problem.of(error)))
        except Exception as error:  # a bug must fail this job, never the worker
            debug.log_exception(error)
            return await recorder.save(_ended(recorder.job, Problem.of(error)))
        return await recorder.save(_ended(recorder.job, None))
    except asyncio.CancelledError:
        if control.reason == "cancel":
            return await recorder.save(_canceled(recorder.job))
        await recorder.save(_handed_back(recorder.job))
        if control.reason is None:
            raise
        return recorder.job
    finally:
        if backend is not None:
            await asyncio.shield(backend.aclose())


def _plan(config: Config, job: Job) -> tuple[Backend, JobPlan]:
    """The job's plan as ``imagen generate`` would make it, with the job's own seeds."""
    from imagen.pipeline import open_backend, prepare

    backend = open_backend(config, job.backend)
    request = attrs.evolve(job.request, count=len(job.seeds))
    plan = prepare(
        config,
        request,
        backend=job.backend,
        output_dir=job.output_dir,
        caller=job.caller,
        estimator=backend,
        use_cache=job.use_cache,
        no_cloud=job.no_cloud,
    )
    fields = {field.name: getattr(plan, field.name) for field in attrs.fields(Plan)}
    fields.update(seeds=job.seeds, request=attrs.evolve(plan.request, seed=job.seeds[0]))
    return backend, JobPlan(**fields)


async def _execute(plan: JobPlan, backend: Backend, recorder: _Recorder) -> None:
    from imagen.pipeline import execute

    if not plan.to_run and not plan.cached:
        return
    saver = asyncio.ensure_future(recorder.keep_saving())
    run = asyncio.ensure_future(execute(plan, backend=backend, reporter=recorder))
    try:
        done, _ = await asyncio.wait({run, saver}, return_when=asyncio.FIRST_COMPLETED)
        if saver in done:  # saving failed (the job was taken over): stop spending on it
            saver.result()
        run.result()
    finally:
        # Cancelling ``run`` cancels the backend's work; a finished task ignores it.
        run.cancel()
        await asyncio.gather(run, return_exceptions=True)
        await recorder.close(saver)


def _recent_latency(config: Config, job: Job) -> float | None:
    from imagen.jobs.eta import recent_latency

    return recent_latency(config, job.backend)


def _recovered(config: Config, job: Job, plan: JobPlan) -> Job:
    """``job`` with the takes an earlier runner wrote (the history has them) marked done.

    Only takes of this job count: the same request on the same backend identity, recorded in
    the job's output folder, as the same take number, since the job first started.
    """
    if job.attempts <= 1 or job.started_at is None or not config.history.enabled:
        return job
    from imagen.store.history import History

    since = job.started_at - dt.timedelta(seconds=1)
    try:
        history = History.shared(config.history.path)
        for take in job.takes:
            if take.state == "done":
                continue
            request = plan.take_request(take.number)
            found = [
                entry
                for entry in history.find_cached(
                    plan.identity, request.fingerprint(), output_dir=job.output_dir
                )
                if not entry.cache_hit
                and entry.take == take.number
                and entry.output_dir == job.output_dir
                and entry.created_at >= since
                and entry.file_unchanged() is not None
            ]
            if found:
                job = job.with_take(_recovered_take(take, found))
    except ImagenError as error:  # without the history, the takes are generated again
        debug.log_exception(error)
    return job


def _recovered_take(take: Take, entries: list[HistoryEntry]) -> Take:
    from imagen.models import Cost

    images = []
    for entry in entries:
        sidecar = entry.sidecar_path
        images.append(
            TakeImage(
                generation_id=entry.sha256,
                path=os.path.join(entry.output_dir, *entry.path.split("/")),
                media_type=entry.media_type,
                width=entry.width,
                height=entry.height,
                seed=entry.seed,
                cost=(
                    Cost(entry.cost_actual, "as recorded in the history")
                    if entry.cost_actual is not None
                    else None
                ),
                sidecar_path=(
                    os.path.join(entry.output_dir, *sidecar.split("/")) if sidecar else None
                ),
            )
        )
    return attrs.evolve(
        take, state="done", progress=1.0, message="done", images=tuple(images), finished_at=now()
    )


def _ended(job: Job, problem: Problem | None) -> Job:
    """The job at its end: done when every take is, else failed with a problem detail."""
    failed = [take for take in job.takes if take.state != "done"]
    if not failed:
        return attrs.evolve(job, state="done", error=None, finished_at=now(), eta=None)
    if problem is None:
        errors = [take.error for take in failed if take.error is not None]
        first = errors[0] if errors else Problem("urn:imagen:failed", "Failed", "no image")
        problem = Problem(
            first.type,
            first.title,
            f"{len(failed)} of {job.takes_total} takes failed: {first.detail}",
        )
    return attrs.evolve(job, state="failed", error=problem, finished_at=now(), eta=None)


def _canceled(job: Job) -> Job:
    for take in job.takes:
        if take.state == "running":
            job = job.with_take(
                attrs.evolve(take, state="failed", error=CANCELED, finished_at=now())
            )
    return attrs.evolve(job, state="canceled", finished_at=now(), eta=None)


def _handed_back(job: Job) -> Job:
    for take in job.takes:
        if take.state == "running":
            job = job.with_take(attrs.evolve(take, state="queued", progress=0.0, message=""))
    return attrs.evolve(job, state="queued", worker=None)


__all__ = ["Control", "JobPlan", "run_job"]
