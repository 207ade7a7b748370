"""Replicate's list prices per output image for models we know, with the date they were taken.

Prices change; the table is data so that updating it is a one-line change with a new date.
A model that is not listed has no estimate (None) rather than a guess. A config block's
``cost_per_image`` overrides this table (the framework applies it).
"""

from __future__ import annotations

from decimal import Decimal

from imagen.models import Cost

PRICES_AS_OF = "2026-11"

PRICE_PER_IMAGE: dict[str, Decimal] = {
    "black-forest-labs/flux-schnell": Decimal("0.003"),
    "black-forest-labs/flux-dev": Decimal("0.025"),
    "black-forest-labs/flux-1.1-pro": Decimal("0.04"),
}

BASIS = f"Replicate list price per image, {PRICES_AS_OF}"


def price_per_image(model: str) -> Cost | None:
    """The price of one image of ``model`` (``owner/name`` or ``owner/name:version``), or None."""
    amount = PRICE_PER_IMAGE.get(model.split(":", 1)[0].lower())
    return Cost(amount, BASIS) if amount is not None else None
