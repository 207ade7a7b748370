"""``imagen worker`` processes on one local queue: crash safety, draining, handing back, CLI.

Every process is real (``python jobs_gate.py ...`` is ``imagen`` with the test's ``gate``
backend type registered; ``imagen.testing.workers`` starts them). The gate logs
``start``/``paid`` per backend call and holds a take until released, so the tests wait on
those events, never on time.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from imagen.testing.workers import PATIENCE, WorkerBox, eventually, worker_box

GATE = str(Path(__file__).parent / "jobs_gate.py")

pytestmark = pytest.mark.slow


@pytest.fixture
def box(tmp_path: Path) -> Iterator[WorkerBox]:
    queue = f"{{type: local, path: {tmp_path / 'jobs.sqlite3'}, heartbeat: 0.2}}"
    with worker_box(tmp_path, [sys.executable, GATE], queue) as made:
        yield made


def test_a_worker_killed_mid_job_leaves_it_to_the_other_without_paying_twice(
    box: WorkerBox,
) -> None:
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
    box.imagen("worker", "--once")
    assert box.job(job_id)["state"] == "done"
    assert sorted(seed for _, seed in box.events("paid")) == [400, 401]


def test_submit_wait_prints_each_path_like_generate(box: WorkerBox) -> None:
    box.worker()
    done = box.imagen("submit", "a cat", "-n", "2", "--seed", "500", "-o", str(box.out), "--wait")
    paths = done.stdout.split()
    assert len(paths) == 2
    assert all(Path(path).is_file() for path in paths)
    assert "queued: ~$0.02 for 2 takes on g" in done.stderr


def test_submit_refuses_a_job_over_max_cost_before_queueing(box: WorkerBox) -> None:
    done = box.imagen("submit", "a cat", "-n", "4", "--max-cost", "0.01", check=False)
    assert done.returncode == 2
    assert "is over --max-cost $0.01" in done.stderr
    assert json.loads(box.imagen("jobs", "--json").stdout) == []


def test_jobs_lists_and_cancel_says_what_happened(box: WorkerBox) -> None:
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
