"""A local server that speaks ComfyUI 0.8.0's HTTP and websocket protocol, for tests and benchmarks.

It answers as the recorded exchanges with a real ComfyUI 0.8.0 do: the same routes (also under
``/api``), status codes, bodies and headers, the same websocket messages in the same order,
routed to the socket whose ``clientId`` queued the prompt. It "executes" a workflow by
following its links: empty latents and images carry a size, ``KSampler`` takes ``run_time``
seconds over its steps (``progress`` messages and binary preview frames), ``LoadImage`` opens
an uploaded file, and ``SaveImage`` writes a real PNG of the size the graph asks for.

    fake = FakeComfyUI(run_time=0.2, models={"checkpoints": ["flux1-schnell-fp8.safetensors"]})
    with serve_app(fake.app()) as url:
        ...

It is built on ``imagen.testing.FakeServer``, which gives it the record of calls
(``fake.calls``, ``fake.calls_to("prompt")``), scripted faults and holds per step (the route
names below; ``/api/...`` is the same step as ``/...``), and ``wait_until(condition)``, which
blocks the test until the server's state satisfies ``condition``, woken by each change rather
than by polling. A scripted status is answered as aiohttp answers it for ComfyUI: plain text.

Misbehaviours for tests: ``websocket=False`` (no ``/ws`` route: clients must poll),
``drop_socket_after`` (cut the running prompt's socket, without a close frame, after that many
sampler steps), ``silent=True`` (accept connections and never answer: every step held), and
``hold_prompt_answers()`` (queue each ``POST /prompt`` but keep its answer until
``release_prompt_answers()``: the moment a client's cancel can come while the answer is on its
way).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from importlib import resources
from typing import Any

import attrs
from aiohttp import WSMsgType, web

from imagen.testing.fakes import FakeServer
from imagen_comfyui.fake.execution import Run, now_ms
from imagen_comfyui.fake.validation import validate_prompt

MODEL_FOLDERS = {
    "ckpt_name": "checkpoints",
    "unet_name": "diffusion_models",
    "clip_name": "text_encoders",
    "clip_name1": "text_encoders",
    "clip_name2": "text_encoders",
    "clip_name3": "text_encoders",
    "vae_name": "vae",
    "lora_name": "loras",
}
DEFAULT_MODELS = {
    "checkpoints": ["flux1-dev-fp8.safetensors", "flux1-schnell-fp8.safetensors"],
    "diffusion_models": ["flux1-dev.safetensors", "flux1-schnell.safetensors"],
    "text_encoders": ["clip_l.safetensors", "t5xxl_fp8_e4m3fn.safetensors"],
    "vae": ["ae.safetensors"],
    "loras": [],
}


@attrs.define
class Queued:
    """A queued prompt; ComfyUI lists it as ``[number, prompt_id, prompt, extra, outputs]``."""

    number: float
    prompt_id: str
    prompt: dict[str, Any]
    extra_data: dict[str, Any]
    outputs: list[str]

    def as_list(self) -> list[Any]:
        return [self.number, self.prompt_id, self.prompt, self.extra_data, self.outputs]

    @property
    def client_id(self) -> str | None:
        value = self.extra_data.get("client_id")
        return str(value) if value is not None else None


class FakeComfyUI(FakeServer):
    """One fake ComfyUI server's state; ``app()`` is the aiohttp application serving it."""

    def __init__(
        self,
        *,
        run_time: float = 0.05,
        models: Mapping[str, list[str]] | None = None,
        websocket: bool = True,
        drop_socket_after: int | None = None,
        silent: bool = False,
        previews: bool = True,
    ) -> None:
        super().__init__()
        self.run_time = run_time
        self.models = {**DEFAULT_MODELS, **(models or {})}
        self.websocket = websocket
        self.drop_socket_after = drop_socket_after
        self.silent = silent
        if silent:
            self.hold()  # a server that accepted the connection and hangs: never opened
        self.previews = previews
        definitions = resources.files("imagen_comfyui.fake") / "object_info.json"
        self.definitions: dict[str, Any] = json.loads(definitions.read_text(encoding="utf-8"))
        # What clients did, for tests to inspect (beside ``calls``).
        self.interrupts: list[dict[str, Any]] = []
        self.deleted: list[str] = []
        #: perf_counter() when each prompt started running and when its end was announced
        self.started: dict[str, float] = {}
        self.announced: dict[str, float] = {}
        # Server state.
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.pending: list[Queued] = []
        self.running: Queued | None = None
        self.history: dict[str, dict[str, Any]] = {}
        self.sockets: dict[str, tuple[web.WebSocketResponse, web.Request]] = {}
        self.number = 0
        self.counters: dict[str, int] = {}
        self.last_node: str | None = None
        self.interrupt_requested = False
        self._interrupted: asyncio.Event | None = None
        #: ids of prompts queued whose POST /prompt answer is being held
        self.held: list[str] = []
        self._holding = False
        self._released: asyncio.Event | None = None
        self._wake: asyncio.Event | None = None
        self._outbox: asyncio.Queue[Callable[[], Awaitable[None]]] = asyncio.Queue()

    # -- for tests, from their own thread --------------------------------------------------

    @property
    def received(self) -> list[dict[str, Any]]:
        """The JSON bodies of every ``POST /prompt``, in order."""
        bodies = (call.json() for call in self.calls_to("prompt"))
        return [body for body in bodies if isinstance(body, dict)]

    def hold_prompt_answers(self) -> None:
        """From now on, queue each ``POST /prompt`` but hold its answer (ids in ``held``)."""
        self._holding = True

    def release_prompt_answers(self) -> None:
        """Send the held answers, and answer later prompts at once again."""
        self._holding = False
        if self.loop is not None and self._released is not None:
            self.loop.call_soon_threadsafe(self._released.set)

    # -- the application -------------------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
        routes: list[tuple[str, str, Handler, str]] = [  # (method, path, handler, step)
            ("GET", "/system_stats", self.system_stats, "system_stats"),
            ("GET", "/features", self.features, "features"),
            ("GET", "/prompt", self.get_prompt, "queue_remaining"),
            ("POST", "/prompt", self.post_prompt, "prompt"),
            ("GET", "/queue", self.get_queue, "queue"),
            ("POST", "/queue", self.post_queue, "queue_edit"),
            ("POST", "/interrupt", self.post_interrupt, "interrupt"),
            ("GET", "/history", self.get_history, "history_all"),
            ("GET", "/history/{prompt_id}", self.get_history_item, "history"),
            ("POST", "/history", self.post_history, "history_edit"),
            ("GET", "/view", self.view, "view"),
            ("POST", "/upload/image", self.upload_image, "upload"),
            ("GET", "/object_info", self.object_info, "object_info_all"),
            ("GET", "/object_info/{node_class}", self.object_info_one, "object_info"),
        ]
        if self.websocket:
            routes.append(("GET", "/ws", self.ws, "ws"))
        for method, path, handler, step in routes:
            app.router.add_route(method, path, handler, name=step)
            # ComfyUI serves every route under /api too; route names are unique, so the alias
            # is "api:<step>" and step_of counts it as the same step.
            app.router.add_route(method, "/api" + path, handler, name=f"api:{step}")

    def step_of(self, request: web.Request) -> str:
        return super().step_of(request).removeprefix("api:")

    def fault(self, status: int, request: web.Request) -> web.StreamResponse:
        """aiohttp's own plain-text answer, as ComfyUI (or a proxy before it) gives it."""
        from http import HTTPStatus

        headers = {"Retry-After": "0"} if status == 429 else {}
        return web.Response(status=status, text=f"{status}: {HTTPStatus(status).phrase}",
                            headers=headers)  # fmt: skip

    async def on_start(self) -> None:
        self._released = asyncio.Event()
        self._interrupted = asyncio.Event()
        self._wake = asyncio.Event()
        self._outbox = asyncio.Queue()
        self.spawn(self._worker())
        self.spawn(self._publish())

    # -- simple reads ----------------------------------------------------------------------

    async def system_stats(self, request: web.Request) -> web.Response:
        return web.json_response({
            "system": {"os": "linux", "comfyui_version": "0.8.0", "python_version": "3.11",
                       "embedded_python": False, "argv": ["main.py", "--cpu"]},
            "devices": [{"name": "cpu", "type": "cpu", "index": None}],
        })  # fmt: skip

    async def features(self, request: web.Request) -> web.Response:
        return web.json_response(self._features())

    def _features(self) -> dict[str, Any]:
        return {"supports_preview_metadata": True, "max_upload_size": 104857600,
                "extension": {"manager": {"supports_v4": True}}}  # fmt: skip

    def _remaining(self) -> int:
        return len(self.pending) + (1 if self.running else 0)

    async def get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response({"exec_info": {"queue_remaining": self._remaining()}})

    async def get_queue(self, request: web.Request) -> web.Response:
        return web.json_response({
            "queue_running": [self.running.as_list()] if self.running else [],
            "queue_pending": [item.as_list() for item in self.pending],
        })  # fmt: skip

    async def get_history(self, request: web.Request) -> web.Response:
        items = list(self.history.items())
        if "max_items" in request.query:
            items = items[-int(request.query["max_items"]) :]
        return web.json_response(dict(items))

    async def get_history_item(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry is not None else {})

    async def object_info(self, request: web.Request) -> web.Response:
        return web.json_response({name: self._definition(name) for name in self.definitions})

    async def object_info_one(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        return web.json_response({name: self._definition(name)} if name in self.definitions else {})

    def _definition(self, name: str) -> dict[str, Any]:
        """The node definition with loaders' and LoadImage's lists filled from this server."""
        definition: dict[str, Any] = json.loads(json.dumps(self.definitions[name]))
        for group in definition["input"].values():
            for input_name, spec in group.items():
                files = sorted(self.models.get(MODEL_FOLDERS.get(input_name, ""), []))
                if input_name in MODEL_FOLDERS and isinstance(spec[0], list):
                    spec[0] = files
                elif input_name in MODEL_FOLDERS and spec[0] == "COMBO":
                    spec[1]["options"] = files  # newer loaders: ["COMBO", {"options": [...]}]
                elif name == "LoadImage" and input_name == "image":
                    spec[0] = self._input_files()
        return definition

    def _input_files(self) -> list[str]:
        return sorted(
            f"{subfolder}/{name}" if subfolder else name
            for kind, subfolder, name in self.files
            if kind == "input"
        )

    async def view(self, request: web.Request) -> web.Response:
        kind = request.query.get("type", "output")
        if kind not in ("output", "input", "temp"):
            return web.Response(status=400)
        name = request.query.get("filename", "")
        key = (kind, request.query.get("subfolder", ""), name)
        if key not in self.files:
            return web.Response(status=404)
        return web.Response(
            body=self.files[key],
            content_type="image/png",
            headers={"Content-Disposition": f'filename="{name}"'},
        )

    # -- changes ---------------------------------------------------------------------------

    async def upload_image(self, request: web.Request) -> web.Response:
        form = self.call_of(request).form()
        image = form.get("image")
        if image is None or not image.filename:
            return web.Response(status=400)
        name, data = image.filename, image.data

        def text(field: str) -> str:
            value = form.get(field)
            return value.text if value is not None else ""

        kind = text("type") or "input"
        if kind not in ("input", "temp", "output"):
            # ComfyUI's get_dir_by_type knows only these: any other fails with its 500.
            return web.Response(status=500, text="500 Internal Server Error")
        subfolder = text("subfolder")
        overwrite = text("overwrite").lower() in ("true", "1")
        stem, dot, ext = name.rpartition(".")
        index = 1
        while (kind, subfolder, name) in self.files and not overwrite:
            if self.files[(kind, subfolder, name)] == data:
                break
            name = f"{stem} ({index}).{ext}" if dot else f"{ext} ({index})"
            index += 1
        self.files[(kind, subfolder, name)] = bytes(data)
        return web.json_response({"name": name, "subfolder": subfolder, "type": kind})

    async def post_prompt(self, request: web.Request) -> web.Response:
        body = await request.json()  # invalid JSON: aiohttp's own 500, as ComfyUI answers
        # As ComfyUI does: the number is taken before the body is checked, so a rejected
        # prompt uses one up too (the recording's numbers skip past each 400).
        if "number" in body:
            number: float = float(body["number"])
        else:
            number = -self.number if body.get("front") else self.number
            self.number += 1
        if "prompt" not in body:
            no_prompt = {"type": "no_prompt", "message": "No prompt provided",
                         "details": "No prompt provided", "extra_info": {}}  # fmt: skip
            return web.json_response({"error": no_prompt, "node_errors": {}}, status=400)
        prompt = body["prompt"]
        # ComfyUI keeps a client's prompt_id as it came (str() of it), else draws a uuid4.
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        nodes = {name: self._definition(name) for name in self.definitions}
        valid, error, outputs, node_errors = validate_prompt(prompt, nodes, self._input_files())
        if not valid:
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        extra: dict[str, Any] = dict(body.get("extra_data") or {})
        if "client_id" in body:
            extra["client_id"] = body["client_id"]
        extra["create_time"] = now_ms()
        self.pending.append(Queued(number, prompt_id, prompt, extra, outputs))
        await self._queue_updated()
        assert self._wake is not None
        self._wake.set()
        if self._holding:
            assert self._released is not None
            self.held.append(prompt_id)
            self.changed()
            await self._released.wait()
        return web.json_response({"prompt_id": prompt_id, "number": number,
                                  "node_errors": node_errors})  # fmt: skip

    async def post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self.pending.clear()
        for prompt_id in body.get("delete", []):
            self.deleted.append(prompt_id)
            before = len(self.pending)
            self.pending = [item for item in self.pending if item.prompt_id != prompt_id]
            if len(self.pending) != before:
                await self._queue_updated()
        return web.Response(status=200)

    async def post_interrupt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        self.interrupts.append(body)
        prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
        if not prompt_id or (self.running and self.running.prompt_id == prompt_id):
            self.interrupt_requested = True
            if self._interrupted is not None:
                self._interrupted.set()
        return web.Response(status=200)

    async def post_history(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self.history.clear()
        for prompt_id in body.get("delete", []):
            self.history.pop(prompt_id, None)
        return web.Response(status=200)

    async def interrupted_within(self, seconds: float) -> bool:
        """Wait ``seconds`` of "work", cut short by an interrupt; whether one was asked for."""
        if self._interrupted is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(seconds):
                    await self._interrupted.wait()
        else:
            await asyncio.sleep(seconds)
        return self.interrupt_requested

    # -- the websocket ---------------------------------------------------------------------

    async def ws(self, request: web.Request) -> web.WebSocketResponse:
        socket = await self.accept_websocket(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self.sockets[sid] = (socket, request)
        try:
            status = {"status": {"exec_info": {"queue_remaining": self._remaining()}}, "sid": sid}
            await socket.send_json({"type": "status", "data": status})
            if self.running and self.running.client_id == sid and self.last_node is not None:
                await socket.send_json({"type": "executing", "data": {"node": self.last_node}})
            first = True
            async for message in socket:
                if message.type != WSMsgType.TEXT:
                    continue
                data = json.loads(message.data)
                if first and data.get("type") == "feature_flags":
                    await socket.send_json({"type": "feature_flags", "data": self._features()})
                first = False
        finally:
            if self.sockets.get(sid, (None,))[0] is socket:
                del self.sockets[sid]
        return socket

    # Like ComfyUI's PromptServer, messages go through one outbox that a publisher task
    # drains, so a handler's HTTP answer is not held up by its websocket messages and every
    # socket gets its messages in the order they were queued.

    async def send(self, kind: str, data: dict[str, Any], sid: str | None) -> None:
        """To ``sid``'s socket; to every socket when ``sid`` is None (a broadcast)."""

        async def deliver() -> None:
            targets = list(self.sockets.values()) if sid is None else [self.sockets.get(sid)]
            for target in targets:
                if target is not None:
                    with contextlib.suppress(ConnectionError, RuntimeError):
                        await target[0].send_json({"type": kind, "data": data})

        self._outbox.put_nowait(deliver)

    async def send_binary(self, payload: bytes, sid: str | None) -> None:
        async def deliver() -> None:
            target = self.sockets.get(sid) if sid else None
            if target is not None:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await target[0].send_bytes(payload)

        self._outbox.put_nowait(deliver)

    def drop_sockets(self, sid: str | None) -> None:
        """Cut the connection under ``sid``'s socket, without a close frame, once the messages
        queued before are out."""

        async def deliver() -> None:
            target = self.sockets.pop(sid, None) if sid else None
            if target is not None:
                self.drop(target[1])

        self._outbox.put_nowait(deliver)

    async def _publish(self) -> None:
        while True:
            deliver = await self._outbox.get()
            await deliver()

    async def _queue_updated(self) -> None:
        await self.send(
            "status", {"status": {"exec_info": {"queue_remaining": self._remaining()}}}, None
        )

    # -- execution -------------------------------------------------------------------------

    async def _worker(self) -> None:
        assert self._wake is not None
        while True:
            while not self.pending:
                self._wake.clear()
                await self._wake.wait()
            item = min(self.pending, key=lambda queued: queued.number)
            self.pending.remove(item)
            self.running = item
            self.changed()
            await self._queue_updated()
            await self._execute(item)

    async def _execute(self, item: Queued) -> None:
        run = Run(self, item)
        self.interrupt_requested = False
        if self._interrupted is not None:
            self._interrupted.clear()
        self.started[item.prompt_id] = time.perf_counter()
        await run.execute()
        self.history[item.prompt_id] = run.history_entry()
        self.running = None
        self.last_node = None
        self.changed()
        await self._queue_updated()
        self.announced[item.prompt_id] = time.perf_counter()
        await self.send("executing", {"node": None, "prompt_id": item.prompt_id}, item.client_id)
