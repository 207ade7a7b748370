"""Map a provider-neutral Request to a Replicate prediction ``input`` and note each decision."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from imagen.adapters import snap_to_table
from imagen.models import Request

# The aspect ratios FLUX models on Replicate accept (FLUX.1 [schnell] and [dev]).
ASPECT_RATIOS = ("1:1", "16:9", "21:9", "3:2", "2:3", "4:5", "5:4", "3:4", "4:3", "9:16", "9:21")
# Models whose schema lists fewer: FLUX 1.1 [pro] has no 21:9 or 9:21 and answers them with 422.
RATIOS_BY_MODEL: dict[str, tuple[str, ...]] = {
    "black-forest-labs/flux-1.1-pro": (
        "1:1",
        "16:9",
        "3:2",
        "2:3",
        "4:5",
        "5:4",
        "9:16",
        "3:4",
        "4:3",
    ),
}


def aspect_ratios_for(model_name: str) -> tuple[str, ...]:
    """The aspect ratios the model ``owner/name`` accepts."""
    return RATIOS_BY_MODEL.get(model_name.lower(), ASPECT_RATIOS)


@attrs.frozen
class PredictionInput:
    """The ``input`` object to send, what was decided on the way, and notes for the user."""

    input: dict[str, Any]
    decisions: dict[str, Any]
    warnings: tuple[str, ...] = ()


def build_input(
    request: Request,
    *,
    output_format: str,
    defaults: Mapping[str, Any],
    ratios: tuple[str, ...] = ASPECT_RATIOS,
) -> PredictionInput:
    """Instance ``input`` defaults, then the request's fields, then ``--opt`` values (which win).

    ``ratios`` are the aspect ratios the model accepts; a size or ratio snaps to the nearest."""
    values: dict[str, Any] = dict(defaults)
    decisions: dict[str, Any] = {}
    warnings: list[str] = []

    values["prompt"] = request.prompt
    values["output_format"] = output_format

    aspect = _aspect_ratio(request, ratios)
    if aspect is not None:
        chosen, source = aspect
        values["aspect_ratio"] = chosen
        decisions["aspect_ratio"] = chosen
        if source != chosen:
            decisions["aspect_ratio_from"] = source
    if request.count > 1:
        values["num_outputs"] = request.count
    if request.steps is not None:
        values["num_inference_steps"] = request.steps
    if request.seed is not None:
        values["seed"] = request.seed
    if request.negative_prompt:
        warnings.append(
            "negative prompt not sent: FLUX on Replicate has none "
            "(use --opt negative_prompt=... for a model that takes one)"
        )
    if request.refs:
        warnings.append(
            "reference images not sent: pass an image URL with --opt image=... "
            "for a model that takes one"
        )

    values.update(request.options)
    if "aspect_ratio" in request.options:
        decisions["aspect_ratio"] = request.options["aspect_ratio"]
        decisions.pop("aspect_ratio_from", None)
    return PredictionInput(values, decisions, tuple(warnings))


def _aspect_ratio(request: Request, ratios: tuple[str, ...]) -> tuple[str, str] | None:
    """(supported ratio, what it was chosen from), or None to leave the model's default."""
    try:
        choice = snap_to_table(request, ratios)
    except ValueError:
        # Unreadable text goes through as it is, so Replicate's 422 names the problem.
        text = request.aspect_ratio or ""
        return text, text
    if choice.ratio is None or choice.asked is None:
        return None
    return choice.ratio, choice.asked
