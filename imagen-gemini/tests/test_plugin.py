"""The plugin registers the ``gemini`` type, its sample config loads, and it imports lightly."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

from imagen.config.load import parse_config
from imagen.plugins.registry import lazy_factory
from imagen_gemini import register_backends
from imagen_gemini.backend import GeminiBackend
from imagen_gemini.settings import SAMPLE, GeminiSettings


def test_registers_the_gemini_type_with_its_settings_and_sample():
    seen: list[tuple[Any, ...]] = []

    def register(type: str, factory: Any, config_class: type, **options: Any) -> None:
        seen.append((type, factory, config_class, options))

    register_backends(register)
    ((kind, factory, config_class, options),) = seen
    assert (kind, config_class) == ("gemini", GeminiSettings)
    # Registered by name so the backend module loads only when an instance is built.
    assert factory == "imagen_gemini.backend:GeminiBackend"
    assert isinstance(lazy_factory(factory)("t", GeminiSettings()), GeminiBackend)
    assert options["sample"] == SAMPLE


def test_sample_loads_as_valid_config():
    config, problems = parse_config("backends:\n" + textwrap.indent(SAMPLE, "  "))
    assert not problems.errors, problems.errors
    assert config is not None
    instance = config.backends["gemini"]
    assert instance.type == "gemini"
    assert instance.settings == GeminiSettings()


def test_sample_with_its_commented_keys_switched_on_loads():
    enabled = "\n".join(
        line.replace("  # ", "  ", 1) if line.startswith("  # ") else line
        for line in SAMPLE.splitlines()
    )
    config, problems = parse_config("backends:\n" + textwrap.indent(enabled, "  "))
    assert not problems.errors, problems.errors
    assert config is not None
    instance = config.backends["gemini"]
    assert instance.concurrency == 4
    assert instance.cost_per_image == Decimal("0.039")
    assert instance.settings.timeout == 120


def test_plugin_and_backend_modules_import_neither_httpx_nor_pillow():
    code = (
        "import sys, imagen_gemini, imagen_gemini.backend; "
        "print(sorted(m for m in ('httpx', 'PIL', 'tenacity') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
