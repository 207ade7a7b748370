"""The HTTP routes (``/v1``) and the page (``/``): each handler parses its input and calls one
``Studio`` method. Errors are raised as ``ApiProblem`` and answered by ``problems.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from litestar import MediaType, Request, Response, get, post
from litestar.enums import RequestEncodingType
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Body, Parameter
from litestar.response import File

from imagen.jobs.model import Job, JobState, job_to_dict
from imagen_studio.images import IMMUTABLE
from imagen_studio.problems import PROBLEM_JSON
from imagen_studio.schemas import (
    BackendList,
    Estimate,
    Health,
    HistoryList,
    JobAccepted,
    JobList,
    JobRequest,
    PickRequest,
    ProblemBody,
    StyleList,
    UploadForm,
    UploadList,
)
from imagen_studio.service import MAX_WAIT, Studio, label, money
from imagen_studio.uploads import MAX_UPLOAD_BYTES

#: the multipart envelope around the file(s) (boundaries, part headers)
_MULTIPART_SLACK = 64 * 1024


def _problems(*codes: int) -> dict[int, ResponseSpec]:
    """OpenAPI entries for the problem answers a route gives (plus 401/403 from the guard)."""
    return {
        code: ResponseSpec(data_container=ProblemBody, media_type=PROBLEM_JSON, description="")
        for code in sorted({400, 401, 403, *codes})
    }


def _job_answer(*codes: int) -> dict[int, ResponseSpec]:
    """A route answering with one job: its JSON form, documented from the core's Job class."""
    job = ResponseSpec(Job, generate_examples=False, description="The job in its JSON form")
    return {**_problems(*codes), 200: job}


def _job(studio: Studio, job: Job) -> Response[bytes]:
    # job_to_dict, not Litestar's own encoding of the attrs class: the one JSON form
    return Response(studio.job_body(job), status_code=200, media_type=MediaType.JSON)


@get("/v1/health", sync_to_thread=False, tags=["server"])
def health(studio: Studio) -> Health:
    """Whether the server answers, its version and queue type."""
    from imagen import __version__

    return Health("ok", __version__, studio.config.queue.type, studio.runs_jobs)


@post("/v1/estimate", status_code=200, tags=["jobs"], responses=_problems(422, 503))
async def estimate(studio: Studio, data: JobRequest) -> Estimate:
    """What a job would run and cost. Free: nothing is generated or spent."""
    return await studio.estimate(data)


@post("/v1/jobs", status_code=202, tags=["jobs"], responses=_problems(422, 503))
async def submit_job(studio: Studio, data: JobRequest) -> Response[JobAccepted]:
    """Queue a job (validated and estimated first); follow it at ``GET /v1/jobs/{id}``."""
    job = await studio.submit(data)
    body = JobAccepted(
        job.id, money(job.cost_estimate), label(job.cost_estimate), job.takes_total, job.version
    )
    return Response(body, status_code=202, headers={"Location": f"/v1/jobs/{job.id}"})


@get(
    "/v1/jobs",
    tags=["jobs"],
    responses={
        **_problems(422),
        200: ResponseSpec(JobList, generate_examples=False, description="Jobs in their JSON form"),
    },
)
async def list_jobs(
    studio: Studio,
    states: Annotated[
        list[JobState] | None, Parameter(query="state", description="only jobs in these states")
    ] = None,
    backend: str | None = None,
    text: Annotated[str | None, Parameter(description="prompt contains this text")] = None,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 50,
) -> Response[dict[str, Any]]:
    """Recent jobs, newest first."""
    jobs = await studio.jobs(list(states or ()), backend, text, limit)
    return Response({"jobs": [job_to_dict(job) for job in jobs]})


@get("/v1/jobs/{job_id:str}", tags=["jobs"], responses=_job_answer(404, 409, 422))
async def get_job(
    studio: Studio,
    job_id: str,
    wait: Annotated[
        float, Parameter(ge=0, le=MAX_WAIT, description="long-poll up to this many seconds")
    ] = 0,
    version: Annotated[
        int | None,
        Parameter(description="with wait: answer once the job's version differs from this one"),
    ] = None,
) -> Response[bytes]:
    """The job in its JSON form; with ``wait``, once it changed from ``version`` (long poll)."""
    return _job(studio, await studio.get(job_id, wait=wait, version=version))


