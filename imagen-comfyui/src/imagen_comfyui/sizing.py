"""Choosing the pixel size a workflow renders: FLUX latents need sides that are multiples of 16.

An explicit size is snapped to the nearest multiple; an aspect ratio alone becomes a size of
about one megapixel (1024 x 1024 pixels' worth); one side and a ratio give the other side;
nothing at all keeps the workflow's own size. A snapped explicit size says what was asked, so
the backend can record and report the change.
"""

from __future__ import annotations

import math
import re

import attrs

from imagen.errors import InvalidRequest

MEGAPIXEL = 1024 * 1024
MAX_SIDE = 16384
_ASPECT = re.compile(r"^\s*(\d{1,5})\s*:\s*(\d{1,5})\s*$")


@attrs.frozen
class SizeChoice:
    """The size to render (None: the workflow's own) and the exact size asked, if one was."""

    width: int | None
    height: int | None
    asked: str | None = None

    @property
    def changed(self) -> bool:
        return self.asked is not None and self.asked != f"{self.width}x{self.height}"


def choose_size(
    width: int | None,
    height: int | None,
    aspect_ratio: str | None,
    *,
    multiple: int = 16,
    backend: str | None = None,
) -> SizeChoice:
    """The size for ``width``/``height``/``aspect_ratio``, sides snapped to ``multiple``."""
    ratio = _parse_aspect(aspect_ratio, backend) if aspect_ratio else None
    if width is None and height is None:
        if ratio is None:
            return SizeChoice(None, None)
        height_f = math.sqrt(MEGAPIXEL / ratio)
        return SizeChoice(_snap(height_f * ratio, multiple), _snap(height_f, multiple))
    if width is None or height is None:
        known = width if width is not None else height
        assert known is not None
        factor = ratio if ratio is not None else 1.0
        width_f = float(width) if width is not None else known * factor
        height_f = float(height) if height is not None else known / factor
        return SizeChoice(_snap(width_f, multiple), _snap(height_f, multiple))
    return SizeChoice(_snap(width, multiple), _snap(height, multiple), f"{width}x{height}")


def _snap(value: float, multiple: int) -> int:
    snapped = math.floor(value / multiple + 0.5) * multiple
    return min(max(multiple, snapped), MAX_SIDE - MAX_SIDE % multiple)


def _parse_aspect(text: str, backend: str | None) -> float:
    match = _ASPECT.match(text)
    if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise InvalidRequest(
            f"invalid aspect ratio {text!r}; use W:H, like 16:9",
            backend=backend,
            fields={"aspect_ratio": "expected W:H"},
        )
    return int(match.group(1)) / int(match.group(2))
