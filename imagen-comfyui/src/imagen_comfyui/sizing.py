"""Choosing the pixel size a workflow renders: FLUX latents need sides that are multiples of 16.

The toolkit's ``snap_to_rules`` does the work: an explicit size is snapped to the nearest
multiple; an aspect ratio alone becomes about one megapixel; one side and a ratio give the other
side; nothing at all keeps the workflow's own size. A snapped explicit size says what was asked,
so the backend can record and report the change.
"""

from __future__ import annotations

from imagen.adapters import MEGAPIXEL, SizeChoice, snap_to_rules
from imagen.models import Request

__all__ = ["MEGAPIXEL", "SizeChoice", "choose_size"]


def choose_size(
    width: int | None,
    height: int | None,
    aspect_ratio: str | None,
    *,
    multiple: int = 16,
    backend: str | None = None,
) -> SizeChoice:
    """The size for ``width``/``height``/``aspect_ratio``, sides snapped to ``multiple``."""
    asked = Request("", width=width, height=height, aspect_ratio=aspect_ratio)
    return snap_to_rules(asked, multiple=multiple, backend=backend)
