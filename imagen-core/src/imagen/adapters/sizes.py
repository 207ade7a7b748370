"""Snap a request's size to what a provider accepts, and record what changed.

Two kinds of provider: those with a fixed table (``{"1:1": (1024, 1024), "16:9": ...}``:
Gemini, FLUX on Replicate) and those with rules (sides a multiple of N, a ratio limit, a
long-edge limit, a total pixel range: ComfyUI, OpenAI-style APIs). Both answer a
:class:`SizeChoice`, which keeps what the user asked, and which rules changed it, so the
adapter can report the change.

    choice = snap_to_table(request, ASPECT_RATIOS)        # table: the nearest ratio
    choice = snap_to_rules(request, multiple=16)          # rules: sides snapped
    choice = snap_to_rules(request, min_pixels=655_360, max_pixels=8_294_400)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping

import attrs

from imagen.errors import InvalidRequest
from imagen.models import Request

MEGAPIXEL = 1024 * 1024
MAX_SIDE = 16384


@attrs.frozen
class SizeChoice:
    """What to send (``ratio``, or ``width`` x ``height``; None for the provider's default) and
    what the user asked (``asked``: ``"1000x700"`` or ``"7:5"``, None when nothing was)."""

    width: int | None = None
    height: int | None = None
    ratio: str | None = None
    asked: str | None = None
    #: The rules that changed the size, in words, in the order applied ("sides snapped to
    #: multiples of 16", "at least 655,360 pixels"); empty when none did.
    adjusted: tuple[str, ...] = ()

    @property
    def changed(self) -> bool:
        """True when what is sent differs from what was asked."""
        if self.asked is None:
            return False
        return self.asked not in (self.ratio, f"{self.width}x{self.height}")

    def metadata(self) -> dict[str, str]:
        """``{"aspect_ratio": ..., "size": ..., "requested_size": ...}`` for ``Result.metadata``
        (each only when known; ``requested_size`` only when it was changed)."""
        chosen: dict[str, str] = {}
        if self.ratio is not None:
            chosen["aspect_ratio"] = self.ratio
        if self.width is not None and self.height is not None:
            chosen["size"] = f"{self.width}x{self.height}"
        if self.changed and self.asked is not None:
            chosen["requested_size"] = self.asked
        return chosen


class UnreadableRatio(InvalidRequest, ValueError):
    """An aspect ratio that is not ``W:H``: an ``InvalidRequest`` the user sees as one line,
    and a ``ValueError`` for an adapter that would rather pass the text on to its provider."""

    def __init__(self, message: str, *, backend: str | None = None) -> None:
        super().__init__(message, backend=backend, fields={"aspect_ratio": message})


def parse_ratio(text: str) -> float | None:
    """``"16:9"`` -> 1.777..., or None when ``text`` is not two positive numbers around a colon."""
    left, _, right = text.partition(":")
    try:
        width, height = float(left), float(right)
    except ValueError:
        return None
    if height <= 0:
        return None
    # Negative, zero, NaN, or 0 or infinite when one side dwarfs the other ("1:1e400"): no ratio.
    value = width / height
    return value if 0 < value < math.inf else None


def nearest_ratio(value: float, supported: Iterable[str]) -> str:
    """The supported ``W:H`` closest to ``value`` on a log scale (2:1 and 1:2 equally far)."""
    target = math.log(value)
    return min(supported, key=lambda name: abs(math.log(parse_ratio(name) or 1.0) - target))


def snap_to_table(
    request: Request,
    table: Mapping[str, tuple[int, int]] | Iterable[str],
    *,
    backend: str | None = None,
) -> SizeChoice:
    """The table entry nearest the request's aspect ratio (or width:height).

    An aspect ratio wins over width/height; with neither the provider chooses (all None).
    :class:`UnreadableRatio` (naming ``backend``) for an aspect ratio that is not ``W:H``. With
    a ``{ratio: (width, height)}`` table the pixel size comes along.
    """
    sizes = dict(table) if isinstance(table, Mapping) else dict.fromkeys(table, (0, 0))
    if request.aspect_ratio:
        asked = request.aspect_ratio
        value = parse_ratio(asked)
        if value is None:
            choices = ", ".join(sizes)
            raise UnreadableRatio(f"aspect ratio {asked!r} is not W:H; use one of {choices}",
                                  backend=backend)  # fmt: skip
        ratio = asked if asked in sizes else nearest_ratio(value, sizes)
    elif request.width and request.height and request.width > 0 and request.height > 0:
        asked = f"{request.width}x{request.height}"
        ratio = nearest_ratio(request.width / request.height, sizes)
    else:
        return SizeChoice()
    width, height = sizes[ratio]
    return SizeChoice(width or None, height or None, ratio, asked)


def snap_to_rules(
    request: Request,
    *,
    multiple: int = 16,
    megapixels: float = 1.0,
    max_long_edge: int = MAX_SIDE,
    max_ratio: float | None = None,
    min_pixels: int | None = None,
    max_pixels: int | None = None,
    backend: str | None = None,
) -> SizeChoice:
    """A pixel size the provider's rules allow, near what was asked.

    An explicit size keeps its shape: the ratio is clamped to ``max_ratio`` (long side over
    short side), the area scaled into ``min_pixels``..``max_pixels`` (width times height), the
    long edge shrunk to ``max_long_edge``, and both sides snapped to ``multiple`` (rounded
    outwards or inwards where the nearest multiple would leave the pixel range). An aspect
    ratio alone becomes ``megapixels`` of that shape; one side and a ratio give the other side;
    nothing at all keeps the provider's default (all None). ``asked`` is the whole size asked,
    or the aspect ratio when ``max_ratio`` clamped it. ``adjusted`` names each rule that
    changed the size. Where the rules cannot all hold (a long, thin size with no ``max_ratio``)
    the long edge wins over ``min_pixels``. :class:`UnreadableRatio` (naming ``backend``) for an
    aspect ratio that is not ``W:H``.
    """
    ratio = None
    if request.aspect_ratio:
        ratio = parse_ratio(request.aspect_ratio)
        if ratio is None:
            raise UnreadableRatio(f"aspect ratio {request.aspect_ratio!r} is not W:H, like 16:9",
                                  backend=backend)  # fmt: skip
    # A side that is not positive is not a size (as in snap_to_table): the other rules apply.
    width = request.width if request.width is not None and request.width > 0 else None
    height = request.height if request.height is not None and request.height > 0 else None
    if width is None and height is None:
        if ratio is None:
            return SizeChoice()
        tall = math.sqrt(megapixels * MEGAPIXEL / ratio)
        w, h, asked = tall * ratio, tall, None
    elif width is None or height is None:
        known = float(width if width is not None else height or 0)
        factor = ratio if ratio is not None else 1.0
        w = known if width is not None else known * factor
        h = known if height is not None else known / factor
        asked = None
    else:
        w, h, asked = float(width), float(height), f"{width}x{height}"
    adjusted: list[str] = []
    if max_ratio is not None and max(w, h) > max_ratio * min(w, h):
        adjusted.append(f"ratio at most {max_ratio:g}:1")
        asked = asked or request.aspect_ratio  # the shape asked for is not the one sent
        if w > h:
            h = w / max_ratio
        else:
            w = h / max_ratio
    scale = 1.0
    if max_pixels is not None and w * h > max_pixels:
        adjusted.append(f"at most {max_pixels:,} pixels")
        scale = math.sqrt(max_pixels / (w * h))
    elif min_pixels is not None and w * h < min_pixels:
        adjusted.append(f"at least {min_pixels:,} pixels")
        scale = math.sqrt(min_pixels / (w * h))
    if max(w, h) * scale > max_long_edge:
        adjusted.append(f"long edge at most {max_long_edge}")
        scale = max_long_edge / max(w, h)
    largest = max_long_edge - max_long_edge % multiple

    def snap(value: float, rounding: Callable[[float], float]) -> int:
        snapped = int(rounding(value * scale / multiple)) * multiple
        return min(max(multiple, snapped), largest)

    sides = snap(w, _nearest), snap(h, _nearest)
    # The nearest multiples may step out of the pixel range: round both sides the other way.
    if min_pixels is not None and sides[0] * sides[1] < min_pixels:
        sides = snap(w, math.ceil), snap(h, math.ceil)
    elif max_pixels is not None and sides[0] * sides[1] > max_pixels:
        sides = snap(w, math.floor), snap(h, math.floor)
    if asked is not None and sides != (round(w * scale), round(h * scale)):
        adjusted.append(f"sides multiples of {multiple}")
    return SizeChoice(sides[0], sides[1], None, asked, tuple(adjusted))


def _nearest(value: float) -> float:
    return math.floor(value + 0.5)


__all__ = ["MEGAPIXEL", "SizeChoice", "UnreadableRatio", "nearest_ratio", "parse_ratio",
           "snap_to_rules", "snap_to_table"]  # fmt: skip
