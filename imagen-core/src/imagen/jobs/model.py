"""The job model: one Request with N takes on one backend instance, run asynchronously.

    job = new_job(plan)                      # from a prepared Plan (the estimate included)
    data = job_to_dict(job)                  # the one JSON form: CLI --json, HTTP API, MCP
    again = job_from_dict(data)              # equal to job, except reference image bytes

A job moves ``queued -> running -> done | failed | canceled``; ``interrupted`` is a job whose
runner died and that could not be taken up again (it keeps the takes it has). Each take has
its own record (state, progress, seed, images, cost, error), so a runner that takes over a job
knows which takes are done and never generates or pays for them twice.

All classes are frozen: a runner makes a new Job for every change and stores it whole.
"""

from __future__ import annotations

import datetime as dt
import os
import time
import uuid
from collections.abc import Mapping
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

import attrs

from imagen.models import Cost, Generation, Ref, Request

if TYPE_CHECKING:
    import cattrs

    from imagen.pipeline import Plan

JobState = Literal["queued", "running", "done", "failed", "canceled", "interrupted"]
TakeState = Literal["queued", "running", "done", "failed"]

JOB_STATES: tuple[JobState, ...] = (
    "queued",
    "running",
    "done",
    "failed",
    "canceled",
    "interrupted",
)
#: states a job never leaves
FINISHED: frozenset[JobState] = frozenset({"done", "failed", "canceled", "interrupted"})

#: bumped when the shape changes incompatibly; a runner leaves newer jobs to newer runners
FORMAT_VERSION = 1


def new_job_id() -> str:
    """A UUIDv7 (RFC 9562): its text sorts by creation time, to the millisecond."""
    millis = time.time_ns() // 1_000_000
    random = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis & (2**48 - 1)) << 80
        | 0x7 << 76
        | ((random >> 62) & 0xFFF) << 64
        | 0b10 << 62
        | (random & (2**62 - 1))
    )
    return str(uuid.UUID(int=value))


def now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@attrs.frozen
class Problem:
    """An error as a problem detail (RFC 9457): a stable ``type``, a ``title``, the ``detail``."""

    type: str
    title: str
    detail: str

    @classmethod
    def of(cls, error: BaseException) -> Problem:
        """The problem detail for ``error`` (an ImagenError's one line, or an internal error)."""
        from imagen.errors import ImagenError

        kind = type(error)
        if not isinstance(error, ImagenError):
            return cls(
                "urn:imagen:internal-error",
                "Internal error",
                f"internal error: {kind.__name__}: {error}",
            )
        name = "".join(f"-{c.lower()}" if c.isupper() else c for c in kind.__name__).lstrip("-")
        title = name.replace("-", " ").capitalize()
        return cls(f"urn:imagen:{name}", title, str(error))


@attrs.frozen
class TakeImage:
    """One image a take produced: where it is on the runner's disk and what it cost.

    ``generation_id`` is the image's sha256: the same bytes have the same id on every machine.
    When a storage sink stored it, ``remote_object`` names it there (``<bucket>/<key>``) and
    ``remote_url`` reads it, so a front end on another machine can show it; the first
    storage sink to store it is the one recorded.
    """

    generation_id: str
    path: str
    media_type: str
    width: int
    height: int
    seed: int | None
    cost: Cost | None = None
    cache_hit: bool = False
    sidecar_path: str | None = None
    remote_object: str | None = None
    remote_url: str | None = None

    @classmethod
    def of(cls, generation: Generation) -> TakeImage:
        from imagen.output.write import absolute_path

        sidecar = None
        if generation.sidecar_path:
            sidecar = os.path.join(generation.output_dir, *generation.sidecar_path.split("/"))
        return cls(
            generation_id=generation.sha256,
            path=absolute_path(generation),
            media_type=generation.media_type,
            width=generation.width,
            height=generation.height,
            seed=generation.seed,
            cost=generation.cost_actual,
            cache_hit=generation.cache_hit,
            sidecar_path=sidecar,
        )