@post("/v1/jobs/{job_id:str}/cancel", status_code=200, tags=["jobs"], responses=_job_answer(404))
async def cancel_job(studio: Studio, job_id: str) -> Response[bytes]:
    """Cancel: a queued job never starts, a running one stops; finished takes stay."""
    return _job(studio, await studio.cancel(job_id))


@post(
    "/v1/jobs/{job_id:str}/pick",
    status_code=200,
    tags=["jobs"],
    responses=_job_answer(404, 409, 422),
)
async def pick_take(studio: Studio, job_id: str, data: PickRequest) -> Response[bytes]:
    """Pick a done take: recorded in the job, the history and the take's sidecar."""
    return _job(studio, await studio.pick(job_id, data.take))


@get("/v1/backends", tags=["catalogue"])
async def backends(studio: Studio) -> BackendList:
    """Every backend instance with its status (why it cannot run) and price per image."""
    return BackendList(await studio.backends(), studio.config.server.takes)


@get("/v1/styles", sync_to_thread=False, tags=["catalogue"])
def styles(studio: Studio) -> StyleList:
    """The style presets (built in, from plugins and from config)."""
    return StyleList(studio.styles())


@post(
    "/v1/uploads",
    status_code=201,
    tags=["images"],
    request_max_body_size=MAX_UPLOAD_BYTES + _MULTIPART_SLACK,
    responses=_problems(413, 415, 422),
)
async def upload(
    studio: Studio,
    data: Annotated[UploadForm, Body(media_type=RequestEncodingType.MULTI_PART)],
) -> UploadList:
    """Store a reference image (PNG, JPEG, WebP, GIF); use its id in a job's ``refs``."""
    import asyncio

    content = await data.file.read()
    stored = await asyncio.to_thread(studio.uploads.save, content, data.file.filename)
    return UploadList([stored])


@get("/v1/images/{image_id:str}", tags=["images"], responses=_problems(404, 422))
async def image(
    studio: Studio,
    request: Request[Any, Any, Any],
    image_id: str,
    thumb: Annotated[
        int | None, Parameter(ge=16, le=2048, description="longest side of a WebP thumbnail")
    ] = None,
) -> Response[Any]:
    """A take's image by id (immutable; ETag), or a cached thumbnail of it."""
    if thumb is None:
        known = await studio.images.file(image_id)
        path, media_type, etag = known.path, known.media_type, f'"{image_id}"'
    else:
        path = await studio.images.thumbnail(image_id, thumb)
        media_type, etag = "image/webp", f'"{image_id}-{thumb}"'
    headers = {"ETag": etag, "Cache-Control": IMMUTABLE}
    if etag in request.headers.get("if-none-match", ""):
        return Response(b"", status_code=304, headers=headers)
    import os

    return File(
        path,
        filename=os.path.basename(path),
        media_type=media_type,
        headers=headers,
        content_disposition_type="inline",
    )


@get("/v1/history", tags=["images"], responses=_problems(422, 503))
async def history(
    studio: Studio,
    text: Annotated[str | None, Parameter(description="prompt contains this text")] = None,
    limit: Annotated[int, Parameter(ge=1, le=500)] = 60,
) -> HistoryList:
    """Past takes from the history, newest first (text search on the prompt)."""
    return HistoryList(await studio.history(text, limit))


@get("/openapi.json", include_in_schema=False, sync_to_thread=False)
def openapi_document(request: Request[Any, Any, Any]) -> Response[dict[str, Any]]:
    """The OpenAPI document, generated from the attrs types above."""
    schema: dict[str, Any] = request.app.openapi_schema.to_schema()
    return Response(schema, media_type="application/vnd.oai.openapi+json")


@get("/", media_type=MediaType.HTML, include_in_schema=False, sync_to_thread=False)
def page() -> str:
    """The studio page."""
    from importlib.resources import files

    return files("imagen_studio").joinpath("static", "index.html").read_text(encoding="utf-8")


ROUTES = [
    health,
    estimate,
    submit_job,
    list_jobs,
    get_job,
    cancel_job,
    pick_take,
    backends,
    styles,
    upload,
    image,
    history,
    openapi_document,
    page,
]

__all__ = ["ROUTES"]
