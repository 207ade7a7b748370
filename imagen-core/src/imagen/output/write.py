"""Writing one take: name it, embed metadata, write image and sidecar atomically, as a pair."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Sequence

import attrs

from imagen.config.model import Config, Instance
from imagen.models import Cost, Generation, Image, Request, Result

EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


@attrs.frozen
class Take:
    """Where one take goes and what it is: everything ``write_image`` needs besides the image."""

    config: Config
    instance: Instance
    output_dir: str
    user_prompt: str
    style: str | None
    number: int
    takes: int
    started_at: dt.datetime
    caller: str | None
    cost_estimate: Cost | None


def write_image(
    take: Take,
    request: Request,
    result: Result,
    image: Image,
    cost_actual: Cost | None,
    warnings: Sequence[str] = (),
) -> Generation:
    """Write ``image`` and its sidecar; return the Generation record with their paths."""
    from imagen.output import files as output
    from imagen.output import naming, sidecar
    from imagen.plugins.hookcalls import plugin_naming_fields, plugin_sidecar_fields

    settings = take.config.output
    # The seed the backend reports; a backend that ignores seeds (Gemini) reports None, and
    # recording the seed we asked for would claim a reproducibility that does not exist.
    generation = Generation(
        request=request,
        backend=take.instance.name,
        backend_type=take.instance.type,
        model=result.model,
        seed=image.seed,
        path="",
        output_dir=take.output_dir,
        sha256="",
        media_type=image.media_type,
        width=image.width,
        height=image.height,
        size_bytes=len(image.data),
        latency=result.latency,
        created_at=dt.datetime.now().astimezone(),
        take=take.number,
        takes=take.takes,
        cost_estimate=take.cost_estimate,
        cost_actual=cost_actual,
        caller=take.caller,
        metadata=result.metadata,
        warnings=tuple(warnings),
        user_prompt=take.user_prompt,
        style=take.style,
    )
    plugin_fields = plugin_sidecar_fields(generation)
    generation = attrs.evolve(generation, plugin_fields=plugin_fields)
    data = image.data
    if settings.embed_metadata and image.media_type == "image/png":
        data = embed_metadata(generation, data)
    generation = attrs.evolve(
        generation, sha256=hashlib.sha256(data).hexdigest(), size_bytes=len(data)
    )

    fields = naming.build_fields(
        prompt=take.user_prompt,
        seed=image.seed,
        n=take.number,
        count=take.takes,
        backend=take.instance.name,
        model=result.model,
        style=take.style or "",
        request_hash=request.fingerprint()[:8],
        width=image.width,
        height=image.height,
        when=take.started_at,
        extra=plugin_naming_fields(generation),
    )
    relpath = naming.NamingTemplate.parse(settings.naming, list(fields)).render(fields)
    sidecar_bytes = None
    if settings.write_metadata_json:
        sidecar_bytes = sidecar.sidecar_bytes(
            sidecar.sidecar_data(generation, plugin_fields=plugin_fields)
        )
    image_path, sidecar_path = output.write_take(
        take.output_dir, relpath, EXTENSIONS.get(image.media_type, "bin"), data, sidecar_bytes
    )
    return attrs.evolve(generation, path=image_path, sidecar_path=sidecar_path)


def embed_metadata(generation: Generation, png: bytes) -> bytes:
    """The PNG with imagen's metadata (iTXt) and an A1111 ``parameters`` chunk inserted."""
    from imagen.output import pngmeta, sidecar

    data = sidecar.sidecar_data(
        generation, plugin_fields=generation.plugin_fields, include_sha256=False
    )
    request = generation.request
    parameters = pngmeta.a1111_parameters(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        steps=request.steps,
        seed=generation.seed,
        width=generation.width,
        height=generation.height,
        model=generation.model,
    )
    try:
        return pngmeta.embed(
            png,
            itxt={"imagen": json.dumps(data, ensure_ascii=False, default=str)},
            text={"parameters": parameters},
        )
    except ValueError:
        # Not a well-formed PNG after all: keep the provider's bytes untouched.
        return png


def absolute_path(generation: Generation) -> str:
    return os.path.join(generation.output_dir, *generation.path.split("/"))
