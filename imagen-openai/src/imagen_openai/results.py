"""One Result from the takes of a generation: images, the cost from usage, what was decided."""

from __future__ import annotations

from typing import Any

from imagen.adapters import Takes
from imagen.models import Cost, Image, Result
from imagen_openai import pricing
from imagen_openai.plan import Plan
from imagen_openai.protocol import Answer

Take = tuple[list[Image], Answer]


def assemble(plan: Plan, takes: Takes[Take], latency: float) -> Result:
    """The images of the takes that landed, a warning for those that failed. A cost only when
    every answer reported its usage."""
    answers = [answer for _, answer in takes.results]
    metadata: dict[str, Any] = {**plan.choice.metadata(), "quality": plan.options.quality}
    metadata.update(plan.notes)
    revised = [text for answer in answers for text in answer.revised_prompts]
    if revised:
        metadata["revised_prompt"] = revised
    usage = [dict(answer.usage) for answer in answers if answer.usage is not None]
    if usage:
        metadata["usage"] = usage
    return Result(
        images=tuple(image for images, _ in takes.results for image in images),
        model=plan.model,
        latency=latency,
        cost=_total([pricing.actual(plan.model, answer.usage) for answer in answers]),
        metadata=metadata,
        warnings=plan.warnings + takes.warnings("OpenAI requests failed"),
    )


def _total(costs: list[Cost | None]) -> Cost | None:
    known = [cost for cost in costs if cost is not None]
    if not known or len(known) != len(costs):
        return None
    total = known[0]
    for cost in known[1:]:
        total = total + cost
    return total
