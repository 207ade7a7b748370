"""A scaffold for fake provider servers: the parts every fake has, so a fake is its protocol.

A fake subclasses :class:`FakeServer`, adds its routes in ``routes(app)`` with ``name=`` (the
*step* that faults, holds and the call record are keyed by), and keeps only the provider's own
shapes. The scaffold gives it:

- **a record of calls**: ``fake.calls`` (every request, body included) and
  ``fake.calls_to("create")``;
- **an auth check**: ``authorized(request)`` (default: ``Authorization: Bearer <key>``) and
  ``refuse(request)`` (the provider's 401 answer), skipped for steps in ``public_steps``;
- **a queue of scripted faults** per step: ``fake.fail("create", 429, 503, "drop")`` answers
  the next two creates with those statuses (``fault(status, request)`` shapes the body) and
  closes the third connection unanswered; a callable fault ``f(request)`` is an answer of its
  own. Faults play after the auth check, or where a handler calls ``await self.scripted(request)``
  when the class sets ``plays_faults_in_handler = True``;
- **a hold gated on events, not sleeps**: ``gate = fake.hold("create")`` keeps every create
  waiting until ``gate.open()``; ``gate.wait_for(2)`` blocks the test until two are waiting,
  and ``fake.hold("create").open_when(3)`` lets them go once three are in flight at once.
  A held request the client gave up on is cancelled when ``serve_app`` stops the server;
- **waiting on the server's state**: ``fake.wait_until(lambda: len(fake.calls) == 2)`` blocks
  the test until the condition holds, checked at each request, each answer and each
  ``fake.changed()`` the fake calls after changing its own state;
- **server-side machinery**: ``on_start()`` runs on the server's loop before the first
  request (make loop-bound state there), ``spawn(coroutine)`` runs a worker that is cancelled
  when the server stops, ``await self.accept_websocket(request)`` opens a websocket that is
  closed then too, and ``self.drop(request)`` cuts a connection without an answer or a close
  frame;
- **forms**: ``call.form()`` reads a ``multipart/form-data`` body (the scaffold has read the
  body already, so ``request.post()`` would find it empty); ``self.call_of(request)`` is the
  handler's own call.

    class FakeAcme(FakeServer):
        def routes(self, app: web.Application) -> None:
            app.router.add_post("/v1/images", self.images, name="images")

        async def images(self, request: web.Request) -> web.Response:
            ...

    fake = FakeAcme(key="acme-test-key")
    with serve_app(fake.app()) as url:
        fake.fail("images", 429)
        ...  # one 429, then the real answer; fake.calls_to("images") has both

aiohttp is imported when the app is built, so importing this module costs nothing.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import threading
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from aiohttp import web

#: The step of a fault or hold that applies to every route.
ANY = "*"

#: A scripted fault: an HTTP status, ``"drop"`` (close the connection unanswered), or a
#: callable (plain or async) that makes the whole answer from the request.
Fault = (
    int
    | str
    | Callable[["web.Request"], "web.StreamResponse"]
    | Callable[["web.Request"], Awaitable["web.StreamResponse"]]
)


@attrs.define
class Call:
    """One request as the fake received it."""

    step: str
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: bytes
    #: The full URL as received, query included.
    url: str = ""

    def json(self) -> Any:
        """The body parsed as JSON (None when empty or not JSON)."""
        try:
            return json.loads(self.body) if self.body else None
        except ValueError:
            return None

    def form(self) -> dict[str, FormField]:
        """The fields of a ``multipart/form-data`` body by name ({} for any other body); a
        name sent twice keeps its last value."""
        from email.parser import BytesParser
        from email.policy import HTTP

        kind = next((v for k, v in self.headers.items() if k.lower() == "content-type"), "")
        if not kind.lower().startswith("multipart/form-data"):
            return {}
        message = BytesParser(policy=HTTP).parsebytes(
            b"Content-Type: " + kind.encode("latin-1") + b"\r\n\r\n" + self.body
        )
        fields: dict[str, FormField] = {}
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            if not isinstance(name, str):
                continue
            data = part.get_payload(decode=True)
            fields[name] = FormField(
                name, data if isinstance(data, bytes) else b"", part.get_filename(),
                part.get_content_type() if part.get("content-type") else None,
            )  # fmt: skip
        return fields


@attrs.frozen
class FormField:
    """One field of a form: a file when it has a ``filename``."""

    name: str
    data: bytes
    filename: str | None = None
    content_type: str | None = None

    @property
    def text(self) -> str:
        return self.data.decode("utf-8", "replace")


class Gate:
    """Holds requests until opened; the test thread waits on arrivals, never on the clock."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self._open = False
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._open_at: int | None = None
        self.arrived = 0

    async def passage(self) -> None:
        """Wait (on the server's loop) until the gate opens."""
        loop = asyncio.get_running_loop()
        with self._lock:
            self.arrived += 1
            self._lock.notify_all()
            if self._open_at is not None and self.arrived >= self._open_at:
                self._open_at = None
                self._release_all()
            if self._open:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        await future

    def wait_for(self, count: int = 1, timeout: float = 30.0) -> None:
        """Block until ``count`` requests have reached the gate (AssertionError after
        ``timeout`` seconds: a bound for a broken test, not a measurement)."""
        with self._lock:
            if not self._lock.wait_for(lambda: self.arrived >= count, timeout):
                raise AssertionError(f"{self.arrived} of {count} requests reached the gate")

    def open(self) -> None:
        """Let every held request through, and every later one."""
        with self._lock:
            self._release_all()

    def open_when(self, count: int) -> Gate:
        """Open by itself once ``count`` requests are held (they were all in flight at once)."""
        with self._lock:
            if self.arrived >= count:
                self._release_all()
            else:
                self._open_at = count
        return self

    def _release_all(self) -> None:
        # Called with the lock held; each future is resolved on the loop that awaits it.
        self._open = True
        waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            loop.call_soon_threadsafe(_release, future)


