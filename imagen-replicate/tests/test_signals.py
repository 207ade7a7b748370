"""SIGTERM and SIGHUP stop `imagen generate` like Ctrl-C: the prediction is cancelled remotely.

A real subprocess against the fake Replicate on a socket; the test waits on what the fake sees
(the CLI polling the prediction, the cancel arriving), never on time.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import attrs
import pytest
from aiohttp import web

from imagen.testing.servers import serve_app
from imagen_replicate.fake_server import FakeReplicate, Scenario

from .conftest import TOKEN


@attrs.define
class Watched:
    """The fake, and events for what it has seen."""

    fake: FakeReplicate
    url: str = ""
    polled: threading.Event = attrs.field(factory=threading.Event)
    cancel_asked: threading.Event = attrs.field(factory=threading.Event)
    #: while clear, a cancel request is held unanswered (the CLI is still cleaning up)
    cancel_answered: threading.Event = attrs.field(factory=threading.Event)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@pytest.fixture
def watched() -> Iterator[Watched]:
    fake = FakeReplicate(token=TOKEN, scenario=Scenario(predict_time=120, sync_cap=0.05))
    state = Watched(fake)
    state.cancel_answered.set()

    @web.middleware
    async def watch(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.method == "GET" and request.path.startswith("/v1/predictions/"):
            state.polled.set()  # the CLI knows the prediction's id: it can cancel it
        if request.path.endswith("/cancel"):
            state.cancel_asked.set()
            await asyncio.to_thread(state.cancel_answered.wait, 60)
        return await handler(request)

    app = fake.app()
    app.middlewares.append(watch)
    try:
        with serve_app(app) as url:
            state.url = url
            yield state
    finally:
        state.cancel_answered.set()


def start_generate(watched: Watched, tmp_path: Path) -> subprocess.Popen[str]:
    config = tmp_path / "imagen.yaml"
    config.write_text(
        f"output: {{directory: '{tmp_path / 'out'}', preview: 'off', cloud_sync: 'off'}}\n"
        "backends:\n"
        "  flux: {type: replicate, model: black-forest-labs/flux-schnell, "
        f"base_url: '{watched.url}'}}\n"
    )
    env = {**os.environ, "REPLICATE_API_TOKEN": TOKEN, "IMAGEN_DEBUG": ""}
    return subprocess.Popen(
        [sys.executable, "-m", "imagen", "--config", str(config), "generate", "a cat",
         "-b", "flux"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        # SIGHUP at its default, as in a terminal, even when the tests run under nohup.
        preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_DFL),
    )  # fmt: skip


@pytest.mark.parametrize(
    ("signum", "code", "line"),
    [
        pytest.param(signal.SIGTERM, 143, "imagen: terminated", id="SIGTERM"),
        pytest.param(signal.SIGHUP, 129, "imagen: hung up", id="SIGHUP"),
    ],
)
def test_a_signal_cancels_the_prediction_and_exits_with_one_line(
    watched: Watched, tmp_path: Path, signum: int, code: int, line: str
) -> None:
    process = start_generate(watched, tmp_path)
    assert watched.polled.wait(60), "the prediction was never polled"
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=60)

    assert process.returncode == code, stderr
    notice, said = stderr.splitlines()  # the cost estimate, then the one line
    assert notice.startswith("imagen: ~$")
    assert said == line
    assert stdout == ""
    assert watched.fake.canceled == list(watched.fake.predictions)
    assert len(watched.fake.canceled) == 1
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").rglob("*.png"))


def test_more_signals_while_the_cancel_is_on_its_way_neither_stop_it_nor_trace(
    watched: Watched, tmp_path: Path
) -> None:
    watched.cancel_answered.clear()
    process = start_generate(watched, tmp_path)
    assert watched.polled.wait(60), "the prediction was never polled"
    process.send_signal(signal.SIGTERM)
    assert watched.cancel_asked.wait(60), "no cancel was sent"
    process.send_signal(signal.SIGTERM)
    process.send_signal(signal.SIGINT)
    watched.cancel_answered.set()
    _, stderr = process.communicate(timeout=60)

    assert process.returncode == 143, stderr
    assert stderr.splitlines()[1:] == ["imagen: terminated"]
    assert "Traceback" not in stderr
    assert len(watched.fake.canceled) == 1  # the held cancel was answered, not abandoned
