"""imagen: model-agnostic image generation.

    import asyncio
    from imagen import Request, generate

    outcome = asyncio.run(generate(Request(prompt="a cat in a fishbowl", seed=1)))
    print([g.path for g in outcome.generations])

Names are imported on first use, so that ``import imagen`` (and ``imagen --help``) stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from imagen._version import __version__

if TYPE_CHECKING:
    from imagen.backend import Backend
    from imagen.config.load import load_config
    from imagen.config.model import Config
    from imagen.errors import (
        AuthError,
        BackendError,
        BackendTimeout,
        BackendUnavailable,
        ConfigError,
        ContentBlocked,
        ImagenError,
        InvalidRequest,
        NotConfigured,
        OutputError,
        QuotaExceeded,
        RateLimited,
        SinkError,
    )
    from imagen.jobs.model import Job, Take
    from imagen.jobs.queue import JobQuery, Queue, open_queue
    from imagen.models import Cost, Generation, Image, Progress, Ref, Request, Result, Status
    from imagen.pipeline import Outcome, Plan, execute, generate, open_backend, prepare
    from imagen.plugins.hookspecs import hookimpl
    from imagen.sinks.protocol import Delivery, Sink

_EXPORTS = {
    "Backend": "imagen.backend",
    "Config": "imagen.config",
    "load_config": "imagen.config",
    "hookimpl": "imagen.plugins.hookspecs",
    **dict.fromkeys(["Job", "Take"], "imagen.jobs.model"),
    **dict.fromkeys(["JobQuery", "Queue", "open_queue"], "imagen.jobs.queue"),
    "Delivery": "imagen.sinks.protocol",
    "Sink": "imagen.sinks.protocol",
    **dict.fromkeys(
        ["Cost", "Generation", "Image", "Progress", "Ref", "Request", "Result", "Status"],
        "imagen.models",
    ),
    **dict.fromkeys(
        ["Outcome", "Plan", "execute", "generate", "open_backend", "prepare"], "imagen.pipeline"
    ),
    **dict.fromkeys(
        [
            "AuthError",
            "BackendError",
            "BackendTimeout",
            "BackendUnavailable",
            "ConfigError",
            "ContentBlocked",
            "ImagenError",
            "InvalidRequest",
            "NotConfigured",
            "OutputError",
            "QuotaExceeded",
            "RateLimited",
            "SinkError",
        ],
        "imagen.errors",
    ),
}

__all__ = [
    "AuthError",
    "Backend",
    "BackendError",
    "BackendTimeout",
    "BackendUnavailable",
    "Config",
    "ConfigError",
    "ContentBlocked",
    "Cost",
    "Delivery",
    "Generation",
    "Image",
    "ImagenError",
    "InvalidRequest",
    "Job",
    "JobQuery",
    "NotConfigured",
    "Outcome",
    "OutputError",
    "Plan",
    "Progress",
    "Queue",
    "QuotaExceeded",
    "RateLimited",
    "Ref",
    "Request",
    "Result",
    "Sink",
    "SinkError",
    "Status",
    "Take",
    "__version__",
    "execute",
    "generate",
    "hookimpl",
    "load_config",
    "open_backend",
    "open_queue",
    "prepare",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'imagen' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
