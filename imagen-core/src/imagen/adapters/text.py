"""Remote text made safe to show: one line, no key, nothing that acts on a terminal, short.

A provider's error message is text imagen did not write. It may quote the request's headers
(a proxy that echoes them), hold a key, span lines, or carry escape sequences. ``remote_text``
is the one rule for all of it, in the one order that is safe: scrub the secrets first (a key
cut in half is no longer recognised), then flatten and escape, then cut.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

#: How long a quoted remote message may be in an error line.
MESSAGE_LIMIT = 300


def remote_text(
    text: Any, *, secrets: Iterable[str | None] = (), limit: int = MESSAGE_LIMIT
) -> str:
    """``text`` scrubbed of ``secrets`` and key-shaped runs, on one line, terminal-safe, and at
    most ``limit`` characters (``...`` marks a cut)."""
    from imagen.adapters.http import scrub
    from imagen.console import terminal_safe

    flat = terminal_safe(" ".join(scrub(str(text), secrets).split()))
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def one_line(text: Any, limit: int = MESSAGE_LIMIT) -> str:
    """``remote_text`` without secrets to name: for text that holds none by construction."""
    return remote_text(text, limit=limit)


def describe_url(url: str) -> str:
    """A short, safe name for a URL in messages: scheme, host and file name only (paths and
    query strings may hold tokens)."""
    if url[:5].lower() == "data:":
        return "data: URL"
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    name = parts.path.rsplit("/", 1)[-1]
    return f"{parts.scheme}://{host}/.../{name}" if name else f"{parts.scheme}://{host}"


__all__ = ["MESSAGE_LIMIT", "describe_url", "one_line", "remote_text"]
