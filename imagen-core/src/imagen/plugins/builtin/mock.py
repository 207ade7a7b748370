"""The built-in ``mock`` backend type, registered like any plugin's backend."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    from imagen.plugins.registry import BackendRegister

SAMPLE = """\
# The built-in placeholder generator: offline, free, deterministic. Not a real model.
mock:
  type: mock
  latency: 0.0          # seconds per take, to try progress and concurrency
"""


@hookimpl
def register_backends(register: BackendRegister) -> None:
    from imagen.mock import MockSettings

    register("mock", "imagen.mock:MockBackend", MockSettings, sample=SAMPLE, concurrency=4)
