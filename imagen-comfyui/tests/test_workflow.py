"""Loading workflows and checking their injection points, without any server."""

from __future__ import annotations

import json
from pathlib import Path

import attrs
import pytest

from imagen.errors import ConfigError
from imagen.models import Request
from imagen_comfyui.backend import ComfyUIBackend
from imagen_comfyui.mapping import plan_request
from imagen_comfyui.settings import ComfyUISettings, Inject, Models
from imagen_comfyui.workflow import BUILTIN, Point, WorkflowMissing, load_workflow

GRAPH = {
    "3": {"class_type": "KSampler", "inputs": {"seed": 0, "steps": 20}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
    "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "x"}},
}


def custom(tmp_path: Path, graph: object = GRAPH, **inject: str) -> ComfyUISettings:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(graph))
    return ComfyUISettings(workflow=str(path), inject=Inject(**inject))


@pytest.mark.parametrize("name", BUILTIN)
def test_each_built_in_workflow_loads_with_its_injection_points_and_models(name: str) -> None:
    workflow = load_workflow(ComfyUISettings(workflow=name), "local")
    assert workflow.builtin
    assert set(workflow.points) == {"prompt", "seed", "width", "height", "steps", "batch_size"}
    for point in workflow.points.values():
        assert point.input in workflow.graph[point.node]["inputs"]
    for kind, point in workflow.model_points.items():
        assert workflow.graph[point.node]["inputs"][point.input] == workflow.model_files[kind]
    assert workflow.save_nodes == ("9",)
    assert workflow.default_steps == (20 if "dev" in name else 4)


def test_building_a_graph_leaves_the_loaded_workflow_untouched() -> None:
    workflow = load_workflow(ComfyUISettings(), "local")
    graph = workflow.build({"prompt": "a fox", "seed": 5, "negative_prompt": None})
    assert graph["6"]["inputs"]["text"] == "a fox"
    assert graph["31"]["inputs"]["seed"] == 5
    assert workflow.graph["6"]["inputs"]["text"] == "a photo of a cat"
    assert workflow.graph["31"]["inputs"]["seed"] == 0


def test_a_point_naming_a_missing_node_is_an_error_naming_the_node(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, prompt="6.text", seed="30.seed"), "mine")
    assert caught.value.path == "backends.mine.inject.seed"
    assert "node 30 does not exist in the workflow (it has nodes 3, 6, 9)" in str(caught.value)


def test_a_point_naming_a_missing_input_lists_the_nodes_inputs(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, prompt="6.prompt"), "mine")
    assert "node 6 (CLIPTextEncode) has no input 'prompt' (it has clip, text)" in str(caught.value)


def test_a_point_must_be_written_node_dot_input(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, prompt="6text"), "mine")
    assert 'is not NODE_ID.INPUT (like "6.text")' in str(caught.value)


def test_a_custom_workflow_must_say_where_the_prompt_goes(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, seed="3.seed"), "mine")
    assert caught.value.path == "backends.mine.inject.prompt"


def test_a_ui_format_workflow_is_refused_with_how_to_export_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, {"nodes": [], "links": []}, prompt="6.text"), "mine")
    assert "Export (API)" in str(caught.value)


def test_a_workflow_without_save_image_is_refused(tmp_path: Path) -> None:
    graph = {key: node for key, node in GRAPH.items() if key != "9"}
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, graph, prompt="6.text"), "mine")
    assert "no SaveImage node" in str(caught.value)


def test_an_unknown_workflow_name_lists_the_built_in_ones() -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(ComfyUISettings(workflow="flux-turbo"), "local")
    assert "flux-schnell, flux-dev, flux-schnell-split, flux-dev-split" in str(caught.value)


def test_inject_is_refused_for_built_in_workflows() -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(ComfyUISettings(inject=Inject(prompt="6.text")), "local")
    assert caught.value.path == "backends.local.inject"


def test_models_are_refused_for_custom_workflows_and_unused_kinds(tmp_path: Path) -> None:
    settings = custom(tmp_path, prompt="6.text")
    with pytest.raises(ConfigError, match="built-in workflows only"):
        load_workflow(ComfyUISettings(workflow=settings.workflow, inject=settings.inject,
                                      models=Models(vae="ae.safetensors")), "mine")  # fmt: skip
    with pytest.raises(ConfigError) as caught:
        load_workflow(ComfyUISettings(models=Models(unet="flux1-dev.safetensors")), "local")
    assert caught.value.path == "backends.local.models.unet"


def test_status_reports_a_broken_workflow_without_network(tmp_path: Path) -> None:
    status = ComfyUIBackend("mine", custom(tmp_path, prompt="6.nope")).status()
    assert not status.ok
    assert "has no input 'nope'" in str(status)


