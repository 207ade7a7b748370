"""The one place that writes diagnostics to stderr, so their shape stays the same everywhere."""

from __future__ import annotations

import sys


def warn(message: str) -> None:
    """``imagen: warning: <message>`` on stderr."""
    print(f"imagen: warning: {message}", file=sys.stderr, flush=True)


def note(message: str, *, prefix: str = "imagen") -> None:
    """``imagen: <message>`` on stderr (hints, sink failures as ``imagen: <sink>: <error>``)."""
    print(f"{prefix}: {message}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    """``imagen: error: <message>`` on stderr."""
    print(f"imagen: error: {message}", file=sys.stderr, flush=True)
