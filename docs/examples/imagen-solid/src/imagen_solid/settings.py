"""The ``type: solid`` block of the config file, and its commented sample."""

from __future__ import annotations

import re
from typing import Any

import attrs

HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
FROM_PROMPT = "prompt"


def _check_color(instance: Any, attribute: Any, value: str) -> None:
    # One plain sentence: imagen shows it after the key's own YAML path and line.
    if value != FROM_PROMPT and not HEX_COLOR.match(value):
        raise ValueError(f"expected '#rrggbb' or 'prompt', got {value!r}")


def _check_positive(instance: Any, attribute: Any, value: float) -> None:
    if value < 0:
        raise ValueError(f"expected 0 or more, got {value!r}")


@attrs.frozen
class SolidSettings:
    """One ``type: solid`` block.

    ``type``, ``concurrency`` and ``cost_per_image`` are the framework's keys, so they are not
    fields here. imagen rejects unknown keys and wrong types before this class sees a value.
    """

    #: ``#rrggbb``, or ``prompt`` for a colour derived from the prompt and the seed
    color: str = attrs.field(default="#3366ff", validator=_check_color)
    #: the size drawn when the request gives neither ``--size`` nor ``--aspect``
    width: int = 1024
    height: int = 1024
    #: the largest image (width x height) this instance will draw
    max_pixels: int = 16_777_216
    #: seconds each take pretends to work, to watch progress and cancellation
    delay: float = attrs.field(default=0.0, validator=_check_positive)


SAMPLE = """\
# Solid colours (the example plugin from docs/writing-plugins.md): offline and free.
solid-blue:
  type: solid
  color: "#3366ff"        # or "prompt": a colour from the prompt and the seed
  # width: 1024           # size when neither --size nor --aspect is given
  # height: 1024
  # max_pixels: 16777216  # refuse larger images
  # delay: 0.0            # seconds per take, to watch the progress bar
"""
