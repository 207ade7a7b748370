"""``--debug`` / ``IMAGEN_DEBUG=1``: tracebacks for errors that are otherwise one line."""

from __future__ import annotations

import os
import sys
import traceback

_enabled = False


def enable() -> None:
    global _enabled
    _enabled = True


def enabled() -> bool:
    return _enabled or os.environ.get("IMAGEN_DEBUG", "") not in ("", "0")


def log_exception(error: BaseException) -> None:
    """Print ``error``'s traceback on stderr when debugging is on."""
    if enabled():
        traceback.print_exception(error, file=sys.stderr)
