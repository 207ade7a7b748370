"""The ``queue:`` block of the ``postgres`` queue type (kept light: config loading imports it)."""

from __future__ import annotations

import re
from typing import Any

import attrs

_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _env_name(instance: Any, attribute: Any, value: str) -> None:
    # The URL itself never goes into the config file: only the name of the variable holding it.
    if not _ENV_NAME.fullmatch(value):
        raise ValueError(
            f"{attribute.name}: {value!r} is not an environment variable name; put the URL in "
            "a variable (export IMAGEN_QUEUE_URL=postgresql://...) and name it here"
        )


@attrs.frozen
class PostgresQueueSettings:
    """A shared PostgreSQL: the URL is read from the variable ``url_env`` names."""

    url_env: str = attrs.field(default="IMAGEN_QUEUE_URL", validator=_env_name)
    #: seconds between a worker's signs of life
    heartbeat: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    #: a running job whose worker was silent this long is taken up again by another worker
    stale_after: float = attrs.field(default=30.0, validator=attrs.validators.gt(0))
    #: a job whose worker died this many times is ``interrupted`` instead of taken up again
    max_attempts: int = attrs.field(default=3, validator=attrs.validators.ge(1))
    #: connections one process keeps open at most (a worker uses about concurrency + 2)
    pool_size: int = attrs.field(default=4, validator=attrs.validators.ge(2))


SAMPLE = """\
# Jobs in a shared PostgreSQL (the imagen-postgres plugin): any number of imagen worker processes
# on any machines claim the jobs of the backend instances they can run. The URL comes from the
# environment variable url_env names, never from this file. Create the tables once with:
#   imagen queue migrate --apply
# On Supabase use the session pooler (port 5432) or the direct connection, not the transaction
# pooler (6543): workers LISTEN for new jobs, which needs a session. See docs/workers.md.
queue:
  type: postgres
  url_env: IMAGEN_QUEUE_URL
  # heartbeat: 5        # seconds between a worker's signs of life
  # stale_after: 30     # a job whose worker was silent this long is taken up by another one,
  #                     # without redoing finished takes
  # max_attempts: 3     # a job whose workers died this many times is interrupted
"""

__all__ = ["SAMPLE", "PostgresQueueSettings"]
