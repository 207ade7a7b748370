"""The cache: with explicit seeds, an identical request on the same backend identity returns the
files it already produced (no new spend), as long as they still exist unchanged.

The request side is ``Request.fingerprint()`` (prompt after style, negative, size, steps, seed,
refs' sha256, options). The backend side is its *identity*: the type plus the fields of its
block that change the output. Fields that only change how we talk to the provider (``*_env``
names, timeouts, ``latency`` and failure modes of the mock) are left out; a plugin marks more
with ``attrs.field(metadata={"imagen_identity": False})``.
"""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import attrs

from imagen.config.model import Instance
from imagen.models import Cost, Generation, Request

NOT_IDENTITY = frozenset({"timeout", "latency", "fail", "poll_interval", "base_url", "url"})


def backend_identity(instance: Instance) -> str:
    """A short hash of the backend type and the settings that change its output."""
    from imagen.config.convert import unstructure

    settings = unstructure(instance.settings) if attrs.has(type(instance.settings)) else {}
    excluded = set(NOT_IDENTITY)
    if attrs.has(type(instance.settings)):
        excluded |= {
            field.name
            for field in attrs.fields(type(instance.settings))
            if field.metadata.get("imagen_identity") is False
        }
    kept = {k: v for k, v in settings.items() if not k.endswith("_env") and k not in excluded}
    text = json.dumps({"type": instance.type, "settings": kept}, sort_keys=True, default=str)
    return f"{instance.type}:{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def file_sha256(path: str) -> str | None:
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return None
    return digest.hexdigest()


def lookup(
    history: Any,
    identity: str,
    request: Request,
    take: int,
    takes: int,
    output_dir: str | None = None,
) -> Generation | None:
    """An earlier take of exactly this request whose file is still there and unchanged.

    Only takes whose backend reported the seed they used count: a provider that ignores seeds
    (``seed: None``) gives a new image every time. A take already in ``output_dir`` is preferred
    to one elsewhere (which the pipeline copies into the asked folder).
    """
    entries = [
        e
        for e in history.find_cached(identity, request.fingerprint(), output_dir=output_dir)
        if e.seed is not None
    ]
    entries.sort(key=lambda entry: entry.output_dir != output_dir)
    for entry in entries:
        unchanged = entry.file_unchanged()
        if unchanged is None:
            continue  # the file is gone
        # An untouched file (same size, mtime, ctime, inode) still has the sha256 it was
        # written with; anything else is hashed again before it is trusted.
        if not unchanged and file_sha256(entry.absolute_path()) != entry.sha256:
            continue
        sidecar = entry.sidecar_path
        if sidecar and not os.path.exists(os.path.join(entry.output_dir, *sidecar.split("/"))):
            sidecar = None
        return Generation(
            request=request,
            backend=entry.backend,
            backend_type=entry.backend_type,
            model=entry.model,
            seed=entry.seed,
            path=entry.path,
            output_dir=entry.output_dir,
            sha256=entry.sha256,
            media_type=entry.media_type,
            width=entry.width,
            height=entry.height,
            size_bytes=entry.size_bytes,
            latency=0.0,
            created_at=entry.created_at,
            take=take,
            takes=takes,
            sidecar_path=sidecar,
            cost_estimate=Cost.free("cache hit: no new spend"),
            cost_actual=Cost.free("cache hit: no new spend"),
            cache_hit=True,
            metadata={**entry.metadata, "cached_from": entry.id},
            style=entry.style,
        )
    return None
