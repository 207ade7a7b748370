"""Shared fixtures: a fake ComfyUI on a real loopback socket, and a way to run the backend."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imagen.models import Progress, Request, Result
from imagen.testing.servers import serve_app
from imagen_comfyui.backend import ComfyUIBackend
from imagen_comfyui.fake import FakeComfyUI
from imagen_comfyui.settings import ComfyUISettings

Generate = Callable[..., Result]


@pytest.fixture
def fake() -> FakeComfyUI:
    return FakeComfyUI(run_time=0.05)


@pytest.fixture
def url(fake: FakeComfyUI) -> Iterator[str]:
    with serve_app(fake.app()) as base:
        yield base


def backend_for(url: str, **settings: Any) -> ComfyUIBackend:
    return ComfyUIBackend("local", ComfyUISettings(url=url, **settings))


def run_generate(
    backend: ComfyUIBackend, request: Request, progress: Progress | None = None
) -> Result:
    async def main() -> Result:
        try:
            return await backend.generate(request, progress or Progress())
        finally:
            await backend.aclose()

    return asyncio.run(main())


@pytest.fixture
def generate(url: str) -> Generate:
    """``generate(request, progress=None, **settings)`` against the fake server."""

    def run(request: Request, progress: Progress | None = None, **settings: Any) -> Result:
        return run_generate(backend_for(url, **settings), request, progress)

    return run


@pytest.fixture
def make_backend(url: str) -> Callable[..., ComfyUIBackend]:
    """``make_backend(**settings)``: a backend for the fake server (``url`` may be overridden)."""

    def make(**settings: Any) -> ComfyUIBackend:
        return backend_for(settings.pop("url", url), **settings)

    return make


@pytest.fixture
def run() -> Callable[..., Result]:
    """``run(backend, request, progress=None)``: generate in a fresh event loop, then aclose."""
    return run_generate
