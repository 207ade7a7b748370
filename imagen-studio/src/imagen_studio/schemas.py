"""The API's request and response bodies: plain frozen attrs classes.

Litestar reads the bodies into these and builds the OpenAPI document from them, so the
document and the code cannot disagree. A job itself travels in the one JSON form the core
defines (``imagen.jobs.model.job_to_dict``), the same the CLI's ``--json`` and MCP print; its
schema comes from the core's attrs classes (``Job``, ``Take``, ...) through ``JobFormSchema``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import attrs
from litestar.datastructures import UploadFile
from litestar.plugins import OpenAPISchemaPluginProtocol
from litestar.typing import FieldDefinition

from imagen.jobs.model import JSON_FORM_CLASSES, Job, json_form_fields

if TYPE_CHECKING:
    from litestar._openapi.schema_generation import SchemaCreator
    from litestar.openapi.spec import Schema

#: the most takes one job may ask for through the API (each may cost money)
MAX_TAKES = 16


@attrs.frozen
class JobRequest:
    """What to generate: the fields of ``imagen generate`` that a page or a program sets.

    ``takes`` defaults to ``server.takes``; ``size`` is ``WIDTHxHEIGHT`` and ``aspect`` is
    ``W:H`` (one or the other); ``refs`` are ids ``POST /v1/uploads`` returned.
    """

    prompt: str
    backend: str | None = None
    style: str | None = None
    takes: int | None = None
    size: str | None = None
    aspect: str | None = None
    seed: int | None = None
    negative: str | None = None
    steps: int | None = None
    refs: list[str] = attrs.field(factory=list)


@attrs.frozen
class Money:
    """An amount in US dollars as a decimal string (never a float), and how it was found."""

    usd: str
    basis: str


@attrs.frozen
class Estimate:
    """What a request would run and cost; nothing is spent to find out.

    ``cost_estimate`` is None when the backend has no price (set ``cost_per_image``);
    ``label`` is the estimate as the page shows it (``~$0.16``, ``free``, ``cost unknown``).
    """

    backend: str
    backend_type: str
    takes: int
    cost_estimate: Money | None
    cost_per_take: Money | None
    label: str
    style: str | None
    width: int | None
    height: int | None
    aspect_ratio: str | None
    seeded: bool
    seeds: list[int] | None
    cached_takes: list[int]


@attrs.frozen
class JobAccepted:
    """``POST /v1/jobs``: the new job's id and its estimate (follow it at ``GET /v1/jobs/{id}``)."""

    job_id: str
    cost_estimate: Money | None
    label: str
    takes: int
    version: int


@attrs.frozen
class JobList:
    """``GET /v1/jobs``: jobs newest first, each in the job JSON form."""

    jobs: list[Job]


class JobFormSchema(OpenAPISchemaPluginProtocol):
    """Documents the core's job classes as their JSON form, not as their Python fields.

    The form is cattrs' unstructuring of ``Job`` (every field written, money and times as
    strings) plus what ``job_to_dict`` derives (``takes_done``, a take's ``path`` ...) less a
    reference image's bytes: ``json_form_fields`` says which, and the core's tests hold
    ``job_to_dict`` to it.
    """

    @staticmethod
    def is_plugin_supported_type(value: Any) -> bool:
        return isinstance(value, type) and value in JSON_FORM_CLASSES

    def to_openapi_schema(
        self, field_definition: FieldDefinition, schema_creator: SchemaCreator
    ) -> Schema:
        fields = json_form_fields(field_definition.type_)
        return schema_creator.create_component_schema(
            field_definition,
            required=sorted(fields),
            property_fields={
                name: FieldDefinition.from_kwarg(kind, name) for name, kind in fields.items()
            },
        )


@attrs.frozen
class PickRequest:
    """Which take to pick (a done one, counting from 1)."""

    take: int


@attrs.frozen
class BackendInfo:
    """One backend instance: ``status`` says why it cannot run (``not configured (set X)``)."""

    name: str
    type: str
    ready: bool
    status: str
    price: str
    concurrency: int
    default: bool


@attrs.frozen
class BackendList:
    backends: list[BackendInfo]
    default_takes: int


@attrs.frozen
class StyleInfo:
    name: str
    description: str
    source: str


@attrs.frozen
class StyleList:
    styles: list[StyleInfo]


@attrs.define
class UploadForm:
    """``POST /v1/uploads``: one image file in the multipart field ``file``."""

    file: UploadFile


@attrs.frozen
class Upload:
    """A stored reference image: use ``id`` in a job's ``refs``."""

    id: str
    media_type: str
    width: int
    height: int
    size_bytes: int


@attrs.frozen
class UploadList:
    uploads: list[Upload]


@attrs.frozen
class HistoryItem:
    """One past take from the history; ``image`` is its URL on this server."""

    generation_id: str
    image: str
    prompt: str | None
    backend: str
    model: str
    style: str | None
    seed: int | None
    width: int
    height: int
    take: int
    takes: int
    cost_actual: str | None
    created_at: str
    picked: bool


@attrs.frozen
class HistoryList:
    items: list[HistoryItem]


@attrs.frozen
class Health:
    status: str
    version: str
    queue: str
    runs_jobs: bool


@attrs.frozen
class ProblemBody:
    """An error (RFC 9457, ``application/problem+json``); ``field`` names the bad input."""

    type: str
    title: str
    status: int
    detail: str
    field: str | None = None


__all__ = [
    "MAX_TAKES",
    "BackendInfo",
    "BackendList",
    "Estimate",
    "Health",
    "HistoryItem",
    "HistoryList",
    "JobAccepted",
    "JobFormSchema",
    "JobList",
    "JobRequest",
    "Money",
    "PickRequest",
    "ProblemBody",
    "StyleInfo",
    "StyleList",
    "Upload",
    "UploadList",
]
