"""A backend that blocks the thread it runs on, as a synchronous SDK call or a slow disk's
fsync would, until the test lets it go. Run as a script it is ``imagen`` with the backend type
``stall`` registered: ``python stall_backend.py serve --port 0``.

Once blocked it writes ``stalled`` to the FIFO ``<fifo_dir>/stalled``; it goes on when a line
arrives in the FIFO ``<fifo_dir>/release``.
"""

from __future__ import annotations

import os
import sys
from typing import TYPE_CHECKING

import attrs

from imagen import hookimpl
from imagen.models import Cost, Image, Progress, Request, Result, Status

if TYPE_CHECKING:
    from imagen.plugins.registry import BackendRegister


@attrs.frozen
class StallSettings:
    fifo_dir: str


class StallBackend:
    def __init__(self, name: str, settings: StallSettings) -> None:
        self.name = name
        self.settings = settings

    def status(self) -> Status:
        return Status.ready()

    def estimate_cost(self, request: Request) -> Cost:
        return Cost.free("stall test backend")

    async def aclose(self) -> None:
        return None

    async def generate(self, request: Request, progress: Progress) -> Result:
        from imagen.mock import render

        # Blocking calls on purpose, in the event loop: nothing else runs on it meanwhile.
        with open(os.path.join(self.settings.fifo_dir, "stalled"), "w") as stalled:  # noqa: ASYNC230
            stalled.write("stalled\n")
        with open(os.path.join(self.settings.fifo_dir, "release")) as release:  # noqa: ASYNC230
            release.readline()
        seed = request.seed or 0
        data = render(request.prompt, seed, 32, 32)
        return Result((Image(data, "image/png", 32, 32, seed),), model="stall")


@hookimpl
def register_backends(register: BackendRegister) -> None:
    register("stall", StallBackend, StallSettings, concurrency=1)


if __name__ == "__main__":
    from imagen.cli import main
    from imagen.plugins import loader as plugins

    plugins.manager().register(sys.modules[__name__], name="stall-backend")
    main()
