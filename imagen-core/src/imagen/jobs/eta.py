"""When a job should be done: this instance's recent latencies, the takes left, its concurrency.

The latencies are those of the instance's last takes in the history (cache hits, which took no
time, are left out). No history, or no takes yet: no estimate (None), rather than a guess.
"""

from __future__ import annotations

import datetime as dt
import math
import statistics
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from imagen.config import Config
    from imagen.jobs.model import Job

#: how many recent takes of the instance the estimate looks at
RECENT_TAKES = 20


def recent_latency(config: Config, backend: str) -> float | None:
    """The median latency (seconds) of ``backend``'s recent takes, or None when unknown."""
    if not config.history.enabled:
        return None
    from imagen import debug
    from imagen.errors import ImagenError
    from imagen.history import History

    try:
        entries = History.shared(config.history.path).query(backend=backend, limit=RECENT_TAKES * 2)
    except (ImagenError, OSError) as error:  # an estimate is never worth failing a job for
        debug.log_exception(error)
        return None
    latencies = [entry.latency for entry in entries if not entry.cache_hit][:RECENT_TAKES]
    return statistics.median(latencies) if latencies else None


def estimate_eta(
    config: Config, job: Job, concurrency: int, *, latency: float | None = None
) -> dt.datetime | None:
    """When ``job``'s remaining takes should be done, running ``concurrency`` at a time."""
    from imagen.jobs.model import now

    per_take = latency if latency is not None else recent_latency(config, job.backend)
    if per_take is None:
        return None
    left = sum(1 for take in job.takes if take.state in ("queued", "running"))
    rounds = math.ceil(left / max(concurrency, 1))
    return now() + dt.timedelta(seconds=rounds * per_take)


__all__ = ["estimate_eta", "recent_latency"]
