"""The sink contract: what runs after a take is on disk (cloud sync, usage tracking, webhooks)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any, Protocol, runtime_checkable

import attrs

from imagen.models import Generation


@attrs.frozen
class Delivery:
    """One generation handed to one sink.

    ``state`` is what earlier attempts already finished (from ``SinkError.state``), so a sink
    retried from the outbox can skip steps it did before (an upload that landed). ``attempt``
    counts from 1.
    """

    generation: Generation
    sink: str
    attempt: int = 1
    state: Mapping[str, Any] = attrs.field(factory=dict)

    def absolute_path(self) -> str:
        import os.path

        return os.path.join(self.generation.output_dir, self.generation.path)


@attrs.frozen
class Stored:
    """Where a sink that stores objects put a take: what a front end elsewhere can fetch.

    ``object`` names it in the sink's store (``<bucket>/<key>`` for a bucket); ``url`` reads
    it (``None`` when the store has no URL for it).
    """

    object: str
    url: str | None = None


@runtime_checkable
class Sink(Protocol):
    """One configured sink instance (``name`` is the user's instance name)."""

    name: str

    def enabled_auto(self) -> bool:
        """For ``enabled: auto``: are the settings this sink needs present (env vars set)?"""
        ...

    async def deliver(self, delivery: Delivery) -> Stored | None:
        """Deliver one take; raise ``SinkError`` (``state`` for partial progress) on failure.

        A sink that stores the image returns where (``Stored``): a job records it on the
        take. One that only passes it on (a webhook, a program) returns None.
        """
        ...

    async def aclose(self) -> None:
        """Release connections."""
        ...


@attrs.frozen
class UsageRow:
    """One take as usage reporting sees it (``imagen usage``): no prompt, only what it cost."""

    created_at: dt.datetime
    backend: str
    model: str
    caller: str | None = None
    seed: int | None = None
    latency_ms: int | None = None
    cost_usd: Decimal | None = None
    cache_hit: bool = False


@runtime_checkable
class UsageSource(Protocol):
    """A sink that can also answer ``imagen usage --source <sink name>``."""

    async def usage_rows(self, since: dt.datetime | None) -> Sequence[UsageRow]:
        """Every recorded take since ``since`` (all when None), oldest first."""
        ...


__all__ = ["Delivery", "Sink", "Stored", "UsageRow", "UsageSource"]
