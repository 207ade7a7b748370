"""``imagen backends`` lists a gemini instance from ``GeminiInfo``: the backend's own answers,
without importing the backend module."""

from __future__ import annotations

import pytest

from imagen.models import Request
from imagen.plugins.registry import lazy_factory
from imagen_gemini import register_backends
from imagen_gemini.backend import GeminiBackend
from imagen_gemini.info import GeminiInfo
from imagen_gemini.settings import GeminiSettings

SETTINGS = [
    GeminiSettings(),
    GeminiSettings(model="models/gemini-2.5-flash-image"),
    GeminiSettings(model="gemini-2.5-flash-image-preview", api_key_env="MY_GEMINI_KEY"),
    GeminiSettings(model="gemini-9-unknown"),
]
REQUESTS = [
    Request(prompt="price check"),
    Request(prompt="wide", aspect_ratio="16:9", count=3, seed=4),
]


def test_the_type_registers_its_info_by_name() -> None:
    seen = []
    register_backends(lambda *args, **options: seen.append(options))
    (options,) = seen
    assert options["info"] == "imagen_gemini.info:GeminiInfo"
    assert isinstance(lazy_factory(options["info"])("g", GeminiSettings()), GeminiInfo)


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("key_set", [False, True])
def test_info_answers_as_the_backend_does(
    settings: GeminiSettings, key_set: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.api_key_env, raising=False)
    if key_set:
        monkeypatch.setenv(settings.api_key_env, "test-key")
    info, backend = GeminiInfo("g", settings), GeminiBackend("g", settings)
    assert info.status() == backend.status()
    for request in REQUESTS:
        assert info.estimate_cost(request) == backend.estimate_cost(request)
