"""Who may talk to the server: the bind rule, the bearer token, Host and Origin checks.

This server spends money, so every request passes ``Guard`` before anything else reads it:

- ``Host`` must name this server (a DNS-rebinding page has its own name in ``Host``);
- a request carrying an ``Origin`` that is not this server's own is refused, so a web page
  open in the user's browser cannot post a paid job to localhost;
- with a token set, every ``/v1`` request (but the health check) carries it, as
  ``Authorization: Bearer`` or the ``imagen_token`` cookie the page sets; it is compared in
  constant time and appears in no log line or error.

Binding anywhere but loopback without a token is refused before the socket opens
(``check_bind``).
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import os
import socket
from collections.abc import Awaitable, Callable, Iterable, MutableMapping
from typing import Any

import attrs

from imagen.errors import ConfigError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

TOKEN_COOKIE = "imagen_token"
#: paths anyone who may reach the server can read: the page, its files, the health check
PUBLIC_PREFIXES = ("/static/",)
PUBLIC_PATHS = frozenset({"/", "/favicon.ico", "/v1/health"})


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or ``localhost``) only accepts this machine's connections."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def read_token(token_env: str) -> str | None:
    """The bearer token from ``$token_env`` (None when unset or blank)."""
    value = os.environ.get(token_env, "").strip()
    return value or None


def check_bind(host: str, token: str | None, token_env: str) -> None:
    """Refuse a bind that others can reach unless a token guards it."""
    if is_loopback(host) or token:
        return
    raise ConfigError(
        f"imagen serve would listen on {host}, which other machines can reach, without a "
        f"token: set {token_env} (server.token_env) to a long random value, or bind "
        "127.0.0.1 (--host 127.0.0.1)"
    )


def host_names(host: str, extra: Iterable[str] = ()) -> frozenset[str]:
    """The names a client may use in ``Host`` for a server bound to ``host``."""
    names = {host.strip("[]").lower(), *(name.lower() for name in extra)}
    if is_loopback(host):
        names |= {"localhost", "127.0.0.1", "::1"}
    elif host in ("0.0.0.0", "::"):
        names |= {"localhost", "127.0.0.1", "::1", socket.gethostname().lower()}
    return frozenset(names)


def split_host(value: str) -> tuple[str, str | None]:
    """``"[::1]:8750"`` -> ``("::1", "8750")``; ``"localhost"`` -> ``("localhost", None)``."""
    value = value.strip().lower()
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        return name, rest[1:] if rest.startswith(":") else None
    name, sep, port = value.rpartition(":")
    if sep and port.isdigit() and ":" not in name:
        return name, port
    return value, None


@attrs.frozen
class Policy:
    """What ``Guard`` enforces: the names this server answers to, its port, the token."""

    hosts: frozenset[str]
    port: int
    token: str | None = attrs.field(default=None, repr=False)

    def host_ok(self, value: str | None) -> bool:
        if not value:
            return False
        name, port = split_host(value)
        return name in self.hosts and (port is None or port == str(self.port))

    def origin_ok(self, origin: str, host_header: str) -> bool:
        """The page's own origin: ``http://`` plus the very ``Host`` this request came to."""
        return origin.strip().lower() == f"http://{host_header.strip().lower()}"

    def token_ok(self, given: str | None) -> bool:
        if self.token is None:
            return True
        if given is None:
            return False
        return hmac.compare_digest(given.encode("utf-8"), self.token.encode("utf-8"))


def _headers(scope: Scope) -> dict[str, str]:
    headers: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", []):
        name = raw_name.decode("latin-1").lower()
        if name not in headers:  # a repeated header: the first one counts, as for Host
            headers[name] = raw_value.decode("latin-1")
    return headers


def _bearer(headers: dict[str, str]) -> str | None:
    scheme, _, value = headers.get("authorization", "").partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    for part in headers.get("cookie", "").split(";"):
        name, _, value = part.strip().partition("=")
        if name == TOKEN_COOKIE and value:
            from urllib.parse import unquote

            return unquote(value)
    return None


class Guard:
    """ASGI middleware enforcing ``policy`` before the app sees the request."""

    def __init__(
        self, app: ASGIApp, policy: Policy, allow: Callable[[str], str | None] | None = None
    ) -> None:
        self.app = app
        self.policy = policy
        #: the methods a path answers (for OPTIONS), None for a path that does not exist
        self.allow = allow

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        host = headers.get("host")
        policy = self.policy
        if not policy.host_ok(host):
            await _refuse(send, 403, "this server does not answer to that Host name; open it "
                          "at the address imagen serve printed")  # fmt: skip
            return
        origin = headers.get("origin")
        if origin is not None and not policy.origin_ok(origin, host or ""):
            await _refuse(send, 403, "requests from other web pages are refused; use the "
                          "studio page this server serves")  # fmt: skip
            return
        path = scope.get("path", "")
        public = path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)
        if not public and not policy.token_ok(_bearer(headers)):
            await _refuse(send, 401, "a valid bearer token is required: send "
                          "'Authorization: Bearer <token>' with the server's token",
                          auth=True)  # fmt: skip
            return
        if scope.get("method") == "OPTIONS" and self.allow is not None:
            # No CORS here (other origins are refused above): OPTIONS only says what a path
            # answers, for every handler of the path, not just the first one registered.
            await _options(send, self.allow(path))
            return
        await self.app(scope, receive, send)


async def _options(send: Send, allow: str | None) -> None:
    if allow is None:
        await _refuse(send, 404, "no such page or endpoint here; the API is under /v1")
        return
    headers = [(b"allow", allow.encode("ascii")), (b"content-length", b"0")]
    await send({"type": "http.response.start", "status": 204, "headers": headers})
    await send({"type": "http.response.body", "body": b""})


async def _refuse(send: Send, status: int, detail: str, *, auth: bool = False) -> None:
    title = {401: "Unauthorized", 403: "Forbidden", 404: "Not found"}[status]
    kind = title.lower().replace(" ", "-")
    body = json.dumps(
        {"type": f"urn:imagen:{kind}", "title": title, "status": status, "detail": detail}
    ).encode("utf-8")
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode("ascii")),
    ]
    if auth:
        headers.append((b"www-authenticate", b"Bearer"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


__all__ = [
    "TOKEN_COOKIE",
    "Guard",
    "Policy",
    "check_bind",
    "host_names",
    "is_loopback",
    "read_token",
    "split_host",
]
