"""FakeServer's server-side machinery: waiting on its state, workers, websockets, forms, drops."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from aiohttp import WSMsgType, web

from imagen.testing import FakeServer, serve_app


class FakeBoard(FakeServer):
    """A toy provider: POST /jobs queues a job that a worker finishes; /ws announces it."""

    def __init__(self) -> None:
        super().__init__()
        self.finished: list[str] = []
        self.worker_cancelled = False
        self.uploads: list[tuple[str | None, bytes, str]] = []
        self._jobs: asyncio.Queue[str] | None = None
        self._listeners: list[web.WebSocketResponse] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/jobs", self.queue_job, name="jobs")
        app.router.add_post("/upload", self.upload, name="upload")
        app.router.add_get("/ws", self.ws, name="ws")
        app.router.add_get("/cut", self.cut, name="cut")

    async def on_start(self) -> None:
        self._jobs = asyncio.Queue()  # bound to the server's loop, so made there
        self.spawn(self.work())

    async def work(self) -> None:
        assert self._jobs is not None
        try:
            while True:
                job = await self._jobs.get()
                self.finished.append(job)
                for socket in self._listeners:
                    await socket.send_str(job)
                self.changed()
        except asyncio.CancelledError:
            self.worker_cancelled = True
            raise

    async def queue_job(self, request: web.Request) -> web.Response:
        assert self._jobs is not None
        self._jobs.put_nowait((await request.json())["name"])
        return web.json_response({"queued": True})

    async def upload(self, request: web.Request) -> web.Response:
        form = self.call_of(request).form()
        image, kind = form["image"], form["type"].text
        self.uploads.append((image.filename, image.data, kind))
        return web.json_response({"name": image.filename, "type": image.content_type})

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        socket = await self.accept_websocket(request)
        self._listeners.append(socket)
        async for _ in socket:
            pass
        return socket

    async def cut(self, request: web.Request) -> web.Response:
        self.drop(request)
        return web.Response()


def test_wait_until_wakes_on_the_fakes_own_changes_not_on_a_clock() -> None:
    fake = FakeBoard()
    with serve_app(fake.app()) as url:
        httpx.post(f"{url}/jobs", json={"name": "one"})
        fake.wait_until(lambda: fake.finished == ["one"])
        with pytest.raises(AssertionError, match="never got there"):
            fake.wait_until(lambda: False, timeout=0.01)


def test_workers_start_on_the_servers_loop_and_are_cancelled_when_it_stops() -> None:
    fake = FakeBoard()
    with serve_app(fake.app()):
        assert fake.loop is not None
    assert fake.worker_cancelled


def test_an_open_websocket_gets_the_servers_messages_and_is_closed_when_it_stops() -> None:
    import aiohttp

    fake = FakeBoard()

    async def main(url: str) -> list[str | WSMsgType]:
        got: list[str | WSMsgType] = []
        async with aiohttp.ClientSession() as session, session.ws_connect(f"{url}/ws") as ws:
            await asyncio.to_thread(fake.wait_until, lambda: bool(fake.calls_to("ws")))
            await session.post(f"{url}/jobs", json={"name": "two"})
            got.append((await ws.receive()).data)
            stopping.set()
            got.append((await ws.receive()).type)  # the server's close frame
        return got

    stopping = asyncio.Event()
    loop = asyncio.new_event_loop()
    try:
        with serve_app(fake.app()) as url:
            task = loop.create_task(main(url))
            loop.run_until_complete(stopping.wait())
            # serve_app stops the server with the socket still open: the scaffold closes it.
        assert loop.run_until_complete(task) == ["two", WSMsgType.CLOSE]
    finally:
        loop.close()


def test_a_multipart_body_is_read_from_the_recorded_call() -> None:
    fake = FakeBoard()
    png = b"\x89PNG\r\n\x1a\n\r\n--not-a-boundary\r\n\x00\xff"
    with serve_app(fake.app()) as url:
        answer = httpx.post(
            f"{url}/upload",
            files={"image": ("cat.png", png, "image/png")},
            data={"type": "input"},
        )
    assert answer.json() == {"name": "cat.png", "type": "image/png"}
    assert fake.uploads == [("cat.png", png, "input")]
    assert fake.calls_to("upload")[0].form()["type"].filename is None


def test_a_form_of_another_kind_reads_as_no_fields() -> None:
    fake = FakeBoard()
    with serve_app(fake.app()) as url:
        httpx.post(f"{url}/jobs", json={"name": "three"})
    assert fake.calls_to("jobs")[0].form() == {}


def test_a_dropped_connection_gets_no_answer() -> None:
    fake = FakeBoard()
    with serve_app(fake.app()) as url, pytest.raises(httpx.RemoteProtocolError):
        httpx.get(f"{url}/cut")
    assert json.loads(json.dumps([call.step for call in fake.calls])) == ["cut"]
