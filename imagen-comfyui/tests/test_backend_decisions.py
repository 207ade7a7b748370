"""Decisions of the backend no other test pins: how a polled run is found finished or gone, what
a run records, how one failed image ends the generation (issue 17's mutation run)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path

import pytest
from aiohttp import web

from imagen.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ConfigError,
    NotConfigured,
)
from imagen.models import Progress, Ref, Request, Result, Status
from imagen.testing.servers import serve_app
from imagen_comfyui.backend import ComfyUIBackend
from imagen_comfyui.fake import FakeComfyUI
from imagen_comfyui.settings import ComfyUISettings, Inject

Run = Callable[..., Result]
REQUEST = Request("x", width=64, height=64, seed=1)


def someone_elses_prompt(fake: FakeComfyUI, url: str) -> str:
    """Queue the built-in workflow as another client would; its prompt id, once it runs."""
    import httpx

    graph = (resources.files("imagen_comfyui") / "workflows" / "flux-schnell.json").read_text()
    body = {"prompt": json.loads(graph), "client_id": "someone-else"}
    with httpx.Client(base_url=url) as client:
        prompt_id = str(client.post("/prompt", json=body).json()["prompt_id"])
    fake.wait_until(lambda: fake.running is not None and fake.running.prompt_id == prompt_id)
    return prompt_id


def test_a_run_that_ends_between_two_polls_is_fetched_not_called_vanished(run: Run) -> None:
    # The first look at /history comes before the run ends; by the time the queue is asked,
    # the run is over: the queue no longer has it and the history does.
    fake = FakeComfyUI(run_time=0.05, websocket=False)

    async def not_yet(request: web.Request) -> web.Response:
        await asyncio.to_thread(fake.wait_until, lambda: bool(fake.history))
        return web.json_response({})  # what ComfyUI answers for a prompt it has no entry of

    fake.fail("history", not_yet)
    with serve_app(fake.app()) as url:
        result = run(ComfyUIBackend("local", ComfyUISettings(url=url)), REQUEST)
    (prompt_id,) = fake.history
    assert result.metadata["prompt_ids"] == [prompt_id]
    assert len(result.images) == 1
    assert [call.path for call in fake.calls_to("history")] == [f"/history/{prompt_id}"] * 2


@pytest.mark.parametrize("websocket", [True, False], ids=["websocket", "polling"])
def test_a_prompt_deleted_from_the_queue_is_named_with_the_backend_instance(
    websocket: bool,
) -> None:
    import httpx

    fake = FakeComfyUI(run_time=30.0, websocket=websocket)  # someone else's run, never done

    async def main(url: str) -> str:
        backend = ComfyUIBackend("studio", ComfyUISettings(url=url))
        waiting = asyncio.create_task(backend.generate(REQUEST, Progress()))
        await asyncio.to_thread(fake.wait_until, lambda: len(fake.pending) == 1)
        prompt_id = fake.pending[0].prompt_id
        async with httpx.AsyncClient(base_url=url) as client:
            await client.post("/queue", json={"delete": [prompt_id]})
        with pytest.raises(BackendError) as caught:
            await waiting
        await backend.aclose()
        assert caught.value.backend == "studio"
        assert str(caught.value) == (
            f"studio: prompt {prompt_id} left ComfyUI's queue without running (deleted on the "
            "server, or the server restarted); try again"
        )
        return prompt_id

    with serve_app(fake.app()) as url:
        someone_elses_prompt(fake, url)
        asyncio.run(main(url))


def test_a_finished_run_whose_history_lists_no_saved_image_names_the_prompt(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # A history entry without outputs (an extension's SaveImage that saves elsewhere, a server
    # whose history was trimmed): nothing to download is an error, not an empty result.
    async def no_outputs(request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        await asyncio.to_thread(fake.wait_until, lambda: prompt_id in fake.history)
        return web.json_response({prompt_id: {**fake.history[prompt_id], "outputs": {}}})

    fake.fail("history", no_outputs, no_outputs)
    with pytest.raises(BackendError) as caught:
        run(make_backend(), REQUEST)
    (prompt_id,) = fake.history
    assert caught.value.backend == "local"
    assert str(caught.value) == (
        f"local: ComfyUI finished prompt {prompt_id} but its SaveImage nodes saved nothing"
    )
    assert fake.calls_to("view") == []


def test_a_long_media_type_of_an_output_that_is_not_an_image_is_cut_short(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    media_type = "application/vnd.example." + "x" * 37  # 61 characters
    fake.fail("view", lambda request: web.Response(body=b"{}", content_type=media_type))
    with pytest.raises(BackendError) as caught:
        run(make_backend(), REQUEST)
    assert str(caught.value) == (
        f"local: ComfyUI returned an output that is not an image ({media_type[:57]}...)"
    )


def test_an_output_without_a_media_type_that_is_not_an_image_says_so(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    untyped = web.Response(body=b"not an image", headers={"Content-Type": ""})
    fake.fail("view", lambda request: untyped)
    with pytest.raises(BackendError) as caught:
        run(make_backend(), REQUEST)
    assert str(caught.value) == (
        "local: ComfyUI returned an output that is not an image (no media type)"
    )


def test_check_gives_up_on_a_server_that_never_accepts_the_connection(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A firewall that drops packets, or a server whose accept queue is full: the TCP handshake
    # never completes. `imagen backends --check` says so after CHECK_TIMEOUT, not after the
    # HTTP layer's longer default connect timeout. (Linux drops the SYN of a connection to a
    # listener whose queue of one is taken.)
    import socket

    monkeypatch.setattr("imagen_comfyui.backend.CHECK_TIMEOUT", 0.2)
    with socket.socket() as listener, socket.socket() as queued:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        queued.connect(listener.getsockname())  # fills the queue: the next SYN goes unanswered
        url = f"http://127.0.0.1:{listener.getsockname()[1]}"

        async def main() -> Status:
            backend = ComfyUIBackend("local", ComfyUISettings(url=url))
            try:
                # A bound for the test, well under the HTTP layer's 10 s connect timeout.
                async with asyncio.timeout(8):
                    return await backend.check()
            finally:
                await backend.aclose()

        status = asyncio.run(main())
    assert not status.ok
    assert str(status) == f"server not reachable at {url} (no answer to GET /system_stats in time)"


def test_a_prompt_queued_behind_a_lost_answer_is_taken_off_the_queue(
    fake: FakeComfyUI, url: str, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # A proxy passes POST /prompt on to ComfyUI, which queues it, then answers 502 itself: the
    # prompt must not wait in the queue to run for nobody.
    fake.run_time = 30.0
    someone_elses_prompt(fake, url)

    async def queued_then_bad_gateway(request: web.Request) -> web.Response:
        await fake.post_prompt(request)
        return web.Response(status=502, text="502: Bad Gateway")

    fake.fail("prompt", queued_then_bad_gateway)
    with pytest.raises(BackendUnavailable):
        run(make_backend(), REQUEST)
    ours = fake.received[-1]["prompt_id"]
    assert fake.deleted == [ours]
    assert fake.pending == []


def test_a_cancel_ends_even_when_the_server_never_answers_the_withdrawal(
    fake: FakeComfyUI, make_backend: Callable[..., ComfyUIBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("imagen_comfyui.backend.CANCEL_TIMEOUT", 0.2)
    fake.run_time = 30.0
    gate = fake.hold("queue_edit")

    async def main() -> None:
        backend = make_backend()
        task = asyncio.create_task(backend.generate(REQUEST, Progress()))
        await asyncio.to_thread(fake.wait_until, lambda: fake.running is not None)
        task.cancel()
        # A bound for the test: the withdrawal gives up after CANCEL_TIMEOUT.
        await asyncio.wait({task}, timeout=10)
        gate.open()
        assert task.cancelled()
        await backend.aclose()

    try:
        asyncio.run(main())
    finally:
        gate.open()
    assert len(fake.calls_to("queue_edit")) == 1


def test_polling_says_it_is_fetching_the_images_once_the_run_is_over(
    make_backend: Callable[..., ComfyUIBackend], run: Run
) -> None:
    fake = FakeComfyUI(run_time=0.05, websocket=False)
    seen: list[str] = []
    with serve_app(fake.app()) as url:
        run(make_backend(url=url), REQUEST, Progress(lambda done, total, said: seen.append(said)))
    said = [message for i, message in enumerate(seen) if i == 0 or seen[i - 1] != message]
    assert said == ["queued", "fetching images", "done"]


def test_a_run_the_socket_saw_finish_without_a_history_entry_says_to_try_again(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # The socket said the run was over, but the history has no entry (cleared in between).
    async def cleared(request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        await asyncio.to_thread(fake.wait_until, lambda: prompt_id in fake.history)
        return web.json_response({})

    fake.fail("history", cleared)
    with pytest.raises(BackendError) as caught:
        run(make_backend(), REQUEST)
    (prompt_id,) = fake.history
    assert caught.value.backend == "local"
    assert str(caught.value) == (
        f"local: ComfyUI finished prompt {prompt_id} but has no history of it; try again"
    )


def test_a_node_that_fails_in_a_polled_run_is_read_from_the_history(
    tmp_path: Path, make_backend: Callable[..., ComfyUIBackend], run: Run
) -> None:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}},
    }
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(graph))
    not_an_image = Ref("notes.png", b"just text", "image/png", "ab" * 32)
    inject = Inject(prompt="2.filename_prefix", image="1.image")
    fake = FakeComfyUI(run_time=0.05, websocket=False)
    with serve_app(fake.app()) as url:
        backend = make_backend(url=url, workflow=str(path), inject=inject)
        with pytest.raises(BackendError) as caught:
            run(backend, Request("x", refs=(not_an_image,)))
    assert caught.value.backend == "local"
    assert str(caught.value).startswith(
        "local: ComfyUI failed in node 1 (LoadImage): PIL.UnidentifiedImageError: cannot identify"
    )
    assert fake.calls_to("view") == []


def test_the_first_image_that_fails_ends_the_generation_before_the_next_is_queued(
    fake: FakeComfyUI, run: Run, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    fake.fail("view", 404)  # the first image's file is gone before its download
    with pytest.raises(BackendError, match="no longer has the output file"):
        run(make_backend(), Request("x", width=64, height=64, seed=1, count=3))
    assert len(fake.received) == 1


def test_a_result_records_the_server_and_how_long_the_generation_took(
    fake: FakeComfyUI, url: str, run: Run
) -> None:
    import time

    backend = ComfyUIBackend("local", ComfyUISettings(url=url + "/"))
    started = time.perf_counter()
    result = run(backend, REQUEST)
    took = time.perf_counter() - started
    assert result.metadata["server"] == url
    assert 0 < result.latency <= took


def test_listing_models_on_a_server_that_never_answers_gives_up_after_timeout(
    fake: FakeComfyUI, url: str, make_backend: Callable[..., ComfyUIBackend]
) -> None:
    # `imagen comfyui models` has no take around it: the HTTP client's own bound is the
    # instance's timeout.
    gate = fake.hold("object_info")

    async def main() -> None:
        backend = make_backend(timeout=0.3)
        try:
            async with asyncio.timeout(10):  # a bound for the test, not a measurement
                with pytest.raises(BackendTimeout) as caught:
                    await backend.list_models()
        finally:
            await backend.aclose()
        assert str(caught.value) == (
            f"local: ComfyUI at {url} did not answer GET /object_info/CheckpointLoaderSimple "
            "in time"
        )

    try:
        asyncio.run(main())
    finally:
        gate.open()


def test_proxy_headers_are_sent_trimmed_and_their_absence_says_what_to_set(
    fake: FakeComfyUI,
    url: str,
    run: Run,
    make_backend: Callable[..., ComfyUIBackend],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("COMFY_PROXY_HEADERS", "\n  X-Team  :  art  \r\nX-Token:abc:def\n\n")
    run(make_backend(headers_env="COMFY_PROXY_HEADERS"), REQUEST)
    (call,) = fake.calls_to("prompt")
    assert call.headers["X-Team"] == "art"
    assert call.headers["X-Token"] == "abc:def"
    monkeypatch.delenv("COMFY_PROXY_HEADERS")
    with pytest.raises(NotConfigured) as caught:
        run(make_backend(headers_env="COMFY_PROXY_HEADERS"), REQUEST)
    assert str(caught.value) == (
        "local: set COMFY_PROXY_HEADERS to the proxy's headers (one 'Name: value' per line)"
    )


def test_a_proxy_header_line_with_a_colon_but_no_name_is_a_config_error(
    run: Run, make_backend: Callable[..., ComfyUIBackend], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMFY_PROXY_HEADERS", "X-Team: art\n  : s3cret")
    with pytest.raises(ConfigError) as caught:
        run(make_backend(headers_env="COMFY_PROXY_HEADERS"), REQUEST)
    assert caught.value.path == "backends.local.headers_env"
    assert "s3cret" not in str(caught.value)


def test_a_take_past_its_timeout_is_an_error_of_the_backend_instance(run: Run) -> None:
    with serve_app(FakeComfyUI(silent=True).app()) as url:
        backend = ComfyUIBackend("studio", ComfyUISettings(url=url, timeout=0.5))
        with pytest.raises(BackendTimeout) as caught:
            run(backend, REQUEST)
    assert caught.value.backend == "studio"
    assert str(caught.value) == (
        f"studio: ComfyUI at {url} did not finish an image within 0.5 s; raise timeout or "
        "check the server's queue"
    )
