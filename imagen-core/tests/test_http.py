"""The shared HTTP layer over a real loopback socket: retries declared, hints honoured."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web

from imagen.adapters.http import (
    Retry,
    RetryPolicy,
    hint_in_text,
    make_client,
    retry_after_header,
    scrub,
    send,
)
from imagen.testing.servers import serve_app


class Script:
    """A server that answers each request with the next scripted reply."""

    def __init__(self) -> None:
        self.replies: list[Any] = []
        self.seen: list[web.Request] = []

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(request)
        reply = self.replies.pop(0) if self.replies else web.json_response({"ok": True})
        if reply == "drop":
            if request.transport is not None:
                request.transport.close()
            return web.Response()
        return reply  # type: ignore[no-any-return]


@pytest.fixture
def server() -> Iterator[tuple[Script, str]]:
    script = Script()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    with serve_app(app) as url:
        yield script, url


def call(url: str, policy: RetryPolicy, waits: list[float] | None = None) -> Any:
    recorded = waits if waits is not None else []

    async def no_sleep(seconds: float) -> None:
        recorded.append(seconds)

    async def main() -> Any:
        async with make_client(base_url=url, timeout=10) as client:
            return await send(client, "POST", "/thing", policy=policy.with_sleep(no_sleep), json={})

    return asyncio.run(main())


def test_429_is_retried_honouring_retry_after(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [
        web.json_response({}, status=429, headers={"Retry-After": "7"}) for _ in range(2)
    ]
    waits: list[float] = []
    response = call(url, RetryPolicy(Retry.on_status(429, attempts=3)), waits)
    assert response.status_code == 200
    assert waits == [7.0, 7.0]
    assert len(script.seen) == 3


def test_retries_stop_after_the_declared_attempts(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=503) for _ in range(5)]
    response = call(url, RetryPolicy(Retry.on_status(503, attempts=1)))
    assert response.status_code == 503
    assert len(script.seen) == 2


def test_backoff_doubles_without_a_hint(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=500) for _ in range(3)]
    waits: list[float] = []
    call(url, RetryPolicy(Retry.on_status(500, attempts=3, backoff=0.5)), waits)
    assert waits == [0.5, 1.0, 2.0]


def test_hint_in_the_body_is_read(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({"detail": "throttled, retry in ~4s"}, status=429)]
    waits: list[float] = []
    policy = RetryPolicy(Retry.on_status(429, attempts=2), retry_after=hint_in_text(r"~(\d+)s"))
    assert call(url, policy, waits).status_code == 200
    assert waits == [4.0]


def test_statuses_not_declared_are_not_retried(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = [web.json_response({}, status=422)]
    response = call(url, RetryPolicy(Retry.on_status(429, 503, attempts=3)))
    assert response.status_code == 422
    assert len(script.seen) == 1


def test_dropped_connection_is_retried_as_a_transport_error(server: tuple[Script, str]) -> None:
    script, url = server
    script.replies = ["drop"]
    assert call(url, RetryPolicy(Retry.on_transport(attempts=1))).status_code == 200
    assert len(script.seen) == 2


def test_transport_error_is_raised_when_retries_run_out(server: tuple[Script, str]) -> None:
    import httpx

    script, url = server
    script.replies = ["drop", "drop"]
    with pytest.raises(httpx.TransportError):
        call(url, RetryPolicy(Retry.on_transport(attempts=1)))


def test_client_sends_the_imagen_user_agent(server: tuple[Script, str]) -> None:
    script, url = server
    call(url, RetryPolicy())
    assert script.seen[0].headers["User-Agent"].startswith("imagen/")


def test_retry_after_accepts_an_http_date() -> None:
    import email.utils

    import httpx

    when = email.utils.formatdate(time.time() + 30, usegmt=True)
    response = httpx.Response(429, headers={"Retry-After": when})
    seconds = retry_after_header(response)
    assert seconds is not None
    assert 25 <= seconds <= 31


def test_scrub_removes_every_secret() -> None:
    text = "401 for token r8_secretvalue at https://x/?key=r8_secretvalue"
    assert scrub(text, ["r8_secretvalue", None, ""]) == "401 for token *** at https://x/?key=***"
