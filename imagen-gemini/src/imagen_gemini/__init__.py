"""imagen plugin for Google Gemini image generation (hookimpls only; heavy parts load lazily)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    from imagen.plugins.registry import BackendRegister


@hookimpl
def register_backends(register: BackendRegister) -> None:
    from imagen_gemini.settings import SAMPLE, GeminiSettings

    # By name: the backend module loads only when an instance is built; `imagen backends`
    # asks the light info module for status and price instead.
    register(
        "gemini",
        "imagen_gemini.backend:GeminiBackend",
        GeminiSettings,
        sample=SAMPLE,
        concurrency=4,
        info="imagen_gemini.info:GeminiInfo",
    )
