"""What a GPT Image costs: the estimate from a dated per-image table (model, quality, size), the
actual cost from the ``usage`` tokens an answer reports and a dated per-model token price table.

OpenAI bills image models by tokens: text and image input, image output. The per-image prices
are OpenAI's own examples for one output image (prompt tokens extra). A model, quality or size
the tables do not hold has no estimate (None), never a guess; ``cost_per_image`` in the config
overrides both (the framework applies it).
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

import attrs

from imagen.models import Cost
from imagen_openai.families import base_model

PRICES_AS_OF = "2026-11"
MILLION = Decimal(1_000_000)


@attrs.frozen
class TokenPrice:
    """USD per 1M tokens."""

    text_input: Decimal
    image_input: Decimal
    image_output: Decimal


TOKEN_PRICES: dict[str, TokenPrice] = {
    "gpt-image-1": TokenPrice(Decimal(5), Decimal(10), Decimal(40)),
    "gpt-image-1-mini": TokenPrice(Decimal(2), Decimal("2.5"), Decimal(8)),
    "gpt-image-1.5": TokenPrice(Decimal(5), Decimal(8), Decimal(32)),
    "gpt-image-2": TokenPrice(Decimal(5), Decimal(8), Decimal(30)),
}


def _sizes(square: str, wide: str) -> dict[str, Decimal]:
    return {"1024x1024": Decimal(square), "1536x1024": Decimal(wide), "1024x1536": Decimal(wide)}


#: model -> quality -> size -> USD for one output image.
PER_IMAGE: dict[str, dict[str, dict[str, Decimal]]] = {
    "gpt-image-1": {
        "low": _sizes("0.011", "0.016"),
        "medium": _sizes("0.042", "0.063"),
        "high": _sizes("0.167", "0.25"),
    },
    "gpt-image-1-mini": {
        "low": _sizes("0.005", "0.006"),
        "medium": _sizes("0.011", "0.015"),
        "high": _sizes("0.036", "0.052"),
    },
    "gpt-image-1.5": {
        "low": _sizes("0.009", "0.013"),
        "medium": _sizes("0.034", "0.05"),
        "high": _sizes("0.133", "0.2"),
    },
    "gpt-image-2": {
        "low": _sizes("0.006", "0.005"),
        "medium": _sizes("0.053", "0.041"),
        "high": _sizes("0.211", "0.165"),
    },
}


def estimate(model: str, quality: str, size: str) -> Cost | None:
    """The table price of one image, or None for anything the table does not hold (an unknown
    model, ``quality: auto`` or ``size: auto``, whose price the model decides)."""
    name = base_model(model)
    amount = PER_IMAGE.get(name, {}).get(quality, {}).get(size)
    if amount is None:
        return None
    return Cost(amount, f"{name} {quality} {size}: ${amount} per image (price of {PRICES_AS_OF})")


def actual(model: str, usage: Any) -> Cost | None:
    """The cost of one answer from its ``usage`` tokens; None for an unknown model or an answer
    without usage (a compatible server)."""
    price = TOKEN_PRICES.get(base_model(model))
    if price is None or not isinstance(usage, Mapping):
        return None
    output = _count(usage.get("output_tokens"))
    details = usage.get("input_tokens_details")
    if isinstance(details, Mapping):
        text, image = _count(details.get("text_tokens")), _count(details.get("image_tokens", 0))
    else:
        text, image = _count(usage.get("input_tokens")), 0
    if output is None or text is None or image is None:
        return None
    amount = (
        text * price.text_input + image * price.image_input + output * price.image_output
    ) / MILLION
    basis = (
        f"{base_model(model)}: {text} text + {image} image input, {output} output tokens at "
        f"${price.text_input}/${price.image_input}/${price.image_output} per 1M "
        f"(price of {PRICES_AS_OF})"
    )
    return Cost(amount, basis)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
