"""``imagen worker`` processes on one PostgreSQL queue: many jobs, kill -9, drain, restart.

Every process is real (``python jobs_gate.py ...`` is ``imagen`` with the core tests' ``gate``
backend type registered, which logs ``start``/``paid`` per backend call and holds a take until
released), so the tests wait on those events and on job states, never on time.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO, Any

import attrs
import pytest

from imagen.testing.postgres import Postgres, PostgresUnavailable, postgres_cluster

from .conftest import fresh_database

GATE = str(Path(__file__).parents[2] / "imagen-core" / "tests" / "jobs_gate.py")
SUBMIT_MANY = str(Path(__file__).with_name("submit_many.py"))
#: bound on every wait for an event (a busy CI box is slow, never this slow)
PATIENCE = 120.0

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
            [sys.executable, GATE, "--config", str(self.config), "worker", "--backends", "g",
             *args],
            stdout=subprocess.DEVNULL,
            stderr=stderr,
        )  # fmt: skip
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

    def submit_many(self, takes: list[int]) -> list[str]:
        done = subprocess.run(
            [sys.executable, SUBMIT_MANY, str(self.config), str(self.out), *map(str, takes)],
            capture_output=True,
            text=True,
            timeout=PATIENCE,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.split()

    def jobs(self) -> list[dict[str, Any]]:
        listed = self.imagen("jobs", "--json", "--limit", "1000").stdout
        data: list[dict[str, Any]] = json.loads(listed)
        return data

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
        time.sleep(0.05)


def make_box(root: Path, url: str, monkeypatch: pytest.MonkeyPatch, queue: str) -> Box:
    monkeypatch.setenv("IMAGEN_QUEUE_URL", url)
    hold = root / "hold"
    hold.mkdir()
    config = root / "imagen.yaml"
    log = root / "calls.log"
    config.write_text(
        "default_backend: g\n"
        f"queue: {{type: postgres, {queue}}}\n"
        f"backends:\n  g: {{type: gate, log: {log}, hold: {hold}, concurrency: 1}}\n"
    )
    return Box(root, config, log, hold, root / "out")


def stop_all(box: Box) -> None:
    for process in box.workers:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=PATIENCE)


@pytest.fixture
def box(tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Box]:
    made = make_box(tmp_path, queue_db, monkeypatch, "heartbeat: 0.3, stale_after: 3")
    yield made
    stop_all(made)


def test_two_workers_run_every_job_once_with_every_take_once(box: Box) -> None:
    # 200 jobs of 1 to 3 takes (400 takes): two worker processes share them.
    takes = [1 + index % 3 for index in range(200)]
    first, second = box.worker(), box.worker()
    for worker in (first, second):
        eventually(lambda w=worker: "claiming jobs" in box.stderr_of(w), "the workers to start")
    ids = box.submit_many(takes)
    assert len(set(ids)) == len(takes)
    jobs = eventually(
        lambda: (found := box.jobs()) and all(job["state"] == "done" for job in found) and found,
        "every job to be done",
    )
    assert sorted(job["id"] for job in jobs) == sorted(ids)

    # Each job ran once: one "done" line in all the workers' output, one attempt.
    first.send_signal(signal.SIGTERM)
    second.send_signal(signal.SIGTERM)
    assert first.wait(timeout=PATIENCE) == 0
    assert second.wait(timeout=PATIENCE) == 0
    lines = box.stderr_of(first).splitlines() + box.stderr_of(second).splitlines()
    finished = Counter(line.split()[2] for line in lines if " done: " in line)
    assert finished == Counter(ids)
    assert {job["attempts"] for job in jobs} == {1}
    # Every take paid once, and its one file on disk.
    expected = sorted(
        1000 * (index + 1) + take for index, count in enumerate(takes) for take in range(count)
    )
    assert sorted(seed for _, seed in box.events("paid")) == expected
    paths = [take["path"] for job in jobs for take in job["takes"]]
    assert len(paths) == len(set(paths)) == sum(takes)
    assert sorted(str(path) for path in box.out.rglob("*.png")) == sorted(paths)
    # Both workers took part: the queue is shared, not drained by whoever came first.
    assert " done: " in box.stderr_of(first)
    assert " done: " in box.stderr_of(second)


def test_a_worker_killed_mid_job_leaves_it_to_the_other_without_paying_twice(box: Box) -> None:
    first, second = box.worker(), box.worker()
    (box.hold / "hold-101").touch()
    job_id = box.submit("-n", "3", "--seed", "100")
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
    assert job["worker"] is None or job["worker"].split(":")[1] == str(survivor.pid)
    assert f"job {job_id} done: 3/3 takes on g" in box.stderr_of(survivor)
    # Nothing spent twice: each take paid once; only the take that was cut off started twice.
    assert sorted(seed for _, seed in box.events("paid")) == [100, 101, 102]
    assert sorted(seed for _, seed in box.events("start")) == [100, 101, 101, 102]
    paths = [take["path"] for take in job["takes"]]
    assert len(set(paths)) == 3
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
    assert [seed for _, seed in box.events("paid")] == [200, 201]


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
    box.imagen("worker", "--backends", "g", "--once")
    assert box.job(job_id)["state"] == "done"
    assert sorted(seed for _, seed in box.events("paid")) == [400, 401]


def test_a_queued_job_canceled_never_reaches_the_backend(box: Box) -> None:
    job_id = box.submit("--seed", "700")
    canceled = box.imagen("jobs", "cancel", job_id)
    assert f"job {job_id} canceled" in canceled.stderr
    box.imagen("worker", "--backends", "g", "--once")
    assert box.job(job_id)["state"] == "canceled"
    assert box.events("start") == []


def test_a_running_job_canceled_stops_and_keeps_its_finished_takes(box: Box) -> None:
    worker = box.worker()
    (box.hold / "hold-801").touch()
    job_id = box.submit("-n", "2", "--seed", "800")
    eventually(lambda: (worker.pid, 801) in box.events("start"), "take 2 to start")
    box.imagen("jobs", "cancel", job_id)
    job = eventually(
        lambda: (found := box.job(job_id))["state"] == "canceled" and found, "the cancel"
    )
    assert [take["state"] for take in job["takes"]] == ["done", "failed"]
    assert Path(job["takes"][0]["path"]).is_file()
    assert [seed for _, seed in box.events("paid")] == [800]


@pytest.fixture
def own_server() -> Iterator[Postgres]:
    """A server of this test's own: restarting it disturbs no other test."""
    try:
        with postgres_cluster() as server:
            yield server
    except PostgresUnavailable as reason:
        pytest.skip(str(reason))


