"""The Images API wire format: what imagen sends and how it reads the answer.

    POST {base_url}/images/generations   (JSON)        Authorization: Bearer <key>
    {"model": "gpt-image-2", "prompt": "...", "n": 1, "size": "1024x1024", "quality": "medium",
     "output_format": "png", "stream": true, "partial_images": 2}
    POST {base_url}/images/edits         (multipart: the same fields, references as image[])

    200 {"created": 1760000000, "data": [{"b64_json": "...", "revised_prompt": "..."}],
         "usage": {"input_tokens": 50, "input_tokens_details": {"text_tokens": 50,
                   "image_tokens": 0}, "output_tokens": 1056, "total_tokens": 1106}}

Azure OpenAI takes the same bodies at ``/openai/deployments/{name}/images/...?api-version=``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any
from urllib.parse import quote

import attrs

from imagen.models import Ref, Request
from imagen_openai.families import MAX_REFS
from imagen_openai.settings import OpenAISettings

REF_MEDIA_TYPES = ("image/png", "image/jpeg", "image/webp")
#: The Images API takes reference images of less than 50 MB each.
MAX_REF_BYTES = 50 * 1024 * 1024
_TEXT_OPTIONS = ("quality", "output_format", "background", "moderation")


@attrs.frozen
class Options:
    """The settings with the request's ``--opt`` values applied, checked."""

    quality: str
    output_format: str
    background: str | None
    moderation: str | None
    output_compression: int | None
    partial_images: int
    batch: bool


def options_for(settings: OpenAISettings, request: Request) -> Options:
    """``--opt quality=high`` and friends over the block's values; ValueError naming a bad one."""
    given, chosen = request.options, attrs.asdict(settings)
    for name in _TEXT_OPTIONS:
        if name in given:
            chosen[name] = _typed(name, given[name], str)
    for name, low, high in (("output_compression", 0, 100), ("partial_images", 0, 3)):
        if name in given:
            value = _typed(name, given[name], int)
            if not low <= value <= high:
                raise ValueError(f"--opt {name}={value}: expected {low} to {high}")
            chosen[name] = value
    if "batch" in given:
        chosen["batch"] = _typed("batch", given["batch"], bool)
    return Options(**{field.name: chosen[field.name] for field in attrs.fields(Options)})


def _typed(name: str, value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise ValueError(f"--opt {name}: expected {kind.__name__}, got {value!r}"[:120])
    return value


def refs_problem(refs: Sequence[Ref]) -> str | None:
    """Why the API would refuse these references (checked before anything is spent), or None."""
    if len(refs) > MAX_REFS:
        return f"{len(refs)} reference images given; OpenAI takes at most {MAX_REFS}"
    for ref in refs:
        if ref.media_type not in REF_MEDIA_TYPES:
            return f"{ref.path} is {ref.media_type}; OpenAI takes {', '.join(REF_MEDIA_TYPES)}"
        if len(ref.data) >= MAX_REF_BYTES:
            return f"{ref.path} is 50 MB or more; OpenAI takes images of less than 50 MB"
    return None


def path_for(settings: OpenAISettings, endpoint: str) -> str:
    """``/images/generations`` on OpenAI; the deployment's path with ``api-version`` on Azure."""
    if settings.azure_deployment is None:
        return f"/images/{endpoint}"
    deployment = quote(settings.azure_deployment, safe="")
    version = quote(settings.api_version, safe="")
    return f"/openai/deployments/{deployment}/images/{endpoint}?api-version={version}"


def body(model: str, prompt: str, size: str, options: Options, n: int) -> dict[str, Any]:
    """The JSON body of a generation (also the form fields of an edit)."""
    fields: dict[str, Any] = {
        "model": model,
        "prompt": prompt,
        "n": n,
        "size": size,
        "quality": options.quality,
        "output_format": options.output_format,
    }
    for name in ("background", "moderation", "output_compression"):
        if getattr(options, name) is not None:
            fields[name] = getattr(options, name)
    if options.partial_images:
        fields.update(stream=True, partial_images=options.partial_images)
    return fields


def multipart(fields: Mapping[str, Any], refs: Sequence[Ref]) -> dict[str, Any]:
    """``data`` and ``files`` for an edit: every field as text, references as ``image[]``."""
    data = {
        name: str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in fields.items()
    }
    files = [
        ("image[]", (f"ref-{index}.{ref.media_type.split('/')[1]}", ref.data, ref.media_type))
        for index, ref in enumerate(refs, 1)
    ]
    return {"data": data, "files": files}


@attrs.frozen
class Answer:
    """One answer read leniently: base64 images or URLs (compatible servers), and usage."""

    images: tuple[str, ...] = ()
    urls: tuple[str, ...] = ()
    revised_prompts: tuple[str, ...] = ()
    usage: Mapping[str, Any] | None = None


def read_answer(payload: Any) -> Answer:
    """ValueError when ``payload`` is not an Images API answer."""
    if not isinstance(payload, Mapping) or not isinstance(payload.get("data"), list):
        raise ValueError("the answer has no data list")
    items = [item for item in payload["data"] if isinstance(item, Mapping)]
    usage = payload.get("usage")
    return Answer(
        images=tuple(i["b64_json"] for i in items if isinstance(i.get("b64_json"), str)),
        urls=tuple(
            i["url"]
            for i in items
            if isinstance(i.get("url"), str) and not isinstance(i.get("b64_json"), str)
        ),
        revised_prompts=tuple(
            i["revised_prompt"] for i in items if isinstance(i.get("revised_prompt"), str)
        ),
        usage=usage if isinstance(usage, Mapping) else None,
    )
