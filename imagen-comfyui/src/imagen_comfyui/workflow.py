"""Workflows: the built-in API-format graphs and users' own files, and where values go in them.

A workflow is loaded once per backend and never modified: ``Workflow.build`` returns a fresh
copy of the graph with the request's values injected, so a user's file on disk is only read.
Every declared injection point is checked against the graph when it loads; one that names a
missing node or input is a ``ConfigError`` that names it.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import attrs

from imagen.errors import ConfigError
from imagen_comfyui.settings import ComfyUISettings, Inject, Models

BUILTIN = ("flux-schnell", "flux-dev", "flux-schnell-split", "flux-dev-split")

_BUILTIN_FOLDER = Path(__file__).with_name("workflows")

#: What a request can put into a workflow, in the order the docs list them.
INJECTABLE = tuple(field.name for field in attrs.fields(Inject))
MODEL_KINDS = tuple(field.name for field in attrs.fields(Models))

#: Node inputs that name the main model file, for ``Result.model`` of custom workflows.
_MODEL_INPUTS = ("ckpt_name", "unet_name")


class WorkflowMissing(ConfigError):
    """The workflow file does not exist (yet): a warning at config load, an error at run time."""


@attrs.frozen
class Point:
    """One node input: ``node`` id and ``input`` name."""

    node: str
    input: str

    def __str__(self) -> str:
        return f"{self.node}.{self.input}"


@attrs.frozen
class Workflow:
    """A loaded workflow with its checked injection points.

    ``model_files`` maps a model kind (``checkpoint``) to the file name this instance asks for;
    they are already written into ``graph``. ``save_nodes`` are the ``SaveImage`` node ids whose
    outputs are the result.
    """

    name: str
    graph: Mapping[str, Any]
    points: Mapping[str, Point]
    model: str
    builtin: bool
    default_steps: int | None = None
    size_multiple: int = 16
    model_files: Mapping[str, str] = attrs.field(factory=dict)
    model_points: Mapping[str, Point] = attrs.field(factory=dict)
    save_nodes: tuple[str, ...] = ()

    def build(
        self, values: Mapping[str, Any], overrides: Mapping[Point, Any] | None = None
    ) -> dict[str, Any]:
        """A new graph with each ``values[key]`` written at ``points[key]`` (None: left as is),
        then each ``overrides[point]`` written at that point."""
        graph = copy.deepcopy(dict(self.graph))
        for key, value in values.items():
            point = self.points.get(key)
            if point is not None and value is not None:
                graph[point.node]["inputs"][point.input] = value
        for point, value in (overrides or {}).items():
            graph[point.node]["inputs"][point.input] = value
        return graph

    def find(self, spec: str) -> Point | None:
        """The node input ``spec`` (``"31.cfg"``) names, if the graph has it."""
        node, dot, name = _split(spec)
        if dot and node in self.graph and name in self.graph[node].get("inputs", {}):
            return Point(node, name)
        return None


def load_workflow(settings: ComfyUISettings, instance: str) -> Workflow:
    """The workflow ``settings.workflow`` names: a built-in name or a path to API-format JSON."""
    path = f"backends.{instance}"
    if settings.workflow in BUILTIN:
        return _load_builtin(settings, path)
    return _load_custom(settings, path)


def _load_builtin(settings: ComfyUISettings, path: str) -> Workflow:
    name = settings.workflow
    if settings.inject != Inject():
        raise ConfigError(
            f"the built-in workflow {name} declares its own injection points; "
            "remove inject, or point workflow at your own file",
            path=f"{path}.inject",
        )
    folder = _BUILTIN_FOLDER
    graph = json.loads((folder / f"{name}.json").read_text(encoding="utf-8"))
    declared = json.loads((folder / f"{name}.imagen.json").read_text(encoding="utf-8"))
    points = _check_points(graph, declared["inject"], lambda key: f"{path}.workflow")
    model_files: dict[str, str] = {}
    model_points: dict[str, Point] = {}
    for kind, spec in declared["models"].items():
        chosen = getattr(settings.models, kind) or spec["default"]
        point = _check_point(graph, kind, spec["at"], f"{path}.workflow")
        graph[point.node]["inputs"][point.input] = chosen
        model_files[kind] = chosen
        model_points[kind] = point
    unused = [
        kind for kind in MODEL_KINDS if getattr(settings.models, kind) and kind not in model_files
    ]
    if unused:
        raise ConfigError(
            f"the built-in workflow {name} does not load a {unused[0]} file; "
            f"it uses {', '.join(sorted(model_files))}",
            path=f"{path}.models.{unused[0]}",
        )
    main = model_files.get("checkpoint") or model_files.get("unet") or name
    return Workflow(
        name=name,
        graph=graph,
        points=points,
        model=main,
        builtin=True,
        default_steps=declared.get("steps"),
        size_multiple=declared.get("size_multiple", 16),
        model_files=model_files,
        model_points=model_points,
        save_nodes=_save_nodes(graph, f"{path}.workflow"),
    )


def _load_custom(settings: ComfyUISettings, path: str) -> Workflow:
    file = Path(settings.workflow).expanduser()
    if settings.models != Models():
        raise ConfigError(
            "models applies to the built-in workflows only; set the file names in your workflow",
            path=f"{path}.models",
        )
    if file.suffix.lower() != ".json" and "/" not in settings.workflow and not file.exists():
        raise ConfigError(
            f"unknown workflow {settings.workflow!r}; use one of {', '.join(BUILTIN)} "
            "or the path to a workflow exported with Export (API)",
            path=f"{path}.workflow",
        )
    try:
        graph = json.loads(file.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise WorkflowMissing(
            f"workflow file {file} does not exist", path=f"{path}.workflow"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ConfigError(
            f"cannot read workflow file {file}: {error}", path=f"{path}.workflow"
        ) from None
    if isinstance(graph, dict) and "nodes" in graph and "links" in graph:
        raise ConfigError(
            f"{file} is a UI workflow; save it from ComfyUI with Export (API) instead",
            path=f"{path}.workflow",
        )
    if not isinstance(graph, dict) or not all(
        isinstance(node, dict) and "class_type" in node and isinstance(node.get("inputs"), dict)
        for node in graph.values()
    ):
        raise ConfigError(
            f"{file} is not an API-format workflow (node id -> class_type and inputs); "
            "save it from ComfyUI with Export (API)",
            path=f"{path}.workflow",
        )
    declared = {key: getattr(settings.inject, key) for key in INJECTABLE}
    points = _check_points(graph, declared, lambda key: f"{path}.inject.{key}")
    if "prompt" not in points:
        raise ConfigError(
            'say which node input gets the prompt, like inject: {prompt: "6.text"}',
            path=f"{path}.inject.prompt",
        )
    return Workflow(
        name=file.name,
        graph=graph,
        points=points,
        model=_model_in(graph) or file.stem,
        builtin=False,
        save_nodes=_save_nodes(graph, f"{path}.workflow"),
    )


def _check_points(
    graph: Mapping[str, Any], declared: Mapping[str, str | None], path: Callable[[str], str]
) -> dict[str, Point]:
    """Each declared ``NODE.INPUT`` as a ``Point``; ``path(key)`` is where an error points."""
    return {
        key: _check_point(graph, key, spec, path(key)) for key, spec in declared.items() if spec
    }


def _split(spec: str) -> tuple[str, str, str]:
    """``NODE_ID.INPUT`` cut at its first dot: node ids have none ("31", "12:3"), while some
    input names do (ModelMergeSD1's ``input_blocks.0.``)."""
    return spec.partition(".")


def _check_point(graph: Mapping[str, Any], key: str, spec: str, path: str) -> Point:
    node, dot, name = _split(spec)
    if not dot or not node or not name:
        raise ConfigError(f'{key}: {spec!r} is not NODE_ID.INPUT (like "6.text")', path=path)
    if node not in graph:
        raise ConfigError(
            f"{key}: node {node} does not exist in the workflow (it has nodes "
            f"{', '.join(sorted(graph, key=_node_order))})",
            path=path,
        )
    inputs = graph[node].get("inputs", {})
    if name not in inputs:
        raise ConfigError(
            f"{key}: node {node} ({graph[node].get('class_type')}) has no input {name!r} "
            f"(it has {', '.join(sorted(inputs)) or 'none'})",
            path=path,
        )
    return Point(node, name)


def _save_nodes(graph: Mapping[str, Any], path: str) -> tuple[str, ...]:
    nodes = tuple(
        sorted((node for node, spec in graph.items() if spec.get("class_type") == "SaveImage"),
               key=_node_order)
    )  # fmt: skip
    if not nodes:
        raise ConfigError(
            "the workflow has no SaveImage node; imagen returns what SaveImage nodes save",
            path=path,
        )
    return nodes


def _model_in(graph: Mapping[str, Any]) -> str | None:
    for node in sorted(graph, key=_node_order):
        inputs = graph[node].get("inputs", {})
        for name in _MODEL_INPUTS:
            if isinstance(inputs.get(name), str):
                return str(inputs[name])
    return None


def _node_order(node: str) -> tuple[int, str]:
    """Numeric ids in number order, others after them ("9" < "10" < "12:3")."""
    return (int(node), "") if node.isdigit() else (1 << 62, node)
