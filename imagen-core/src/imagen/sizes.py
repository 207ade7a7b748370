"""Image sizes and aspect ratios: parsing user input and mapping between the two."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable

from imagen.errors import ConfigError

MAX_SIDE = 16384
#: the most elongated ratio a ~1 megapixel image can have with both sides within MAX_SIDE
MAX_ASPECT = MAX_SIDE**2 // (1024 * 1024)
_SIZE = re.compile(r"^\s*(\d{1,5})\s*[x×X]\s*(\d{1,5})\s*$")
_ASPECT = re.compile(r"^\s*(\d{1,3})\s*:\s*(\d{1,3})\s*$")


def parse_size(text: str) -> tuple[int, int]:
    """``"1024x768"`` -> ``(1024, 768)``; ConfigError saying the expected form otherwise."""
    match = _SIZE.match(text)
    if not match:
        raise ConfigError(f"invalid size {text!r}; expected WIDTHxHEIGHT, like 1024x768")
    width, height = int(match.group(1)), int(match.group(2))
    if not (1 <= width <= MAX_SIDE and 1 <= height <= MAX_SIDE):
        raise ConfigError(f"invalid size {text!r}; each side must be between 1 and {MAX_SIDE}")
    return width, height


def parse_aspect(text: str) -> tuple[int, int]:
    """``"16:9"`` -> ``(16, 9)``; ConfigError saying the expected form otherwise.

    A ratio more elongated than ``MAX_ASPECT``:1 is refused: its image would be wider (or
    taller) than ``MAX_SIDE`` pixels.
    """
    match = _ASPECT.match(text)
    if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
        raise ConfigError(f"invalid aspect ratio {text!r}; expected W:H, like 16:9")
    w, h = int(match.group(1)), int(match.group(2))
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise ConfigError(
            f"aspect ratio {text.strip()} is too elongated; one side may be at most "
            f"{MAX_ASPECT} times the other (images are at most {MAX_SIDE} pixels a side)"
        )
    return w, h


def size_for_aspect(aspect: str, *, megapixels: float = 1.0, multiple: int = 64) -> tuple[int, int]:
    """A size of about ``megapixels`` with the given aspect, sides a multiple of ``multiple``."""
    w, h = parse_aspect(aspect)
    pixels = megapixels * 1024 * 1024
    height = math.sqrt(pixels * h / w)
    width = height * w / h
    # Many megapixels at a long ratio would pass the side limit: shrink to fit, keeping the ratio.
    shrink = min(1.0, MAX_SIDE / max(width, height))
    largest = MAX_SIDE - MAX_SIDE % multiple

    def snap(value: float) -> int:
        return min(largest, max(multiple, round(value * shrink / multiple) * multiple))

    return snap(width), snap(height)


def nearest_aspect(width: int, height: int, supported: Iterable[str]) -> str:
    """The supported ratio closest to ``width:height`` (compared on a log scale)."""
    target = math.log(width / height)
    return min(supported, key=lambda ratio: abs(math.log(_ratio(ratio)) - target))


def _ratio(text: str) -> float:
    w, h = parse_aspect(text)
    return w / h
