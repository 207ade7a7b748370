"""Registration, the sample config, settings defaults, status and prices: all without network."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from decimal import Decimal
from typing import Any

import pytest

from imagen.config.load import parse_config
from imagen.models import Request
from imagen.plugins.registry import lazy_factory
from imagen_replicate import register_backends
from imagen_replicate.backend import ReplicateBackend
from imagen_replicate.pricing import PRICE_PER_IMAGE, PRICES_AS_OF
from imagen_replicate.settings import SAMPLE, ReplicateSettings


def test_registers_the_replicate_type_with_its_settings_and_sample() -> None:
    seen: list[tuple[Any, ...]] = []

    def register(type: str, factory: Any, config_class: type, **options: Any) -> None:
        seen.append((type, factory, config_class, options))

    register_backends(register)
    ((kind, factory, config_class, options),) = seen
    assert (kind, config_class) == ("replicate", ReplicateSettings)
    # Registered by name so the backend module loads only when an instance is built.
    assert factory == "imagen_replicate.backend:ReplicateBackend"
    built = lazy_factory(factory)("t", ReplicateSettings(model="black-forest-labs/flux-schnell"))
    assert isinstance(built, ReplicateBackend)
    assert options["sample"] == SAMPLE


def test_sample_loads_as_valid_config_with_both_flux_instances() -> None:
    config, problems = parse_config("backends:\n" + textwrap.indent(SAMPLE, "  "))
    assert not problems.errors, problems.errors
    assert config is not None
    schnell = config.backends["flux-schnell-replicate"].settings
    dev = config.backends["flux-dev-replicate"].settings
    assert schnell.model == "black-forest-labs/flux-schnell"
    assert dev.model == "black-forest-labs/flux-dev"
    assert schnell.base_url == "https://api.replicate.com"


def test_sample_with_its_commented_keys_switched_on_loads() -> None:
    enabled = "\n".join(
        line.replace("  # ", "  ", 1) if line.startswith("  # ") else line
        for line in SAMPLE.splitlines()
    )
    config, problems = parse_config("backends:\n" + textwrap.indent(enabled, "  "))
    assert not problems.errors, problems.errors
    assert config is not None
    schnell = config.backends["flux-schnell-replicate"]
    assert schnell.concurrency == 4
    assert schnell.cost_per_image == Decimal("0.003")
    assert config.backends["flux-dev-replicate"].settings.input == {
        "go_fast": True,
        "output_quality": 90,
    }


def test_a_malformed_model_ref_is_a_config_error_saying_how_to_write_it() -> None:
    _, problems = parse_config("backends:\n  x: {type: replicate, model: flux-schnell}\n")
    (problem,) = problems.errors
    assert "owner/name" in problem.message


def test_an_inline_token_is_rejected() -> None:
    _, problems = parse_config(
        "backends:\n  x: {type: replicate, model: a/b, api_token: r8_abcdefabcdef}\n"
    )
    assert any("api_token_env" in problem.message for problem in problems.errors)


@pytest.mark.parametrize(
    ("model", "deadline"),
    [
        ("black-forest-labs/flux-schnell", 60.0),
        ("black-forest-labs/flux-schnell:" + "5599ed30" * 8, 60.0),
        ("black-forest-labs/flux-dev", 120.0),
        ("black-forest-labs/flux-dev-lora", 120.0),
        ("black-forest-labs/flux-1.1-pro", 180.0),
        ("someone/developer-portrait", 180.0),
    ],
)
def test_timeout_defaults_by_model(model: str, deadline: float) -> None:
    assert ReplicateSettings(model=model).deadline == deadline


def test_configured_timeout_wins_over_the_model_default() -> None:
    assert ReplicateSettings(model="black-forest-labs/flux-schnell", timeout=5).deadline == 5


def test_status_is_not_configured_without_the_token(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("REPLICATE_API_TOKEN", raising=False)
    backend = ReplicateBackend("r", ReplicateSettings(model="black-forest-labs/flux-schnell"))
    assert str(backend.status()) == "not configured (set REPLICATE_API_TOKEN)"
    assert not backend.status().ok


def test_status_is_ok_with_the_token_in_the_named_env_var(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEAM_REPLICATE", "r8_something")
    settings = ReplicateSettings(model="black-forest-labs/flux-dev", api_token_env="TEAM_REPLICATE")
    status = ReplicateBackend("r", settings).status()
    assert status.ok
    assert str(status) == "ok (black-forest-labs/flux-dev)"  # the model it will run
    assert "r8_something" not in str(status)


@pytest.mark.parametrize(
    ("model", "price"),
    [
        ("black-forest-labs/flux-schnell", "0.003"),
        ("black-forest-labs/flux-dev", "0.025"),
        ("black-forest-labs/flux-1.1-pro", "0.04"),
        ("black-forest-labs/flux-dev:" + "6e4a938f85952bda" * 4, "0.025"),
    ],
)
def test_estimate_is_the_dated_list_price_of_one_image(model: str, price: str) -> None:
    cost = ReplicateBackend("r", ReplicateSettings(model=model)).estimate_cost(Request("a cat"))
    assert cost is not None
    assert cost.amount == Decimal(price)
    assert PRICES_AS_OF in cost.basis


def test_unknown_model_has_no_estimate_rather_than_a_guess() -> None:
    backend = ReplicateBackend("r", ReplicateSettings(model="someone/new-model"))
    assert backend.estimate_cost(Request("a cat")) is None


def test_price_table_holds_only_positive_decimals() -> None:
    assert PRICE_PER_IMAGE
    assert all(isinstance(p, Decimal) and p > 0 for p in PRICE_PER_IMAGE.values())


def test_plugin_and_backend_modules_import_neither_httpx_nor_pillow() -> None:
    code = (
        "import sys, imagen_replicate, imagen_replicate.backend; "
        "print(sorted(m for m in ('httpx', 'PIL', 'tenacity', 'aiohttp') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
