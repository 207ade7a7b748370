"""Estimates from the per-image table; actual costs from usage tokens."""

from __future__ import annotations

from decimal import Decimal

import pytest

from imagen.models import Request
from imagen_openai import pricing
from imagen_openai.backend import OpenAIBackend
from imagen_openai.fake_server import FakeOpenAI
from imagen_openai.settings import OpenAISettings
from imagen_openai.testing import MakeBackend, generate


def _estimate(request: Request, **settings: object) -> Decimal | None:
    cost = OpenAIBackend("t", OpenAISettings(**settings)).estimate_cost(request)  # type: ignore[arg-type]
    return None if cost is None else cost.amount


@pytest.mark.parametrize(
    ("model", "quality", "size", "price"),
    [
        ("gpt-image-1", "low", (1024, 1024), "0.011"),
        ("gpt-image-1", "medium", (1024, 1024), "0.042"),
        ("gpt-image-1", "high", (1024, 1024), "0.167"),
        ("gpt-image-1", "high", (1536, 1024), "0.25"),
        ("gpt-image-1-mini", "medium", (1024, 1024), "0.011"),
        ("gpt-image-1.5", "medium", (1024, 1536), "0.05"),
        ("gpt-image-2", "medium", (1024, 1024), "0.053"),
        ("gpt-image-2", "high", (1536, 1024), "0.165"),
    ],
)
def test_the_estimate_is_the_table_price_by_model_quality_and_size(
    model: str, quality: str, size: tuple[int, int], price: str
):
    request = Request("x", width=size[0], height=size[1])

    assert _estimate(request, model=model, quality=quality) == Decimal(price)


def test_the_estimate_basis_names_the_date_of_the_prices():
    cost = OpenAIBackend("t", OpenAISettings()).estimate_cost(Request("x"))

    assert cost is not None
    assert pricing.PRICES_AS_OF in cost.basis


def test_the_estimate_follows_the_snapped_size():
    # 1920x1080 is sent as 1536x1024 on gpt-image-1, and priced as such.
    assert _estimate(Request("x", width=1920, height=1080), model="gpt-image-1") == Decimal("0.063")


@pytest.mark.parametrize(
    "settings",
    [{"model": "gpt-image-9"}, {"quality": "auto"}, {"size": "auto"}, {"size": "2048x2048"}],
)
def test_no_estimate_for_what_the_table_does_not_hold(settings: dict[str, str]):
    assert _estimate(Request("x"), **settings) is None


def test_the_actual_cost_comes_from_the_usage_tokens(fake: FakeOpenAI, make_backend: MakeBackend):
    result = generate(make_backend(model="gpt-image-1", quality="medium"), Request("a red barn"))

    # 3 text tokens at $5/1M and 1056 output tokens at $40/1M.
    assert result.cost is not None
    assert result.cost.amount == (3 * Decimal(5) + 1056 * Decimal(40)) / 1_000_000
    assert "1056 output tokens" in result.cost.basis


def test_the_cost_of_several_takes_is_their_sum(fake: FakeOpenAI, make_backend: MakeBackend):
    one = generate(make_backend(), Request("a red barn")).cost
    three = generate(make_backend(), Request("a red barn", count=3)).cost

    assert one is not None
    assert three is not None
    assert three.amount == 3 * one.amount


def test_an_answer_without_usage_has_no_actual_cost():
    assert pricing.actual("gpt-image-2", None) is None
    assert pricing.actual("gpt-image-9", {"input_tokens": 1, "output_tokens": 1}) is None


def test_reference_image_tokens_are_priced_as_image_input():
    usage = {
        "input_tokens": 333,
        "output_tokens": 1000,
        "input_tokens_details": {"text_tokens": 10, "image_tokens": 323},
    }
    cost = pricing.actual("gpt-image-2", usage)

    assert cost is not None
    assert cost.amount == (10 * 5 + 323 * 8 + 1000 * 30) / Decimal(1_000_000)


def test_no_cost_when_one_answer_of_several_reports_no_usage(
    fake: FakeOpenAI, make_backend: MakeBackend
):
    from aiohttp import web

    from imagen_openai.fake_server import _render

    async def without_usage(request: web.Request) -> web.StreamResponse:
        image = _render(1024, 1024, "png", False)
        return web.json_response({"created": 1767225600, "data": [{"b64_json": image}]})

    fake.then(without_usage)
    result = generate(make_backend(), Request("a red barn", count=2))

    assert len(result.images) == 2
    assert result.cost is None
    assert len(result.metadata["usage"]) == 1


def test_usage_without_input_details_prices_the_input_as_text():
    cost = pricing.actual("gpt-image-2", {"input_tokens": 50, "output_tokens": 1000})

    assert cost is not None
    assert cost.amount == (50 * 5 + 1000 * 30) / Decimal(1_000_000)
    assert "50 text + 0 image input, 1000 output tokens" in cost.basis


def test_input_details_without_image_tokens_price_the_text_alone():
    usage = {"input_tokens": 10, "output_tokens": 1000, "input_tokens_details": {"text_tokens": 10}}
    cost = pricing.actual("gpt-image-2", usage)

    assert cost is not None
    assert cost.amount == (10 * 5 + 1000 * 30) / Decimal(1_000_000)


@pytest.mark.parametrize(
    "usage",
    [
        {"input_tokens": 10},
        {"input_tokens": 10, "output_tokens": "1000"},
        {"input_tokens": 10, "output_tokens": -1000},
        {"input_tokens": 10, "output_tokens": True},
        {"output_tokens": 1000, "input_tokens_details": {"image_tokens": 323}},
        {"output_tokens": 1000, "input_tokens_details": {"text_tokens": 9, "image_tokens": -1}},
    ],
)
def test_usage_with_a_count_missing_or_not_a_count_has_no_actual_cost(usage: dict[str, object]):
    assert pricing.actual("gpt-image-2", usage) is None
