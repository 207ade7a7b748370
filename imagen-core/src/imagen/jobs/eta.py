"""When a job should be done: this instance's recent latencies, the takes left, its concurrency.

The latencies are those of the instance's last takes in the history (cache hits, which took no
time, are left out). No history, or no takes yet: no estimate (None), rather than a guess.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from imagen.config.model import Config


class _Take(Protocol):
    @property
    def state(self) -> str: ...


class _Job(Protocol):
    """What the estimate reads of a job (:class:`imagen.jobs.model.Job`, which imports this)."""

    @property
    def backend(self) -> str: ...

    @property
    def takes(self) -> Sequence[_Take]: ...


#: how many recent takes of the instance the estimate looks at
RECENT_TAKES = 20
#: how long a latency found in the history is used again (seconds): reading the recent takes
#: costs milliseconds, paid by every submit and every job's start, and an estimate needs no
#: fresher figure (a running job's own takes correct it as they land)
LATENCY_REUSE = 30.0
#: (history file, instance) -> (when found, the latency); in this process
_found: dict[tuple[str, str], tuple[float, float]] = {}


def recent_latency(config: Config, backend: str) -> float | None:
    """The median latency (seconds) of ``backend``'s recent takes, or None when unknown."""
    if not config.history.enabled:
        return None
    import time

    from imagen import debug
    from imagen.errors import ImagenError
    from imagen.store.history import History

    try:
        history = History.shared(config.history.path)
        key = (history.path, backend)
        found = _found.get(key)
        if found is not None and time.monotonic() - found[0] < LATENCY_REUSE:
            return found[1]
        entries = history.query(backend=backend, limit=RECENT_TAKES * 2)
    except (ImagenError, OSError) as error:  # an estimate is never worth failing a job for
        debug.log_exception(error)
        return None
    latencies = [entry.latency for entry in entries if not entry.cache_hit][:RECENT_TAKES]
    if not latencies:  # none yet: looked for again next time, so the first takes count
        return None
    latency = statistics.median(latencies)
    _found[key] = (time.monotonic(), latency)
    return latency


def estimate_eta(
    config: Config, job: _Job, concurrency: int, *, latency: float | None = None
) -> dt.datetime | None:
    """When ``job``'s remaining takes should be done, running ``concurrency`` at a time."""
    per_take = latency if latency is not None else recent_latency(config, job.backend)
    if per_take is None:
        return None
    left = sum(1 for take in job.takes if take.state in ("queued", "running"))
    rounds = math.ceil(left / max(concurrency, 1))
    return dt.datetime.now(dt.UTC) + dt.timedelta(seconds=rounds * per_take)


__all__ = ["estimate_eta", "recent_latency"]
