"""The fake Images API on a loopback socket, and backends pointed at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imagen.testing.servers import serve_app
from imagen_openai.backend import OpenAIBackend
from imagen_openai.fake_server import FakeOpenAI
from imagen_openai.settings import OpenAISettings
from imagen_openai.testing import KEY, MakeBackend, no_wait


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
