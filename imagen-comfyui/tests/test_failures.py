"""Every way a run can fail ends in one of imagen's errors, with a message that says what to do."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import Callable
from importlib import resources
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
from imagen.models import Progress, Request, Result, Status
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


async def until(fake: FakeComfyUI, condition: Callable[[], bool]) -> None:
    """Wait until the fake's state (changed in the server's thread) satisfies ``condition``."""
    await asyncio.to_thread(fake.wait_until, condition)


def finished_prompt(fake: FakeComfyUI) -> str:
    """The id of the one prompt the fake ran, once its run is over."""
    fake.wait_until(lambda: bool(fake.history))
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
    assert "/object_info/CheckpointLoaderSimple" in [c.path for c in fake.calls_to("object_info")]


def test_a_missing_model_in_a_custom_workflow_points_at_the_workflow(
    fake: FakeComfyUI, tmp_path: Path, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.models["diffusion_models"] = []
    graph = json.loads(builtin_workflow("flux-dev-split"))
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(graph))
    backend = make_backend(workflow=str(path), inject=Inject(prompt="6.text"))
    with pytest.raises(InvalidRequest) as caught:
        run(backend, REQUEST)
    assert "it has: none" in str(caught.value)
    assert "change it in your workflow" in str(caught.value)


def test_a_missing_file_of_a_loader_declaring_combo_options_names_the_files_there_are(
    fake: FakeComfyUI, tmp_path: Path, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # Newer loaders (TripleCLIPLoader, UpscaleModelLoader...) declare their files as
    # ["COMBO", {"options": [...]}] rather than as a list; ComfyUI checks them all the same.
    fake.models["text_encoders"] = ["clip_l.safetensors", "clip_g.safetensors", "t5xxl.safetensors"]
    graph = json.loads(builtin_workflow("flux-dev-split"))
    graph["11"] = {"class_type": "TripleCLIPLoader", "inputs": {
        "clip_name1": "clip_l.safetensors", "clip_name2": "clip_g.safetensors",
        "clip_name3": "t5xxl_fp8.safetensors"}}  # fmt: skip
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(graph))
    backend = make_backend(workflow=str(path), inject=Inject(prompt="6.text"))
    with pytest.raises(InvalidRequest) as caught:
        run(backend, REQUEST)
    message = str(caught.value)
    assert "'t5xxl_fp8.safetensors'" in message
    assert "TripleCLIPLoader.clip_name3 (node 11)" in message
    assert "it has: clip_g.safetensors, clip_l.safetensors, t5xxl.safetensors" in message
    assert caught.value.fields == {"11.clip_name3": "'t5xxl_fp8.safetensors' not on the server"}


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

    fake.run_time = 30.0  # the interrupt ends it long before

    async def main() -> None:
        backend = make_backend()
        task = asyncio.create_task(backend.generate(REQUEST, Progress()))
        await until(fake, lambda: fake.last_node == "31")  # the sampler
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
        await until(fake, lambda: fake.running is not None)
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
    fake.run_time = 30.0  # someone else's run, busy for the whole test
    others = someone_elses_prompt(fake, url)

    async def main() -> None:
        backend = make_backend()
        queued = asyncio.create_task(backend.generate(REQUEST, Progress()))
        await until(fake, lambda: len(fake.pending) == 1)
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        await backend.aclose()

    asyncio.run(main())
    (ours,) = fake.deleted
    assert ours != others
    assert fake.pending == []
    assert fake.running is not None
    assert fake.running.prompt_id == others
    assert fake.interrupts == []  # the running prompt was someone else's: left alone


def builtin_workflow(name: str) -> str:
    """The graph of a built-in workflow, from the package imagen runs (a mutation run's copy)."""
    return (resources.files("imagen_comfyui") / "workflows" / f"{name}.json").read_text()


def someone_elses_prompt(fake: FakeComfyUI, url: str) -> str:
    """Queue the built-in workflow as another client would; its prompt id, once it runs."""
    import httpx

    body = {"prompt": json.loads(builtin_workflow("flux-schnell")), "client_id": "someone-else"}
    with httpx.Client(base_url=url) as client:
        prompt_id = str(client.post("/prompt", json=body).json()["prompt_id"])
    fake.wait_until(lambda: fake.running is not None and fake.running.prompt_id == prompt_id)
    return prompt_id


def test_the_prompt_id_is_chosen_by_the_client_and_kept_by_the_server(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    result = run(make_backend(), REQUEST)
    (sent,) = fake.received
    assert str(uuid.UUID(sent["prompt_id"], version=4)) == sent["prompt_id"]
    assert result.metadata["prompt_ids"] == [sent["prompt_id"]]
    assert list(fake.history) == [sent["prompt_id"]]


def test_a_cancel_before_post_prompt_is_answered_takes_the_queued_prompt_off(
    fake: FakeComfyUI, url: str, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # The window of the issue: the server has queued the prompt, its answer is on the way.
    fake.run_time = 30.0
    someone_elses_prompt(fake, url)
    fake.hold_prompt_answers()

    async def main() -> None:
        backend = make_backend()
        task = asyncio.create_task(backend.generate(REQUEST, Progress()))
        await until(fake, lambda: len(fake.held) == 1)
        task.cancel()
        fake.release_prompt_answers()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.aclose()

    asyncio.run(main())
    (held,) = fake.held
    assert fake.deleted == [held]
    assert fake.pending == []
    assert fake.interrupts == []


def test_a_cancel_before_post_prompt_is_answered_interrupts_a_prompt_already_running(
    fake: FakeComfyUI, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.run_time = 30.0
    fake.hold_prompt_answers()

    async def main() -> None:
        backend = make_backend()
        task = asyncio.create_task(backend.generate(REQUEST, Progress()))
        await until(fake, lambda: len(fake.held) == 1 and fake.running is not None)
        task.cancel()
        fake.release_prompt_answers()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.aclose()

    asyncio.run(main())
    (held,) = fake.held
    assert finished_prompt(fake) == held
    assert fake.interrupts == [{"prompt_id": held}]
    assert fake.history[held]["status"]["messages"][-1][0] == "execution_interrupted"


def test_a_cancel_is_sent_by_the_chosen_id_when_post_prompt_is_never_answered(
    fake: FakeComfyUI, url: str, make_backend: Callable[..., ComfyUIBackend], monkeypatch: Any
) -> None:
    monkeypatch.setattr("imagen_comfyui.backend.ANSWER_TIMEOUT", 0.2)
    fake.run_time = 30.0
    someone_elses_prompt(fake, url)
    fake.hold_prompt_answers()

    async def main() -> None:
        backend = make_backend()
        task = asyncio.create_task(backend.generate(REQUEST, Progress()))
        await until(fake, lambda: len(fake.held) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await backend.aclose()

    try:
        asyncio.run(main())
    finally:
        fake.release_prompt_answers()
    (held,) = fake.held
    assert fake.deleted == [held]
    assert fake.pending == []


def test_a_timeout_while_post_prompt_is_unanswered_takes_the_prompt_off(
    fake: FakeComfyUI,
    url: str,
    run: Run,
    make_backend: Callable[..., ComfyUIBackend],
    monkeypatch: Any,
) -> None:
    monkeypatch.setattr("imagen_comfyui.backend.ANSWER_TIMEOUT", 0.2)
    fake.run_time = 30.0
    someone_elses_prompt(fake, url)
    fake.hold_prompt_answers()
    try:
        with pytest.raises(BackendTimeout):
            run(make_backend(timeout=2.0), REQUEST)
    finally:
        fake.release_prompt_answers()
    (held,) = fake.held
    assert fake.deleted == [held]
    assert fake.pending == []


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


def test_status_without_network_does_not_claim_the_server_is_up(url: str) -> None:
    backend = ComfyUIBackend("local", ComfyUISettings(url=url + "/"))
    status = backend.status()
    assert status.ok  # nothing known stops a run
    assert str(status) == f"configured ({url}; server not checked)"


def check(backend: ComfyUIBackend) -> Status:
    async def main() -> Status:
        try:
            return await backend.check()
        finally:
            await backend.aclose()

    return asyncio.run(main())


def test_check_asks_the_server_and_names_its_version(fake: FakeComfyUI, url: str) -> None:
    status = check(ComfyUIBackend("local", ComfyUISettings(url=url)))
    assert status.ok
    assert str(status) == f"ok ({url}, ComfyUI 0.8.0)"
    assert [(call.method, call.path) for call in fake.calls] == [("GET", "/system_stats")]


def test_check_says_the_server_could_not_be_reached_at_its_url() -> None:
    url = closed_port_url()
    status = check(ComfyUIBackend("local", ComfyUISettings(url=url)))
    assert not status.ok
    assert str(status) == f"server not reachable at {url} (Connection refused)"


def test_check_gives_up_on_a_server_that_never_answers(monkeypatch: Any) -> None:
    monkeypatch.setattr("imagen_comfyui.backend.CHECK_TIMEOUT", 0.3)
    with serve_app(FakeComfyUI(silent=True).app()) as url:
        status = check(ComfyUIBackend("local", ComfyUISettings(url=url)))
    assert not status.ok
    assert str(status) == (
        f"server not reachable at {url} (no answer to GET /system_stats in time)"
    )


def test_check_reports_a_proxy_refusing_the_headers_without_the_secret(
    monkeypatch: Any,
) -> None:
    async def refuse(request: web.Request) -> web.Response:
        return web.Response(status=403, text="no")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", refuse)
    monkeypatch.setenv("COMFY_HEADERS", "Authorization: Bearer wrong-s3cret")
    with serve_app(app) as url:
        settings = ComfyUISettings(url=url, headers_env="COMFY_HEADERS")
        status = check(ComfyUIBackend("local", settings))
    assert not status.ok
    assert "HTTP 403" in str(status)
    assert "$COMFY_HEADERS" in str(status)
    assert "wrong-s3cret" not in str(status)


def test_several_missing_models_are_all_named_in_file_order_on_one_line(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.models["diffusion_models"] = []
    fake.models["text_encoders"] = []
    fake.models["vae"] = ["other-vae.safetensors"]
    with pytest.raises(InvalidRequest) as caught:
        run(make_backend(workflow="flux-dev-split"), REQUEST)
    message = str(caught.value)
    assert message == (
        "local: ComfyUI has none of these 4 model files: "
        "'ae.safetensors' for VAELoader.vae_name (node 10), which has: other-vae.safetensors; "
        "'clip_l.safetensors' for DualCLIPLoader.clip_name2 (node 11), which has: none; "
        "'flux1-dev.safetensors' for UNETLoader.unet_name (node 12), which has: none; "
        "'t5xxl_fp8_e4m3fn.safetensors' for DualCLIPLoader.clip_name1 (node 11), which has: none. "
        "Put the files in ComfyUI's models folders or set backends.local.models.vae, "
        "backends.local.models.clip_l, backends.local.models.unet, backends.local.models.t5xxl "
        "in the config"
    )
    assert set(caught.value.fields) == {"10.vae_name", "11.clip_name1", "11.clip_name2",
                                        "12.unet_name"}  # fmt: skip


def test_missing_models_are_named_in_the_same_order_whatever_order_comfyui_lists_them() -> None:
    from imagen_comfyui.failures import MissingFile, MissingModel, missing_model_error

    found = [
        MissingFile(MissingModel("12", "UNETLoader", "unet_name", "b.safetensors"), (), None),
        MissingFile(MissingModel("10", "VAELoader", "vae_name", "a.safetensors"), (), "x.vae"),
    ]
    forward = missing_model_error(found, backend="local")
    backward = missing_model_error(found[::-1], backend="local")
    assert str(forward) == str(backward)
    assert str(forward).index("'a.safetensors'") < str(forward).index("'b.safetensors'")
    assert str(forward).endswith("set x.vae in the config and change the others in your workflow")


@pytest.mark.parametrize("websocket", [True, False], ids=["websocket", "polling"])
def test_a_prompt_deleted_from_the_servers_queue_is_an_error_not_a_hang(websocket: bool) -> None:
    import httpx

    fake = FakeComfyUI(run_time=30.0, websocket=websocket)  # someone else's, never done

    async def main(url: str) -> None:
        backend = ComfyUIBackend("local", ComfyUISettings(url=url))
        waiting = asyncio.create_task(backend.generate(REQUEST, Progress()))
        await until(fake, lambda: len(fake.pending) == 1)
        async with httpx.AsyncClient(base_url=url) as client:
            await client.post("/queue", json={"delete": [fake.pending[0].prompt_id]})
        with pytest.raises(BackendError) as caught:
            await waiting
        assert "left ComfyUI's queue without running" in str(caught.value)
        await backend.aclose()

    with serve_app(fake.app()) as url:
        someone_elses_prompt(fake, url)
        asyncio.run(main(url))


# -- ComfyUI's HTTP answers, each mapped -------------------------------------------------------


def test_a_proxys_bad_gateway_on_a_read_is_asked_again_once(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail("history", 502)
    result = run(make_backend(), REQUEST)
    assert len(result.images) == 1
    assert fake.pending_faults("history") == 0


@pytest.mark.parametrize("status", [502, 503, 504])
def test_a_read_failing_twice_says_the_server_could_not_answer(
    status: int, fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail("history", status, status)
    with pytest.raises(BackendUnavailable) as caught:
        run(make_backend(), REQUEST)
    assert str(caught.value) == (
        f"local: ComfyUI at {url} could not read the run's history (HTTP {status}); "
        "see the server's log"
    )


def test_a_failed_post_prompt_is_not_sent_again(
    fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # Sent again, the same work could be queued twice.
    fake.fail("prompt", 503)
    with pytest.raises(BackendUnavailable) as caught:
        run(make_backend(), REQUEST)
    assert len(fake.calls_to("prompt")) == 1
    assert str(caught.value) == (
        f"local: ComfyUI at {url} could not queue the workflow (HTTP 503); see the server's log"
    )


def test_an_answer_to_post_prompt_without_a_prompt_id_is_an_error(
    fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail("prompt", lambda request: web.json_response({"number": 0, "node_errors": {}}))
    with pytest.raises(BackendError) as caught:
        run(make_backend(), REQUEST)
    assert str(caught.value) == f"local: ComfyUI at {url} answered POST /prompt without a prompt_id"


def test_an_output_file_gone_before_its_download_says_to_try_again(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail("view", 404)
    with pytest.raises(BackendError) as caught:
        run(make_backend(), REQUEST)
    (saved,) = [name for kind, _, name in fake.files if kind == "output"]
    assert str(caught.value) == f"local: ComfyUI no longer has the output file {saved!r}; try again"


def test_an_output_that_is_not_an_image_names_its_media_type(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail(
        "view", lambda request: web.Response(text="<html>login</html>", content_type="text/html")
    )
    with pytest.raises(BackendError) as caught:
        run(make_backend(), REQUEST)
    assert str(caught.value) == "local: ComfyUI returned an output that is not an image (text/html)"


def test_a_route_the_server_does_not_have_asks_whether_url_is_a_comfyui_server(
    fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail("prompt", 404)
    with pytest.raises(BackendUnavailable) as caught:
        run(make_backend(), REQUEST)
    assert str(caught.value) == f"local: {url} has no /prompt (HTTP 404); is url a ComfyUI server?"


def test_a_proxy_refusing_a_caller_without_headers_says_to_set_headers_env(
    fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail("prompt", 403)
    with pytest.raises(AuthError) as caught:
        run(make_backend(), REQUEST)
    assert str(caught.value) == (
        f"local: ComfyUI at {url} refused to queue the workflow (HTTP 403); "
        "set headers_env to the env var holding the proxy's auth headers"
    )


def test_a_connection_lost_twice_on_a_read_names_the_request(
    fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail("history", "drop", "drop")
    with pytest.raises(BackendUnavailable) as caught:
        run(make_backend(), REQUEST)
    (prompt_id,) = fake.history
    assert str(caught.value).startswith(
        f"local: lost the connection to ComfyUI at {url} during GET /history/{prompt_id}: "
    )


def test_an_internal_server_error_points_at_the_servers_log(
    fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # ComfyUI answers 500 when a handler raises (a body that is not JSON, an unknown upload
    # type): the traceback is in its log.
    fake.fail("prompt", 500)
    with pytest.raises(BackendUnavailable) as caught:
        run(make_backend(), REQUEST)
    assert str(caught.value) == (
        f"local: ComfyUI at {url} could not queue the workflow (HTTP 500); see the server's log"
    )


def test_node_definitions_the_server_cannot_give_say_what_was_read(
    fake: FakeComfyUI, url: str, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail("object_info", 503, 503)
    with pytest.raises(BackendUnavailable) as caught:
        asyncio.run(list_models(make_backend()))
    assert str(caught.value) == (
        f"local: ComfyUI at {url} could not read the node definitions (HTTP 503); "
        "see the server's log"
    )


def test_a_model_input_a_loader_declares_optional_lists_its_files(
    fake: FakeComfyUI, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # Custom loaders declare some of their files under "optional"; they are offered the same.
    inputs = fake.definitions["UNETLoader"]["input"]
    inputs["optional"] = {"unet_name": inputs["required"].pop("unet_name")}
    fake.models["diffusion_models"] = ["b.safetensors", "a.safetensors"]
    models = asyncio.run(list_models(make_backend()))
    assert models["UNETLoader.unet_name"] == ["a.safetensors", "b.safetensors"]


def test_a_loader_the_server_does_not_have_offers_no_files(
    fake: FakeComfyUI, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # ComfyUI answers {} for a node class it does not know (recorded: 05-get-object_info-unknown).
    del fake.definitions["LoraLoader"]
    models = asyncio.run(list_models(make_backend()))
    assert models["LoraLoader.lora_name"] == []
    assert models["VAELoader.vae_name"] == ["ae.safetensors"]


@pytest.mark.parametrize(
    ("spec", "offered"),
    [
        ([["a.safetensors", 2]], ["a.safetensors", "2"]),
        (["COMBO", {"options": ["a.safetensors"]}], ["a.safetensors"]),
        # A "remote" combo (API nodes) fetches its options elsewhere: it lists none here.
        (["COMBO", {"remote": {"route": "/internal/files"}}], []),
        (["COMBO"], []),
        (["COMBO", "a.safetensors"], []),
        (["STRING", {"default": ""}], []),
        ([], []),
        ("a.safetensors", []),
    ],
)
def test_the_files_a_loader_offers_are_read_from_each_shape_of_declaration(
    spec: Any, offered: list[str], fake: FakeComfyUI, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # The first loader asked for is the checkpoint's.
    definition = {"input": {"required": {"ckpt_name": spec}}}
    answer = {"CheckpointLoaderSimple": definition}
    fake.fail("object_info", lambda request: web.json_response(answer))
    models = asyncio.run(list_models(make_backend()))
    assert models["CheckpointLoaderSimple.ckpt_name"] == offered


def list_models(backend: ComfyUIBackend) -> Any:
    async def main() -> dict[str, list[str]]:
        try:
            return await backend.list_models()
        finally:
            await backend.aclose()

    return main()


def test_check_says_what_it_could_not_read_when_the_server_fails(
    fake: FakeComfyUI, url: str
) -> None:
    fake.fail("system_stats", 500)
    status = check(ComfyUIBackend("local", ComfyUISettings(url=url)))
    assert not status.ok
    assert str(status) == (
        f"ComfyUI at {url} could not read the server's version (HTTP 500); see the server's log"
    )


@pytest.mark.parametrize(
    "stats",
    [{"system": {"os": "linux", "python_version": "3.11"}, "devices": []}, {"devices": []}],
)
def test_check_of_a_server_that_does_not_say_its_version_names_only_the_url(
    stats: dict[str, Any], fake: FakeComfyUI, url: str
) -> None:
    fake.fail("system_stats", lambda request: web.json_response(stats))
    status = check(ComfyUIBackend("local", ComfyUISettings(url=url)))
    assert status.ok
    assert str(status) == f"ok ({url})"


def test_check_of_an_https_url_on_a_plain_http_server_names_tls_not_a_permission(
    url: str,
) -> None:
    https = url.replace("http://", "https://")
    status = check(ComfyUIBackend("local", ComfyUISettings(url=https)))
    assert not status.ok
    # OpenSSL names it "wrong version number" (its wording varies between versions).
    assert str(status).startswith(f"server not reachable at {https} (TLS: ")
    assert "not permitted" not in str(status)


def connect_error(text: str, *causes: BaseException) -> Exception:
    """httpx's ConnectError with ``causes`` chained under it, each the ``__cause__`` of the one
    before (as ``raise ... from``), without a ``__context__``."""
    import httpx

    error: BaseException = httpx.ConnectError(text)
    top = error
    for cause in causes:
        error.__cause__ = cause
        error = cause
    return top  # type: ignore[return-value]


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        # asyncio's own text names the address; the system's says what happened.
        (
            connect_error(
                "All connection attempts failed",
                OSError(1, "Connect call failed ('10.0.0.9', 8188)"),
            ),
            "Operation not permitted",
        ),
        # anyio wraps the attempts' errors in an OSError without an errno.
        (
            connect_error(
                "All connection attempts failed",
                OSError("All connection attempts failed"),
                ConnectionRefusedError(111, "Connect call failed ('10.0.0.9', 8188)"),
            ),
            "Connection refused",
        ),
        # getaddrinfo's errors are negative: their own text says it.
        (
            connect_error(
                "[Errno -2] Name or service not known",
                socket.gaierror(-2, "Name or service not known"),
            ),
            "Name or service not known",
        ),
        (connect_error("no route for this host"), "no route for this host"),
        (connect_error("x" * 300), "x" * 117 + "..."),
        (connect_error(""), "refused"),
    ],
)
def test_a_failed_connection_names_what_the_system_said(error: Exception, reason: str) -> None:
    import httpx

    from imagen_comfyui.api import ComfyAPI

    def refuse(request: httpx.Request) -> httpx.Response:
        raise error

    url = "http://10.0.0.9:8188"

    async def main() -> None:
        async with httpx.AsyncClient(base_url=url, transport=httpx.MockTransport(refuse)) as client:
            await ComfyAPI(client, url=url, backend="local", headers_env=None).version()

    with pytest.raises(BackendUnavailable) as caught:
        asyncio.run(main())
    assert str(caught.value) == (
        f"local: cannot connect to ComfyUI at {url} ({reason}); "
        "is the server running and is url right?"
    )
    assert caught.value.detail == {"unreachable": reason}


# -- ComfyAPI on its own: what each call gives its caller ----------------------------------
# (written from the mutation run of imagen_comfyui.api, issue 17)

#: The recorded "quick" prompt (42-post-prompt-quick-B): someone else's work on the server.
OTHER_GRAPH = {
    "1": {"class_type": "EmptyImage",
          "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 1193046}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "quick"}},
}  # fmt: skip


def on_api(url: str, call: Callable[[Any], Any], **options: Any) -> Any:
    """``await call(api)`` with a ComfyAPI for ``url`` (``transport``: httpx's, to fake errors;
    other ``options`` go to ComfyAPI)."""
    import httpx

    from imagen_comfyui.api import ComfyAPI

    transport = options.pop("transport", None)

    async def main() -> Any:
        async with httpx.AsyncClient(base_url=url, transport=transport) as client:
            return await call(ComfyAPI(client, url=url, backend="local", headers_env=None,
                                       **options))  # fmt: skip

    return asyncio.run(main())


def raising(error: Exception) -> Any:
    """An httpx transport that fails every request with ``error``."""
    import httpx

    def fail(request: httpx.Request) -> httpx.Response:
        raise error

    return httpx.MockTransport(fail)


def tls_hello_answered_in_plain_http() -> Exception:
    """The error OpenSSL raises when a server answers its hello in plain HTTP (an https url
    on a plain-http ComfyUI), made by a handshake in memory."""
    import ssl

    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ssl.create_default_context().wrap_bio(incoming, outgoing, server_hostname="localhost")
    with pytest.raises(ssl.SSLWantReadError):
        tls.do_handshake()
    incoming.write(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
    with pytest.raises(ssl.SSLError) as caught:
        tls.do_handshake()
    return caught.value


def test_a_tls_failure_is_named_in_openssls_own_words() -> None:
    import re

    error = tls_hello_answered_in_plain_http()
    # OpenSSL's text: "[SSL: WRONG_VERSION_NUMBER] wrong version number (_ssl.c:1006)".
    said = re.search(r"\] (.+) \(", str(error))
    assert said is not None
    url = "https://10.0.0.9:8188"
    refused = raising(connect_error("All connection attempts failed", error))
    with pytest.raises(BackendUnavailable) as caught:
        on_api(url, lambda api: api.version(), transport=refused)
    assert caught.value.detail == {"unreachable": f"TLS: {said.group(1)}"}


def test_a_request_httpx_gives_up_waiting_for_names_the_request(url: str) -> None:
    import httpx

    silent = raising(httpx.ReadTimeout("timed out"))
    with pytest.raises(BackendTimeout) as caught:
        on_api(url, lambda api: api.history("p-1"), transport=silent)
    assert str(caught.value) == f"local: ComfyUI at {url} did not answer GET /history/p-1 in time"
    # What `imagen backends --check` shows after "server not reachable".
    assert caught.value.detail == {"unreachable": "no answer to GET /history/p-1 in time"}


@pytest.mark.parametrize(
    ("said", "reason"),
    [
        ("peer closed connection without sending complete message body", None),
        ("x" * 300, "x" * 117 + "..."),
        ("", "RemoteProtocolError"),
    ],
)
def test_a_connection_lost_mid_answer_says_what_broke(
    said: str, reason: str | None, url: str
) -> None:
    import httpx

    lost = raising(httpx.RemoteProtocolError(said))
    with pytest.raises(BackendUnavailable) as caught:
        on_api(url, lambda api: api.queue_state("p-1"), transport=lost)
    reason = reason or said
    assert str(caught.value) == (
        f"local: lost the connection to ComfyUI at {url} during GET /queue: {reason}"
    )
    assert caught.value.detail == {"unreachable": reason}


def test_a_lost_connection_does_not_show_the_proxys_headers(url: str) -> None:
    import httpx

    # A proxy's garbled answer, quoted by the HTTP parser, that holds the header it was sent.
    lost = raising(httpx.RemoteProtocolError("illegal header line: X-Proxy-Token: opensesame-77"))
    credentials = {"X-Proxy-Token": "opensesame-77"}
    with pytest.raises(BackendUnavailable) as caught:
        on_api(url, lambda api: api.version(), transport=lost, credentials=credentials)
    assert "opensesame" not in str(caught.value)
    assert "opensesame" not in json.dumps(caught.value.detail)


def test_cancel_of_the_running_prompt_interrupts_it_and_returns(
    fake: FakeComfyUI, url: str
) -> None:
    fake.run_time = 60.0  # its SaveImage "works" until interrupted

    async def queue_then_cancel(api: Any) -> None:
        prompt_id = await api.queue_prompt(OTHER_GRAPH, "abc", "p-running")
        await until(fake, lambda: fake.running is not None)
        assert await api.queue_state(prompt_id) == "running"
        await api.cancel(prompt_id)

    assert on_api(url, queue_then_cancel) is None
    fake.wait_until(lambda: "p-running" in fake.history)
    assert fake.interrupts == [{"prompt_id": "p-running"}]
    assert fake.history["p-running"]["status"]["status_str"] == "error"


def test_a_prompt_waiting_behind_anothers_is_polled_until_its_turn(run: Run) -> None:
    import threading

    import httpx

    fake = FakeComfyUI(run_time=60.0, websocket=False)  # the other prompt runs until stopped
    with serve_app(fake.app()) as url:
        posted = httpx.post(f"{url}/prompt", json={"prompt": OTHER_GRAPH, "client_id": "abc"})
        other = posted.json()["prompt_id"]
        fake.wait_until(lambda: fake.running is not None)
        outcome: dict[str, Any] = {}

        def generate() -> None:
            try:
                outcome["result"] = run(ComfyUIBackend("local", ComfyUISettings(url=url)), REQUEST)
            except Exception as error:
                outcome["error"] = error
            finally:
                fake.changed()

        thread = threading.Thread(target=generate)
        thread.start()
        # Our prompt waits in the queue while imagen reads it (twice: it went on waiting).
        fake.wait_until(lambda: len(fake.calls_to("queue")) >= 2 or bool(outcome))
        fake.run_time = 0.05
        httpx.post(f"{url}/interrupt", json={"prompt_id": other})
        thread.join()
    assert "error" not in outcome, outcome
    assert len(outcome["result"].images) == 1


def test_a_queue_the_server_cannot_show_says_what_was_read(run: Run) -> None:
    fake = FakeComfyUI(run_time=60.0, websocket=False)  # still running at the first poll
    with serve_app(fake.app()) as url:
        fake.fail("queue", 500)
        with pytest.raises(BackendUnavailable) as caught:
            run(ComfyUIBackend("local", ComfyUISettings(url=url)), REQUEST)
    assert str(caught.value) == (
        f"local: ComfyUI at {url} could not read the queue (HTTP 500); see the server's log"
    )


def test_an_output_the_server_sends_without_a_media_type_has_none(url: str) -> None:
    import httpx

    # aiohttp always names one; a proxy or another server in front may not.
    data = b"\x89PNG\r\n\x1a\n the rest"
    untyped = httpx.MockTransport(lambda request: httpx.Response(200, content=data))
    image = {"filename": "x_00001_.png", "subfolder": "", "type": "output"}
    assert on_api(url, lambda api: api.view(image), transport=untyped) == (data, "")


def test_comfyuis_own_refusal_quoting_the_proxys_headers_does_not_show_them(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend],
    monkeypatch: pytest.MonkeyPatch,
) -> None:  # fmt: skip
    # ComfyUI's 400 (as recorded in 28-post-prompt-invalid-unknown-class_type), from a custom
    # node that quotes the request's headers in its validation error.
    said = "Cannot execute because node X-Proxy-Token: opensesame-77 does not exist."
    refusal = {"error": {"type": "invalid_prompt", "message": said, "details": "Node ID '#1'",
                         "extra_info": {}}, "node_errors": {}}  # fmt: skip
    fake.fail("prompt", lambda request: web.json_response(refusal, status=400))
    monkeypatch.setenv("COMFY_HEADERS", "X-Proxy-Token: opensesame-77")
    with pytest.raises(InvalidRequest) as caught:
        run(make_backend(headers_env="COMFY_HEADERS"), REQUEST)
    assert str(caught.value).startswith("local: ComfyUI rejected the workflow: Cannot execute")
    assert "opensesame" not in str(caught.value)
    assert "opensesame" not in json.dumps(caught.value.detail)


def test_a_prompt_waiting_behind_another_is_pending_and_a_cancel_only_takes_it_off(
    fake: FakeComfyUI, url: str
) -> None:
    fake.run_time = 60.0  # the first prompt runs until the server stops

    async def queue_two_then_cancel_the_second(api: Any) -> list[Any]:
        await api.queue_prompt(OTHER_GRAPH, "abc", "p-first")
        await until(fake, lambda: fake.running is not None)
        await api.queue_prompt(OTHER_GRAPH, "abc", "p-second")
        states = [await api.queue_state("p-second")]
        await api.cancel("p-second")
        return [*states, await api.queue_state("p-second"), await api.queue_state("p-first")]

    assert on_api(url, queue_two_then_cancel_the_second) == ["pending", None, "running"]
    assert fake.deleted == ["p-second"]
    assert fake.interrupts == []  # the first prompt, someone else's, runs on


def answers_until(stalled: str) -> Any:
    """An httpx transport answering as ComfyUI does (the queue shows prompt p-1 running) until
    the request ``stalled`` ("GET /queue"), which gets no answer in time."""
    import httpx

    def answer(request: httpx.Request) -> httpx.Response:
        if f"{request.method} {request.url.path}" == stalled:
            raise httpx.ReadTimeout("timed out", request=request)
        if request.url.path == "/queue":
            return httpx.Response(200, json={"queue_running": [[0, "p-1", {}, {}, ["2"]]],
                                             "queue_pending": []})  # fmt: skip
        return httpx.Response(200, json={})

    return httpx.MockTransport(answer)


@pytest.mark.parametrize(
    ("call", "stalled"),
    [
        ("queue_prompt", "POST /prompt"),
        ("queue_state", "GET /queue"),
        ("view", "GET /view"),
        ("upload", "POST /upload/image"),
        ("choices", "GET /object_info/UNETLoader"),
        ("cancel", "POST /queue"),
        ("cancel", "POST /interrupt"),  # p-1 is running: the interrupt follows the delete
    ],
)
def test_a_request_without_an_answer_is_named_as_it_was_sent(
    call: str, stalled: str, url: str
) -> None:
    from imagen.models import Ref

    calls: dict[str, Callable[[Any], Any]] = {
        "queue_prompt": lambda api: api.queue_prompt(OTHER_GRAPH, "abc", "p-1"),
        "queue_state": lambda api: api.queue_state("p-1"),
        "view": lambda api: api.view({"filename": "a.png", "subfolder": "", "type": "output"}),
        "upload": lambda api: api.upload(Ref("cat.png", b"png", "image/png", "ab" * 32)),
        "choices": lambda api: api.choices("UNETLoader", "unet_name"),
        "cancel": lambda api: api.cancel("p-1"),
    }
    with pytest.raises(BackendTimeout) as caught:
        on_api(url, calls[call], transport=answers_until(stalled))
    assert str(caught.value) == f"local: ComfyUI at {url} did not answer {stalled} in time"


def test_a_reference_larger_than_the_server_takes_says_to_use_a_smaller_one(
    fake: FakeComfyUI, url: str
) -> None:
    from imagen.models import Ref

    # aiohttp's own answer past ComfyUI's max_upload_size (100 MiB by default).
    too_large = "Maximum request body size 104857600 exceeded, actual body size 104857700"
    fake.fail("upload", lambda request: web.Response(status=413, text=too_large))
    ref = Ref("cat.png", b"png", "image/png", "ab" * 32)
    with pytest.raises(InvalidRequest) as caught:
        on_api(url, lambda api: api.upload(ref))
    assert str(caught.value) == (
        f"local: ComfyUI at {url} could not upload the reference image (HTTP 413: {too_large}); "
        "the request is too large: use smaller --ref images"
    )


def test_an_answer_larger_than_a_json_answer_can_be_is_not_read(
    fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # A history entry is JSON of a few kB; 9 MiB of it is not ComfyUI's (a wrong url, a proxy).
    fake.fail("history", lambda request: web.json_response({"x": " " * (9 << 20)}))
    with pytest.raises(BackendError) as caught:
        run(make_backend(), REQUEST)
    assert str(caught.value) == (
        f"local: ComfyUI at {url} answered more than 8 MiB for {url}; not read"
    )


def test_an_output_image_larger_than_a_json_answer_is_downloaded(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    import io
    import os

    from PIL import Image as PILImage

    # Noise stored without compression: about 9.6 MB, past the 8 MiB a JSON answer may take.
    noise = PILImage.frombytes("RGB", (2000, 1600), os.urandom(2000 * 1600 * 3))
    buffer = io.BytesIO()
    noise.save(buffer, format="PNG", compress_level=0)
    big = buffer.getvalue()
    fake.fail("view", lambda request: web.Response(body=big, content_type="image/png"))
    result = run(make_backend(), REQUEST)
    assert result.images[0].data == big


def test_an_output_the_server_cannot_give_says_what_was_downloaded(
    fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail("view", 503, 503)
    with pytest.raises(BackendUnavailable) as caught:
        run(make_backend(), REQUEST)
    assert str(caught.value) == (
        f"local: ComfyUI at {url} could not download an output image (HTTP 503); "
        "see the server's log"
    )


@pytest.mark.parametrize("status", [400, 413])
def test_a_proxy_echoing_the_headers_in_a_refusal_does_not_show_the_secret(
    status: int, fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend],
    monkeypatch: Any,
) -> None:  # fmt: skip
    echo = f"refused: Authorization: Bearer echoed-s3cret-{status}"
    fake.fail("prompt", lambda request: web.Response(status=status, text=echo))
    monkeypatch.setenv("COMFY_HEADERS", f"Authorization: Bearer echoed-s3cret-{status}")
    with pytest.raises(InvalidRequest) as caught:
        run(make_backend(headers_env="COMFY_HEADERS"), REQUEST)
    assert "s3cret" not in str(caught.value)
    assert "s3cret" not in json.dumps(caught.value.detail, default=str)
