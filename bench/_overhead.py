"""What an adapter adds to a provider's own time, measured against a fake server on loopback.

The adapter benchmarks (``openai_overhead.py``, ``replicate_overhead.py``) share this:

- :func:`serve_fake`, which runs the fake in a process of its own (so its Python work never
  competes with the client's for one interpreter's lock) with a :class:`ServerClock`: an aiohttp
  middleware that adds up the time the fake's handlers spend, from the request reaching the
  handler to the answer handed back (the held render, building the JSON). One sample's
  **overhead** is its wall time minus that server time, so the fake's own work is never counted
  as the client's. Moving the bytes over the socket is the client's share: every client pays
  it, the official one included.
- :func:`sample_turns`, which times several calls taking turns, ``runs`` rounds after a warm-up
  (:class:`Loop` keeps an async client's event loop open across them);
  :func:`sample_cli`, which times ``imagen generate`` subprocesses (cold) for a backend, and
  :func:`cli_against_mock` for one instance and the mock;
- :func:`report`, which writes the table and the verdict into ``bench/RESULTS.md``.
"""

from __future__ import annotations

import asyncio
import http.client
import json
import multiprocessing
import os
import statistics
import threading
import time
from collections.abc import Callable, Coroutine, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import attrs
from _results import cli_available, record, time_generate

if TYPE_CHECKING:
    from aiohttp import web


CLOCK_PATH = "/_bench/clock"


