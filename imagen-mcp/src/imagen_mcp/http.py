"""The streamable HTTP transport's gate: loopback by default, a bearer token for any other bind,
and no browser page from another origin.

Rules (the same as the studio's HTTP API):

- bound to a loopback address, the endpoint answers local clients; if the token variable is
  set, every request must carry it too;
- bound to any other address, the server refuses to start without a token, and every request
  must send ``Authorization: Bearer <token>`` (401 otherwise);
- a request with an ``Origin`` header (a browser) must come from a loopback origin or one of
  ``mcp.allowed_origins`` (403 otherwise), so a web page cannot drive paid tools;
- on a loopback bind the ``Host`` header must name a loopback host too (403 otherwise): a DNS
  rebinding page reaches 127.0.0.1 under its own name.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any
from urllib.parse import urlsplit

from imagen.errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    name = host.strip("[]").lower()
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


def bearer_token(token_env: str, host: str) -> str | None:
    """The token from ``token_env``; a non-loopback ``host`` without one is a ConfigError."""
    token = os.environ.get(token_env, "").strip() or None
    if token is None and not is_loopback(host):
        raise ConfigError(
            f"imagen mcp --http on {host} is reachable from other machines, so it needs a "
            f"bearer token: put one in the environment variable {token_env} (mcp.token_env), "
            "or bind to 127.0.0.1"
        )
    return token


def _host_name(value: str) -> str:
    """The host of a ``Host`` header value (``[::1]:8751`` -> ``::1``)."""
    if value.startswith("["):
        return value[1 : value.find("]")] if "]" in value else value
    return value.rsplit(":", 1)[0] if value.count(":") == 1 else value


class Gate:
    """ASGI middleware enforcing the rules in the module docstring before the MCP app."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        bind_host: str,
        token: str | None,
        allowed_origins: Sequence[str] = (),
    ) -> None:
        self.app = app
        self.loopback_bind = is_loopback(bind_host)
        self.token = token
        self.allowed_origins = frozenset(origin.rstrip("/").lower() for origin in allowed_origins)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope.get("headers", [])
        }
        refusal = self.refusal(headers)
        if refusal is not None:
            status, message = refusal
            await _answer(send, status, message, bearer=status == 401)
            return
        await self.app(scope, receive, send)

    def refusal(self, headers: dict[str, str]) -> tuple[int, str] | None:
        """(status, message) when the request must be refused, else None."""
        if self.loopback_bind and not is_loopback(_host_name(headers.get("host", ""))):
            return 403, "this server answers only requests addressed to localhost"
        origin = headers.get("origin")
        if origin is not None and not self.origin_allowed(origin):
            return 403, (
                f"requests from the web origin {origin} are refused; add it to "
                "mcp.allowed_origins if that page may use imagen"
            )
        if self.token is not None:
            sent = headers.get("authorization", "")
            scheme, _, value = sent.partition(" ")
            if scheme.lower() != "bearer" or not hmac.compare_digest(
                value.strip().encode(), self.token.encode()
            ):
                return 401, "send the bearer token: Authorization: Bearer <token>"
        return None

    def origin_allowed(self, origin: str) -> bool:
        if origin.rstrip("/").lower() in self.allowed_origins:
            return True
        parts = urlsplit(origin)
        return parts.scheme in ("http", "https") and is_loopback(parts.hostname or "")


async def _answer(send: Send, status: int, message: str, *, bearer: bool) -> None:
    body = json.dumps({"error": message}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if bearer:
        headers.append((b"www-authenticate", b'Bearer realm="imagen"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = ["Gate", "bearer_token", "is_loopback"]