def _release(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class FakeServer:
    """The scaffold: see the module docstring. ``key`` None accepts any caller."""

    #: Steps answered without the auth check (downloads from a file host, health checks).
    public_steps: frozenset[str] = frozenset()
    #: True: handlers call ``await self.scripted(request)`` where the provider would fail.
    plays_faults_in_handler: bool = False
    #: Largest request body accepted (reference images can be large).
    client_max_size: int = 64 * 1024 * 1024

    def __init__(self, *, key: str | None = None) -> None:
        self.key = key
        self.calls: list[Call] = []
        self.in_flight = 0
        self.max_in_flight = 0
        self._faults: dict[str, deque[Fault]] = {}
        self._gates: dict[str, Gate] = {}
        self._changed = threading.Condition()
        self._tasks: list[asyncio.Task[Any]] = []
        self._sockets: list[web.WebSocketResponse] = []
        self._handling: dict[int, Call] = {}  # the call of each request being answered
        #: The server's event loop, once it has started.
        self.loop: asyncio.AbstractEventLoop | None = None

    # -- scripting ---------------------------------------------------------------------------

    def fail(self, step: str, *faults: Fault) -> None:
        """Answer the next requests of ``step`` (or ``ANY``) with ``faults``, one each."""
        self._faults.setdefault(step, deque()).extend(faults)

    def clear_faults(self) -> None:
        """Drop every scripted fault still queued."""
        self._faults.clear()

    def pending_faults(self, step: str) -> int:
        """How many scripted faults of ``step`` are still to play."""
        return len(self._faults.get(step, ()))

    def hold(self, step: str = ANY) -> Gate:
        """Hold requests of ``step`` (or every step) until the returned gate is opened."""
        gate = self._gates[step] = Gate()
        return gate

    def calls_to(self, step: str) -> list[Call]:
        return [call for call in self.calls if call.step == step]

    def wait_until(self, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        """Block the test until ``condition()`` holds, checked at each change of the server's
        state (AssertionError after ``timeout`` seconds: a bound for a broken test, not a
        measurement)."""
        with self._changed:
            if not self._changed.wait_for(condition, timeout):
                raise AssertionError(f"{type(self).__name__} never got there in {timeout:g} s")

    def changed(self) -> None:
        """Wake ``wait_until`` callers: call it after changing the fake's own state."""
        with self._changed:
            self._changed.notify_all()

    # -- server-side machinery ---------------------------------------------------------------

    async def on_start(self) -> None:
        """Runs on the server's loop before the first request: make events, queues and
        workers (``spawn``) there."""

    def spawn(self, work: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
        """Run ``work`` on the server's loop until it ends or the server stops."""
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.append(task)
        return task

    async def accept_websocket(self, request: web.Request, **options: Any) -> web.WebSocketResponse:
        """Accept ``request`` as a websocket (``options`` go to ``WebSocketResponse``); it is
        closed when the server stops."""
        from aiohttp import web

        socket = web.WebSocketResponse(**options)
        await socket.prepare(request)
        self._sockets = [open_ for open_ in self._sockets if not open_.closed]
        self._sockets.append(socket)
        return socket

    def drop(self, request: web.Request) -> None:
        """Cut ``request``'s connection: no answer, no close frame (a crash, a lost network)."""
        if request.transport is not None:
            request.transport.close()

    def call_of(self, request: web.Request) -> Call:
        """The recorded call of ``request`` (its body, already read)."""
        return self._handling[id(request)]

    # -- what a provider overrides -----------------------------------------------------------

    def routes(self, app: web.Application) -> None:
        """Add the provider's routes, each with ``name=`` its step."""
        raise NotImplementedError

    def authorized(self, request: web.Request) -> bool:
        return self.key is None or request.headers.get("Authorization") == f"Bearer {self.key}"

    def refuse(self, request: web.Request) -> web.StreamResponse:
        """The provider's answer to a caller without a valid key."""
        from aiohttp import web

        return web.json_response({"error": "invalid api key"}, status=401)

    def fault(self, status: int, request: web.Request) -> web.StreamResponse:
        """The provider's answer for a scripted status (429 asks for no wait)."""
        from aiohttp import web

        headers = {"Retry-After": "0"} if status == 429 else {}
        body = {"error": f"scripted HTTP {status}"}
        return web.json_response(body, status=status, headers=headers)

    # -- the app -----------------------------------------------------------------------------

    def app(self) -> web.Application:
        from aiohttp import web

        @web.middleware
        async def scaffold(request: web.Request, handler: Any) -> web.StreamResponse:
            return await self._middleware(request, handler)

        app = web.Application(middlewares=[scaffold], client_max_size=self.client_max_size)
        self.routes(app)
        app.on_startup.append(self._start)
        app.on_shutdown.append(self._close_sockets)
        app.on_cleanup.append(self._stop)
        return app

    async def _start(self, app: web.Application) -> None:
        self.loop = asyncio.get_running_loop()
        await self.on_start()

    async def _close_sockets(self, app: web.Application) -> None:
        sockets, self._sockets = self._sockets, []
        for socket in sockets:
            if not socket.closed:
                await socket.close()

    async def _stop(self, app: web.Application) -> None:
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def step_of(self, request: web.Request) -> str:
        name = request.match_info.route.name
        return name or f"{request.method} {request.path}"

    async def scripted(self, request: web.Request) -> web.StreamResponse | None:
        """Play the next scripted fault of this request's step, if one is queued."""
        step = self.step_of(request)
        queue = self._faults.get(step) or self._faults.get(ANY)
        if not queue:
            return None
        return await self._play(queue.popleft(), request)

    async def _play(self, fault: Fault, request: web.Request) -> web.StreamResponse:
        from aiohttp import web

        if callable(fault):
            answer = fault(request)
            return await answer if inspect.isawaitable(answer) else answer
        if fault == "drop":
            self.drop(request)
            return web.Response(status=500)
        return self.fault(int(fault), request)

    async def _middleware(self, request: web.Request, handler: Any) -> web.StreamResponse:
        step = self.step_of(request)
        queue = self._faults.get(step) or self._faults.get(ANY)
        dropping = (
            queue is not None
            and bool(queue)
            and queue[0] == "drop"
            and not self.plays_faults_in_handler
        )
        # A drop reads only the start of the body: the connection closes mid-request.
        if dropping:
            body = await request.content.read(16)
        else:
            body = await request.read() if request.can_read_body else b""
        call = Call(step, request.method, request.path, dict(request.query),
                    dict(request.headers), body, str(request.url))  # fmt: skip
        self.calls.append(call)
        self.changed()
        if dropping and queue:
            return await self._play(queue.popleft(), request)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self._handling[id(request)] = call
        try:
            gate = self._gates.get(step) or self._gates.get(ANY)
            if gate is not None:
                await gate.passage()
            if step not in self.public_steps and not self.authorized(request):
                return self.refuse(request)
            if not self.plays_faults_in_handler:
                answer = await self.scripted(request)
                if answer is not None:
                    return answer
            response: web.StreamResponse = await handler(request)
            return response
        finally:
            del self._handling[id(request)]
            self.in_flight -= 1
            self.changed()


__all__ = ["ANY", "Call", "FakeServer", "Fault", "FormField", "Gate"]