def test_an_input_whose_name_holds_dots_is_found_by_options_and_injection(tmp_path: Path) -> None:
    # ComfyUI's ModelMerge nodes name their inputs after model blocks: "input_blocks.0.".
    graph = {
        **GRAPH,
        "12": {"class_type": "ModelMergeSD1", "inputs": {"model1": ["4", 0], "model2": ["5", 0],
                                                          "input_blocks.0.": 1.0}},
    }  # fmt: skip
    workflow = load_workflow(
        custom(tmp_path, graph, prompt="6.text", seed="12.input_blocks.0."), "mine"
    )
    assert workflow.points["seed"] == Point("12", "input_blocks.0.")
    plan = plan_request(Request("x", options={"12.input_blocks.0.": 0.5}), workflow, backend="mine")
    assert workflow.build(plan.values, plan.overrides)["12"]["inputs"]["input_blocks.0."] == 0.5


def test_a_custom_workflows_model_is_the_file_its_first_loader_loads(tmp_path: Path) -> None:
    # Node 9 comes before node 10 (ids in number order, not text order).
    graph = {
        **GRAPH,
        "10": {"class_type": "UNETLoader", "inputs": {"unet_name": "second.safetensors"}},
        "9": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "first.safetensors"}},
        "11": {"class_type": "SaveImage", "inputs": {"images": ["8", 0], "filename_prefix": "y"}},
    }
    workflow = load_workflow(custom(tmp_path, graph, prompt="6.text"), "mine")
    assert workflow.model == "first.safetensors"


def test_a_custom_workflow_without_a_loader_is_named_after_its_file(tmp_path: Path) -> None:
    workflow = load_workflow(custom(tmp_path, prompt="6.text"), "mine")
    assert workflow.model == "flow"


def test_a_workflow_file_without_the_json_suffix_is_read(tmp_path: Path) -> None:
    path = tmp_path / "flow-api"
    path.write_text(json.dumps(GRAPH))
    workflow = load_workflow(
        ComfyUISettings(workflow=str(path), inject=Inject(prompt="6.text")), "mine"
    )
    assert workflow.points["prompt"] == Point("6", "text")


@pytest.mark.parametrize("name", ["my-flow.json", "flows/my-flow"])
def test_a_workflow_file_that_does_not_exist_is_reported_missing_not_unknown(
    name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = ComfyUISettings(workflow=name, inject=Inject(prompt="6.text"))
    with pytest.raises(WorkflowMissing) as caught:
        load_workflow(settings, "mine")
    assert str(caught.value) == f"backends.mine.workflow: workflow file {name} does not exist"


def test_an_unknown_workflow_name_says_what_workflow_takes() -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(ComfyUISettings(workflow="flux-turbo"), "local")
    assert str(caught.value) == (
        "backends.local.workflow: unknown workflow 'flux-turbo'; use one of flux-schnell, "
        "flux-dev, flux-schnell-split, flux-dev-split or the path to a workflow exported with "
        "Export (API)"
    )


def test_models_for_a_custom_workflow_say_to_set_the_files_in_the_workflow(tmp_path: Path) -> None:
    settings = custom(tmp_path, prompt="6.text")
    with pytest.raises(ConfigError) as caught:
        load_workflow(attrs.evolve(settings, models=Models(vae="ae.safetensors")), "mine")
    assert str(caught.value) == (
        "backends.mine.models: models applies to the built-in workflows only; set the file "
        "names in your workflow"
    )


def test_a_file_that_is_not_json_says_why_it_cannot_be_read(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text("{not json")
    with pytest.raises(ConfigError) as caught:
        load_workflow(ComfyUISettings(workflow=str(path), inject=Inject(prompt="6.text")), "mine")
    assert str(caught.value) == (
        f"backends.mine.workflow: cannot read workflow file {path}: Expecting property name "
        "enclosed in double quotes: line 1 column 2 (char 1)"
    )


def test_a_ui_workflow_is_named_as_one(tmp_path: Path) -> None:
    settings = custom(tmp_path, {"nodes": [], "links": [], "version": 0.4}, prompt="6.text")
    with pytest.raises(ConfigError) as caught:
        load_workflow(settings, "mine")
    assert str(caught.value) == (
        f"backends.mine.workflow: {settings.workflow} is a UI workflow; save it from ComfyUI "
        "with Export (API) instead"
    )


@pytest.mark.parametrize(
    "graph",
    [[1, 2], {"1": "node"}, {"1": {"inputs": {}}}, {"1": {"class_type": "SaveImage"}}],
    ids=["a list", "a node that is text", "no class_type", "no inputs"],
)
def test_a_file_that_is_not_an_api_format_graph_says_how_to_export_one(
    tmp_path: Path, graph: object
) -> None:
    settings = custom(tmp_path, graph, prompt="6.text")
    with pytest.raises(ConfigError) as caught:
        load_workflow(settings, "mine")
    assert str(caught.value) == (
        f"backends.mine.workflow: {settings.workflow} is not an API-format workflow (node id -> "
        "class_type and inputs); save it from ComfyUI with Export (API)"
    )


def test_a_custom_workflow_without_a_prompt_point_says_how_to_write_one(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, seed="3.seed"), "mine")
    assert str(caught.value) == (
        "backends.mine.inject.prompt: say which node input gets the prompt, like inject: "
        '{prompt: "6.text"}'
    )


def test_a_workflow_without_save_image_is_refused_at_its_path(tmp_path: Path) -> None:
    graph = {key: node for key, node in GRAPH.items() if key != "9"}
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, graph, prompt="6.text"), "mine")
    assert str(caught.value) == (
        "backends.mine.workflow: the workflow has no SaveImage node; imagen returns what "
        "SaveImage nodes save"
    )


