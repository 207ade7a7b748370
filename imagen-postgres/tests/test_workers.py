"""``imagen worker`` processes on one PostgreSQL queue: many jobs, kill -9, drain, restart.

Every process is real (``python jobs_gate.py ...`` is ``imagen`` with the core tests' ``gate``
backend type registered, which logs ``start``/``paid`` per backend call and holds a take until
released; ``imagen.testing.workers`` starts them), so the tests wait on those events and on job
states, never on time.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagen.testing.postgres import Postgres, PostgresUnavailable, postgres_cluster
from imagen.testing.workers import PATIENCE, WorkerBox, eventually, worker_box

from .conftest import fresh_database

GATE = str(Path(__file__).parents[2] / "imagen-core" / "tests" / "jobs_gate.py")
SUBMIT_MANY = str(Path(__file__).with_name("submit_many.py"))

pytestmark = pytest.mark.slow


def submit_many(box: WorkerBox, takes: list[int]) -> list[str]:
    """One job per number in ``takes`` (that many takes), queued from one process; the ids."""
    done = subprocess.run(
        [sys.executable, SUBMIT_MANY, str(box.config), str(box.out), *map(str, takes)],
        capture_output=True,
        text=True,
        timeout=PATIENCE,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.split()


@contextlib.contextmanager
def postgres_box(
    root: Path, url: str, monkeypatch: pytest.MonkeyPatch, queue: str
) -> Iterator[WorkerBox]:
    """A box on the queue at ``url`` (``queue``: more settings); its workers die on the way out."""
    monkeypatch.setenv("IMAGEN_QUEUE_URL", url)
    queue_block = f"{{type: postgres, {queue}}}"
    program = [sys.executable, GATE]
    with worker_box(root, program, queue_block, worker_args=["--backends", "g"]) as box:
        yield box


@pytest.fixture
def box(tmp_path: Path, queue_db: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[WorkerBox]:
    with postgres_box(tmp_path, queue_db, monkeypatch, "heartbeat: 0.3, stale_after: 3") as made:
        yield made


def test_two_workers_run_every_job_once_with_every_take_once(box: WorkerBox) -> None:
    # 200 jobs of 1 to 3 takes (400 takes): two worker processes share them.
    takes = [1 + index % 3 for index in range(200)]
    first, second = box.worker(), box.worker()
    for worker in (first, second):
        box.started(worker)
    ids = submit_many(box, takes)
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


def test_a_worker_killed_mid_job_leaves_it_to_the_other_without_paying_twice(
    box: WorkerBox,
) -> None:
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


def test_sigterm_lets_the_running_job_finish_then_exits_0(box: WorkerBox) -> None:
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


def test_a_second_signal_hands_the_job_back_and_another_worker_finishes_it(box: WorkerBox) -> None:
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


def test_a_queued_job_canceled_never_reaches_the_backend(box: WorkerBox) -> None:
    job_id = box.submit("--seed", "700")
    canceled = box.imagen("jobs", "cancel", job_id)
    assert f"job {job_id} canceled" in canceled.stderr
    box.imagen("worker", "--backends", "g", "--once")
    assert box.job(job_id)["state"] == "canceled"
    assert box.events("start") == []


def test_a_running_job_canceled_stops_and_keeps_its_finished_takes(box: WorkerBox) -> None:
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
    with postgres_box(tmp_path, fresh_database(own_server), monkeypatch, "heartbeat: 0.3") as made:
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
