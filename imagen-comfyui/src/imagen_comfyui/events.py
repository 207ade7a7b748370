"""Following a run on ComfyUI's websocket (``/ws?clientId=``), and reporting its progress.

The server sends every socket a ``status`` broadcast, and the socket whose ``clientId`` queued
a prompt also gets that prompt's events, in this order:

    execution_start, execution_cached, (executing {node}, progress {value, max}, executed)...,
    execution_success | execution_error | execution_interrupted, executing {node: null}

``executing`` with ``node: null`` means the run is over and its history is written. Binary
frames are previews (or ``SaveImageWebsocket`` output); imagen reads outputs from the history
instead, so they are skipped.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit, urlunsplit

from imagen_comfyui.failures import execution_error, execution_interrupted, vanished_prompt

if TYPE_CHECKING:
    from websockets.asyncio.client import ClientConnection

    from imagen.adapters import TakeProgress

#: Seconds to wait for the websocket handshake before falling back to polling /history.
OPEN_TIMEOUT = 5.0
#: Seconds to wait for the server's side of the close handshake.
CLOSE_TIMEOUT = 1.0
#: Largest frame accepted; previews and SaveImageWebsocket frames are whole images.
MAX_FRAME = 64 * 1024 * 1024


def socket_url(url: str, client_id: str) -> str:
    """``http://host:8188/prefix`` -> ``ws://host:8188/prefix/ws?clientId=...``."""
    parts = urlsplit(url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    path = parts.path.rstrip("/") + "/ws"
    return urlunsplit((scheme, parts.netloc, path, f"clientId={quote(client_id)}", ""))


async def open_socket(
    url: str, client_id: str, headers: Mapping[str, str]
) -> ClientConnection | None:
    """The run's websocket, or None when it cannot be opened (the caller polls instead).

    A redirect to another origin is not followed while ``headers`` (the proxy's credentials)
    are set: websockets drops only ``Authorization`` and cookies when it crosses one.
    """
    from websockets.asyncio.client import connect
    from websockets.exceptions import SecurityError, WebSocketException

    class _SameOrigin(connect):
        def process_redirect(self, exc: Exception) -> Exception | str:
            target = super().process_redirect(exc)
            if isinstance(target, str) and headers and _origin(target) != _origin(self.uri):
                return SecurityError("a redirect to another origin is not followed with keys")
            return target

    try:
        return await _SameOrigin(
            socket_url(url, client_id),
            additional_headers=dict(headers),
            open_timeout=OPEN_TIMEOUT,
            close_timeout=CLOSE_TIMEOUT,
            max_size=MAX_FRAME,
            # Frames are small JSON or already-compressed preview images: deflate buys nothing.
            compression=None,
        )
    except (OSError, WebSocketException, TimeoutError):
        return None


def _origin(url: str) -> tuple[bool, str, int]:
    # websockets' own reading of a ws:// or wss:// URI (default ports filled in), the one it
    # compares origins by; it has already parsed both URIs, so this cannot fail.
    from websockets.uri import parse_uri

    uri = parse_uri(url)
    return uri.secure, uri.host, uri.port


async def watch(
    socket: ClientConnection,
    prompt_id: str,
    take: TakeProgress,
    *,
    backend: str,
    vanished: Callable[[], Awaitable[bool]],
) -> bool:
    """Follow ``prompt_id`` until it finishes: True when it did, False if the socket closed first.

    Raises the run's failure (``execution_error``, or ``execution_interrupted`` by someone else).
    A queue change before the run starts (a ``status`` broadcast) may mean the prompt was
    deleted from the queue, which sends no event of its own: ``vanished()`` asks the server.
    """
    from websockets.exceptions import ConnectionClosed

    started = False
    try:
        async for message in socket:
            if isinstance(message, bytes):
                continue
            kind, data = _parse(message)
            if kind == "status" and not started and await vanished():
                raise vanished_prompt(prompt_id, backend=backend)
            if data.get("prompt_id") != prompt_id:
                continue
            if kind == "executing" and data.get("node") is None:
                return True
            if kind == "execution_start":
                started = True
                take.note("running")
            elif kind == "progress":
                value, maximum = data.get("value"), data.get("max")
                if isinstance(value, int | float) and isinstance(maximum, int | float):
                    take.update(value, maximum, "sampling")  # the sampler's step of its steps
            elif kind == "execution_error":
                raise execution_error(data, backend=backend)
            elif kind == "execution_interrupted":
                raise execution_interrupted(data, backend=backend)
    except ConnectionClosed:
        return False
    return False


def _parse(message: str) -> tuple[str, Mapping[str, Any]]:
    try:
        event = json.loads(message)
    except ValueError:
        return "", {}
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return "", {}
    return str(event.get("type", "")), event["data"]
