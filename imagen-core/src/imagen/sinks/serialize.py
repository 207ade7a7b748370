"""A Generation as plain JSON data and back: what the outbox stores and a webhook receives.

    data = generation_to_dict(generation)        # JSON-safe dict
    again = generation_from_dict(data)           # equal to generation, except ref bytes

Decimals are strings (money is never a float), datetimes ISO 8601 with their UTC offset, and
reference images keep their path, media type and sha256 but not their bytes (they come back as
``data=b""``). Free-form mappings (``options``, ``metadata``, plugin fields) go through
``sidecar.jsonable``, so they round-trip exactly when they hold JSON values.
"""

from __future__ import annotations

import datetime as dt
import json
import typing
from collections.abc import Mapping
from decimal import Decimal
from functools import cache
from typing import Any

import cattrs

from imagen.models import Generation, Ref

#: bumped when the shape changes incompatibly; readers ignore keys they do not know
FORMAT_VERSION = 1


def _is_mapping(kind: Any) -> bool:
    return typing.get_origin(kind) in (Mapping, dict) or kind in (Mapping, dict)


def _aware(moment: dt.datetime) -> dt.datetime:
    # A naive time is local time; give it its offset so the record is unambiguous.
    return moment if moment.tzinfo is not None else moment.astimezone()


@cache
def _converter() -> cattrs.Converter:
    from imagen.output.sidecar import jsonable

    conv = cattrs.Converter()
    conv.register_unstructure_hook(Decimal, str)
    conv.register_structure_hook(Decimal, lambda value, _: Decimal(value))
    conv.register_unstructure_hook(dt.datetime, lambda moment: _aware(moment).isoformat())
    conv.register_structure_hook(dt.datetime, lambda text, _: dt.datetime.fromisoformat(text))
    conv.register_unstructure_hook(
        Ref, lambda ref: {"path": ref.path, "media_type": ref.media_type, "sha256": ref.sha256}
    )
    conv.register_structure_hook(
        Ref, lambda data, _: Ref(data["path"], b"", data["media_type"], data["sha256"])
    )
    conv.register_unstructure_hook_func(_is_mapping, jsonable)
    conv.register_structure_hook_func(_is_mapping, lambda value, _: dict(value))
    return conv


def generation_to_dict(generation: Generation) -> dict[str, Any]:
    """``generation`` as JSON-safe data (with ``format_version``)."""
    data: dict[str, Any] = _converter().unstructure(generation)
    return {"format_version": FORMAT_VERSION, **data}


def generation_from_dict(data: Mapping[str, Any]) -> Generation:
    """The Generation that ``generation_to_dict`` produced ``data`` from (ref bytes empty).

    Raises ValueError when ``data`` is not such a dict.
    """
    fields = {key: value for key, value in data.items() if key != "format_version"}
    try:
        generation: Generation = _converter().structure(fields, Generation)
    except (cattrs.BaseValidationError, KeyError, TypeError, ValueError) as error:
        raise ValueError(f"not a serialized generation: {error}") from error
    return generation


def generation_json(generation: Generation) -> bytes:
    """Compact UTF-8 JSON of ``generation_to_dict`` (the exact bytes a webhook signs)."""
    data = generation_to_dict(generation)
    try:
        return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    except UnicodeEncodeError:
        # Lone surrogates (undecodable command-line bytes) have no UTF-8 form; escape them.
        return json.dumps(data, separators=(",", ":")).encode("ascii")


__all__ = ["FORMAT_VERSION", "generation_from_dict", "generation_json", "generation_to_dict"]
