"""The one table of what each GPT Image model family accepts, and size snapping by it.

Read from the Images API reference (2026-11): ``gpt-image-1``, ``gpt-image-1-mini`` and
``gpt-image-1.5`` take three sizes (or ``auto``) and a transparent background; ``gpt-image-2``
and later take any size whose sides are multiples of 16, within 3:1, a long edge up to 3840 and
655,360 to 8,294,400 pixels, and no transparent background. New models ship every few months, so
a model this table does not know gets the newest family's rules and a warning, never a refusal.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

import attrs

from imagen.adapters import SizeChoice, snap_to_rules, snap_to_table
from imagen.models import Request


@attrs.frozen
class Family:
    name: str
    #: a fixed ``{ratio: (width, height)}`` table, or None for size rules
    sizes: Mapping[str, tuple[int, int]] | None
    transparent: bool
    multiple: int = 16
    max_ratio: float = 3.0
    max_long_edge: int = 3840
    min_pixels: int = 655_360
    max_pixels: int = 8_294_400


FIXED_SIZES = Family(
    "gpt-image-1",
    {"1:1": (1024, 1024), "3:2": (1536, 1024), "2:3": (1024, 1536)},
    transparent=True,
)
FREE_SIZES = Family("gpt-image-2", None, transparent=False)
NEWEST = FREE_SIZES

MODELS: dict[str, Family] = {
    "gpt-image-1": FIXED_SIZES,
    "gpt-image-1-mini": FIXED_SIZES,
    "gpt-image-1.5": FIXED_SIZES,
    "gpt-image-2": FREE_SIZES,
}
_SNAPSHOT = re.compile(r"-\d{4}-\d{2}-\d{2}$")
MAX_REFS = 16


def base_model(model: str) -> str:
    """``gpt-image-2-2026-04-21`` -> ``gpt-image-2``: a dated snapshot prices like its model."""
    return _SNAPSHOT.sub("", model.strip().lower())


def family_for(model: str) -> Family | None:
    """The model's family, or None when the table does not know it (use ``NEWEST``)."""
    return MODELS.get(base_model(model))


def choose_size(request: Request, family: Family) -> SizeChoice:
    """What to send as ``size``: the nearest table entry, or the request's shape within the
    family's rules (None sides: ``auto``). ValueError for an aspect ratio that is not W:H."""
    if family.sizes is not None:
        return snap_to_table(request, family.sizes)
    choice = snap_to_rules(
        request,
        multiple=family.multiple,
        max_ratio=family.max_ratio,
        max_long_edge=family.max_long_edge,
    )
    if choice.width is None or choice.height is None:
        return choice
    width, height = _within_pixels(choice.width, choice.height, family)
    return attrs.evolve(choice, width=width, height=height)


def _within_pixels(width: int, height: int, family: Family) -> tuple[int, int]:
    """Scale to the family's pixel range, keeping the shape; sides stay multiples."""
    pixels, step = width * height, family.multiple
    if pixels < family.min_pixels:
        grow = math.sqrt(family.min_pixels / pixels)
        return math.ceil(width * grow / step) * step, math.ceil(height * grow / step) * step
    if pixels > family.max_pixels:
        shrink = math.sqrt(family.max_pixels / pixels)
        return math.floor(width * shrink / step) * step, math.floor(height * shrink / step) * step
    return width, height
