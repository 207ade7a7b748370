"""Everything decided before a request is sent: options, size, prompt, references, and what
the user should hear about those choices. Nothing here spends money or touches the network."""

from __future__ import annotations

from typing import Any

import attrs

from imagen.adapters import SizeChoice
from imagen.models import Request
from imagen_openai.families import NEWEST, choose_size, family_for
from imagen_openai.protocol import Options, body, options_for, refs_problem
from imagen_openai.settings import OpenAISettings


class PlanError(ValueError):
    """A request the API would refuse: ``field`` and a one-line message."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@attrs.frozen
class Plan:
    model: str
    size: str
    choice: SizeChoice
    options: Options
    prompt: str
    warnings: tuple[str, ...] = ()
    notes: dict[str, str] = attrs.field(factory=dict)

    def bodies(self, count: int) -> list[dict[str, Any]]:
        """One body per request: ``count`` of ``n=1``, or one of ``n=count`` when batching."""
        counts = [count] if self.options.batch else [1] * count
        return [body(self.model, self.prompt, self.size, self.options, n) for n in counts]


def plan_for(settings: OpenAISettings, request: Request) -> Plan:
    """The plan for ``request``; PlanError for what the API would refuse anyway."""
    model, family = settings.model, family_for(settings.model)
    try:
        options = options_for(settings, request)
    except ValueError as error:
        raise PlanError("options", str(error)) from None
    size, choice = size_for(settings, request)
    problem = refs_problem(request.refs)
    if problem is not None:
        raise PlanError("refs", problem)
    if family is not None and not family.transparent and options.background == "transparent":
        raise PlanError(
            "background",
            f"{model} has no transparent background; use gpt-image-1.5 or background: auto",
        )
    prompt, notes = request.prompt, {}
    if request.negative_prompt:
        prompt += f"\n\nAvoid: {request.negative_prompt}"
        notes["negative_prompt"] = "appended to the prompt (OpenAI has no negative prompt)"
    warnings = (
        ()
        if family
        else (
            f"model {model!r} is not in imagen-openai's table; used "
            f"{NEWEST.name}'s size rules and no price",
        )
    )
    return Plan(model, size, choice, options, prompt, warnings, notes)


def size_for(settings: OpenAISettings, request: Request) -> tuple[str, SizeChoice]:
    """The ``size`` to send and how it was chosen; the block's ``size`` when the request has
    none. PlanError for an aspect ratio that is not W:H."""
    asked = request.width or request.height or request.aspect_ratio
    if not asked and settings.size != "auto":
        width, height = (int(side) for side in settings.size.split("x"))
        request = Request(request.prompt, width=width, height=height)
    try:
        choice = choose_size(request, family_for(settings.model) or NEWEST)
    except ValueError as error:
        raise PlanError("size", str(error)) from None
    if choice.width is None:
        return "auto", choice
    return f"{choice.width}x{choice.height}", choice
