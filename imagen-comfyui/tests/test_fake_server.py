"""The fake server answers as the recorded ComfyUI 0.8.0 exchanges in ``captures/`` do."""

from __future__ import annotations

import io
import json
import uuid
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from imagen_comfyui.fake import FakeComfyUI

CAPTURES = Path(__file__).with_name("captures")
STATELESS = [
    "03-get-queue-idle",
    "05-get-object_info-unknown",
    "07-get-prompt",
    "28-post-prompt-invalid-unknown-class_type",
    "29-post-prompt-invalid-missing-input",
    "30-post-prompt-invalid-missing-linked-input",
    "31-post-prompt-invalid-bad-value-type",
    "32-post-prompt-invalid-value-out-of-range",
    "33-post-prompt-invalid-link-to-missing-node",
    "34-post-prompt-invalid-no-output-node",
    "35-post-prompt-invalid-loadimage-missing-file",
    "36-post-prompt-invalid-missing-class_type",
    "37-post-prompt-invalid-empty-prompt",
    "38-post-prompt-invalid-no-prompt-key",
    "57-get-history-unknown-id",
    "58-get-view-missing",
    "59-get-view-bad-type",
    "60-get-api-prefixed-queue",
    "62-post-interrupt-idle",
    "63-post-queue-delete-unknown",
]


def capture(name: str) -> dict[str, Any]:
    return json.loads((CAPTURES / f"{name}.json").read_text())  # type: ignore[no-any-return]


