"""The built-in ``local`` queue type (SQLite in the data dir), registered like any plugin's."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    from imagen.plugins.registry import QueueRegister

SAMPLE = """\
# Jobs (imagen submit, imagen worker, the HTTP server) in SQLite in the data dir, for one machine.
queue:
  type: local
  # path: ~/.local/share/imagen/jobs.sqlite3   # default: the data dir, next to the history
  # heartbeat: 5          # seconds between a runner's signs of life
  # stale_after: 30       # a running job silent this long (or whose runner's pid is gone) is
  #                       # taken up again by the next runner, without redoing finished takes
"""


@hookimpl
def register_queues(register: QueueRegister) -> None:
    from imagen.jobs.settings import LocalQueueSettings

    register("local", "imagen.jobs.local:LocalQueue", LocalQueueSettings, sample=SAMPLE)
