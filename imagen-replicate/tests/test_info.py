"""``imagen backends`` lists a replicate instance from ``ReplicateInfo``: the backend's own
answers, without importing the backend module."""

from __future__ import annotations

import pytest

from imagen.models import Request
from imagen.plugins.registry import lazy_factory
from imagen_replicate import register_backends
from imagen_replicate.backend import ReplicateBackend
from imagen_replicate.info import ReplicateInfo
from imagen_replicate.settings import ReplicateSettings

SETTINGS = [
    ReplicateSettings(model="black-forest-labs/flux-schnell"),
    ReplicateSettings(model="black-forest-labs/flux-dev", api_token_env="MY_REPLICATE_TOKEN"),
    ReplicateSettings(model="black-forest-labs/flux-1.1-pro"),
    ReplicateSettings(model="someone/unknown-model:" + "0" * 64),
]
REQUESTS = [
    Request(prompt="price check"),
    Request(prompt="wide", aspect_ratio="16:9", count=3, seed=4),
]


def test_the_type_registers_its_info_by_name() -> None:
    seen = []
    register_backends(lambda *args, **options: seen.append(options))
    (options,) = seen
    assert options["info"] == "imagen_replicate.info:ReplicateInfo"
    settings = ReplicateSettings(model="black-forest-labs/flux-schnell")
    assert isinstance(lazy_factory(options["info"])("r", settings), ReplicateInfo)


@pytest.mark.parametrize("settings", SETTINGS)
@pytest.mark.parametrize("token_set", [False, True])
def test_info_answers_as_the_backend_does(
    settings: ReplicateSettings, token_set: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(settings.api_token_env, raising=False)
    if token_set:
        monkeypatch.setenv(settings.api_token_env, "r8_test")
    info, backend = ReplicateInfo("r", settings), ReplicateBackend("r", settings)
    assert info.status() == backend.status()
    for request in REQUESTS:
        assert info.estimate_cost(request) == backend.estimate_cost(request)
