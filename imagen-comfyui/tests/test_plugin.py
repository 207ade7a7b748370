"""Registration, the sample config, config checks, lazy imports and `imagen comfyui models`."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from imagen.config.load import parse_config
from imagen_comfyui import register_backends
from imagen_comfyui.backend import ComfyUIBackend
from imagen_comfyui.fake import FakeComfyUI
from imagen_comfyui.settings import SAMPLE, ComfyUISettings


def uncommented(sample: str) -> str:
    """The sample with every commented-out key switched on."""
    lines = []
    for line in sample.splitlines():
        if line.startswith("  # "):
            line = line.replace("  # ", "  ", 1)
        elif line.startswith("# ") and (line[2:3].isspace() or line[2:].startswith("my-")):
            line = line[2:]
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_registers_the_comfyui_type_with_its_settings_and_sample() -> None:
    seen: list[tuple[Any, ...]] = []

    def register(type: str, factory: Any, config_class: type, **options: Any) -> None:
        seen.append((type, factory, config_class, options))

    register_backends(register)
    ((kind, factory, config_class, options),) = seen
    assert (kind, factory, config_class) == (
        "comfyui",
        "imagen_comfyui.backend:ComfyUIBackend",
        ComfyUISettings,
    )
    assert options["sample"] == SAMPLE
    assert options["concurrency"] == 2


def test_sample_loads_as_valid_config() -> None:
    config, problems = parse_config("backends:\n" + textwrap.indent(SAMPLE, "  "))
    assert not problems.errors, problems.errors
    assert config is not None
    settings = config.backends["flux-schnell-local"].settings
    assert settings == ComfyUISettings(url="http://127.0.0.1:8188", workflow="flux-schnell")


def test_sample_with_its_commented_keys_switched_on_loads(tmp_path: Path) -> None:
    text = uncommented(SAMPLE).replace("~/comfy/my-workflow-api.json", str(tmp_path / "flow.json"))
    text_node = {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}}
    flow = {
        "3": {"class_type": "KSampler",
              "inputs": {"seed": 0, "steps": 20, "latent_image": ["5", 0]}},
        "5": {"class_type": "EmptyLatentImage",
              "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": text_node,
        "7": text_node,
        "9": {"class_type": "SaveImage", "inputs": {"images": ["3", 0], "filename_prefix": "x"}},
    }  # fmt: skip
    (tmp_path / "flow.json").write_text(json.dumps(flow))
    config, problems = parse_config("backends:\n" + textwrap.indent(text, "  "))
    assert not problems.errors, problems.errors
    assert config is not None
    local = config.backends["flux-schnell-local"]
    assert local.concurrency == 2
    assert local.cost_per_image == Decimal("0.002")
    assert local.settings.models.checkpoint == "flux1-schnell-fp8.safetensors"
    assert local.settings.headers_env == "COMFYUI_HEADERS"
    custom = config.backends["my-workflow"].settings
    assert custom.inject.prompt == "6.text"
    assert custom.inject.batch_size == "5.batch_size"


def test_an_injection_point_naming_a_missing_node_is_a_config_error_at_its_path(
    tmp_path: Path,
) -> None:
    flow = tmp_path / "flow.json"
    flow.write_text(
        '{"9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}}}'
    )
    _, problems = parse_config(
        f"backends:\n  mine:\n    type: comfyui\n    workflow: {flow}\n"
        '    inject: {prompt: "9.filename_prefix", seed: "3.seed"}\n'
    )
    (problem,) = problems.errors
    assert problem.path == "backends.mine.inject.seed"
    assert "node 3 does not exist in the workflow" in problem.message
    assert problem.line == 5


def test_the_registered_factory_builds_a_comfyui_backend() -> None:
    from imagen.plugins.loader import registry

    backend = registry().backends["comfyui"].factory("box", ComfyUISettings())
    assert isinstance(backend, ComfyUIBackend)
    assert backend.name == "box"


def test_plugin_and_backend_modules_import_no_http_websocket_or_image_library() -> None:
    # `imagen backends` builds every instance and asks its status: that path stays light.
    code = (
        "import sys, imagen_comfyui, imagen_comfyui.backend, imagen_comfyui.settings; "
        "imagen_comfyui.backend.ComfyUIBackend('x', imagen_comfyui.settings.ComfyUISettings())"
        ".status(); "
        "print(sorted(m for m in ('httpx', 'websockets', 'PIL', 'aiohttp', 'tenacity', 'asyncio') "
        "if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_models_command_lists_the_servers_files_per_loader(
    tmp_path: Path, monkeypatch: Any
) -> None:
    from imagen.cli import cli
    from imagen.testing.servers import serve_app

    fake = FakeComfyUI(models={"checkpoints": ["a.safetensors"], "vae": ["ae.safetensors"]})
    with serve_app(fake.app()) as url:
        config = tmp_path / "imagen.yaml"
        config.write_text(
            "default_backend: mock\nbackends:\n"
            f'  other: {{type: mock}}\n  box: {{type: comfyui, url: "{url}"}}\n'
        )
        monkeypatch.delenv("IMAGEN_CONFIG", raising=False)
        result = CliRunner().invoke(cli, ["--config", str(config), "comfyui", "models"])
    assert result.exit_code == 0, result.output
    assert "CheckpointLoaderSimple.ckpt_name:\n  a.safetensors\n" in result.output
    assert "UNETLoader.unet_name:\n" in result.output
    assert "VAELoader.vae_name:\n  ae.safetensors\n" in result.output
    assert "LoraLoader.lora_name:\n  (none)\n" in result.output


def test_models_command_refuses_a_backend_of_another_type(tmp_path: Path) -> None:
    from imagen.cli import cli

    config = tmp_path / "imagen.yaml"
    config.write_text("backends:\n  other: {type: mock}\n")
    result = CliRunner().invoke(
        cli, ["--config", str(config), "comfyui", "models", "--backend", "other"]
    )
    assert result.exit_code != 0
    assert "not a comfyui backend" in str(result.exception)


def test_a_missing_workflow_file_is_a_warning_at_load_and_an_error_when_used(
    tmp_path: Path,
) -> None:
    import pytest

    from imagen.errors import ConfigError

    missing = tmp_path / "later.json"
    block = f"{{type: comfyui, workflow: '{missing}', inject: {{prompt: '6.text'}}}}"
    config, problems = parse_config(f"backends:\n  mine: {block}\n")
    assert not problems.errors
    (warning,) = problems.warnings
    assert warning.path == "backends.mine.workflow"
    assert config is not None
    backend = ComfyUIBackend("mine", config.backends["mine"].settings)
    assert not backend.status().ok
    with pytest.raises(ConfigError, match="does not exist"):
        backend.workflow()


def test_a_url_without_http_is_a_config_error() -> None:
    _, problems = parse_config("backends:\n  box: {type: comfyui, url: 'gpu-box:8188'}\n")
    (problem,) = problems.errors
    assert problem.path == "backends.box.url"
    assert "http://" in problem.message


def test_imagen_generate_writes_the_servers_image(tmp_path: Path, monkeypatch: Any) -> None:
    from PIL import Image

    from imagen.cli import cli
    from imagen.testing.servers import serve_app

    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    fake = FakeComfyUI()
    with serve_app(fake.app()) as url:
        config = tmp_path / "imagen.yaml"
        config.write_text(
            f"default_backend: box\noutput: {{directory: '{tmp_path / 'out'}', preview: 'off'}}\n"
            f"backends:\n  box: {{type: comfyui, url: '{url}'}}\n"
        )
        result = CliRunner().invoke(
            cli, ["--config", str(config), "generate", "a fox", "--size", "96x64", "--seed", "5"]
        )
    assert result.exit_code == 0, result.output
    (path,) = [Path(line) for line in result.stdout.splitlines() if line.endswith(".png")]
    with Image.open(path) as image:
        assert image.size == (96, 64)
    assert fake.received[0]["prompt"]["31"]["inputs"]["seed"] == 5