def test_inject_for_a_built_in_workflow_says_to_remove_it_or_use_a_file() -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(ComfyUISettings(inject=Inject(prompt="6.text")), "local")
    assert str(caught.value) == (
        "backends.local.inject: the built-in workflow flux-schnell declares its own injection "
        "points; remove inject, or point workflow at your own file"
    )


def test_a_model_file_a_built_in_workflow_does_not_load_says_which_it_does() -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(ComfyUISettings(models=Models(unet="flux1-dev.safetensors")), "local")
    assert str(caught.value) == (
        "backends.local.models.unet: the built-in workflow flux-schnell does not load a unet "
        "file; it uses checkpoint"
    )
    with pytest.raises(ConfigError) as caught:
        load_workflow(
            ComfyUISettings(workflow="flux-dev-split", models=Models(checkpoint="x.safetensors")),
            "local",
        )
    assert str(caught.value) == (
        "backends.local.models.checkpoint: the built-in workflow flux-dev-split does not load a "
        "checkpoint file; it uses clip_l, t5xxl, unet, vae"
    )


@pytest.mark.parametrize(
    ("name", "model"),
    [
        ("flux-schnell", "flux1-schnell-fp8.safetensors"),
        ("flux-dev", "flux1-dev-fp8.safetensors"),
        ("flux-dev-split", "flux1-dev.safetensors"),
        ("flux-schnell-split", "flux1-schnell.safetensors"),
    ],
)
def test_a_built_in_workflows_model_is_its_checkpoint_or_unet_file(name: str, model: str) -> None:
    assert load_workflow(ComfyUISettings(workflow=name), "local").model == model
    chosen = (
        Models(unet="mine.safetensors")
        if "split" in name
        else Models(checkpoint="mine.safetensors")
    )
    assert load_workflow(ComfyUISettings(workflow=name, models=chosen), "local").model == (
        "mine.safetensors"
    )


@pytest.mark.parametrize("spec", ["6text", "6.", ".text"])
def test_a_point_without_a_node_or_an_input_shows_how_it_is_written(
    tmp_path: Path, spec: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, prompt=spec), "mine")
    assert str(caught.value) == (
        f'backends.mine.inject.prompt: prompt: {spec!r} is not NODE_ID.INPUT (like "6.text")'
    )


def test_a_missing_node_is_named_beside_the_nodes_there_are_in_number_order(
    tmp_path: Path,
) -> None:
    graph = {
        **GRAPH,
        "10": {"class_type": "VAEDecode", "inputs": {}},
        "12:3": {"class_type": "VAEDecode", "inputs": {}},
    }
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, graph, prompt="6.text", seed="30.seed"), "mine")
    assert str(caught.value) == (
        "backends.mine.inject.seed: seed: node 30 does not exist in the workflow (it has nodes "
        "3, 6, 9, 10, 12:3)"
    )


def test_a_missing_input_of_a_node_without_inputs_says_it_has_none(tmp_path: Path) -> None:
    graph = {**GRAPH, "10": {"class_type": "VAEDecode", "inputs": {}}}
    with pytest.raises(ConfigError) as caught:
        load_workflow(custom(tmp_path, graph, prompt="6.text", seed="10.seed"), "mine")
    assert str(caught.value) == (
        "backends.mine.inject.seed: seed: node 10 (VAEDecode) has no input 'seed' (it has none)"
    )
