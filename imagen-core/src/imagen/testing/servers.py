"""Run a fake provider server on a real loopback socket in a background thread."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def serve_app(app: Any, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve an ``aiohttp.web.Application`` on a free port; yields its base URL (no trailing /).

    The server runs its own event loop in a daemon thread, so sync tests and tests that run
    their own ``asyncio.run`` can both talk to it over a real socket. Stopped on exit, with
    every handler still running cancelled first (no "Task was destroyed but it is pending").
    """
    from aiohttp import web

    loop = asyncio.new_event_loop()
    started = threading.Event()
    state: dict[str, Any] = {}

    async def start() -> None:
        runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.5)
        await runner.setup()
        site = web.TCPSite(runner, host, 0)
        await site.start()
        state["port"] = runner.addresses[0][1]
        state["runner"] = runner

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(start())
        except BaseException as error:  # surfaced to the caller below
            state["error"] = error
            started.set()
            return
        started.set()
        loop.run_forever()
        loop.close()

    thread = threading.Thread(target=run, name="imagen-test-server", daemon=True)
    thread.start()
    started.wait(10)
    if "error" in state:
        raise state["error"]

    async def stop() -> None:
        # Handlers still running (a held or dripping answer) are cancelled and awaited here,
        # so closing the loop never destroys a pending task.
        await state["runner"].cleanup()
        pending = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    try:
        yield f"http://{host}:{state['port']}"
    finally:
        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
