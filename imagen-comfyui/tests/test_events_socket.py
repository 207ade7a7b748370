"""The run's websocket: following a run over it, and its redirects.

``watch`` is tested against a socket that plays back what a real ComfyUI 0.8.0 sent one client
(``captures/ws-*.jsonl``, frame by frame, binary previews included) and then closes or cuts the
connection. A proxy's credentials (``headers_env``) never follow a redirect to another origin
(websockets itself drops only ``Authorization`` and cookies there).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from imagen.adapters import TakeProgress
from imagen.errors import BackendError
from imagen.testing import serve_app
from imagen_comfyui import events
from imagen_comfyui.events import open_socket, socket_url, watch

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


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("http://127.0.0.1:8188", "ws://127.0.0.1:8188/ws?clientId=client%201"),
        (
            "https://comfy.example.org/gpuX/",
            "wss://comfy.example.org/gpuX/ws?clientId=client%201",
        ),
    ],
)
def test_the_socket_is_the_servers_ws_under_its_prefix_over_tls_for_https(
    url: str, expected: str
) -> None:
    assert socket_url(url, "client 1") == expected


# -- following a run ------------------------------------------------------------------------

CAPTURES = Path(__file__).with_name("captures")
#: The prompt ids of the recorded runs.
EMPTY = "e11aefd8-525c-43ba-b12f-a0bd08c8f6aa"  # ws-emptyimage-save-abc
SAVED = "7012f0dc-0bf4-44c5-8667-b6aba556af95"  # ws-save-image-websocket-abc
CACHED = "f2991364-c077-4b31-a83d-3f3e4e383061"  # ws-emptyimage-save-again-cached-abc
FAILED = "58c3ac5e-9063-4fc7-86ca-bcfa321b0bb9"  # ws-runtime-error-loadimage-abc
STOPPED = "68642258-6a26-4966-a263-ade9229f2d04"  # ws-queue-delete-interrupt-abc


def first(frames: list[str | bytes], text: str) -> int:
    """The index of the first text frame holding ``text``."""
    return next(i for i, frame in enumerate(frames) if isinstance(frame, str) and text in frame)


def recorded(name: str) -> list[str | bytes]:
    """The frames one socket received, in order: JSON text as ComfyUI wrote it, or bytes."""
    frames: list[str | bytes] = []
    for line in (CAPTURES / f"{name}.jsonl").read_text().splitlines():
        entry = json.loads(line)
        if entry.get("frame") == "text":
            frames.append(json.dumps(entry["data"]))
        elif entry.get("frame") == "binary":
            frames.append((CAPTURES / entry["saved_as"]).read_bytes())
    return frames


class Playback:
    """A ``/ws`` that sends ``frames`` and then ends the connection as ``end`` says:
    ``"close"`` (a close frame, as a proxy or a restarting server sends) or ``"drop"`` (the
    connection cut without one)."""

    def __init__(self, frames: list[str | bytes], end: str = "close") -> None:
        self.frames = frames
        self.end = end

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/ws", self.socket)
        return app

    async def socket(self, request: web.Request) -> web.StreamResponse:
        answer = web.WebSocketResponse()
        await answer.prepare(request)
        for frame in self.frames:
            if isinstance(frame, bytes):
                await answer.send_bytes(frame)
            else:
                await answer.send_str(frame)
        if self.end == "drop":
            assert request.transport is not None
            request.transport.close()
        else:
            await answer.close()
        return answer


class Seen(TakeProgress):
    """A take's progress that records what it was told, in order."""

    def __init__(self) -> None:
        self.told: list[tuple[Any, ...]] = []

    def update(self, done: float, total: float | None = None, message: str = "") -> None:
        self.told.append(("update", done, total, message))

    def note(self, message: str) -> None:
        self.told.append(("note", message))


class Server:
    """``vanished()`` for ``watch``: counts the times it is asked, answers ``gone``."""

    def __init__(self, gone: bool = False) -> None:
        self.gone = gone
        self.asked = 0

    async def vanished(self) -> bool:
        self.asked += 1
        return self.gone


def follow(
    frames: list[str | bytes], prompt_id: str, *, end: str = "close", server: Server | None = None
) -> tuple[bool, Seen]:
    """``watch`` over a socket playing ``frames``: whether it finished, and the progress told."""
    seen = Seen()

    async def run(url: str) -> bool:
        socket = await open_socket(url, "abc", {})
        assert socket is not None
        try:
            return await watch(
                socket, prompt_id, seen, backend="local", vanished=(server or Server()).vanished
            )
        finally:
            await socket.close()

    with serve_app(Playback(frames, end).app()) as url:
        return asyncio.run(run(url)), seen


def test_a_run_is_followed_to_its_end_with_its_progress_and_previews_skipped() -> None:
    frames = recorded("ws-connect-abc") + recorded("ws-save-image-websocket-abc")
    assert any(isinstance(frame, bytes) for frame in frames)  # a preview comes mid-run
    finished, seen = follow(frames, SAVED)
    assert finished
    # The node's own progress (0 of 1 here; a sampler's step of its steps).
    assert seen.told == [("note", "running"), ("update", 0, 1, "sampling")]


def test_a_run_comfyui_answers_from_its_cache_is_followed_to_its_end() -> None:
    finished, seen = follow(recorded("ws-emptyimage-save-again-cached-abc"), CACHED)
    assert finished
    assert seen.told == [("note", "running")]


def test_events_of_another_prompt_on_the_socket_are_not_taken_for_this_ones() -> None:
    # The same recorded run, followed for another prompt: none of it is that prompt's.
    finished, seen = follow(recorded("ws-save-image-websocket-abc"), "another-prompt")
    assert not finished
    assert seen.told == []


