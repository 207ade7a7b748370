"""Real ``imagen worker`` processes for queue tests: start them, submit to them, see what they did.

The box is a scratch folder with a config whose one backend, ``g``, is a *gate*: a test
backend that appends ``start <pid> <seed>`` to a log when a take begins and ``paid <pid> <seed>``
when its image is made, and holds a take while ``hold/hold-<seed>`` exists without
``hold/release-<seed>`` (the core's tests ship one: ``imagen-core/tests/jobs_gate.py``, run as
``python jobs_gate.py ...`` it is ``imagen`` with that backend registered). So a test counts
backend calls and spend across processes and waits on those events, never on time.

    with worker_box(tmp_path, [sys.executable, GATE], "{type: local, path: q.db}") as box:
        worker = box.worker()
        (box.hold / "hold-101").touch()
        job_id = box.submit("-n", "2", "--seed", "100")
        eventually(lambda: (worker.pid, 101) in box.events("start"), "take 2 to start")

Every worker is started tied to the test run (``processes.start_tied``): it dies with it.
"""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any, TypeVar

import attrs

from imagen.testing.processes import start_tied

T = TypeVar("T")

#: bound on every wait for an event (a busy CI box is slow, never this slow)
PATIENCE = 120.0


def eventually(check: Callable[[], T], what: str, *, patience: float = PATIENCE) -> T:
    """Look again at ``check`` until it returns something truthy; that value.

    For state another process changes (a log line, a job record): bounded by ``patience``
    seconds, after which the test fails saying it gave up waiting for ``what``.
    """
    deadline = time.monotonic() + patience
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


@attrs.define
class WorkerBox:
    """A scratch folder with a gate config, and the worker processes started in it."""

    root: Path
    #: the ``imagen`` command with the gate backend registered (argv before imagen's own)
    program: Sequence[str]
    config: Path
    #: the gate's log of ``start``/``paid`` events
    log: Path
    #: the gate's folder of ``hold-<seed>``/``release-<seed>`` files
    hold: Path
    out: Path
    #: added to every ``imagen worker`` command line (``--backends g``)
    worker_args: Sequence[str] = ()
    patience: float = PATIENCE
    workers: list[subprocess.Popen[bytes]] = attrs.field(factory=list)

    @classmethod
    def create(
        cls, root: Path, program: Sequence[str], queue: str, *, worker_args: Sequence[str] = ()
    ) -> WorkerBox:
        """A box in ``root`` whose config has the queue block ``queue`` (YAML flow style)."""
        hold = root / "hold"
        hold.mkdir()
        config = root / "imagen.yaml"
        log = root / "calls.log"
        config.write_text(
            "default_backend: g\n"
            f"queue: {queue}\n"
            f"backends:\n  g: {{type: gate, log: {log}, hold: {hold}, concurrency: 1}}\n"
        )
        return cls(root, tuple(program), config, log, hold, root / "out", tuple(worker_args))

    def imagen(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        """Run ``imagen --config <box> ARGS`` to its end; with ``check``, it must exit 0."""
        done = subprocess.run(
            [*self.program, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=self.patience,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def worker(self, *args: str) -> subprocess.Popen[bytes]:
        """Start ``imagen worker`` (its stderr kept for ``stderr_of``)."""
        index = len(self.workers)
        stderr: IO[bytes] = (self.root / f"worker-{index}.err").open("wb")
        process = start_tied(
            [*self.program, "--config", str(self.config), "worker", *self.worker_args, *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        stderr.close()
        self.workers.append(process)
        return process

    def stderr_of(self, process: subprocess.Popen[bytes]) -> str:
        return (self.root / f"worker-{self.workers.index(process)}.err").read_text()

    def started(self, process: subprocess.Popen[bytes]) -> None:
        """Wait until the worker says it is claiming jobs."""
        eventually(
            lambda: "claiming jobs" in self.stderr_of(process),
            f"worker {process.pid} to start",
            patience=self.patience,
        )

    def events(self, kind: str) -> list[tuple[int, int]]:
        """``(pid, seed)`` of every gate event of ``kind`` (start, paid), in order."""
        if not self.log.exists():
            return []
        rows = [line.split() for line in self.log.read_text().splitlines()]
        return [(int(pid), int(seed)) for event, pid, seed in rows if event == kind]

    def submit(self, *args: str) -> str:
        """``imagen submit "a cat" -b g -o <out> ARGS``; the job id."""
        return self.imagen("submit", "a cat", "-b", "g", "-o", str(self.out), *args).stdout.strip()

    def job(self, job_id: str) -> dict[str, Any]:
        """The job's JSON form, as ``imagen jobs show --json`` prints it."""
        data: dict[str, Any] = json.loads(self.imagen("jobs", "show", job_id, "--json").stdout)
        return data

    def jobs(self) -> list[dict[str, Any]]:
        """Every job's JSON form (up to 1,000), newest first."""
        data: list[dict[str, Any]] = json.loads(
            self.imagen("jobs", "--json", "--limit", "1000").stdout
        )
        return data

    def stop_all(self) -> None:
        """Kill every worker still running and reap them all."""
        for process in self.workers:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
        for process in self.workers:
            process.wait(timeout=self.patience)


@contextlib.contextmanager
def worker_box(
    root: Path, program: Sequence[str], queue: str, *, worker_args: Sequence[str] = ()
) -> Iterator[WorkerBox]:
    """``WorkerBox.create(...)``, its workers killed on the way out."""
    box = WorkerBox.create(root, program, queue, worker_args=worker_args)
    try:
        yield box
    finally:
        box.stop_all()


__all__ = ["PATIENCE", "WorkerBox", "eventually", "worker_box"]
