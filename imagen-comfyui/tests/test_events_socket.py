"""The run's websocket and redirects: a proxy's credentials (``headers_env``) never follow a
redirect to another origin (websockets itself drops only ``Authorization`` and cookies there)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest
from aiohttp import web

from imagen.testing import serve_app
from imagen_comfyui.events import open_socket

HEADERS = {"X-Proxy-Token": "proxy-secret-0123456789"}


class SocketServer:
    """Answers ``/ws`` with a websocket, or with a redirect to ``redirect_to`` when set, and
    records the headers of every request that reached it."""

    def __init__(self) -> None:
        self.seen: list[dict[str, str]] = []
        self.redirect_to: str | None = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ws", self.socket)
        app.router.add_get("/moved/ws", self.socket)
        return app

    async def socket(self, request: web.Request) -> web.StreamResponse:
        self.seen.append(dict(request.headers))
        if self.redirect_to is not None and request.path == "/ws":
            raise web.HTTPFound(self.redirect_to)
        answer = web.WebSocketResponse()
        await answer.prepare(request)
        await answer.close()
        return answer


@pytest.fixture
def servers() -> Iterator[tuple[SocketServer, str, SocketServer, str]]:
    first, second = SocketServer(), SocketServer()
    with serve_app(first.app()) as first_url, serve_app(second.app()) as second_url:
        yield first, first_url, second, second_url


def opened(url: str, headers: dict[str, str]) -> bool:
    async def run() -> bool:
        socket = await open_socket(url, "client-1", headers)
        if socket is None:
            return False
        await socket.close()
        return True

    return asyncio.run(run())


def test_a_redirect_to_another_origin_is_not_followed_with_the_proxys_headers(
    servers: tuple[SocketServer, str, SocketServer, str],
) -> None:
    first, first_url, second, second_url = servers
    first.redirect_to = second_url.replace("http:", "ws:") + "/ws?clientId=client-1"
    assert not opened(first_url, HEADERS)  # the caller then polls over HTTP instead
    assert first.seen[0]["X-Proxy-Token"] == HEADERS["X-Proxy-Token"]
    assert second.seen == []


def test_a_redirect_on_the_same_origin_keeps_the_proxys_headers(
    servers: tuple[SocketServer, str, SocketServer, str],
) -> None:
    first, first_url, _, _ = servers
    first.redirect_to = "/moved/ws?clientId=client-1"
    assert opened(first_url, HEADERS)
    assert [seen["X-Proxy-Token"] for seen in first.seen] == [HEADERS["X-Proxy-Token"]] * 2


def test_without_headers_a_redirect_to_another_origin_is_followed(
    servers: tuple[SocketServer, str, SocketServer, str],
) -> None:
    first, first_url, second, second_url = servers
    first.redirect_to = second_url.replace("http:", "ws:") + "/ws?clientId=client-1"
    assert opened(first_url, {})
    assert len(second.seen) == 1
