"""Calling the per-take hooks (naming fields, sidecar fields, post_generate) safely.

A broken plugin is reported as one line and skipped; it never stops a generation.
"""

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
    from imagen.plugins.loader import call_each

    fields: dict[str, Any] = {}
    for _, value in call_each("naming_fields", lambda function: function(generation=generation)):
        if isinstance(value, Mapping):
            fields.update({str(k): v for k, v in value.items() if isinstance(v, str | int)})
    return fields


def plugin_sidecar_fields(generation: Generation) -> dict[str, Mapping[str, Any]]:
    from imagen.plugins.loader import call_each

    return {
        plugin: dict(value)
        for plugin, value in call_each(
            "sidecar_fields", lambda function: function(generation=generation)
        )
        if isinstance(value, Mapping) and value
    }


async def post_generate(generation: Generation) -> list[tuple[str, str]]:
    """Call every ``post_generate`` hookimpl; await what they return.

    A raising hookimpl is reported like a failing sink (``imagen: <plugin>: <error>``) and
    returned as ``(plugin, message)``; it never stops the others or loses a file.
    """
    import inspect

    from imagen import console
    from imagen.plugins.loader import manager, plugin_name

    failures: list[tuple[str, str]] = []
    for impl in manager().hook.post_generate.get_hookimpls():
        name = plugin_name(impl.plugin)
        try:
            value = impl.function(generation=generation)
            if inspect.isawaitable(value):
                await value
        except Exception as error:
            message = f"{type(error).__name__}: {error}"
            console.note(f"{name}: post_generate failed: {message}")
            failures.append((name, message))
    return failures
