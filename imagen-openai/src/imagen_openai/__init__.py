"""imagen plugin for the OpenAI Images API (hookimpls only; heavy parts load lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    from imagen.plugins.registry import BackendRegister


@hookimpl
def register_backends(register: BackendRegister) -> None:
    from imagen_openai.settings import SAMPLE, OpenAISettings

    # By name: the backend module loads only when an instance is built; `imagen backends`
    # asks the light info module for status and price instead.
    register(
        "openai",
        "imagen_openai.backend:OpenAIBackend",
        OpenAISettings,
        sample=SAMPLE,
        concurrency=4,
        info="imagen_openai.info:OpenAIInfo",
    )
