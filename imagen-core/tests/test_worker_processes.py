"""``imagen worker`` processes on one local queue: crash safety, draining, handing back, CLI.

Every process is real (``python jobs_gate.py ...`` is ``imagen`` with the test's ``gate``
backend type registered). The gate logs ``start``/``paid`` per backend call and holds a take
until released, so the tests wait on those events, never on time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import pytest

GATE = str(Path(__file__).parent / "jobs_gate.py")
#: bound on every wait for an event (a busy CI box is slow, never this slow)
PATIENCE = 90.0

pytestmark = pytest.mark.slow


@attrs.define
class Box:
    root: Path
    config: Path
    log: Path
    hold: Path
    out: Path
    workers: list[subprocess.Popen[bytes]] = attrs.field(factory=list)

    def imagen(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        done = subprocess.run(
            [sys.executable, GATE, "--config", str(self.config), *args],
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        if check:
            assert done.returncode == 0, done.stderr
        return done

    def worker(self, *args: str) -> subprocess.Popen[bytes]:
        index = len(self.workers)
        stderr: IO[bytes] = (self.root / f"worker-{index}.err").open("wb")
        process = subprocess.Popen(
            [sys.executable, GATE, "--config", str(self.config), "worker", *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )
        stderr.close()
        self.workers.append(process)
        return process

    def stderr_of(self, process: subprocess.Popen[bytes]) -> str:
        return (self.root / f"worker-{self.workers.index(process)}.err").read_text()

    def events(self, kind: str) -> list[tuple[int, int]]:
        """``(pid, seed)`` of every gate event of ``kind`` (start, paid), in order."""
        if not self.log.exists():
            return []
        rows = [line.split() for line in self.log.read_text().splitlines()]
        return [(int(pid), int(seed)) for event, pid, seed in rows if event == kind]

    def submit(self, *args: str) -> str:
        return self.imagen("submit", "a cat", "-b", "g", "-o", str(self.out), *args).stdout.strip()

    def job(self, job_id: str) -> dict[str, Any]:
        data: dict[str, Any] = json.loads(self.imagen("jobs", "show", job_id, "--json").stdout)
        return data


def eventually(check: Callable[[], Any], what: str) -> Any:
    """Poll ``check`` until it returns something truthy (bounded by PATIENCE)."""
    deadline = time.monotonic() + PATIENCE
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"gave up waiting for {what}"
        time.sleep(0.02)


@pytest.fixture
def box(tmp_path: Path) -> Iterator[Box]:
    hold = tmp_path / "hold"
    hold.mkdir()
    config = tmp_path / "imagen.yaml"
    log = tmp_path / "calls.log"
    config.write_text(
        "default_backend: g\n"
        f"queue: {{type: local, path: {tmp_path / 'jobs.sqlite3'}, heartbeat: 0.2}}\n"
        f"backends:\n  g: {{type: gate, log: {log}, hold: {hold}, concurrency: 1}}\n"
    )
    made = Box(tmp_path, config, log, hold, tmp_path / "out")
    yield made
    for process in made.workers:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=PATIENCE)


def test_a_worker_killed_mid_job_leaves_it_to_the_other_without_paying_twice(box: Box) -> None:
    first, second = box.worker(), box.worker()
    (box.hold / "hold-101").touch()
    job_id = box.submit("-n", "3", "--seed", "100")
    # Take 2 has started somewhere: that worker took the job, and take 1 is paid for.
    victim_pid = eventually(
        lambda: next((pid for pid, seed in box.events("start") if seed == 101), None),
        "take 2 to start",
    )
    victim = first if first.pid == victim_pid else second
    survivor = second if victim is first else first
    assert box.events("paid") == [(victim_pid, 100)]

    victim.send_signal(signal.SIGKILL)
    victim.wait(timeout=PATIENCE)
    (box.hold / "release-101").touch()
    waited = box.imagen("jobs", "wait", job_id, "--timeout", str(PATIENCE))
    job = box.job(job_id)

    assert job["state"] == "done", job
    assert job["attempts"] == 2
    assert job["worker"].split(":")[1] == str(survivor.pid)
    # Nothing spent twice: each take paid once; only the take that was cut off started twice.
    assert sorted(seed for _, seed in box.events("paid")) == [100, 101, 102]
    assert sorted(seed for _, seed in box.events("start")) == [100, 101, 101, 102]
    paths = [take["path"] for take in job["takes"]]
    assert len(set(paths)) == 3
    assert all(Path(path).is_file() for path in paths)
    assert sorted(waited.stdout.split()) == sorted(paths)
    assert sorted(str(p) for p in box.out.rglob("*.png")) == sorted(paths)

    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=PATIENCE) == 0


def test_sigterm_lets_the_running_job_finish_then_exits_0(box: Box) -> None:
    worker = box.worker()
    (box.hold / "hold-201").touch()
    job_id = box.submit("-n", "2", "--seed", "200")
    eventually(lambda: (worker.pid, 201) in box.events("start"), "take 2 to start")
    worker.send_signal(signal.SIGTERM)
    eventually(lambda: "stopping: no new jobs" in box.stderr_of(worker), "the drain notice")
    # Queued after the signal: a draining worker does not take it.
    later = box.submit("--seed", "300")
    (box.hold / "release-201").touch()
    assert worker.wait(timeout=PATIENCE) == 0
    assert box.job(job_id)["state"] == "done"
    assert box.job(later)["state"] == "queued"
    assert f"job {job_id} done: 2/2 takes on g, $0.02" in box.stderr_of(worker)


def test_a_second_signal_hands_the_job_back_and_another_worker_finishes_it(box: Box) -> None:
    worker = box.worker()
    (box.hold / "hold-401").touch()
    job_id = box.submit("-n", "2", "--seed", "400")
    eventually(lambda: (worker.pid, 401) in box.events("start"), "take 2 to start")
    worker.send_signal(signal.SIGINT)
    eventually(lambda: "stopping: no new jobs" in box.stderr_of(worker), "the drain notice")
    worker.send_signal(signal.SIGINT)
    assert worker.wait(timeout=PATIENCE) == 0
    handed = box.job(job_id)
    assert handed["state"] == "queued"
    assert [take["state"] for take in handed["takes"]] == ["done", "queued"]

    (box.hold / "release-401").touch()
    box.imagen("worker", "--once")
    assert box.job(job_id)["state"] == "done"
    assert sorted(seed for _, seed in box.events("paid")) == [400, 401]


def test_submit_wait_prints_each_path_like_generate(box: Box) -> None:
    box.worker()
    done = box.imagen("submit", "a cat", "-n", "2", "--seed", "500", "-o", str(box.out), "--wait")
    paths = done.stdout.split()
    assert len(paths) == 2
    assert all(Path(path).is_file() for path in paths)
    assert "queued: ~$0.02 for 2 takes on g" in done.stderr


def test_submit_refuses_a_job_over_max_cost_before_queueing(box: Box) -> None:
    done = box.imagen("submit", "a cat", "-n", "4", "--max-cost", "0.01", check=False)
    assert done.returncode == 2
    assert "is over --max-cost $0.01" in done.stderr
    assert json.loads(box.imagen("jobs", "--json").stdout) == []


def test_jobs_lists_and_cancel_says_what_happened(box: Box) -> None:
    job_id = box.submit("--seed", "600")
    listed = box.imagen("jobs").stdout
    assert job_id in listed
    assert "queued" in listed
    canceled = box.imagen("jobs", "cancel", job_id)
    assert f"job {job_id} canceled" in canceled.stderr
    missing = box.imagen("jobs", "show", "nope", check=False)
    assert missing.returncode == 1
    assert missing.stderr.strip().endswith(
        "no job 'nope' in the queue (list them with: imagen jobs)"
    )


def test_imagen_help_does_not_import_the_job_layer() -> None:
    code = (
        "import sys, contextlib, io\n"
        "from imagen.cli import main\n"
        "with contextlib.suppress(SystemExit), contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--help'])\n"
        "print(sorted(m for m in sys.modules if m.startswith('imagen.jobs')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          check=True, env={**os.environ})  # fmt: skip
    assert done.stdout.strip() == "[]"
