"""What the API does, apart from HTTP: one ``Studio`` per server, holding the config, the queue,
the images it has shown and the uploads.

Each method is one library call of the core (``pipeline.prepare`` for estimates, the queue for
jobs, the history for past takes) plus the checks that turn bad input into a problem naming
the field. The HTTP handlers in ``api.py`` only call these.
"""

from __future__ import annotations

import asyncio
import builtins
from typing import TYPE_CHECKING, Any

from imagen.errors import ConfigError, ImagenError
from imagen.jobs.queue import JobConflict, JobNotFound, JobQuery
from imagen_studio.images import ImageIndex
from imagen_studio.problems import ApiProblem
from imagen_studio.schemas import (
    MAX_TAKES,
    BackendInfo,
    Estimate,
    HistoryItem,
    JobRequest,
    Money,
    StyleInfo,
)
from imagen_studio.uploads import UploadStore

if TYPE_CHECKING:
    from imagen.backend import Backend
    from imagen.config.model import Config
    from imagen.jobs.model import Job, JobState
    from imagen.jobs.queue import Queue
    from imagen.models import Cost, Request
    from imagen.pipeline import Plan

#: the caller recorded for jobs made through the API
CALLER = "studio"
#: the longest a long poll is held open (seconds)
MAX_WAIT = 60.0
#: jobs whose last JSON answer is kept for the next asker (open pages follow a few at most)
BODIES_KEPT = 256


def money(cost: Cost | None) -> Money | None:
    return None if cost is None else Money(format(cost.amount, "f"), cost.basis)


def label(cost: Cost | None) -> str:
    """The estimate as the page shows it: ``~$0.16``, ``free`` or ``cost unknown``."""
    if cost is None:
        return "cost unknown"
    if cost.amount == 0:
        return "free"
    return f"~{cost.format()}"


def _problem_from(error: ConfigError, field: str | None) -> ApiProblem:
    return ApiProblem(422, error.message, field=field)


