"""From a provider-neutral ``Request`` to the values a workflow receives, and what was decided.

Everything here is decided before any network call, so a request the workflow cannot take
(two reference images, an option naming no node input) fails without queueing anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from imagen.errors import InvalidRequest
from imagen.models import Request
from imagen_comfyui.sizing import choose_size
from imagen_comfyui.workflow import Point, Workflow


@attrs.frozen
class Plan:
    """``values`` for the workflow's injection points, ``overrides`` from ``options``, and the
    decisions (``metadata``) and ``warnings`` the result reports."""

    values: Mapping[str, Any]
    overrides: Mapping[Point, Any]
    metadata: Mapping[str, Any]
    warnings: tuple[str, ...]


def plan_request(request: Request, workflow: Workflow, *, backend: str) -> Plan:
    """What to put where in ``workflow`` for ``request`` (seed and reference image aside)."""
    points = workflow.points
    name = workflow.name
    warnings: list[str] = []
    metadata: dict[str, Any] = {"workflow": name}
    if workflow.model_files:
        metadata["model_files"] = dict(workflow.model_files)
    values: dict[str, Any] = {"prompt": request.prompt, "batch_size": 1}

    size = choose_size(
        request.width, request.height, request.aspect_ratio,
        multiple=workflow.size_multiple, backend=backend,
    )  # fmt: skip
    if size.width is not None and {"width", "height"} <= points.keys():
        values["width"], values["height"] = size.width, size.height
        metadata["size"] = f"{size.width}x{size.height}"
        if request.aspect_ratio:
            metadata["aspect_ratio"] = request.aspect_ratio
        if size.changed:
            metadata["size_asked"] = size.asked
            warnings.append(
                f"size {size.asked} became {size.width}x{size.height} "
                f"(sides must be multiples of {workflow.size_multiple})"
            )
    elif size.width is not None:
        warnings.append(f"workflow {name} has no width/height input; size ignored")

    steps = request.steps if request.steps is not None else workflow.default_steps
    if "steps" in points:
        values["steps"] = steps
        metadata["steps"] = steps
    elif request.steps is not None:
        warnings.append(f"workflow {name} has no steps input; steps ignored")

    if request.negative_prompt:
        if "negative_prompt" in points:
            values["negative_prompt"] = request.negative_prompt
        else:
            warnings.append(f"workflow {name} has no negative prompt input; it was ignored")
    if "seed" not in points:
        warnings.append(f"workflow {name} has no seed input; images are not reproducible")

    if request.refs and "image" not in points:
        raise InvalidRequest(
            f"workflow {name} takes no reference image; use a workflow with inject.image "
            "(a LoadImage node's image input)",
            backend=backend,
            fields={"refs": "not supported by this workflow"},
        )
    if len(request.refs) > 1:
        raise InvalidRequest(
            f"workflow {name} takes one reference image, got {len(request.refs)}",
            backend=backend,
            fields={"refs": "at most one"},
        )
    return Plan(values, _overrides(request, workflow, backend), metadata, tuple(warnings))


def _overrides(request: Request, workflow: Workflow, backend: str) -> dict[Point, Any]:
    """``options`` name node inputs to set directly: ``{"31.cfg": 1.5}``."""
    overrides: dict[Point, Any] = {}
    for key, value in request.options.items():
        point = workflow.find(str(key))
        if point is None:
            raise InvalidRequest(
                f"option {key!r} is not a node input of workflow {workflow.name}; comfyui "
                "options are NODE_ID.INPUT=VALUE, like 31.cfg=1.5",
                backend=backend,
                fields={str(key): "no such node input"},
            )
        overrides[point] = value
    return overrides