def frames(name: str) -> list[dict[str, Any]]:
    lines = (CAPTURES / f"{name}.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if '"local-note"' not in line]


def png(width: int, height: int, color: tuple[int, int, int] = (10, 20, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def without_tracebacks(body: Any) -> Any:
    """Tracebacks name the real server's files and lines; everything else must match."""
    if isinstance(body, dict):
        return {key: without_tracebacks(value) for key, value in body.items() if key != "traceback"}
    if isinstance(body, list):
        return [without_tracebacks(item) for item in body]
    return body


def replay(client: httpx.Client, recorded: dict[str, Any]) -> httpx.Response:
    request = recorded["request"]
    return client.request(request["method"], request["path"], json=request.get("json"))


@pytest.mark.parametrize("name", STATELESS)
def test_answers_like_the_recorded_server(url: str, name: str) -> None:
    recorded = capture(name)
    with httpx.Client(base_url=url) as client:
        response = replay(client, recorded)
    expected = recorded["response"]
    assert response.status_code == expected["status"]
    assert response.headers.get("content-type") == expected["headers"].get("Content-Type")
    if "json" in expected:
        assert without_tracebacks(response.json()) == without_tracebacks(expected["json"])
    else:
        assert len(response.content) == expected["body_len"]


@pytest.mark.parametrize("name", STATELESS)
def test_answers_are_the_recorded_bytes(url: str, name: str) -> None:
    # aiohttp's json_response writes json.dumps() as ComfyUI's does: the same bytes, so the
    # same Content-Length. Tracebacks name the real server's files, so those bodies differ.
    recorded = capture(name)
    with httpx.Client(base_url=url) as client:
        response = replay(client, recorded)
    expected = recorded["response"]
    if "traceback" in json.dumps(expected.get("json")):
        return
    body = json.dumps(expected["json"]).encode() if "json" in expected else b""
    assert response.content == body
    assert response.headers["content-length"] == expected["headers"]["Content-Length"]


def test_a_scripted_fault_is_answered_as_aiohttp_answers_it(fake: FakeComfyUI, url: str) -> None:
    fake.fail("prompt", 429, 503)
    with httpx.Client(base_url=url) as client:
        limited = client.post("/api/prompt", json={})
        down = client.post("/prompt", json={})
        answered = client.post("/prompt", json={})
    assert (limited.status_code, limited.text) == (429, "429: Too Many Requests")
    assert limited.headers["retry-after"] == "0"
    assert (down.status_code, down.text) == (503, "503: Service Unavailable")
    assert answered.json()["error"]["type"] == "no_prompt"
    assert [call.path for call in fake.calls_to("prompt")] == ["/api/prompt", "/prompt", "/prompt"]


def test_uploads_dedupe_same_bytes_rename_others_and_need_an_image_field(url: str) -> None:
    first, other = png(32, 24), png(32, 24, (200, 0, 0))
    with httpx.Client(base_url=url) as client:
        answers = [
            client.post("/upload/image", files={"image": ("upload-test.png", first)}),
            client.post("/upload/image", files={"image": ("upload-test.png", first)}),
            client.post("/upload/image", files={"image": ("upload-test.png", other)}),
            client.post(
                "/upload/image",
                files={"image": ("upload-test.png", other)},
                data={"overwrite": "true", "subfolder": "sub", "type": "input"},
            ),
            client.post("/upload/image", files={"other": ("x.png", first)}),
        ]
    names = [
        "16-post-upload-image",
        "17-post-upload-image-same-bytes-again",
        "18-post-upload-image-same-name-different-bytes",
        "19-post-upload-image-overwrite-subfolder",
        "20-post-upload-image-missing-field",
    ]
    for answer, name in zip(answers, names, strict=True):
        expected = capture(name)["response"]
        assert answer.status_code == expected["status"], name
        if "json" in expected:
            assert answer.json() == expected["json"], name
        else:
            assert answer.content == b"", name


def test_an_upload_of_a_type_comfyui_does_not_know_fails_as_its_handler_does(
    fake: FakeComfyUI, url: str
) -> None:
    # ComfyUI's get_dir_by_type knows input, temp and output; any other type leaves its folder
    # unset and the handler raises: aiohttp's 500.
    with httpx.Client(base_url=url) as client:
        answer = client.post(
            "/upload/image", files={"image": ("x.png", png(4, 4))}, data={"type": "INPUT"}
        )
    assert answer.status_code == 500
    assert not fake.files


def test_a_run_sends_the_recorded_messages_in_order_to_its_client_only(url: str) -> None:
    from websockets.sync.client import connect

    recorded = capture("09-post-prompt-emptyimage-save")
    socket_url = url.replace("http://", "ws://") + "/ws?clientId="
    with connect(socket_url + "abc") as own, connect(socket_url + "observer") as observer:
        hello = json.loads(own.recv(timeout=5))
        assert hello == frames("ws-connect-abc")[0]["data"]
        json.loads(observer.recv(timeout=5))
        with httpx.Client(base_url=url) as client:
            answer = replay(client, recorded).json()
        assert set(answer) == set(recorded["response"]["json"])
        assert answer["number"] == 0
        assert answer["node_errors"] == {}
        seen = []
        while not seen or seen[-1] != ("executing", None):
            message = json.loads(own.recv(timeout=5))
            seen.append((message["type"], message["data"].get("node")))
            if message["data"].get("prompt_id") is not None:
                assert message["data"]["prompt_id"] == answer["prompt_id"]
        watched = [json.loads(observer.recv(timeout=5))["type"] for _ in range(3)]
        with httpx.Client(base_url=url) as client:
            history = client.get(f"/history/{answer['prompt_id']}").json()
            entry = history[answer["prompt_id"]]
            image = entry["outputs"]["2"]["images"][0]
            view = client.get("/view", params=image)
    expected = [
        (frame["data"]["type"], frame["data"]["data"].get("node"))
        for frame in frames("ws-emptyimage-save-abc")
    ]
    assert seen == expected
    assert watched == [frame["data"]["type"] for frame in frames("ws-emptyimage-save-observer")]
    recorded_entry = capture("10-get-history-emptyimage")["response"]["json"]
    recorded_entry = next(iter(recorded_entry.values()))
    assert set(entry) == set(recorded_entry)
    assert entry["prompt"][3]["client_id"] == "abc"
    assert [m[0] for m in entry["status"]["messages"]] == [
        m[0] for m in recorded_entry["status"]["messages"]
    ]
    assert image == {"filename": "test_00001_.png", "subfolder": "", "type": "output"}
    assert view.headers["content-type"] == "image/png"
    assert view.headers["content-disposition"] == 'filename="test_00001_.png"'
    with Image.open(io.BytesIO(view.content)) as decoded:
        assert decoded.size == (64, 64)


def test_a_failing_node_sends_execution_error_and_records_it_in_history(url: str) -> None:
    from websockets.sync.client import connect

    with httpx.Client(base_url=url) as client:
        client.post("/upload/image", files={"image": ("not-an-image.png", b"plain text")})
        with connect(url.replace("http://", "ws://") + "/ws?clientId=abc") as own:
            own.recv(timeout=5)
            answer = replay(client, capture("26-post-prompt-runtime-error-loadimage")).json()
            seen = []
            while not seen or seen[-1]["type"] != "executing" or seen[-1]["data"]["node"]:
                seen.append(json.loads(own.recv(timeout=5)))
        entry = client.get(f"/history/{answer['prompt_id']}").json()[answer["prompt_id"]]
    expected = frames("ws-runtime-error-loadimage-abc")
    assert [m["type"] for m in seen] == [frame["data"]["type"] for frame in expected]
    error = next(m["data"] for m in seen if m["type"] == "execution_error")
    recorded = next(f["data"]["data"] for f in expected if f["data"]["type"] == "execution_error")
    assert set(error) == set(recorded)
    assert (error["node_id"], error["node_type"], error["exception_type"]) == (
        "1", "LoadImage", "PIL.UnidentifiedImageError"
    )  # fmt: skip
    assert error["exception_message"] == recorded["exception_message"]
    assert entry["status"]["status_str"] == "error"
    assert entry["outputs"] == {}


def test_interrupt_with_a_prompt_id_stops_only_that_running_prompt(
    fake: FakeComfyUI, url: str
) -> None:
    fake.run_time = 30.0  # until interrupted
    folder = resources.files("imagen_comfyui") / "workflows"
    graph = json.loads((folder / "flux-dev-split.json").read_text())
    with httpx.Client(base_url=url) as client:
        slow = client.post("/prompt", json={"prompt": graph, "client_id": "abc"}).json()
        quick = client.post("/prompt", json={"prompt": graph, "client_id": "abc"}).json()
        fake.wait_until(lambda: fake.running is not None)
        assert client.post("/interrupt", json={"prompt_id": quick["prompt_id"]}).status_code == 200
        assert client.post("/queue", json={"delete": [quick["prompt_id"]]}).status_code == 200
        queue = client.get("/queue").json()
        assert [item[1] for item in queue["queue_running"]] == [slow["prompt_id"]]
        assert queue["queue_pending"] == []
        client.post("/interrupt", json={"prompt_id": slow["prompt_id"]})
        fake.wait_until(lambda: slow["prompt_id"] in fake.history)
        history = client.get(f"/history/{slow['prompt_id']}").json()
        assert client.get(f"/history/{quick['prompt_id']}").json() == {}
    status = history[slow["prompt_id"]]["status"]
    assert status["status_str"] == "error"
    assert status["messages"][-1][0] == "execution_interrupted"


def test_a_prompt_id_the_client_chose_is_kept_as_comfyui_keeps_it(url: str) -> None:
    # ComfyUI 0.8's server.py: prompt_id = str(json_data.get("prompt_id", uuid.uuid4())).
    body = capture("09-post-prompt-emptyimage-save")["request"]["json"]
    with httpx.Client(base_url=url) as client:
        chosen = client.post("/prompt", json={**body, "prompt_id": "mine-1"}).json()
        numeric = client.post("/prompt", json={**body, "prompt_id": 7}).json()
        drawn = client.post("/prompt", json=body).json()
        queued = client.get("/queue").json()
    assert chosen["prompt_id"] == "mine-1"
    assert numeric["prompt_id"] == "7"
    assert str(uuid.UUID(drawn["prompt_id"], version=4)) == drawn["prompt_id"]
    listed = [item[1] for key in ("queue_running", "queue_pending") for item in queued[key]]
    assert set(listed) <= {"mine-1", "7", drawn["prompt_id"]}


def test_a_rejected_prompt_uses_up_a_number_as_in_the_recording(url: str) -> None:
    # Recorded: 26 was number 4, twelve rejected prompts followed, and 41 was number 17.
    good = capture("09-post-prompt-emptyimage-save")
    with httpx.Client(base_url=url) as client:
        first = replay(client, good).json()
        for rejected in ("28-post-prompt-invalid-unknown-class_type",
                         "38-post-prompt-invalid-no-prompt-key"):  # fmt: skip
            assert replay(client, capture(rejected)).status_code == 400
        third = replay(client, good).json()
    assert (first["number"], third["number"]) == (0, 3)


def rejected(url: str, prompt: dict[str, Any]) -> dict[str, Any]:
    """The 400 body ComfyUI's validation answers ``prompt`` with."""
    with httpx.Client(base_url=url) as client:
        response = client.post("/prompt", json={"prompt": prompt, "client_id": "abc"})
    assert response.status_code == 400
    return without_tracebacks(response.json())  # type: ignore[no-any-return]


IMAGES_TIP = {"tooltip": "The images to save."}
SAVE = {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "x"}}


def test_a_node_without_inputs_fails_validation_with_comfyuis_key_error(url: str) -> None:
    # ComfyUI reads prompt[id]["inputs"] without a default: the KeyError is the answer.
    body = rejected(url, {"2": {"class_type": "SaveImage"}})
    assert body["error"]["details"] == "Exception when validating node: 'inputs'"
    assert body["node_errors"]["2"]["errors"] == [{
        "type": "exception_during_validation", "message": "Exception when validating node",
        "details": "'inputs'", "extra_info": {"exception_type": "KeyError"},
    }]  # fmt: skip


def test_a_link_past_the_upstream_nodes_outputs_is_an_exception_not_a_type_mismatch(
    url: str,
) -> None:
    # ComfyUI indexes RETURN_TYPES with the slot as given: slot 3 of EmptyImage's one output
    # raises IndexError, a string slot TypeError.
    empty = {"class_type": "EmptyImage",
             "inputs": {"width": 8, "height": 8, "batch_size": 1, "color": 0}}  # fmt: skip
    past = rejected(
        url, {"1": empty, "2": {**SAVE, "inputs": {**SAVE["inputs"], "images": ["1", 3]}}}
    )
    named = rejected(
        url, {"1": empty, "2": {**SAVE, "inputs": {**SAVE["inputs"], "images": ["1", "0"]}}}
    )
    assert past["node_errors"]["2"]["errors"][0]["details"] == "tuple index out of range"
    assert past["node_errors"]["2"]["errors"][0]["extra_info"]["exception_type"] == "IndexError"
    assert named["node_errors"]["2"]["errors"][0]["extra_info"]["exception_type"] == "TypeError"


def test_an_exception_in_an_upstream_node_is_pinned_on_that_node(url: str) -> None:
    prompt = {
        "1": {"class_type": "ImageInvert", "inputs": {"image": ["99", 0]}},
        "2": SAVE,
    }
    body = rejected(url, prompt)
    assert body["error"]["details"] == ""  # the output's own inputs are fine
    assert body["node_errors"] == {
        "1": {
            "errors": [{
                "type": "exception_during_inner_validation",
                "message": "Exception when validating inner node",
                "details": "'99'",
                "extra_info": {
                    "input_name": "images", "input_config": ["IMAGE", IMAGES_TIP],
                    "exception_message": "'99'", "exception_type": "KeyError",
                    "linked_node": ["1", 0],
                },
            }],
            "dependent_outputs": ["2"],
            "class_type": "ImageInvert",
        }
    }  # fmt: skip
