"""The ``queue:`` block of the built-in ``local`` queue (kept light: config loading imports it)."""

from __future__ import annotations

import attrs


@attrs.frozen
class LocalQueueSettings:
    """SQLite in the data dir; ``path`` moves it (``IMAGEN_JOBS`` does too)."""

    path: str | None = None
    #: seconds between a runner's signs of life
    heartbeat: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    #: a running job whose runner was silent this long is taken up again
    stale_after: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    #: a job whose runner died this many times is ``interrupted`` instead of taken up again
    max_attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))


__all__ = ["LocalQueueSettings"]
