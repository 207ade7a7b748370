"""What a request puts into a workflow and what the result records and warns about."""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage

from imagen.errors import InvalidRequest
from imagen.models import Ref, Request, Result
from imagen_comfyui.fake import FakeComfyUI
from imagen_comfyui.settings import Inject

Generate = Callable[..., Result]

#: An EmptyImage of four, saved by node 2; node 3 saves it again under a second name.
BATCH_WORKFLOW = {
    "1": {"class_type": "EmptyImage",
          "inputs": {"width": 40, "height": 30, "batch_size": 4, "color": 0}},
    "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "a"}},
    "3": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "b"}},
}  # fmt: skip


def workflow_file(tmp_path: Path, graph: dict[str, Any] = BATCH_WORKFLOW) -> str:
    path = tmp_path / "flow-api.json"
    path.write_text(json.dumps(graph))
    return str(path)


def sent(fake: FakeComfyUI, index: int = -1) -> dict[str, Any]:
    return fake.received[index]["prompt"]  # type: ignore[no-any-return]


def png(width: int, height: int) -> Ref:
    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), (1, 2, 3)).save(buffer, format="PNG")
    data = buffer.getvalue()
    return Ref("ref.png", data, "image/png", hashlib.sha256(data).hexdigest())


def test_a_workflows_batch_becomes_one_image_per_prompt(
    fake: FakeComfyUI, tmp_path: Path, generate: Generate
) -> None:
    inject = Inject(prompt="2.filename_prefix", batch_size="1.batch_size", seed="1.color")
    result = generate(
        Request("x", seed=1, count=2), workflow=workflow_file(tmp_path), inject=inject
    )
    assert [sent(fake, i)["1"]["inputs"]["batch_size"] for i in range(2)] == [1, 1]
    # one image per prompt from each of the two SaveImage nodes
    assert len(result.images) == 4


def test_the_negative_prompt_goes_where_the_workflow_says(
    fake: FakeComfyUI, tmp_path: Path, generate: Generate
) -> None:
    inject = Inject(prompt="2.filename_prefix", negative_prompt="3.filename_prefix")
    result = generate(
        Request("shot", negative_prompt="blurry"), workflow=workflow_file(tmp_path), inject=inject
    )
    assert sent(fake)["2"]["inputs"]["filename_prefix"] == "shot"
    assert sent(fake)["3"]["inputs"]["filename_prefix"] == "blurry"
    assert not any("negative prompt" in warning for warning in result.warnings)


def test_the_steps_recorded_are_the_workflows_own_when_none_are_asked(
    fake: FakeComfyUI, generate: Generate
) -> None:
    result = generate(Request("x", width=64, height=64, seed=1))
    assert sent(fake)["31"]["inputs"]["steps"] == 4
    assert result.metadata["steps"] == 4


def test_steps_asked_of_a_workflow_without_a_steps_input_are_reported_as_ignored(
    tmp_path: Path, generate: Generate
) -> None:
    inject = Inject(prompt="2.filename_prefix", seed="1.color")
    asked = generate(Request("x", steps=5, seed=1), workflow=workflow_file(tmp_path), inject=inject)
    unasked = generate(Request("x", seed=1), workflow=workflow_file(tmp_path), inject=inject)
    assert asked.warnings == ("workflow flow-api.json has no steps input; steps ignored",)
    assert "steps" not in asked.metadata
    assert unasked.warnings == ()


def test_a_workflow_without_a_seed_input_warns_that_images_cannot_be_remade(
    tmp_path: Path, generate: Generate
) -> None:
    result = generate(
        Request("x", seed=5), workflow=workflow_file(tmp_path),
        inject=Inject(prompt="2.filename_prefix"),
    )  # fmt: skip
    assert result.warnings == (
        "workflow flow-api.json has no seed input; images are not reproducible",
    )
    assert {image.seed for image in result.images} == {None}


def test_the_model_files_a_built_in_workflow_loads_are_recorded(
    tmp_path: Path, generate: Generate
) -> None:
    built_in = generate(Request("x", width=64, height=64, seed=1))
    custom = generate(
        Request("x", seed=1), workflow=workflow_file(tmp_path),
        inject=Inject(prompt="2.filename_prefix", seed="1.color"),
    )  # fmt: skip
    assert built_in.metadata["model_files"] == {"checkpoint": "flux1-schnell-fp8.safetensors"}
    assert "model_files" not in custom.metadata


def test_a_reference_image_for_a_workflow_without_an_image_input_is_refused_unsent(
    fake: FakeComfyUI, generate: Generate
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        generate(Request("x", refs=(png(8, 8),)))
    assert str(caught.value) == (
        "local: workflow flux-schnell takes no reference image; use a workflow with "
        "inject.image (a LoadImage node's image input)"
    )
    assert caught.value.fields == {"refs": "not supported by this workflow"}
    assert fake.calls_to("upload") == []
    assert fake.received == []


def test_two_reference_images_are_refused_before_either_is_uploaded(
    fake: FakeComfyUI, tmp_path: Path, generate: Generate
) -> None:
    graph = {
        "1": {"class_type": "LoadImage", "inputs": {"image": "x.png"}},
        "2": {"class_type": "SaveImage", "inputs": {"images": ["1", 0], "filename_prefix": "a"}},
    }
    with pytest.raises(InvalidRequest) as caught:
        generate(
            Request("x", refs=(png(8, 8), png(9, 9))), workflow=workflow_file(tmp_path, graph),
            inject=Inject(prompt="2.filename_prefix", image="1.image"),
        )  # fmt: skip
    assert str(caught.value) == "local: workflow flow-api.json takes one reference image, got 2"
    assert caught.value.fields == {"refs": "at most one"}
    assert fake.calls_to("upload") == []


def test_an_option_naming_no_node_input_says_how_options_are_written(
    fake: FakeComfyUI, generate: Generate
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        generate(Request("x", options={"31.nope": 2}))
    assert str(caught.value) == (
        "local: option '31.nope' is not a node input of workflow flux-schnell; comfyui options "
        "are NODE_ID.INPUT=VALUE, like 31.cfg=1.5"
    )
    assert caught.value.fields == {"31.nope": "no such node input"}
    assert fake.received == []
