"""The plugin registers the ``openai`` type, its sample config loads, and it imports lightly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

import pytest

from imagen.config.load import parse_config
from imagen.plugins.registry import lazy_factory
from imagen_openai import register_backends
from imagen_openai.backend import OpenAIBackend
from imagen_openai.settings import SAMPLE, OpenAISettings


def test_registers_the_openai_type_by_name_with_its_settings_and_sample():
    seen: list[tuple[Any, ...]] = []

    def register(type: str, factory: Any, config_class: type, **options: Any) -> None:
        seen.append((type, factory, config_class, options))

    register_backends(register)
    ((kind, factory, config_class, options),) = seen
    assert (kind, config_class) == ("openai", OpenAISettings)
    assert factory == "imagen_openai.backend:OpenAIBackend"
    assert isinstance(lazy_factory(factory)("t", OpenAISettings()), OpenAIBackend)
    assert options["sample"] == SAMPLE


def test_sample_loads_as_valid_config():
    config, problems = parse_config("backends:\n" + textwrap.indent(SAMPLE, "  "))
    assert not problems.errors, problems.errors
    assert config is not None
    assert config.backends["openai"].settings == OpenAISettings()


def test_sample_with_its_commented_keys_switched_on_loads():
    enabled = "\n".join(
        line.replace("  # ", "  ", 1) if line.startswith("  # ") else line
        for line in SAMPLE.splitlines()
    )
    config, problems = parse_config("backends:\n" + textwrap.indent(enabled, "  "))
    assert not problems.errors, problems.errors
    assert config is not None
    instance = config.backends["openai"]
    assert instance.cost_per_image == Decimal("0.053")
    assert instance.settings.timeout == 300


def test_the_azure_variant_loads():
    block = """\
backends:
  azure:
    type: openai
    base_url: https://example.openai.azure.com
    azure_deployment: gpt-image-1
    api_version: 2025-04-01-preview
    api_key_env: AZURE_OPENAI_API_KEY
"""
    config, problems = parse_config(block)
    assert not problems.errors, problems.errors
    assert config is not None
    assert config.backends["azure"].settings.azure_deployment == "gpt-image-1"


@pytest.mark.parametrize(
    ("key", "value"), [("size", "big"), ("partial_images", "5"), ("output_compression", "101")]
)
def test_bad_values_are_reported_with_the_key(key: str, value: str):
    _, problems = parse_config(f"backends:\n  o:\n    type: openai\n    {key}: {value}\n")
    assert problems.errors
    assert key in str(problems.errors[0])


def test_status_names_the_variable_without_network(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert (
        str(OpenAIBackend("t", OpenAISettings()).status()) == "not configured (set OPENAI_API_KEY)"
    )
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    assert str(OpenAIBackend("t", OpenAISettings()).status()) == "ok (gpt-image-2)"


def test_plugin_and_backend_modules_import_neither_httpx_nor_pillow():
    code = (
        "import sys, imagen_openai, imagen_openai.backend; "
        "print(sorted(m for m in ('httpx', 'PIL', 'aiohttp', 'asyncio') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
