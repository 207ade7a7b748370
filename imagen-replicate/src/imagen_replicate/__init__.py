"""imagen plugin for Replicate: hosted FLUX and other image models over Replicate's HTTP API.

Hookimpls only; the backend, its settings and httpx load inside the hook body, so installing
this plugin does not slow ``imagen --help``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    from imagen.plugins.registry import BackendRegister


@hookimpl
def register_backends(register: BackendRegister) -> None:
    from imagen_replicate.settings import SAMPLE, ReplicateSettings

    # By name: the backend module (and httpx) load only when an instance is built;
    # `imagen backends` asks the light info module for status and price instead.
    register(
        "replicate",
        "imagen_replicate.backend:ReplicateBackend",
        ReplicateSettings,
        sample=SAMPLE,
        concurrency=4,
        info="imagen_replicate.info:ReplicateInfo",
    )