@attrs.frozen
class Take:
    """One take of a job (``number`` counts from 1); ``progress`` is 0..1 while it runs."""

    number: int
    seed: int | None
    state: TakeState = "queued"
    progress: float = 0.0
    message: str = ""
    images: tuple[TakeImage, ...] = ()
    error: Problem | None = None
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None

    @property
    def cost(self) -> Cost | None:
        """What this take's images cost (None when the provider reported no price)."""
        total: Cost | None = None
        for image in self.images:
            if image.cost is not None:
                total = image.cost if total is None else total + image.cost
        return total

    @property
    def cache_hit(self) -> bool:
        return bool(self.images) and all(image.cache_hit for image in self.images)

    @property
    def path(self) -> str | None:
        return self.images[0].path if self.images else None

    @property
    def generation_id(self) -> str | None:
        return self.images[0].generation_id if self.images else None

    @property
    def remote_url(self) -> str | None:
        return self.images[0].remote_url if self.images else None


@attrs.frozen
class Job:
    """One generate request with ``takes_total`` takes on the backend instance ``backend``.

    ``request`` is the request as asked (before the style's template); ``seeds`` were drawn
    when the job was made, so a runner that takes over gives the same takes. ``eta`` is when
    the job should be done, from this instance's recent latencies; ``version`` grows at every
    change (what a long poll waits on). ``worker`` names the runner holding it
    (``host:pid:tag``).
    """

    id: str
    request: Request
    backend: str
    seeds: tuple[int, ...]
    output_dir: str
    state: JobState = "queued"
    style: str | None = None
    caller: str | None = None
    takes: tuple[Take, ...] = ()
    picked: int | None = None
    cost_estimate: Cost | None = None
    use_cache: bool = True
    no_cloud: bool = False
    eta: dt.datetime | None = None
    error: Problem | None = None
    created_at: dt.datetime = attrs.field(factory=now)
    updated_at: dt.datetime = attrs.field(factory=now)
    started_at: dt.datetime | None = None
    finished_at: dt.datetime | None = None
    attempts: int = 0
    worker: str | None = None
    cancel_requested: bool = False
    version: int = 0

    @property
    def takes_total(self) -> int:
        return len(self.takes)

    @property
    def takes_done(self) -> int:
        return sum(1 for take in self.takes if take.state == "done")

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @property
    def cost_actual(self) -> Cost | None:
        """What the takes that landed cost so far (None until one reports a price)."""
        total: Cost | None = None
        for take in self.takes:
            cost = take.cost
            if cost is not None:
                total = cost if total is None else total + cost
        return total

    def take(self, number: int) -> Take:
        return self.takes[number - 1]

    def with_take(self, take: Take) -> Job:
        """This job with ``take`` replacing the take of the same number."""
        takes = list(self.takes)
        takes[take.number - 1] = take
        return attrs.evolve(self, takes=tuple(takes), updated_at=now())


def new_job(plan: Plan, *, request: Request, use_cache: bool = True) -> Job:
    """A queued job for ``plan`` (from ``pipeline.prepare``); ``request`` is the one asked for.

    The estimate is the plan's, from the one estimator the CLI uses; the takes the cache
    already has are priced at zero there and found again by the runner (``use_cache``).
    """
    from imagen.jobs.eta import estimate_eta

    created = now()
    job = Job(
        id=new_job_id(),
        request=request,
        backend=plan.instance.name,
        seeds=plan.seeds,
        output_dir=plan.output_dir,
        style=plan.style.name if plan.style else None,
        caller=plan.caller,
        takes=tuple(Take(number, seed) for number, seed in enumerate(plan.seeds, 1)),
        cost_estimate=plan.cost_estimate,
        use_cache=use_cache,
        no_cloud=plan.no_cloud,
        created_at=created,
        updated_at=created,
    )
    return attrs.evolve(job, eta=estimate_eta(plan.config, job, plan.concurrency))


# -- the JSON form -----------------------------------------------------------------------------

#: what job_to_dict adds to a class's fields, derived from them (ignored when reading)
DERIVED_FIELDS: Mapping[type, Mapping[str, Any]] = {
    Job: {
        "format_version": int,
        "takes_total": int,
        "takes_done": int,
        "cost_actual": Cost | None,
    },
    Take: {
        "cost": Cost | None,
        "path": str | None,
        "generation_id": str | None,
        "remote_url": str | None,
        "cache_hit": bool,
    },
}
#: fields the JSON form leaves out (a reference image's bytes: serialize's converter drops them)
OMITTED_FIELDS: Mapping[type, tuple[str, ...]] = {Ref: ("data",)}
#: every class whose instances appear in the JSON form of a job
JSON_FORM_CLASSES: tuple[type, ...] = (Job, Take, TakeImage, Problem, Request, Ref, Cost)
_DERIVED = tuple(DERIVED_FIELDS[Job])


