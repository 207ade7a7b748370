"""Asking plugins for naming and sidecar fields, with a broken plugin reported, not fatal."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from imagen.models import Generation, Request


def sample_generation() -> Generation:
    """A stand-in take, used to learn which naming fields plugins add before any run."""
    return Generation(
        request=Request(prompt="sample", seed=1),
        backend="sample",
        backend_type="sample",
        model="sample",
        seed=1,
        path="sample.png",
        output_dir=".",
        sha256="0" * 64,
        media_type="image/png",
        width=1,
        height=1,
        size_bytes=0,
        latency=0.0,
        created_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC),
    )


def plugin_naming_fields(generation: Generation) -> dict[str, Any]:
    from imagen.plugins import call_each

    fields: dict[str, Any] = {}
    for _, value in call_each("naming_fields", lambda function: function(generation=generation)):
        if isinstance(value, Mapping):
            fields.update({str(k): v for k, v in value.items() if isinstance(v, str | int)})
    return fields


def plugin_sidecar_fields(generation: Generation) -> dict[str, Mapping[str, Any]]:
    from imagen.plugins import call_each

    return {
        plugin: dict(value)
        for plugin, value in call_each(
            "sidecar_fields", lambda function: function(generation=generation)
        )
        if isinstance(value, Mapping) and value
    }
