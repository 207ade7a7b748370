"""The fake Images API on a loopback socket, and backends pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from imagen.models import Progress, Request, Result
from imagen.testing.servers import serve_app
from imagen_openai.backend import OpenAIBackend
from imagen_openai.fake_server import FakeOpenAI
from imagen_openai.settings import OpenAISettings

KEY = "sk-proj-fakeKeyForTheLoopbackServer0123456789abcdef"

MakeBackend = Callable[..., OpenAIBackend]


async def no_wait(seconds: float) -> None:
    """Retry waits recorded by nobody: tests never wait on time."""


@pytest.fixture
def fake(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeOpenAI]:
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    server = FakeOpenAI(key=KEY)
    with serve_app(server.app()) as url:
        server.url = url  # type: ignore[attr-defined]
        yield server


@pytest.fixture
def make_backend(fake: FakeOpenAI) -> MakeBackend:
    def make(**settings: Any) -> OpenAIBackend:
        settings.setdefault("base_url", f"{fake.url}/v1")  # type: ignore[attr-defined]
        return OpenAIBackend("openai-test", OpenAISettings(**settings), sleep=no_wait)

    return make


def generate(backend: OpenAIBackend, request: Request, progress: Progress | None = None) -> Result:
    """One generation in its own event loop, the backend closed after."""

    async def main() -> Result:
        try:
            return await backend.generate(request, progress or Progress())
        finally:
            await backend.aclose()

    return asyncio.run(main())
