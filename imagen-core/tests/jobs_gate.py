"""A backend for job tests that run real processes: it logs every call and holds takes.

Each call appends ``start <pid> <seed>`` to the ``log`` file when it begins and
``paid <pid> <seed>`` when its image is made (what a provider would charge for), so a test
counts backend calls and spend across processes. A take whose seed has a ``hold-<seed>`` file
in the ``hold`` folder waits until ``release-<seed>`` appears there.

Run as a script it is ``imagen`` with this backend type registered:
``python jobs_gate.py --config c.yaml worker``.
"""

from __future__ import annotations

import asyncio
import os
import sys
from decimal import Decimal
from typing import TYPE_CHECKING

import attrs

from imagen import hookimpl
from imagen.models import Cost, Image, Progress, Request, Result, Status

if TYPE_CHECKING:
    from imagen.plugins.registry import BackendRegister

PRICE = Cost(Decimal("0.01"), "gate test price")


@attrs.frozen
class GateSettings:
    log: str
    hold: str = ""
    ready: bool = True


class GateBackend:
    def __init__(self, name: str, settings: GateSettings) -> None:
        self.name = name
        self.settings = settings

    def status(self) -> Status:
        return Status.ready() if self.settings.ready else Status.not_configured("GATE_TOKEN")

    def estimate_cost(self, request: Request) -> Cost:
        return PRICE

    async def aclose(self) -> None:
        return None

    def _note(self, event: str, seed: int) -> None:
        # One short O_APPEND write per line: lines from several processes never interleave.
        with open(self.settings.log, "a", encoding="ascii") as log:
            log.write(f"{event} {os.getpid()} {seed}\n")

    def _held(self, seed: int) -> bool:
        hold = self.settings.hold
        return bool(hold) and (
            os.path.exists(os.path.join(hold, f"hold-{seed}"))
            and not os.path.exists(os.path.join(hold, f"release-{seed}"))
        )

    async def generate(self, request: Request, progress: Progress) -> Result:
        from imagen.mock import render

        seed = request.seed if request.seed is not None else 0
        self._note("start", seed)
        progress.update(0, 1, "drawing")
        # Another process (the test) releases the take by creating a file: nothing to await.
        while self._held(seed):  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        data = render(request.prompt, seed, 64, 64)
        self._note("paid", seed)
        return Result((Image(data, "image/png", 64, 64, seed),), model="gate", cost=PRICE)


@hookimpl
def register_backends(register: BackendRegister) -> None:
    register("gate", GateBackend, GateSettings, concurrency=1)


if __name__ == "__main__":
    from imagen.cli import main
    from imagen.plugins import loader as plugins

    plugins.manager().register(sys.modules[__name__], name="jobs-gate")
    main()
