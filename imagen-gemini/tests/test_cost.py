"""Estimated and actual cost, and status, all without a network call."""

from __future__ import annotations

from decimal import Decimal

from imagen.models import Request
from imagen_gemini.backend import GeminiBackend
from imagen_gemini.settings import GeminiSettings


def test_estimate_is_the_dated_table_price_per_image():
    cost = GeminiBackend("g", GeminiSettings()).estimate_cost(Request("a kite", count=4))
    assert cost is not None
    assert cost.amount == Decimal("0.039")
    assert "per image" in cost.basis
    assert "2025-10" in cost.basis


def test_estimate_for_a_model_without_a_price_is_unknown():
    backend = GeminiBackend("g", GeminiSettings(model="gemini-9-image"))
    assert backend.estimate_cost(Request("a kite")) is None


def test_actual_cost_comes_from_the_image_tokens(make_backend, generate):
    result = generate(make_backend(), Request("kites", count=2))
    assert result.cost is not None
    assert result.cost.amount == Decimal(30) * 1290 * 2 / Decimal(1_000_000)
    assert "1290 image tokens" in result.cost.basis
    assert result.metadata["image_tokens"] == 2580


def test_actual_cost_falls_back_to_the_table_without_usage(fake, make_backend, generate):
    fake.report_usage = False
    result = generate(make_backend(), Request("a kite"))
    assert result.cost is not None
    assert result.cost.amount == Decimal("0.039")
    assert result.cost.basis == "gemini-2.5-flash-image: 1 x $0.039 per image"


def test_usage_without_image_token_counts_falls_back_to_the_table(fake, make_backend, generate):
    fake.report_image_tokens = False
    result = generate(make_backend(), Request("a kite"))
    assert result.cost is not None
    assert result.cost.amount == Decimal("0.039")
    assert "image_tokens" not in result.metadata


def test_answer_without_usage_costs_the_table_price_of_each_image_in_it(
    fake, make_backend, generate
):
    fake.report_usage = False
    fake.images_per_answer = 2
    result = generate(make_backend(), Request("two kites"))
    assert result.cost is not None
    assert result.cost.amount == Decimal("0.078")
    assert result.cost.basis == "gemini-2.5-flash-image: 2 x $0.039 per image"


def test_a_model_named_with_its_models_prefix_is_priced_from_its_tokens(make_backend, generate):
    result = generate(make_backend(model="models/gemini-2.5-flash-image"), Request("a kite"))
    assert result.cost is not None
    assert result.cost.amount == Decimal("0.0387")


def test_status_is_ok_with_a_key(api_key):
    status = GeminiBackend("g", GeminiSettings()).status()
    assert status.ok
    assert str(status) == "ok (gemini-2.5-flash-image)"


def test_status_without_a_key_says_which_env_var_to_set(monkeypatch):
    monkeypatch.delenv("STUDIO_KEY", raising=False)
    status = GeminiBackend("g", GeminiSettings(api_key_env="STUDIO_KEY")).status()
    assert not status.ok
    assert str(status) == "not configured (set STUDIO_KEY)"
