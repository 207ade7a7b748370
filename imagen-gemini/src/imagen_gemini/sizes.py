"""Gemini picks the pixel size itself; imagen maps a requested size to its nearest aspect ratio.

The table is Gemini 2.5 Flash Image's (each size costs 1290 output tokens).
"""

from __future__ import annotations

import math

import attrs

from imagen.models import Request

#: Supported ``imageConfig.aspectRatio`` values and the pixel size Gemini answers with.
ASPECT_RATIOS: dict[str, tuple[int, int]] = {
    "1:1": (1024, 1024),
    "2:3": (832, 1248),
    "3:2": (1248, 832),
    "3:4": (864, 1184),
    "4:3": (1184, 864),
    "4:5": (896, 1152),
    "5:4": (1152, 896),
    "9:16": (768, 1344),
    "16:9": (1344, 768),
    "21:9": (1536, 672),
}


@attrs.frozen
class AspectChoice:
    """The ratio sent to Gemini (None: let Gemini choose) and what it was chosen from."""

    ratio: str | None
    requested: str | None

    def metadata(self) -> dict[str, str]:
        chosen = {"aspect_ratio": self.ratio or "model default"}
        if self.requested is not None and self.requested != self.ratio:
            chosen["requested_size"] = self.requested
        return chosen


def parse_ratio(text: str) -> float | None:
    """``"16:9"`` -> 1.777..., or None when ``text`` is not two positive numbers around a colon."""
    left, sep, right = text.partition(":")
    try:
        width, height = float(left), float(right)
    except ValueError:
        return None
    if not sep or width <= 0 or height <= 0 or not math.isfinite(width / height):
        return None
    return width / height


def nearest_ratio(value: float) -> str:
    """The supported ratio closest to ``value`` on a log scale (so 2:1 and 1:2 are equally far)."""
    target = math.log(value)
    return min(ASPECT_RATIOS, key=lambda name: abs(math.log(_ratio_of(name)) - target))


def choose_aspect(request: Request) -> AspectChoice:
    """An explicit aspect ratio wins over width/height; with neither, Gemini decides
    (square for text-to-image, the reference's shape for image-to-image).

    Raises ValueError for an aspect ratio that is not ``W:H``.
    """
    if request.aspect_ratio:
        if request.aspect_ratio in ASPECT_RATIOS:
            return AspectChoice(request.aspect_ratio, request.aspect_ratio)
        value = parse_ratio(request.aspect_ratio)
        if value is None:
            raise ValueError(
                f"aspect ratio {request.aspect_ratio!r} is not W:H; use one of "
                + ", ".join(ASPECT_RATIOS)
            )
        return AspectChoice(nearest_ratio(value), request.aspect_ratio)
    if request.width and request.height and request.width > 0 and request.height > 0:
        requested = f"{request.width}x{request.height}"
        return AspectChoice(nearest_ratio(request.width / request.height), requested)
    return AspectChoice(None, None)


def _ratio_of(name: str) -> float:
    value = parse_ratio(name)
    assert value is not None
    return value