def json_form_fields(cls: type) -> dict[str, Any]:
    """The keys ``job_to_dict`` writes for an instance of ``cls`` (one of
    ``JSON_FORM_CLASSES``) and the type of each value before it is made JSON.

    Every key is always written (null when unset). An API schema built from this, with the
    converter's conventions (money and ``Decimal`` as strings, times as ISO 8601 text), is the
    schema of the JSON form: ``imagen serve`` documents its job responses with it.
    """
    import typing

    hints = typing.get_type_hints(cls)
    omitted = OMITTED_FIELDS.get(cls, ())
    fields = {
        field.name: hints[field.name] for field in attrs.fields(cls) if field.name not in omitted
    }
    return {**fields, **DERIVED_FIELDS.get(cls, {})}


@cache
def _converter() -> cattrs.Converter:
    # serialize's conventions: money as decimal strings, times in ISO 8601 with their offset,
    # reference images without their bytes, free-form mappings as JSON values.
    from imagen.sinks.serialize import _converter as generation_converter

    conv: cattrs.Converter = generation_converter().copy()
    return conv


def _money(cost: Cost | None) -> dict[str, str] | None:
    return None if cost is None else _converter().unstructure(cost)


def job_to_dict(job: Job) -> dict[str, Any]:
    """``job`` as JSON-safe data: the form the CLI's ``--json``, the HTTP API and MCP share.

    Besides the fields it carries what follows from them: ``takes_total``, ``takes_done``,
    ``cost_actual`` and, per take, ``cost``, ``path``, ``generation_id``, ``remote_url`` and
    ``cache_hit`` (its first image's).
    """
    data: dict[str, Any] = _converter().unstructure(job)
    for take, shown in zip(job.takes, data["takes"], strict=True):
        shown.update(
            cost=_money(take.cost),
            path=take.path,
            generation_id=take.generation_id,
            remote_url=take.remote_url,
            cache_hit=take.cache_hit,
        )
    return {
        "format_version": FORMAT_VERSION,
        **data,
        "takes_total": job.takes_total,
        "takes_done": job.takes_done,
        "cost_actual": _money(job.cost_actual),
    }


def job_from_dict(data: Mapping[str, Any]) -> Job:
    """The Job that ``job_to_dict`` made ``data`` from (reference image bytes are empty).

    Raises ValueError when ``data`` is not such a dict, or was written by a newer imagen.
    """
    import cattrs

    version = data.get("format_version", FORMAT_VERSION)
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ValueError(
            f"job format {version!r} is newer than this imagen understands ({FORMAT_VERSION}); "
            "upgrade imagen"
        )
    fields = {key: value for key, value in data.items() if key not in _DERIVED}
    try:
        job: Job = _converter().structure(fields, Job)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a serialized job: {error}") from error
    return job


def job_to_record(job: Job) -> dict[str, Any]:
    """What a queue stores: ``job_to_dict`` plus the reference images' bytes (base64).

    A runner on another machine needs the bytes; the public form leaves them out.
    """
    import base64

    refs = {ref.sha256: base64.b64encode(ref.data).decode("ascii") for ref in job.request.refs}
    return {**job_to_dict(job), "ref_data": refs}


def job_from_record(data: Mapping[str, Any]) -> Job:
    """The Job a queue stored with ``job_to_record``, reference image bytes included."""
    import base64

    job = job_from_dict({key: value for key, value in data.items() if key != "ref_data"})
    stored = data.get("ref_data") or {}
    if not job.request.refs:
        return job
    try:
        refs = tuple(
            attrs.evolve(ref, data=base64.b64decode(stored[ref.sha256])) for ref in job.request.refs
        )
    except (KeyError, TypeError, ValueError) as error:
        raise ValueError(f"job {job.id}: a reference image is missing from the record") from error
    return attrs.evolve(job, request=attrs.evolve(job.request, refs=refs))


__all__ = [
    "DERIVED_FIELDS",
    "FINISHED",
    "FORMAT_VERSION",
    "JOB_STATES",
    "JSON_FORM_CLASSES",
    "OMITTED_FIELDS",
    "Job",
    "JobState",
    "Problem",
    "Take",
    "TakeImage",
    "TakeState",
    "job_from_dict",
    "job_from_record",
    "job_to_dict",
    "job_to_record",
    "json_form_fields",
    "new_job",
    "new_job_id",
]
