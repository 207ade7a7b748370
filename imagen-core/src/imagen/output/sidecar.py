"""The JSON sidecar written next to each image (SPEC 3.3), and embedded in PNGs.

The sidecar is built only from the :class:`~imagen.models.Generation` record, which holds no
credentials, so no secret can reach it. Plugins add fields under ``plugins.<name>``.
"""

from __future__ import annotations

import base64
import contextlib
import datetime as dt
import json
import math
from collections.abc import Mapping
from decimal import Decimal
from pathlib import PurePath

from imagen._version import __version__
from imagen.models import Cost, Generation

SCHEMA_VERSION = 1


def sidecar_data(
    generation: Generation,
    *,
    plugin_fields: Mapping[str, Mapping[str, object]] | None = None,
    include_sha256: bool = True,
) -> dict[str, object]:
    """The sidecar of one take as plain JSON-ready data.

    ``include_sha256=False`` leaves out the image hash, for the copy embedded in the image
    itself (which cannot contain its own hash).
    """
    request = generation.request
    data: dict[str, object] = {
        "schema_version": SCHEMA_VERSION,
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "style": request.style,
        "backend": generation.backend,
        "backend_type": generation.backend_type,
        "model": generation.model,
        "seed": generation.seed,
        "width": generation.width,
        "height": generation.height,
        "steps": request.steps,
        "aspect_ratio": request.aspect_ratio,
        "options": jsonable(request.options),
        "refs": [{"path": ref.path, "sha256": ref.sha256} for ref in request.refs],
        "latency_s": round(generation.latency, 3),
        "cost_estimate": _cost(generation.cost_estimate),
        "cost_actual": _cost(generation.cost_actual),
        "sha256": generation.sha256,
        "media_type": generation.media_type,
        "take": generation.take,
        "takes": generation.takes,
        "caller": generation.caller,
        "cache_hit": generation.cache_hit,
        "imagen_version": __version__,
        "created_at": _timestamp(generation.created_at),
        "metadata": jsonable(generation.metadata),
        "warnings": list(generation.warnings),
        "plugins": {name: jsonable(fields) for name, fields in (plugin_fields or {}).items()},
    }
    if not include_sha256:
        del data["sha256"]
    return data


def sidecar_bytes(data: Mapping[str, object]) -> bytes:
    """Pretty UTF-8 JSON with a trailing newline."""
    text = json.dumps(data, indent=2, ensure_ascii=False, allow_nan=False)
    try:
        return (text + "\n").encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (undecodable command-line bytes) have no UTF-8 form; escape them.
        return (json.dumps(data, indent=2, allow_nan=False) + "\n").encode("ascii")


def set_picked(path: str, picked: bool) -> None:
    """Record in the sidecar at ``path`` whether a person picked its take (``"picked"``).

    The file is replaced whole (written aside, then renamed), so a reader never sees half of
    it; its mode is kept. Raises OSError or ValueError (not a JSON object) to the caller.
    """
    import os

    with open(path, "rb") as file:
        data = json.loads(file.read())
    if not isinstance(data, dict):
        raise ValueError(f"{path} is not a sidecar (a JSON object)")
    if data.get("picked") is picked:
        return
    data["picked"] = picked
    mode = os.stat(path).st_mode & 0o777
    folder, name = os.path.split(path)
    partial = os.path.join(folder, f".{name}.{os.getpid()}.picked.tmp")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(sidecar_bytes(data))
            file.flush()
            os.fsync(file.fileno())
        os.replace(partial, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(partial)
        raise


def _cost(cost: Cost | None) -> dict[str, str] | None:
    if cost is None:
        return None
    return {cost.currency.lower(): str(cost.amount), "basis": cost.basis}


def _timestamp(when: dt.datetime) -> str:
    # A naive time is local time; give it its offset so the record is unambiguous.
    return (when if when.tzinfo is not None else when.astimezone()).isoformat()


def jsonable(value: object) -> object:
    """``value`` as plain JSON data: Decimal as text, dates as ISO 8601, bytes as base64."""
    if value is None or isinstance(value, str | bool | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, dt.datetime):
        return _timestamp(value)
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, Mapping):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = [jsonable(item) for item in value]
        return sorted(items, key=repr) if isinstance(value, set | frozenset) else items
    return str(value)


__all__ = ["SCHEMA_VERSION", "jsonable", "sidecar_bytes", "sidecar_data"]
