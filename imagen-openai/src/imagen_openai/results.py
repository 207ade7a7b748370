"""One Result from the takes of a generation: images, the cost from usage, what was decided."""

from __future__ import annotations

from typing import Any

from imagen.errors import ImagenError
from imagen.models import Cost, Image, Progress, Result
from imagen_openai import pricing
from imagen_openai.plan import Plan
from imagen_openai.protocol import Answer

Take = tuple[list[Image], Answer]


def assemble(plan: Plan, outcomes: list[Take | BaseException], latency: float) -> Result:
    """The images of the takes that landed; a warning for those that failed (all failed: the
    first failure is raised). A cost only when every answer reported its usage."""
    takes = [outcome for outcome in outcomes if isinstance(outcome, tuple)]
    failures = [outcome for outcome in outcomes if not isinstance(outcome, tuple)]
    for failure in failures:
        if not isinstance(failure, ImagenError):
            raise failure  # a bug, not a provider answer: never hide it
    if not takes:
        raise failures[0]
    warnings = list(plan.warnings)
    if failures:
        warnings.append(f"{len(failures)} of {len(outcomes)} OpenAI requests failed: {failures[0]}")
    answers = [answer for _, answer in takes]
    metadata: dict[str, Any] = {**plan.choice.metadata(), "quality": plan.options.quality}
    metadata.update(plan.notes)
    revised = [text for answer in answers for text in answer.revised_prompts]
    if revised:
        metadata["revised_prompt"] = revised
    usage = [dict(answer.usage) for answer in answers if answer.usage is not None]
    if usage:
        metadata["usage"] = usage
    return Result(
        images=tuple(image for images, _ in takes for image in images),
        model=plan.model,
        latency=latency,
        cost=_total([pricing.actual(plan.model, answer.usage) for answer in answers]),
        metadata=metadata,
        warnings=tuple(warnings),
    )


def _total(costs: list[Cost | None]) -> Cost | None:
    known = [cost for cost in costs if cost is not None]
    if not known or len(known) != len(costs):
        return None
    total = known[0]
    for cost in known[1:]:
        total = total + cost
    return total


class Steps:
    """Progress over every take's partial images and final image, as they arrive."""

    def __init__(self, progress: Progress, total: int) -> None:
        self.progress, self.total, self.done = progress, total, 0

    def update(self, message: str, steps: int = 0) -> None:
        self.done += steps
        self.progress.update(self.done, self.total, message)

    def retrying(self, reason: str, seconds: float) -> None:
        self.update(f"{reason}; retrying in {seconds:g} s")
