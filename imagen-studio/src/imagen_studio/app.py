"""Building the server: the queue, the in-process runner, the Litestar app behind the guard.

    app = build_app(config, policy=Policy(...), data_dir=...)     # an ASGI app for uvicorn

With the embedded ``local`` queue the app runs jobs itself (a ``Worker`` for every backend
that is ready, on a thread of its own: ``runner.py``); with any other queue type it only
enqueues, and ``imagen worker`` processes elsewhere run the jobs.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator, Callable
from importlib.resources import files
from typing import TYPE_CHECKING, cast

from imagen_studio.images import ImageIndex
from imagen_studio.runner import RunnerThread
from imagen_studio.security import ASGIApp, Guard, Policy
from imagen_studio.service import Studio
from imagen_studio.uploads import UploadStore

if TYPE_CHECKING:
    from litestar import Litestar

    from imagen.config.model import Config

#: jobs the in-process runner runs at once (each at its backend's concurrency)
RUNNER_CONCURRENCY = 4


def default_data_dir() -> str:
    """Where uploads and thumbnails live: ``studio/`` in imagen's user data dir."""
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("imagen"), "studio")


def build_app(
    config: Config,
    *,
    policy: Policy,
    data_dir: str | None = None,
    on_ready: Callable[[Studio], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> ASGIApp:
    """The ASGI app: the guard in front of the Litestar app serving the API and the page."""
    inner = _litestar(config, data_dir or default_data_dir(), on_ready, log)
    return Guard(cast("ASGIApp", inner), policy, _methods_by_path(inner))


def _methods_by_path(app: Litestar) -> Callable[[str], str | None]:
    """What ``Allow`` says for a path: the methods of every handler of its route."""
    import re

    table = []
    for route in app.routes:
        pattern = re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(route.path_format))
        if route.path_format.endswith("{file_path}"):
            pattern = pattern.removesuffix("[^/]+") + ".+"
        table.append((re.compile(f"^{pattern}$"), ", ".join(sorted(route.methods))))

    def allow(path: str) -> str | None:
        for pattern, methods in table:
            if pattern.match(path):
                return methods
        return None

    return allow


def _litestar(
    config: Config,
    data_dir: str,
    on_ready: Callable[[Studio], None] | None,
    log: Callable[[str], None] | None,
) -> Litestar:
    from litestar import Litestar
    from litestar.di import Provide
    from litestar.openapi import OpenAPIConfig
    from litestar.openapi.plugins import JsonRenderPlugin
    from litestar.static_files import create_static_files_router

    from imagen import __version__
    from imagen_studio.api import ROUTES
    from imagen_studio.problems import exception_handlers
    from imagen_studio.schemas import JobFormSchema

    holder: dict[str, Studio] = {}

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncIterator[None]:
        async with _running(config, data_dir, log) as studio:
            holder["studio"] = studio
            if on_ready is not None:
                on_ready(studio)
            yield

    def studio() -> Studio:
        return holder["studio"]

    static = str(files("imagen_studio").joinpath("static"))
    return Litestar(
        route_handlers=[
            *ROUTES,
            create_static_files_router(
                path="/static", directories=[static], send_as_attachment=False
            ),
        ],
        dependencies={"studio": Provide(studio, sync_to_thread=False)},
        exception_handlers=exception_handlers(),
        lifespan=[lifespan],
        # before Litestar's own attrs plugin: the job classes are documented as their JSON form
        plugins=[JobFormSchema()],
        openapi_config=OpenAPIConfig(
            title="imagen studio API",
            version=__version__,
            description="Jobs, estimates, images and uploads of imagen serve.",
            # The document itself is served at /openapi.json by api.openapi_document; Litestar's
            # own routes (which would claim "/") stay under a path nothing links to.
            path="/v1/schema",
            render_plugins=[JsonRenderPlugin(path="/openapi.json")],
        ),
        logging_config=None,
    )


@contextlib.asynccontextmanager
async def _running(
    config: Config, data_dir: str, log: Callable[[str], None] | None
) -> AsyncIterator[Studio]:
    """Open the queue (and start the runner with the local one); close both on the way out."""
    from imagen.jobs.local import LocalQueue
    from imagen.jobs.queue import open_queue

    queue = await asyncio.to_thread(open_queue, config)
    studio = Studio(
        config,
        queue,
        ImageIndex(os.path.join(data_dir, "thumbs")),
        UploadStore(os.path.join(data_dir, "uploads")),
        runs_jobs=isinstance(queue, LocalQueue),
    )
    runner: RunnerThread | None = None
    try:
        if studio.runs_jobs:
            runner = RunnerThread(config, concurrency=RUNNER_CONCURRENCY, log=log)
            await runner.start()
        yield studio
    finally:
        if runner is not None:
            # Stopping the server hands running jobs back: their finished takes stay, and the
            # next runner (this server started again, or a worker) does the rest.
            await runner.stop()
        await queue.aclose()


__all__ = ["RUNNER_CONCURRENCY", "build_app", "default_data_dir"]
