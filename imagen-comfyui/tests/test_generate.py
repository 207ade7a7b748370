"""What the backend sends to ComfyUI and what it returns, against the fake server."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image as PILImage

from imagen.errors import BackendUnavailable, ConfigError, InvalidRequest
from imagen.models import Progress, Ref, Request, Result
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
