"""What the front-end benchmarks share (``server.py``, ``mcp.py``): a scratch home with the mock
backend, the in-process ``prepare()`` + ``execute()`` the front ends are compared with, and
the table rows of their results.

    with scratch_home("imagen-bench-server-") as config:      # HOME, XDG dirs, imagen.yaml
        async with InProcess(config) as inner:
            ms = await inner.timed()
"""

from __future__ import annotations

import contextlib
import math
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

PROMPT = "a lighthouse on a cliff at dusk"
SIZE = "256x256"

CONFIG = """\
default_backend: bench
output:
  directory: {out}
  preview: "off"
backends:
  bench:
    type: mock
{more}"""


@contextlib.contextmanager
def scratch_home(prefix: str, more_backends: str = "") -> Iterator[Path]:
    """A temporary HOME and XDG dirs (no ``IMAGEN_*`` variables) with an ``imagen.yaml`` whose
    default backend ``bench`` is the mock; yields the config file's path."""
    saved = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix=prefix) as folder:
        root = Path(folder)
        for name, sub in (("HOME", "home"), ("XDG_CONFIG_HOME", "config"),
                          ("XDG_DATA_HOME", "data"), ("XDG_CACHE_HOME", "cache")):  # fmt: skip
            os.environ[name] = str(root / sub)
        for name in [name for name in os.environ if name.startswith("IMAGEN_")]:
            del os.environ[name]
        config = root / "imagen.yaml"
        config.write_text(CONFIG.format(out=root / "out", more=more_backends))
        try:
            yield config
        finally:
            os.environ.clear()
            os.environ.update(saved)


class InProcess:
    """The bench's one-take request through ``prepare()`` + ``execute()`` in this process: what
    a front end's answer is compared with. Use as ``async with``."""

    def __init__(self, config_path: Path) -> None:
        from imagen.config.load import load_config

        self.config = load_config(config_path)
        self._backend: Any = None

    async def __aenter__(self) -> Self:
        from imagen.pipeline import open_backend

        self._backend = open_backend(self.config, "bench")
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, tb: Any
    ) -> None:
        await self._backend.aclose()

    async def timed(self) -> float:
        """ms for one prepare() + execute() of the request."""
        from imagen.models import Request
        from imagen.pipeline import execute, prepare

        width, height = (int(side) for side in SIZE.split("x"))
        start = time.perf_counter()
        plan = prepare(
            self.config, Request(PROMPT, width=width, height=height), estimator=self._backend
        )
        outcome = await execute(plan, backend=self._backend)
        elapsed = time.perf_counter() - start
        assert outcome.ok, outcome.failures
        return elapsed * 1000


def load_average() -> str:
    """The 1, 5 and 15 minute load averages, as ``uptime`` shows them."""
    return ", ".join(f"{value:.2f}" for value in os.getloadavg())


def percentile(samples: list[float], share: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def verdict(value: float, target: float) -> str:
    return "met" if value <= target else f"NOT met ({value:.1f} ms)"


def row(label: str, samples: list[float], target: str = "-", judged: str = "-") -> str:
    """A results table row: what, n, p50, p99, max (ms), target, verdict."""
    return (
        f"| {label} | {len(samples)} | {percentile(samples, 0.5):.2f} | "
        f"{percentile(samples, 0.99):.2f} | {max(samples):.2f} | {target} | {judged} |"
    )


TABLE_HEAD = (
    "| what | n | p50 ms | p99 ms | max ms | target | verdict |\n"
    "| --- | --- | --- | --- | --- | --- | --- |"
)
