"""``imagen backends`` lists a comfyui instance from ``ComfyUIInfo``: the backend's own
answers, without importing the backend module."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from imagen.models import Request
from imagen.plugins.registry import lazy_factory
from imagen_comfyui import register_backends
from imagen_comfyui.backend import ComfyUIBackend
from imagen_comfyui.info import ComfyUIInfo
from imagen_comfyui.settings import ComfyUISettings, Inject

REQUESTS = [
    Request(prompt="price check"),
    Request(prompt="wide", aspect_ratio="16:9", count=3, seed=4),
]


def settings_cases(folder: Path) -> list[ComfyUISettings]:
    own = folder / "own-api.json"
    own.write_text(json.dumps({"6": {"class_type": "CLIPTextEncode", "inputs": {"text": ""}}}))
    return [
        ComfyUISettings(),
        ComfyUISettings(url="http://gpu.local:8188/", workflow="flux-dev"),
        ComfyUISettings(headers_env="COMFYUI_HEADERS"),
        ComfyUISettings(workflow="no-such-builtin"),
        ComfyUISettings(workflow=str(own), inject=Inject(prompt="6.text")),
        ComfyUISettings(workflow=str(folder / "missing.json"), inject=Inject(prompt="6.text")),
        ComfyUISettings(workflow=str(own), inject=Inject(prompt="9.text")),
    ]


def test_the_type_registers_its_info_by_name() -> None:
    seen = []
    register_backends(lambda *args, **options: seen.append(options))
    (options,) = seen
    assert options["info"] == "imagen_comfyui.info:ComfyUIInfo"
    assert isinstance(lazy_factory(options["info"])("c", ComfyUISettings()), ComfyUIInfo)


@pytest.mark.parametrize("headers_set", [False, True])
def test_info_answers_as_the_backend_does(
    headers_set: bool, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("COMFYUI_HEADERS", raising=False)
    if headers_set:
        monkeypatch.setenv("COMFYUI_HEADERS", "X-Token: abc")
    statuses = set()
    for settings in settings_cases(tmp_path):
        info, backend = ComfyUIInfo("c", settings), ComfyUIBackend("c", settings)
        assert info.status() == backend.status(), settings
        statuses.add(info.status().ok)
        for request in REQUESTS:
            assert info.estimate_cost(request) == backend.estimate_cost(request)
    assert statuses == {True, False}