def test_a_worker_goes_on_after_postgresql_restarts_under_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, own_server: Postgres
) -> None:
    made = make_box(tmp_path, fresh_database(own_server), monkeypatch, "heartbeat: 0.3")
    try:
        worker = made.worker()
        (made.hold / "hold-901").touch()
        running = made.submit("-n", "2", "--seed", "900")
        eventually(lambda: (worker.pid, 901) in made.events("start"), "take 2 to start")

        # Down long enough for the worker to notice (its heartbeat fails), then back.
        own_server.stop(signal.SIGINT)
        eventually(lambda: "reconnecting" in made.stderr_of(worker), "the worker to notice")
        own_server.start()
        (made.hold / "release-901").touch()
        # The running job lands (its saves waited for the server) and a new one is claimed.
        later = made.submit("--seed", "950")
        made.imagen("jobs", "wait", later, "--timeout", str(PATIENCE))
        assert made.job(running)["state"] == "done"
        assert made.job(later)["state"] == "done"
        assert worker.poll() is None
        assert sorted(seed for _, seed in made.events("paid")) == [900, 901, 950]
        assert "reconnected to the job queue" in made.stderr_of(worker)

        # A restart that is over before the worker notices is just as harmless.
        own_server.restart()
        again = made.submit("--seed", "990")
        made.imagen("jobs", "wait", again, "--timeout", str(PATIENCE))
        assert made.job(again)["state"] == "done"
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=PATIENCE) == 0
    finally:
        stop_all(made)
