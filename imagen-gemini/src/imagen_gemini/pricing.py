"""What a Gemini image costs: a dated per-image table, and the actual cost from token usage.

Gemini bills generated images as output tokens. gemini-2.5-flash-image: $30 per 1M output image
tokens, 1290 tokens per image up to 1024x1024 (about $0.039 an image). A config's
``cost_per_image`` overrides this table; the framework applies it.
"""

from __future__ import annotations

from decimal import Decimal

import attrs

from imagen.models import Cost

MILLION = Decimal(1_000_000)


@attrs.frozen
class Price:
    per_image: Decimal
    per_million_image_tokens: Decimal
    as_of: str


_FLASH_IMAGE = Price(Decimal("0.039"), Decimal(30), as_of="2025-10")

#: Gemini API (ai.google.dev/pricing) prices, standard tier, with the month they were read.
PRICES: dict[str, Price] = {
    "gemini-2.5-flash-image": _FLASH_IMAGE,
    "gemini-2.5-flash-image-preview": _FLASH_IMAGE,
}


def price_for(model: str) -> Price | None:
    """The table's price of ``model``, named without ``models/`` (the backend and its info strip
    that prefix from the setting before they ask)."""
    return PRICES.get(model)


def estimate(model: str) -> Cost | None:
    """The table price of one image of ``model``; None for a model the table does not know."""
    price = price_for(model)
    if price is None:
        return None
    return Cost(price.per_image, f"{model}: ${price.per_image} per image (price of {price.as_of})")


def actual(model: str, *, images: int, image_tokens: int | None) -> Cost | None:
    """The cost of one answer: from its output image tokens when Gemini reported them, else the
    table price times the images received. None for a model the table does not know."""
    price = price_for(model)
    if price is None:
        return None
    if image_tokens is None:
        return Cost(price.per_image * images, f"{model}: {images} x ${price.per_image} per image")
    amount = price.per_million_image_tokens * image_tokens / MILLION
    basis = (
        f"{model}: {image_tokens} image tokens x ${price.per_million_image_tokens} per 1M "
        f"(price of {price.as_of})"
    )
    return Cost(amount, basis)
