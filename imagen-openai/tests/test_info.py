"""``imagen backends`` lists an openai instance from ``OpenAIInfo``: the backend's own answers,
without importing the backend module."""

from __future__ import annotations

import pytest

from imagen.models import Request
from imagen.plugins.registry import lazy_factory
from imagen_openai import register_backends
from imagen_openai.backend import OpenAIBackend
from imagen_openai.info import OpenAIInfo
from imagen_openai.settings import OpenAISettings

SETTINGS = [
    OpenAISettings(),
    OpenAISettings(model="gpt-image-1", quality="high", size="1536x1024"),
    OpenAISettings(model="gpt-image-1-mini", quality="low", size="auto"),
    OpenAISettings(model="gpt-image-1.5", quality="auto"),
    OpenAISettings(model="dall-e-9", api_key_env="MY_OPENAI_KEY"),
    OpenAISettings(
        base_url="https://example.openai.azure.com",
        azure_deployment="images",
        api_key_env="AZURE_OPENAI_API_KEY",
    ),
]
REQUESTS = [
    Request(prompt="price check"),
    Request(prompt="wide", aspect_ratio="16:9", count=3),
    Request(prompt="sized", width=1024, height=1536),
    Request(prompt="odd", aspect_ratio="wide"),
]


def test_the_type_registers_its_info_by_name() -> None:
    seen = []
    register_backends(lambda *args, **options: seen.append(options))
    (options,) = seen
    assert options["info"] == "imagen_openai.info:OpenAIInfo"
    assert isinstance(lazy_factory(options["info"])("o", OpenAISettings()), OpenAIInfo)


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("key_set", [False, True])
def test_info_answers_as_the_backend_does(
    settings: OpenAISettings, key_set: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.api_key_env, raising=False)
    if key_set:
        monkeypatch.setenv(settings.api_key_env, "sk-test")
    info, backend = OpenAIInfo("o", settings), OpenAIBackend("o", settings)
    assert info.status() == backend.status()
    for request in REQUESTS:
        assert info.estimate_cost(request) == backend.estimate_cost(request)