@pytest.mark.parametrize("end", ["close", "drop"])
def test_a_socket_that_ends_before_the_runs_end_message_is_not_a_finished_run(end: str) -> None:
    frames = recorded("ws-save-image-websocket-abc")
    finished, seen = follow(frames[: first(frames, '"execution_success"') + 1], SAVED, end=end)
    assert not finished  # the caller then polls /history for the outcome
    assert ("note", "running") in seen.told


def test_a_node_failing_on_the_server_raises_its_error_from_the_socket() -> None:
    with pytest.raises(BackendError) as caught:
        follow(recorded("ws-runtime-error-loadimage-abc"), FAILED)
    assert str(caught.value) == (
        "local: ComfyUI failed in node 1 (LoadImage): PIL.UnidentifiedImageError: "
        "cannot identify image file '/srv/comfyui/input/not-an-image.png'"
    )


def test_a_run_interrupted_on_the_server_raises_from_the_socket() -> None:
    with pytest.raises(BackendError) as caught:
        follow(recorded("ws-queue-delete-interrupt-abc"), STOPPED)
    assert str(caught.value) == (
        "local: the run was interrupted on the ComfyUI server at node 4 (SaveImage); try again"
    )


@pytest.mark.parametrize(
    ("name", "prompt_id", "later"),
    [("ws-emptyimage-save-abc", EMPTY, 1), ("ws-queue-delete-interrupt-abc", STOPPED, 4)],
)
def test_the_server_is_asked_about_the_prompt_only_at_queue_changes_before_it_runs(
    name: str, prompt_id: str, later: int
) -> None:
    # Recorded: the connect status and two queue changes before execution_start, then more
    # while it runs (another client's prompt queued and deleted, the run's end). A prompt
    # deleted from the queue sends no event: only a queue change before it runs can mean that.
    frames = recorded("ws-connect-abc") + recorded(name)
    start = first(frames, '"execution_start"')
    statuses = [i for i, frame in enumerate(frames) if '"type": "status"' in str(frame)]
    assert (len([i for i in statuses if i < start]), len([i for i in statuses if i > start])) == (
        3,
        later,
    )
    server = Server()
    with contextlib.suppress(BackendError):  # the second run is interrupted
        follow(frames, prompt_id, server=server)
    assert server.asked == 3


def test_a_prompt_the_server_no_longer_has_is_an_error_at_the_first_queue_change() -> None:
    server = Server(gone=True)
    with pytest.raises(BackendError) as caught:
        follow(recorded("ws-emptyimage-save-abc"), EMPTY, server=server)
    assert server.asked == 1
    assert str(caught.value) == (
        f"local: prompt {EMPTY} left ComfyUI's queue without running (deleted on the server, "
        "or the server restarted); try again"
    )


@pytest.mark.parametrize(("value", "maximum"), [(None, 4), (2, None), ("2", 4), (2, "4")])
def test_a_progress_message_without_numbers_is_skipped(value: Any, maximum: Any) -> None:
    # Custom nodes report through the same progress hook; one sending a non-number must not
    # break the run being followed.
    frames = recorded("ws-save-image-websocket-abc")
    odd = json.dumps({"type": "progress", "data": {"value": value, "max": maximum,
                                                   "prompt_id": SAVED, "node": "2"}})  # fmt: skip
    progress = first(frames, '"type": "progress"')
    finished, seen = follow([*frames[:progress], odd, *frames[progress:]], SAVED)
    assert finished
    assert seen.told == [("note", "running"), ("update", 0, 1, "sampling")]


def test_frames_of_other_shapes_on_the_socket_are_skipped() -> None:
    # Custom nodes broadcast their own messages on the same socket ({"type", "data"} with any
    # data); a proxy may send text of its own. None of it is the run's.
    odd = [
        "not json",
        "[1, 2]",
        '{"type": "status"}',
        '{"type": "crystools.monitor", "data": null}',
        '{"type": "executing", "data": ["1"]}',
        json.dumps({"data": {"prompt_id": SAVED, "node": None}}),  # no type
    ]
    finished, seen = follow([*odd, *recorded("ws-save-image-websocket-abc")], SAVED)
    assert finished
    assert seen.told == [("note", "running"), ("update", 0, 1, "sampling")]


def test_an_image_frame_of_several_megabytes_does_not_end_the_watch() -> None:
    # SaveImageWebsocket sends whole images on the socket, far past websockets' default
    # 1 MiB frame limit; a 2048x2048 PNG is several MB.
    frames = recorded("ws-save-image-websocket-abc")
    image = next(frame for frame in frames if isinstance(frame, bytes))
    large = image[:8] + bytes(3 * 1024 * 1024)
    finished, seen = follow([large if frame == image else frame for frame in frames], SAVED)
    assert finished
    assert seen.told == [("note", "running"), ("update", 0, 1, "sampling")]


def test_a_frame_past_the_limit_ends_the_watch(monkeypatch: pytest.MonkeyPatch) -> None:
    # The limit keeps a misbehaving server from filling memory; the caller then polls.
    monkeypatch.setattr(events, "MAX_FRAME", 1024)
    frames = recorded("ws-save-image-websocket-abc")
    image = next(frame for frame in frames if isinstance(frame, bytes))
    large = image[:8] + bytes(2048)
    finished, seen = follow([large if frame == image else frame for frame in frames], SAVED)
    assert not finished
    assert seen.told == [("note", "running"), ("update", 0, 1, "sampling")]
