"""Every way a run can fail ends in one of imagen's errors, with a message that says what to do."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from imagen.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    InvalidRequest,
    NotConfigured,
)
from imagen.models import Progress, Request, Result
from imagen.testing.servers import serve_app
from imagen_comfyui.backend import ComfyUIBackend
from imagen_comfyui.fake import FakeComfyUI
from imagen_comfyui.settings import ComfyUISettings, Inject, Models

Run = Callable[..., Result]
REQUEST = Request("x", width=64, height=64, seed=1)


def closed_port_url() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def until(condition: Callable[[], bool], seconds: float = 10.0) -> None:
    """Wait until ``condition()`` holds (the fake's state changes in its own thread)."""
    for _ in range(int(seconds / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the fake server never got there")


def finished_prompt(fake: FakeComfyUI) -> str:
    """The id of the one prompt the fake ran (waiting a moment for it to stop)."""
    for _ in range(200):
        if fake.history:
            break
        time.sleep(0.02)
    (prompt_id,) = fake.history
    return prompt_id


def test_a_refused_connection_names_the_url(run: Run) -> None:
    url = closed_port_url()
    with pytest.raises(BackendUnavailable) as caught:
        run(ComfyUIBackend("local", ComfyUISettings(url=url)), REQUEST)
    assert url in str(caught.value)
    assert "is the server running" in str(caught.value)


def test_a_missing_model_names_the_file_the_files_there_are_and_the_setting(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.models["checkpoints"] = ["mine-a.safetensors", "mine-b.safetensors"]
    backend = make_backend(models=Models(checkpoint="flux1-schnell-fp8.safetensors"))
    with pytest.raises(InvalidRequest) as caught:
        run(backend, REQUEST)
    message = str(caught.value)
    assert "'flux1-schnell-fp8.safetensors'" in message
    assert "CheckpointLoaderSimple.ckpt_name (node 30)" in message
    assert "it has: mine-a.safetensors, mine-b.safetensors" in message
    assert "backends.local.models.checkpoint" in message
    assert caught.value.fields == {
        "30.ckpt_name": "'flux1-schnell-fp8.safetensors' not on the server"
    }
    assert ("GET", "/object_info/CheckpointLoaderSimple") in [(m, p) for m, p, _ in fake.requests]


def test_a_missing_model_in_a_custom_workflow_points_at_the_workflow(
    fake: FakeComfyUI, tmp_path: Path, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.models["diffusion_models"] = []
    graph = json.loads(
        (Path(__file__).parents[1] / "src/imagen_comfyui/workflows/flux-dev-split.json").read_text()
    )
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(graph))
    backend = make_backend(workflow=str(path), inject=Inject(prompt="6.text"))
    with pytest.raises(InvalidRequest) as caught:
        run(backend, REQUEST)
    assert "it has: none" in str(caught.value)
    assert "change it in your workflow" in str(caught.value)


def test_a_rejected_workflow_names_each_node_and_its_error(
    tmp_path: Path, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    graph = {
        "1": {"class_type": "EmptyImage", "inputs": {"width": 0, "height": 64, "batch_size": 1}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(graph))
    backend = make_backend(workflow=str(path), inject=Inject(prompt="2.filename_prefix"))
    with pytest.raises(InvalidRequest) as caught:
        run(backend, REQUEST)
    message = str(caught.value)
    assert message.startswith(
        "local: ComfyUI rejected the workflow: Prompt outputs failed validation"
    )
    assert "node 1 (EmptyImage): Required input is missing: color" in message
    assert "node 1 (EmptyImage): Value 0 smaller than min of 1" in message
    assert caught.value.fields == {"1.color": "Required input is missing",
                                   "1.width": "Value 0 smaller than min of 1"}  # fmt: skip
    assert "\n" not in message


def test_a_node_that_fails_while_running_names_its_type_and_exception(
    fake: FakeComfyUI, tmp_path: Path, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    from imagen.models import Ref

    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(graph))
    not_an_image = Ref("notes.png", b"just text", "image/png", "ab" * 32)
    backend = make_backend(
        workflow=str(path), inject=Inject(prompt="2.filename_prefix", image="1.image")
    )
    with pytest.raises(BackendError) as caught:
        run(backend, Request("x", refs=(not_an_image,)))
    message = str(caught.value)
    assert (
        "ComfyUI failed in node 1 (LoadImage): PIL.UnidentifiedImageError: cannot identify"
        in message
    )
    assert "\n" not in message


def test_a_run_interrupted_on_the_server_by_someone_else_is_an_error(
    fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    import httpx

    fake.run_time = 1.0

    async def main() -> None:
        backend = make_backend()
        task = asyncio.create_task(backend.generate(REQUEST, Progress()))
        await until(lambda: fake.running is not None)
        await asyncio.sleep(0.1)  # past the loaders, into the sampler's 1 s
        async with httpx.AsyncClient(base_url=url) as client:
            await client.post("/interrupt", json={})
        try:
            with pytest.raises(BackendError) as caught:
                await task
        finally:
            await backend.aclose()
        assert "interrupted on the ComfyUI server at node 31 (KSampler)" in str(caught.value)

    asyncio.run(main())


def test_a_server_that_never_answers_times_out(run: Run) -> None:
    with serve_app(FakeComfyUI(silent=True).app()) as url:
        backend = ComfyUIBackend("local", ComfyUISettings(url=url, timeout=0.5))
        with pytest.raises(BackendTimeout) as caught:
            run(backend, REQUEST)
    assert "did not finish an image within 0.5 s" in str(caught.value)


def test_a_run_longer_than_timeout_is_cancelled_on_the_server(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.run_time = 5.0
    with pytest.raises(BackendTimeout):
        run(make_backend(timeout=1.0), REQUEST)
    prompt_id = finished_prompt(fake)
    assert fake.deleted == [prompt_id]
    assert fake.interrupts == [{"prompt_id": prompt_id}]


def test_cancelling_interrupts_the_running_prompt(
    fake: FakeComfyUI, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.run_time = 5.0

    async def main() -> None:
        backend = make_backend()
        task = asyncio.create_task(backend.generate(REQUEST, Progress()))
        await until(lambda: fake.running is not None)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.aclose()

    asyncio.run(main())
    prompt_id = finished_prompt(fake)
    assert fake.deleted == [prompt_id]
    assert fake.interrupts == [{"prompt_id": prompt_id}]
    assert fake.history[prompt_id]["status"]["messages"][-1][0] == "execution_interrupted"


def test_cancelling_a_queued_prompt_takes_it_off_the_queue(
    fake: FakeComfyUI, url: str, make_backend: Callable[..., ComfyUIBackend]
) -> None:

    fake.run_time = 1.0

    async def main() -> None:
        first, second = make_backend(), make_backend()
        running = asyncio.create_task(first.generate(REQUEST, Progress()))
        await until(lambda: fake.running is not None)
        queued = asyncio.create_task(second.generate(REQUEST, Progress()))
        await until(lambda: len(fake.pending) == 1)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        result = await running
        assert len(result.images) == 1
        await first.aclose()
        await second.aclose()

    asyncio.run(main())
    cancelled = fake.deleted[-1]
    assert cancelled not in fake.history
    assert len(fake.history) == 1
    assert fake.interrupts == []  # the running prompt was someone else's: left alone


def test_missing_proxy_headers_are_reported_by_status_and_generate(
    url: str, run: Run, monkeypatch: Any
) -> None:
    monkeypatch.delenv("COMFY_HEADERS", raising=False)
    backend = ComfyUIBackend("local", ComfyUISettings(url=url, headers_env="COMFY_HEADERS"))
    assert str(backend.status()) == "not configured (set COMFY_HEADERS)"
    with pytest.raises(NotConfigured) as caught:
        run(backend, REQUEST)
    assert caught.value.env_var == "COMFY_HEADERS"


def test_a_proxy_refusing_the_headers_is_an_auth_error_without_the_secret(
    run: Run, monkeypatch: Any
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=401, text="bad token")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    monkeypatch.setenv("COMFY_HEADERS", "Authorization: Bearer wrong-s3cret")
    with serve_app(app) as url:
        backend = ComfyUIBackend("local", ComfyUISettings(url=url, headers_env="COMFY_HEADERS"))
        with pytest.raises(AuthError) as caught:
            run(backend, REQUEST)
    assert "HTTP 401" in str(caught.value)
    assert "$COMFY_HEADERS" in str(caught.value)
    assert "wrong-s3cret" not in str(caught.value)


def test_status_says_ok_with_the_url_without_network(url: str) -> None:
    backend = ComfyUIBackend("local", ComfyUISettings(url=url + "/"))
    status = backend.status()
    assert status.ok
    assert str(status) == f"ok ({url})"


def test_several_missing_models_name_the_first_and_count_the_rest(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.models["diffusion_models"] = []
    fake.models["vae"] = ["other-vae.safetensors"]
    with pytest.raises(InvalidRequest) as caught:
        run(make_backend(workflow="flux-schnell-split"), REQUEST)
    message = str(caught.value)
    assert "no model file 'flux1-schnell.safetensors' for UNETLoader.unet_name" in message
    assert "backends.local.models.unet" in message
    assert "(1 more model file missing too)" in message


@pytest.mark.parametrize("websocket", [True, False], ids=["websocket", "polling"])
def test_a_prompt_deleted_from_the_servers_queue_is_an_error_not_a_hang(websocket: bool) -> None:
    import httpx

    fake = FakeComfyUI(run_time=1.5, websocket=websocket)

    async def main(url: str) -> None:
        first = ComfyUIBackend("first", ComfyUISettings(url=url))
        second = ComfyUIBackend("second", ComfyUISettings(url=url))
        running = asyncio.create_task(first.generate(REQUEST, Progress()))
        await until(lambda: fake.running is not None)
        waiting = asyncio.create_task(second.generate(REQUEST, Progress()))
        await until(lambda: len(fake.pending) == 1)
        async with httpx.AsyncClient(base_url=url) as client:
            await client.post("/queue", json={"delete": [fake.pending[0].prompt_id]})
        with pytest.raises(BackendError) as caught:
            await waiting
        assert "left ComfyUI's queue without running" in str(caught.value)
        assert not running.done()
        await running
        await first.aclose()
        await second.aclose()

    with serve_app(fake.app()) as url:
        asyncio.run(main(url))