class ServerClock:
    """Seconds the fake server's handlers spent since the last :meth:`reset` (thread-safe: the
    server runs its own loop in another thread)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._spent = 0.0
        self._requests = 0

    def install(self, app: web.Application) -> web.Application:
        """``app`` with the clock around every handler; ``GET /_bench/clock[?reset=1]`` reads it."""
        from aiohttp import web

        async def read(request: web.Request) -> web.Response:
            spent, requests = self.read()
            if request.query.get("reset"):
                self.reset()
            return web.json_response({"spent": spent, "requests": requests})

        @web.middleware
        async def clock(request: web.Request, handler: Any) -> web.StreamResponse:
            if request.path == CLOCK_PATH:  # answered here: past the fake's own key check
                return await read(request)
            start = time.perf_counter()
            try:
                response: web.StreamResponse = await handler(request)
                return response
            finally:
                with self._lock:
                    self._spent += time.perf_counter() - start
                    self._requests += 1

        app.middlewares.insert(0, clock)  # outermost: the fake's own middlewares count too
        return app

    def reset(self) -> None:
        with self._lock:
            self._spent, self._requests = 0.0, 0

    def read(self) -> tuple[float, int]:
        """(seconds spent, requests handled) since the last reset."""
        with self._lock:
            return self._spent, self._requests


class RemoteClock:
    """The :class:`ServerClock` of a fake in another process, read over its socket."""

    def __init__(self, url: str) -> None:
        self.netloc = urlsplit(url).netloc

    def _get(self, query: str = "") -> dict[str, Any]:
        connection = http.client.HTTPConnection(self.netloc, timeout=10)
        try:
            connection.request("GET", CLOCK_PATH + query)
            answer: dict[str, Any] = json.loads(connection.getresponse().read())
            return answer
        finally:
            connection.close()

    def reset(self) -> None:
        self._get("?reset=1")

    def read(self) -> tuple[float, int]:
        answer = self._get()
        return float(answer["spent"]), int(answer["requests"])


def _serve(make_app: Callable[[], web.Application], pipe: Any) -> None:
    from imagen.testing.servers import serve_app

    with serve_app(ServerClock().install(make_app())) as url:
        pipe.send(url)
        pipe.recv()  # until the benchmark is done


@contextmanager
def serve_fake(make_app: Callable[[], web.Application]) -> Iterator[tuple[str, RemoteClock]]:
    """The app ``make_app()`` builds (a module-level function: it is pickled) served by another
    process on loopback: (its base URL, its clock)."""
    context = multiprocessing.get_context("spawn")
    ours, theirs = context.Pipe()
    process = context.Process(target=_serve, args=(make_app, theirs), daemon=True)
    process.start()
    theirs.close()  # the child's end: if the child dies, recv() below sees the pipe close
    try:
        if not ours.poll(60):
            raise SystemExit("the fake server did not start within 60 s")
        try:
            url = ours.recv()
        except EOFError:
            raise SystemExit("the fake server failed to start (its traceback is above)") from None
        yield url, RemoteClock(url)
    finally:
        if process.is_alive():
            ours.send("stop")
            process.join(10)
        if process.is_alive():
            process.kill()


Clock = ServerClock | RemoteClock


@attrs.frozen
class Sample:
    wall: float
    server: float

    @property
    def overhead(self) -> float:
        return self.wall - self.server


def sample_turns(
    calls: Mapping[str, Callable[[], object]], clock: Clock, runs: int
) -> dict[str, list[Sample]]:
    """Each call timed ``runs`` times, the calls taking turns (one round of warm-up first), with
    the server's share of each run: load that comes and goes on a shared machine falls on every
    series alike, so they can be compared."""
    samples: dict[str, list[Sample]] = {label: [] for label in calls}
    for round_number in range(runs + 1):
        for label, once in calls.items():
            clock.reset()
            start = time.perf_counter()
            once()
            wall = time.perf_counter() - start
            if round_number:
                samples[label].append(Sample(wall, clock.read()[0]))
    return samples


class Loop:
    """One event loop kept open across calls, so an async client stays warm between runs (as in
    a server or worker): ``loop.call(make_coroutine)`` is a plain callable for
    :func:`sample_turns`."""

    def __init__(self) -> None:
        self.runner = asyncio.Runner()

    def call(self, once: Callable[[], Coroutine[Any, Any, object]]) -> Callable[[], object]:
        return lambda: self.runner.run(once())

    def __enter__(self) -> Loop:
        return self

    def __exit__(self, *exc: object) -> None:
        self.runner.close()


def sample_cli(
    config_text: str,
    work: Path,
    clock: Clock,
    *,
    backend: str,
    prompt: str,
    options: Sequence[str],
    runs: int,
    env: dict[str, str] | None = None,
) -> list[Sample]:
    """``imagen generate`` subprocesses; each charged the mean server time of the series (the
    runs are sequential and alike, and a subprocess cannot be split per run from here)."""
    clock.reset()
    walls = time_generate(
        config_text, work, backend=backend, prompt=prompt, options=options, runs=runs, env=env
    )
    spent, _ = clock.read()
    per_run = spent / (runs + 1)  # time_generate makes one warm-up run first
    return [Sample(wall, per_run) for wall in walls]


def cli_against_mock(
    bench_block: str,
    clock: Clock,
    *,
    prompt: str,
    options: Sequence[str],
    runs: int,
    env: dict[str, str],
) -> tuple[list[Sample], list[Sample]] | None:
    """``imagen generate`` on the instance ``bench: {bench_block}`` and on the mock, the same
    runs each (see :func:`sample_cli`); None where the CLI is not installed."""
    if not cli_available():
        return None
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        config = (
            "default_backend: bench\n"
            f"output: {{directory: '{work / 'out'}', preview: 'off', cloud_sync: 'off'}}\n"
            f"backends:\n  bench: {bench_block}\n  mock: {{type: mock}}\n"
        )
        bench, mock = (
            sample_cli(config, work, clock, backend=name, prompt=prompt, options=options,
                       runs=runs, env=env)
            for name in ("bench", "mock")
        )  # fmt: skip
        return bench, mock


def load() -> str:
    """The 1, 5 and 15 minute load averages, for the record beside the numbers."""
    one, five, fifteen = os.getloadavg()
    return f"{one:.2f}, {five:.2f}, {fifteen:.2f}"


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f}"


def row(label: str, samples: Sequence[Sample]) -> str:
    overheads = [sample.overhead for sample in samples]
    return (
        f"| {label} | {_ms(statistics.median(s.wall for s in samples))} "
        f"| {_ms(statistics.median(s.server for s in samples))} "
        f"| {statistics.median(overheads) * 1000:+.1f} "
        f"| {min(overheads) * 1000:+.1f} to {max(overheads) * 1000:+.1f} |"
    )


@attrs.frozen
class Comparison:
    """One benchmark's series: imagen's backend, the official client, the floor (the bare
    transfer and decoding any client pays), the CLI pair."""

    name: str
    command: str
    setup: str
    target_ms: float
    ours: tuple[str, list[Sample]]
    official: tuple[str, list[Sample]] | None = None
    official_hint: str = ""
    floor: tuple[str, list[Sample]] | None = None
    more: tuple[tuple[str, list[Sample]], ...] = ()  # further rows, after the floor
    cli: tuple[list[Sample], list[Sample]] | None = None  # (this backend, mock)
    notes: tuple[str, ...] = ()

    def write(self, runs: int, load_before: str) -> None:
        lines = [
            self.setup,
            "",
            f"Median of {runs} runs after one warm-up, the in-process clients taking turns. Server "
            "ms is the time the fake's handlers spent (held render included); overhead = wall - "
            "server, per run.",
            f"Load average (1, 5, 15 min) before: {load_before}; after: {load()} (2 cores, "
            "shared with other work: the spread is noise).",
            "",
            "| what | wall ms | server ms | overhead ms | overhead range ms |",
            "| --- | --- | --- | --- | --- |",
            row(*self.ours),
        ]
        if self.official is not None:
            lines.append(row(*self.official))
        if self.floor is not None:
            lines.append(row(*self.floor))
        lines += [row(*series) for series in self.more]
        if self.cli is not None:
            backend, mock = self.cli
            lines.append(row("`imagen generate` subprocess, this backend", backend))
            lines.append(row("`imagen generate` subprocess, mock backend (CLI fixed cost)", mock))
        overhead = statistics.median(sample.overhead for sample in self.ours[1]) * 1000
        verdict = "met" if overhead <= self.target_ms else "NOT met"
        lines += ["", f"Target (generate() adds at most {self.target_ms:.0f} ms): {verdict}, "
                      f"{overhead:+.1f} ms."]  # fmt: skip
        if self.official is None:
            lines.append(f"The official client was not installed: {self.official_hint}.")
        else:
            theirs = statistics.median(sample.overhead for sample in self.official[1]) * 1000
            lines.append(f"The official client on the same fake, same run: {theirs:+.1f} ms.")
        if self.floor is not None:
            least = statistics.median(sample.overhead for sample in self.floor[1]) * 1000
            lines.append(
                f"The floor (moving and decoding the answer, no client library): {least:+.1f} ms;"
                f" imagen's own share: {overhead - least:+.1f} ms."
            )
        if self.cli is not None:
            backend, mock = self.cli
            extra = statistics.median(s.overhead for s in backend) - statistics.median(
                s.wall for s in mock
            )
            lines.append(
                f"CLI: this backend's overhead minus the mock's whole run = {extra * 1000:.0f} ms "
                "(importing the HTTP stack and the plugin, a cold client)."
            )
        lines += list(self.notes)
        record(self.name, self.command, "\n".join(lines))


__all__ = [
    "Clock",
    "Comparison",
    "Loop",
    "RemoteClock",
    "Sample",
    "ServerClock",
    "cli_available",
    "load",
    "sample_cli",
    "sample_turns",
    "serve_fake",
]