class Studio:
    """The server's state and what it can do (a plain class: Litestar injects it as is)."""

    def __init__(
        self,
        config: Config,
        queue: Queue,
        images: ImageIndex,
        uploads: UploadStore,
        *,
        runs_jobs: bool = False,
    ) -> None:
        self.config = config
        self.queue = queue
        self.images = images
        self.uploads = uploads
        #: True when this process runs the jobs (the local queue); else workers elsewhere do
        self.runs_jobs = runs_jobs
        #: each job's last answer: the Job read and its JSON bytes (see ``job_body``)
        self._bodies: dict[str, tuple[Job, bytes]] = {}

    # -- estimates and jobs ------------------------------------------------------------------

    def _request(self, body: JobRequest) -> tuple[Request, str]:
        """The core Request for ``body`` and the instance name; 422 naming the bad field."""
        from imagen.instances import instance_for
        from imagen.models import Request
        from imagen.pipeline import styles_for
        from imagen.seeds import check_seeds
        from imagen.sizes import parse_aspect, parse_size
        from imagen.styles import lookup

        config = self.config
        if not body.prompt.strip():
            raise ApiProblem(422, "the prompt is empty; say what to draw", field="prompt")
        takes = body.takes if body.takes is not None else config.server.takes
        if not 1 <= takes <= MAX_TAKES:
            raise ApiProblem(422, f"takes must be between 1 and {MAX_TAKES}", field="takes")
        name = body.backend or config.default_backend
        try:
            instance_for(config, name)
        except ConfigError as error:
            raise _problem_from(error, "backend") from None
        if body.style:
            try:
                lookup(styles_for(config), body.style)
            except ConfigError as error:
                raise _problem_from(error, "style") from None
        width = height = None
        if body.size and body.aspect:
            raise ApiProblem(422, "give either size or aspect, not both", field="size")
        try:
            if body.size:
                width, height = parse_size(body.size)
        except ConfigError as error:
            raise _problem_from(error, "size") from None
        try:
            if body.aspect:
                parse_aspect(body.aspect)
        except ConfigError as error:
            raise _problem_from(error, "aspect") from None
        try:
            check_seeds(body.seed, takes)
        except ConfigError as error:
            raise _problem_from(error, "seed") from None
        if body.steps is not None and not 1 <= body.steps <= 1000:
            raise ApiProblem(422, "steps must be between 1 and 1000", field="steps")
        refs = tuple(self.uploads.ref(ref) for ref in body.refs)
        request = Request(
            prompt=body.prompt,
            negative_prompt=body.negative or None,
            width=width,
            height=height,
            aspect_ratio=body.aspect.strip() if body.aspect else None,
            steps=body.steps,
            seed=body.seed,
            count=takes,
            refs=refs,
            style=body.style or None,
        )
        return request, name

    async def plan(self, body: JobRequest, *, ready: bool) -> tuple[Plan, Request]:
        """Resolve and estimate ``body`` as ``imagen generate`` would; nothing is spent.

        ``ready``: the backend must be able to run now (503 saying what to set otherwise).
        """
        request, name = self._request(body)
        opened: list[Backend] = []
        try:
            # One trip off the event loop for all of it: building a backend and estimating
            # may read files (the history, for cached takes); every poller waits meanwhile.
            plan = await asyncio.to_thread(self._prepare, request, name, ready, opened)
        finally:
            for backend in opened:
                await backend.aclose()
        return plan, request

    def _prepare(self, request: Request, name: str, ready: bool, opened: list[Backend]) -> Plan:
        from imagen.instances import open_backend
        from imagen.pipeline import prepare

        try:
            backend = open_backend(self.config, name)
        except ImagenError as error:
            raise ApiProblem(
                503, f"backend {name} cannot be built: {error}", field="backend"
            ) from None
        opened.append(backend)
        try:
            status = backend.status()
            if ready and not status.ok:
                raise ApiProblem(
                    503,
                    f"backend {name} is {status.message}; set it in the environment of "
                    "imagen serve and restart it, or choose another backend",
                    field="backend",
                    kind="backend-not-configured",
                )
            return prepare(self.config, request, backend=name, caller=CALLER, estimator=backend)
        except ConfigError as error:
            raise _problem_from(error, None) from None
        except ImagenError as error:
            raise ApiProblem(503, f"backend {name}: {error}", field="backend") from None

    async def estimate(self, body: JobRequest) -> Estimate:
        plan, _ = await self.plan(body, ready=False)
        request = plan.request
        return Estimate(
            backend=plan.instance.name,
            backend_type=plan.instance.type,
            takes=plan.takes,
            cost_estimate=money(plan.cost_estimate),
            cost_per_take=money(plan.cost_per_take),
            label=label(plan.cost_estimate),
            style=plan.style.name if plan.style else None,
            width=request.width,
            height=request.height,
            aspect_ratio=request.aspect_ratio,
            seeded=plan.seeded,
            seeds=list(plan.seeds) if plan.seeded else None,
            cached_takes=sorted(plan.cached),
        )

    async def submit(self, body: JobRequest) -> Job:
        from imagen.jobs.model import new_job

        plan, request = await self.plan(body, ready=True)
        job = await self.queue.submit(new_job(plan, request=request))
        self.remember(job)
        return job

    def remember(self, job: Job) -> None:
        """Let ``GET /v1/images/{id}`` serve this job's images."""
        for take in job.takes:
            for image in take.images:
                self.images.add(image.generation_id, image.path, image.media_type)

    def _not_found(self, job_id: str) -> ApiProblem:
        return ApiProblem(
            404,
            f"no job {job_id[:80]!r} here: the queue may have forgotten it; its takes are on "
            "disk and in the history (GET /v1/history)",
            field="id",
            kind="job-not-found",
        )

    async def get(self, job_id: str, *, wait: float, version: int | None) -> Job:
        try:
            if wait > 0:
                job = await self.queue.wait(job_id, after=version, max_wait=min(wait, MAX_WAIT))
            else:
                job = await self.queue.get(job_id)
        except JobNotFound:
            raise self._not_found(job_id) from None
        except JobConflict as error:
            raise ApiProblem(409, str(error)) from None
        return job

    def job_body(self, job: Job) -> bytes:
        """``job``'s JSON form, encoded once per read of it; its images made servable.

        The queue hands every asker of an unchanged job the same Job (fifty long polls woken
        by one change share one read), so they share these bytes too.
        """
        known = self._bodies.get(job.id)
        if known is not None and known[0] is job:
            return known[1]
        from litestar.serialization import encode_json

        from imagen.jobs.model import job_to_dict

        self.remember(job)
        body = encode_json(job_to_dict(job))
        self._bodies.pop(job.id, None)
        if len(self._bodies) >= BODIES_KEPT:
            self._bodies.pop(next(iter(self._bodies)))
        self._bodies[job.id] = (job, body)
        return body

    async def jobs(
        self, states: list[JobState], backend: str | None, text: str | None, limit: int
    ) -> builtins.list[Job]:
        query = JobQuery(states=tuple(states), backend=backend, text=text or None, limit=limit)
        jobs = await self.queue.list(query)
        for job in jobs:
            self.remember(job)
        return jobs

    async def cancel(self, job_id: str) -> Job:
        try:
            return await self.queue.cancel(job_id)
        except JobNotFound:
            raise self._not_found(job_id) from None

    async def pick(self, job_id: str, take: int) -> Job:
        from imagen.jobs.submit import pick

        try:
            job = await pick(self.queue, self.config, job_id, take)
        except JobNotFound:
            raise self._not_found(job_id) from None
        except JobConflict as error:
            raise ApiProblem(409, str(error), field="take") from None
        self.remember(job)
        return job

    # -- what there is -------------------------------------------------------------------------

    async def backends(self) -> list[BackendInfo]:
        from imagen.backends_info import describe_backends

        rows, ready = await asyncio.to_thread(
            lambda: (describe_backends(self.config), _ready_backends(self.config))
        )
        return [
            BackendInfo(
                name=row["name"],
                type=row["type"],
                ready=row["name"] in ready,
                status=row["status"],
                price=row["price"],
                concurrency=row["concurrency"],
                default=row["default"],
            )
            for row in rows
        ]

    def styles(self) -> list[StyleInfo]:
        from imagen.pipeline import styles_for

        return [
            StyleInfo(style.name, style.description, style.source)
            for style in sorted(styles_for(self.config).values(), key=lambda s: s.name)
        ]

    async def history(self, text: str | None, limit: int) -> list[HistoryItem]:
        """Past takes, newest first; a damaged history shows what can be read."""
        from imagen.store.history import History

        if not self.config.history.enabled:
            return []

        def read() -> list[Any]:
            history = History.shared(self.config.history.path)
            return history.query(text=text or None, limit=limit, on_damage=lambda damage: None)

        try:
            entries = await asyncio.to_thread(read)
        except ImagenError as error:
            raise ApiProblem(503, f"the history cannot be read: {error}") from None
        items = []
        for entry in entries:
            import os

            path = os.path.join(entry.output_dir, *entry.path.split("/"))
            self.images.add(entry.sha256, path, entry.media_type)
            items.append(
                HistoryItem(
                    generation_id=entry.sha256,
                    image=f"/v1/images/{entry.sha256}",
                    prompt=entry.prompt,
                    backend=entry.backend,
                    model=entry.model,
                    style=entry.style,
                    seed=entry.seed,
                    width=entry.width,
                    height=entry.height,
                    take=entry.take,
                    takes=entry.takes,
                    cost_actual=(
                        format(entry.cost_actual, "f") if entry.cost_actual is not None else None
                    ),
                    created_at=entry.created_at.isoformat(),
                    picked=entry.picked,
                )
            )
        return items


def _ready_backends(config: Config) -> set[str]:
    """The instances whose ``status()`` says they can run (no network)."""
    from imagen.jobs.worker import ready_backends

    return set(ready_backends(config))


__all__ = ["CALLER", "MAX_WAIT", "Studio", "label", "money"]
