"""``imagen sync``: retrying the outbox's pending deliveries with the sinks configured now.

Kept apart from the outbox (which only stores deliveries) and from running sinks after a take
(:mod:`imagen.sinks.run`, which queues failures in the outbox), so neither imports the other.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Literal

import attrs

from imagen.config.model import Config
from imagen.sinks.outbox import CLAIM_LEASE_SECONDS, Outbox, PendingDelivery
from imagen.sinks.protocol import Delivery, Sink
from imagen.sinks.run import attempt, close_sinks, open_sink


@attrs.frozen
class SyncResult:
    """What happened to one delivery in a sync."""

    delivery: PendingDelivery
    outcome: Literal["synced", "failed", "skipped"]
    message: str | None = None


@attrs.frozen
class SyncSummary:
    synced: int = 0
    failed: int = 0
    skipped: int = 0

    @property
    def remaining(self) -> int:
        return self.failed + self.skipped

    def describe(self) -> str:
        if not (self.synced or self.remaining):
            return "nothing to sync"
        text = f"{self.synced} synced"
        if self.remaining:
            text += f", {self.remaining} still pending (see: imagen sync --list)"
        return text


async def sync(
    config: Config,
    outbox: Outbox,
    *,
    report: Callable[[SyncResult], None],
    only: Collection[int] | None = None,
) -> SyncSummary:
    """Retry every pending delivery (the ids in ``only``, when given), one at a time.

    A success removes the delivery; a failure counts the attempt and keeps the sink's partial
    state. A delivery whose sink is no longer configured, whose image is gone from disk, or that
    another sync is working on is left alone and reported as skipped. Sinks run whatever the
    cloud-sync mode: asking for a sync is asking for it.
    """
    counts = {"synced": 0, "failed": 0, "skipped": 0}
    opened = _SinksByName(config)
    try:
        for pending in outbox.pending():
            if only is None or pending.id in only:
                result = await _retry(config, outbox, pending, opened)
                counts[result.outcome] += 1
                report(result)
    finally:
        await close_sinks(list(opened.sinks.values()))
    return SyncSummary(**counts)


@attrs.define
class _SinksByName:
    """Each configured sink built once, on first need; a name that cannot be built, its reason."""

    config: Config
    sinks: dict[str, Sink] = attrs.field(factory=dict)
    problems: dict[str, str] = attrs.field(factory=dict)

    def get(self, name: str) -> Sink | str:
        from imagen.errors import ImagenError

        if name not in self.sinks and name not in self.problems:
            try:
                self.sinks[name] = open_sink(self.config, name)
            except ImagenError as error:
                self.problems[name] = str(error)
        return self.sinks[name] if name in self.sinks else self.problems[name]


async def _retry(
    config: Config, outbox: Outbox, pending: PendingDelivery, opened: _SinksByName
) -> SyncResult:
    sink = opened.get(pending.sink)
    if isinstance(sink, str):
        message = f"{sink}; add it back, or drop the delivery: imagen sync --drop {pending.id}"
        return SyncResult(pending, "skipped", message)
    if not pending.image_exists():
        message = (
            f"the image {pending.absolute_path()} no longer exists; "
            f"drop the delivery with: imagen sync --drop {pending.id}"
        )
        return SyncResult(pending, "skipped", message)
    timeout = config.output.sink_timeout
    if not outbox.claim(pending.id, lease=max(CLAIM_LEASE_SECONDS, 2 * timeout)):
        return SyncResult(pending, "skipped", "another imagen sync is delivering it right now")
    delivery = Delivery(pending.generation, pending.sink, pending.attempts + 1, pending.state)
    try:
        failure = await attempt(sink, delivery, timeout=timeout)
    except BaseException:  # interrupted (Ctrl-C): untried, so the next sync may take it at once
        outbox.release(pending.id)
        raise
    if failure is None:
        outbox.done(pending.id)
        return SyncResult(pending, "synced")
    outbox.failed(
        pending.id, state=failure.state, error=failure.message, retryable=failure.retryable
    )
    return SyncResult(pending, "failed", failure.message)


__all__ = ["SyncResult", "SyncSummary", "sync"]
