"""What the backend sends to ComfyUI and what it returns, against the fake server."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image as PILImage

from imagen.errors import (
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ConfigError,
    InvalidRequest,
    NotConfigured,
)
from imagen.models import Progress, Ref, Request, Result, Status
from imagen.testing.servers import serve_app
from imagen_comfyui import events
from imagen_comfyui.backend import ComfyUIBackend
from imagen_comfyui.fake import FakeComfyUI
from imagen_comfyui.settings import ComfyUISettings, Inject, Models

Generate = Callable[..., Result]


def png(width: int, height: int, color: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def graph_sent(fake: FakeComfyUI, index: int = -1) -> dict[str, Any]:
    return fake.received[index]["prompt"]  # type: ignore[no-any-return]


def write_workflow(tmp_path: Path, graph: dict[str, Any]) -> Path:
    path = tmp_path / "my-workflow-api.json"
    path.write_text(json.dumps(graph, indent=2))
    return path


EMPTY_IMAGE_WORKFLOW = {
    "1": {"class_type": "EmptyImage",
          "inputs": {"width": 40, "height": 30, "batch_size": 1, "color": 255}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "mine"}},
}  # fmt: skip
INVERT_WORKFLOW = {
    "1": {"class_type": "LoadImage", "inputs": {"image": "example.png"}},
    "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "inv"}},
}


def test_built_in_workflow_receives_prompt_seed_size_steps_and_one_image_per_prompt(
    fake: FakeComfyUI, generate: Generate
) -> None:
    result = generate(Request("a cat in a fishbowl", width=512, height=768, steps=3, seed=42))
    graph = graph_sent(fake)
    assert graph["6"]["inputs"]["text"] == "a cat in a fishbowl"
    assert graph["31"]["inputs"]["seed"] == 42
    assert graph["31"]["inputs"]["steps"] == 3
    assert graph["27"]["inputs"] == {"width": 512, "height": 768, "batch_size": 1}
    assert graph["30"]["inputs"]["ckpt_name"] == "flux1-schnell-fp8.safetensors"
    assert fake.received[-1]["client_id"]
    assert [(i.width, i.height, i.seed, i.media_type) for i in result.images] == [
        (512, 768, 42, "image/png")
    ]
    assert result.model == "flux1-schnell-fp8.safetensors"
    assert result.metadata["prompt_ids"] == [next(iter(fake.history))]
    assert result.metadata["workflow"] == "flux-schnell"
    assert result.metadata["steps"] == 3


def test_steps_default_to_the_workflows_own(fake: FakeComfyUI, generate: Generate) -> None:
    generate(Request("x", width=64, height=64, seed=1), workflow="flux-dev")
    assert graph_sent(fake)["31"]["inputs"]["steps"] == 20
    assert graph_sent(fake)["35"]["class_type"] == "FluxGuidance"


def test_count_queues_one_prompt_per_image_with_consecutive_seeds(
    fake: FakeComfyUI, generate: Generate
) -> None:
    result = generate(Request("x", width=64, height=64, seed=10, count=3))
    assert [graph_sent(fake, i)["31"]["inputs"]["seed"] for i in range(3)] == [10, 11, 12]
    assert [image.seed for image in result.images] == [10, 11, 12]
    assert len(set(result.metadata["prompt_ids"])) == 3


def test_a_seed_is_drawn_and_reported_when_none_is_given(
    fake: FakeComfyUI, generate: Generate
) -> None:
    result = generate(Request("x", width=64, height=64))
    assert result.images[0].seed == graph_sent(fake)["31"]["inputs"]["seed"]
    assert isinstance(result.images[0].seed, int)


def test_size_is_snapped_to_multiples_of_16_and_the_choice_recorded(
    fake: FakeComfyUI, generate: Generate
) -> None:
    result = generate(Request("x", width=1000, height=700, seed=1))
    assert graph_sent(fake)["27"]["inputs"]["width"] == 1008
    assert graph_sent(fake)["27"]["inputs"]["height"] == 704
    assert (result.images[0].width, result.images[0].height) == (1008, 704)
    assert result.metadata["size"] == "1008x704"
    assert result.metadata["size_asked"] == "1000x700"
    assert any("1000x700 became 1008x704" in warning for warning in result.warnings)


def test_an_aspect_ratio_alone_renders_about_one_megapixel(
    fake: FakeComfyUI, generate: Generate
) -> None:
    result = generate(Request("x", aspect_ratio="16:9", seed=1))
    image = result.images[0]
    assert (image.width, image.height) == (1360, 768)
    assert result.metadata["size"] == "1360x768"
    assert result.metadata["aspect_ratio"] == "16:9"
    assert result.warnings == ()  # a mapping decision, recorded, not a change to warn about


def test_image_size_is_the_decoded_size_of_what_the_server_saved(
    tmp_path: Path, generate: Generate
) -> None:
    path = write_workflow(tmp_path, EMPTY_IMAGE_WORKFLOW)
    result = generate(
        Request("x", width=512, height=512),
        workflow=str(path),
        inject=Inject(prompt="2.filename_prefix"),
    )
    assert (result.images[0].width, result.images[0].height) == (40, 30)
    assert any("no width/height input" in warning for warning in result.warnings)
    assert result.model == "my-workflow-api"


def test_a_custom_workflow_gets_its_declared_inputs_and_its_file_is_left_unchanged(
    fake: FakeComfyUI, tmp_path: Path, generate: Generate
) -> None:
    path = write_workflow(tmp_path, EMPTY_IMAGE_WORKFLOW)
    before = path.read_bytes()
    inject = Inject(prompt="2.filename_prefix", width="1.width", height="1.height",
                    seed="1.color", batch_size="1.batch_size")  # fmt: skip
    result = generate(
        Request("shot", width=96, height=48, seed=7), workflow=str(path), inject=inject
    )
    assert graph_sent(fake)["1"]["inputs"] == {
        "width": 96,
        "height": 48,
        "batch_size": 1,
        "color": 7,
    }
    assert graph_sent(fake)["2"]["inputs"]["filename_prefix"] == "shot"
    assert (result.images[0].width, result.images[0].height, result.images[0].seed) == (96, 48, 7)
    assert path.read_bytes() == before


def test_an_output_saved_in_a_subfolder_is_downloaded_from_there(
    fake: FakeComfyUI, tmp_path: Path, generate: Generate
) -> None:
    # ComfyUI saves "renders/mine" as mine_00001_.png in output/renders/ (subfolder "renders").
    path = write_workflow(tmp_path, EMPTY_IMAGE_WORKFLOW)
    inject = Inject(prompt="2.filename_prefix")  # the prompt is the prefix here
    result = generate(Request("renders/mine"), workflow=str(path), inject=inject)
    assert fake.files[("output", "renders", "mine_00001_.png")] == result.images[0].data
    (view,) = fake.calls_to("view")
    assert view.query["subfolder"] == "renders"


def test_every_image_of_every_save_image_node_is_returned_in_node_then_batch_order(
    fake: FakeComfyUI, tmp_path: Path, generate: Generate
) -> None:
    graph = {
        "1": {"class_type": "EmptyImage",
              "inputs": {"width": 40, "height": 30, "batch_size": 2, "color": 0}},
        "2": {"class_type": "ImageInvert", "inputs": {"image": ["1", 0]}},
        "10": {"class_type": "SaveImage", "inputs": {"images": ["2", 0], "filename_prefix": "b"}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "a"}},
    }  # fmt: skip
    path = write_workflow(tmp_path, graph)
    inject = Inject(prompt="9.filename_prefix", seed="1.color")
    result = generate(Request("x", seed=7), workflow=str(path), inject=inject)
    assert len(fake.received) == 1  # one take: one prompt, four images
    colours = []
    for image in result.images:
        assert (image.width, image.height, image.seed, image.media_type) == (40, 30, 7, "image/png")
        with PILImage.open(io.BytesIO(image.data)) as decoded:
            colours.append(decoded.convert("RGB").getpixel((0, 0)))
    assert colours == [(0, 0, 7)] * 2 + [(255, 255, 248)] * 2  # node 9's batch, then node 10's


def test_a_reference_image_is_uploaded_and_given_to_load_image(
    fake: FakeComfyUI, tmp_path: Path, generate: Generate
) -> None:
    data = png(24, 16)
    ref = Ref("cat.png", data, "image/png", hashlib.sha256(data).hexdigest())
    path = write_workflow(tmp_path, INVERT_WORKFLOW)
    inject = Inject(prompt="3.filename_prefix", image="1.image")
    result = generate(Request("x", refs=(ref,)), workflow=str(path), inject=inject)
    name = f"imagen-{ref.sha256[:16]}.png"
    assert fake.files[("input", "", name)] == data
    assert graph_sent(fake)["1"]["inputs"]["image"] == name
    with PILImage.open(io.BytesIO(result.images[0].data)) as out:
        assert out.size == (24, 16)
        assert out.convert("RGB").getpixel((0, 0)) == (245, 55, 225)


def test_a_reference_renamed_by_the_server_is_given_to_load_image_by_its_new_name(
    fake: FakeComfyUI, tmp_path: Path, generate: Generate
) -> None:
    # Someone else's file already has the name: ComfyUI keeps both, ours as "name (1).png".
    data = png(24, 16)
    ref = Ref("cat.png", data, "image/png", hashlib.sha256(data).hexdigest())
    taken = f"imagen-{ref.sha256[:16]}.png"
    fake.files[("input", "", taken)] = png(8, 8, (1, 2, 3))
    path = write_workflow(tmp_path, INVERT_WORKFLOW)
    inject = Inject(prompt="3.filename_prefix", image="1.image")
    generate(Request("x", refs=(ref,)), workflow=str(path), inject=inject)
    renamed = f"imagen-{ref.sha256[:16]} (1).png"
    assert fake.files[("input", "", renamed)] == data
    assert graph_sent(fake)["1"]["inputs"]["image"] == renamed


def test_a_reference_the_server_files_in_a_subfolder_is_given_to_load_image_there(
    fake: FakeComfyUI, tmp_path: Path, generate: Generate
) -> None:
    # A server (or a proxy's rules) may file uploads in a subfolder of input/; LoadImage then
    # takes "subfolder/name", as ComfyUI lists the input files.
    data = png(24, 16)
    ref = Ref("cat.png", data, "image/png", hashlib.sha256(data).hexdigest())

    async def into_subfolder(request: web.Request) -> web.Response:
        image = fake.call_of(request).form()["image"]
        fake.files[("input", "refs", str(image.filename))] = image.data
        return web.json_response({"name": image.filename, "subfolder": "refs", "type": "input"})

    fake.fail("upload", into_subfolder)
    path = write_workflow(tmp_path, INVERT_WORKFLOW)
    inject = Inject(prompt="3.filename_prefix", image="1.image")
    generate(Request("x", refs=(ref,)), workflow=str(path), inject=inject)
    name = f"imagen-{ref.sha256[:16]}.png"
    assert fake.files[("input", "refs", name)] == data
    assert graph_sent(fake)["1"]["inputs"]["image"] == f"refs/{name}"


def test_a_reference_is_uploaded_to_the_input_folder(fake: FakeComfyUI, url: str) -> None:
    # ComfyUI files an upload by its "type" field; one it does not know fails with its 500.
    data = png(4, 4)
    ref = Ref("cat.png", data, "image/png", hashlib.sha256(data).hexdigest())
    assert upload(url, ref) == f"imagen-{ref.sha256[:16]}.png"
    (call,) = fake.calls_to("upload")
    assert call.form()["type"].text == "input"


def test_a_gif_reference_is_uploaded_under_a_png_name(fake: FakeComfyUI, url: str) -> None:
    # imagen takes GIF references; ComfyUI's LoadImage opens any image whatever its suffix.
    buffer = io.BytesIO()
    PILImage.new("RGB", (4, 4), (10, 200, 30)).save(buffer, format="GIF")
    data = buffer.getvalue()
    ref = Ref("cat.gif", data, "image/gif", hashlib.sha256(data).hexdigest())
    name = f"imagen-{ref.sha256[:16]}.png"
    assert upload(url, ref) == name
    assert fake.files[("input", "", name)] == data


def test_an_upload_answer_without_a_name_keeps_the_name_sent(fake: FakeComfyUI, url: str) -> None:
    data = png(4, 4)
    ref = Ref("cat.png", data, "image/png", hashlib.sha256(data).hexdigest())
    fake.fail("upload", lambda request: web.json_response({"subfolder": "", "type": "input"}))
    assert upload(url, ref) == f"imagen-{ref.sha256[:16]}.png"


def test_a_failed_upload_says_what_could_not_be_done(fake: FakeComfyUI, url: str) -> None:
    data = png(4, 4)
    ref = Ref("cat.png", data, "image/png", hashlib.sha256(data).hexdigest())
    fake.fail("upload", 503)
    with pytest.raises(BackendUnavailable) as caught:
        upload(url, ref)
    assert str(caught.value) == (
        f"local: ComfyUI at {url} could not upload the reference image (HTTP 503); "
        "see the server's log"
    )
    assert len(fake.calls_to("upload")) == 1  # a POST is not sent again


def upload(url: str, ref: Ref) -> str:
    import httpx

    from imagen_comfyui.api import ComfyAPI

    async def main() -> str:
        async with httpx.AsyncClient(base_url=url) as client:
            return await ComfyAPI(client, url=url, backend="local", headers_env=None).upload(ref)

    return asyncio.run(main())


@pytest.mark.parametrize(
    ("media_type", "suffix"), [("image/jpeg", ".jpg"), ("image/webp", ".webp")]
)
def test_a_reference_is_uploaded_under_the_suffix_of_its_media_type(
    fake: FakeComfyUI, tmp_path: Path, generate: Generate, media_type: str, suffix: str
) -> None:
    buffer = io.BytesIO()
    PILImage.new("RGB", (24, 16), (10, 200, 30)).save(
        buffer, format=suffix[1:].replace("jpg", "jpeg")
    )
    data = buffer.getvalue()
    ref = Ref("cat" + suffix, data, media_type, hashlib.sha256(data).hexdigest())
    path = write_workflow(tmp_path, INVERT_WORKFLOW)
    inject = Inject(prompt="3.filename_prefix", image="1.image")
    generate(Request("x", refs=(ref,)), workflow=str(path), inject=inject)
    name = f"imagen-{ref.sha256[:16]}{suffix}"
    assert fake.files[("input", "", name)] == data
    assert graph_sent(fake)["1"]["inputs"]["image"] == name


def test_completion_is_found_by_polling_history_when_there_is_no_websocket(
    make_backend: Callable[..., ComfyUIBackend], run: Callable[..., Result]
) -> None:
    fake = FakeComfyUI(run_time=0.05, websocket=False)
    with serve_app(fake.app()) as url:
        result = run(make_backend(url=url), Request("x", width=64, height=64, seed=3))
    assert result.images[0].seed == 3
    polled = [call.path for call in fake.calls_to("history")]
    assert len(polled) >= 1
    assert ("GET", "/ws") in [(call.method, call.path) for call in fake.calls]


def test_a_websocket_handshake_never_answered_is_given_up_for_polling(
    fake: FakeComfyUI,
    make_backend: Callable[..., ComfyUIBackend],
    run: Callable[..., Result],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A proxy that takes the upgrade request and never answers it: after OPEN_TIMEOUT the run
    # is followed by polling, well inside the take's own timeout.
    monkeypatch.setattr(events, "OPEN_TIMEOUT", 0.2)
    fake.hold("ws")
    result = run(make_backend(timeout=10.0), Request("x", width=64, height=64, seed=3))
    assert len(result.images) == 1
    assert len(fake.calls_to("history")) >= 1


def test_a_websocket_dropped_mid_run_is_followed_by_polling(
    make_backend: Callable[..., ComfyUIBackend], run: Callable[..., Result]
) -> None:
    # 1.5 s still to run after the drop: the client polls at least once before it ends.
    fake = FakeComfyUI(run_time=2.0, drop_socket_after=1)
    seen: list[str] = []
    with serve_app(fake.app()) as url:
        result = run(
            make_backend(url=url),
            Request("x", width=64, height=64, seed=3),
            Progress(lambda done, total, message: seen.append(message)),
        )
    assert len(result.images) == 1
    assert seen.count("sampling") == 1  # one step arrived on the socket, then it was cut
    assert [call.path for call in fake.calls].count(
        f"/history/{result.metadata['prompt_ids'][0]}"
    ) >= 2


def test_progress_follows_the_sampler_steps(generate: Generate) -> None:
    seen: list[tuple[float, float | None, str]] = []
    progress = Progress(lambda done, total, message: seen.append((done, total, message)))
    generate(Request("x", width=64, height=64, steps=4, seed=1), progress)
    steps = [(done, total) for done, total, message in seen if message == "sampling"]
    assert steps == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert seen[0][2] == "queued"
    assert seen[-1][2] == "done"


def test_a_failing_progress_callback_does_not_stop_the_generation(generate: Generate) -> None:
    def explode(done: float, total: float | None, message: str) -> None:
        raise RuntimeError("display broke")

    result = generate(Request("x", width=64, height=64, seed=1), Progress(explode))
    assert len(result.images) == 1


def test_a_negative_prompt_the_workflow_cannot_take_is_reported(generate: Generate) -> None:
    result = generate(Request("x", negative_prompt="text", width=64, height=64, seed=1))
    assert any("negative prompt" in warning for warning in result.warnings)


def test_model_file_names_from_config_go_to_the_loader_nodes(
    fake: FakeComfyUI, generate: Generate
) -> None:
    result = generate(
        Request("x", width=64, height=64, seed=1),
        workflow="flux-dev-split",
        models=Models(unet="flux1-schnell.safetensors"),
    )
    graph = graph_sent(fake)
    assert graph["12"]["inputs"]["unet_name"] == "flux1-schnell.safetensors"
    assert graph["11"]["inputs"]["clip_name1"] == "t5xxl_fp8_e4m3fn.safetensors"
    assert graph["10"]["inputs"]["vae_name"] == "ae.safetensors"
    assert result.model == "flux1-schnell.safetensors"


def test_headers_from_headers_env_reach_http_and_the_websocket(
    fake: FakeComfyUI, url: str, run: Callable[..., Result], monkeypatch: Any
) -> None:
    monkeypatch.setenv("COMFY_PROXY_HEADERS", "Authorization: Bearer s3cret-token\nX-Team: art")
    backend = ComfyUIBackend("local", ComfyUISettings(url=url, headers_env="COMFY_PROXY_HEADERS"))
    run(backend, Request("x", width=64, height=64, seed=1))
    for path in ("/ws", "/prompt"):
        headers = next(call.headers for call in fake.calls if call.path == path)
        assert headers["Authorization"] == "Bearer s3cret-token"
        assert headers["X-Team"] == "art"


def test_cost_is_zero_with_its_basis(make_backend: Callable[..., ComfyUIBackend]) -> None:
    cost = make_backend().estimate_cost(Request("x"))
    assert cost is not None
    assert cost.amount == 0
    assert "ComfyUI" in cost.basis


def test_options_set_node_inputs_directly(fake: FakeComfyUI, generate: Generate) -> None:
    generate(
        Request(
            "x", width=64, height=64, seed=1, options={"31.cfg": 1.5, "9.filename_prefix": "me"}
        )
    )
    assert graph_sent(fake)["31"]["inputs"]["cfg"] == 1.5
    assert graph_sent(fake)["9"]["inputs"]["filename_prefix"] == "me"


def test_an_option_naming_no_node_input_is_an_invalid_request(
    fake: FakeComfyUI, generate: Generate
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        generate(Request("x", options={"guidance": 2}))
    assert "NODE_ID.INPUT=VALUE" in str(caught.value)
    assert fake.received == []


def test_progress_over_several_images_never_goes_backwards(generate: Generate) -> None:
    seen: list[tuple[float, float | None]] = []
    progress = Progress(lambda done, total, message: seen.append((done, total)))
    generate(Request("x", width=64, height=64, steps=4, seed=1, count=2), progress)
    dones = [done for done, _ in seen]
    assert dones == sorted(dones)
    assert seen[-1] == (8, 8)


def test_progress_says_what_each_image_is_waiting_for_in_order(generate: Generate) -> None:
    seen: list[str] = []
    progress = Progress(lambda done, total, message: seen.append(message))
    generate(Request("x", width=64, height=64, steps=2, seed=1, count=2), progress)
    said = [message for i, message in enumerate(seen) if i == 0 or seen[i - 1] != message]
    each = ["running", "sampling", "fetching images", "done"]
    assert said == ["queued image 1/2", *each, "queued image 2/2", *each]


def test_headers_env_with_a_line_without_a_name_is_a_config_error(
    run: Callable[..., Result], make_backend: Callable[..., ComfyUIBackend], monkeypatch: Any
) -> None:
    monkeypatch.setenv("COMFY_PROXY_HEADERS", "Authorization: Bearer s3cret-token\n\nno colon here")
    with pytest.raises(ConfigError) as caught:
        run(make_backend(headers_env="COMFY_PROXY_HEADERS"), Request("x", width=64, height=64))
    assert str(caught.value) == (
        "backends.local.headers_env: COMFY_PROXY_HEADERS must hold 'Name: value' lines; "
        "one line has no name"
    )
    assert "s3cret" not in str(caught.value)


# -- decisions the backend's mutation run found unpinned (issue 17): how a polled run is found
# finished or gone, what a run records, withdrawing, timeouts, proxy headers, seeds drawn. ------

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


def test_seeds_drawn_for_several_images_stay_in_the_seed_range(
    fake: FakeComfyUI, url: str, run: Run, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Called without a seed (a caller other than the pipeline), every take still gets a seed
    # imagen can take back (`--seed` runs from 0 to SEED_RANGE - 1): drawn at the top of the
    # range, whichever random source draws it, the next take's seed must not go past it.
    import random
    import secrets

    from imagen.seeds import SEED_RANGE

    monkeypatch.setattr(random, "randrange", lambda stop: stop - 1)
    monkeypatch.setattr(secrets, "randbelow", lambda stop: stop - 1)
    result = run(ComfyUIBackend("local", ComfyUISettings(url=url)), Request("x", count=3))
    sent = [body["prompt"]["31"]["inputs"]["seed"] for body in fake.received]
    assert [image.seed for image in result.images] == sent
    assert all(0 <= seed < SEED_RANGE for seed in sent), sent


def test_a_result_costs_nothing_and_says_why(run: Run, url: str) -> None:
    # The sidecar and the usage records take the cost from the result: known to be zero, not
    # unknown.
    result = run(ComfyUIBackend("local", ComfyUISettings(url=url)), REQUEST)
    assert result.cost is not None
    assert result.cost.amount == 0
    assert result.cost.basis == "your own ComfyUI server: no per-image charge"


def test_the_last_seed_of_the_range_is_sent_and_one_past_it_is_refused_unsent(
    fake: FakeComfyUI, url: str, run: Run
) -> None:
    from imagen.seeds import SEED_RANGE

    backend = ComfyUIBackend("local", ComfyUISettings(url=url))
    result = run(backend, Request("x", width=64, height=64, seed=SEED_RANGE - 1))
    assert [image.seed for image in result.images] == [SEED_RANGE - 1]
    assert fake.received[-1]["prompt"]["31"]["inputs"]["seed"] == SEED_RANGE - 1
    with pytest.raises(ConfigError, match="out of range with 2 takes"):
        run(backend, Request("x", width=64, height=64, seed=SEED_RANGE - 1, count=2))
    assert len(fake.received) == 1


def test_a_request_for_no_images_still_makes_one(fake: FakeComfyUI, url: str, run: Run) -> None:
    # As every backend does through run_takes: count 0 from a direct caller is one take.
    result = run(ComfyUIBackend("local", ComfyUISettings(url=url)), Request("x", count=0))
    assert len(result.images) == 1
    assert len(fake.received) == 1


def test_a_workflow_error_from_generate_names_the_setting_of_the_instance(run: Run) -> None:
    backend = ComfyUIBackend("mine", ComfyUISettings(workflow="no-such-builtin"))
    with pytest.raises(ConfigError) as caught:
        run(backend, REQUEST)
    assert caught.value.path == "backends.mine.workflow"
    assert str(caught.value).startswith(
        "backends.mine.workflow: unknown workflow 'no-such-builtin'"
    )


def test_a_server_behind_a_proxy_path_is_reached_under_that_path(
    fake: FakeComfyUI, run: Run
) -> None:
    # A reverse proxy that serves ComfyUI under a path of its own ("/GPU-BOX/"), url written
    # with the trailing slash: HTTP and the websocket both go under the path.
    proxy = web.Application()
    proxy.add_subapp("/GPU-BOX/", fake.app())
    with serve_app(proxy) as base:
        result = run(ComfyUIBackend("local", ComfyUISettings(url=f"{base}/GPU-BOX/")), REQUEST)
    assert len(result.images) == 1
    assert result.metadata["server"] == f"{base}/GPU-BOX"
    assert ("GET", "/GPU-BOX/ws") in [(call.method, call.path) for call in fake.calls]
