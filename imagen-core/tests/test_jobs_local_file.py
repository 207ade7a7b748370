"""The local queue's file: who may claim a job, what a cancel does in each state, and the file.

Runners are named ``host:pid:tag``. A job whose runner's process is gone on this host, or whose
runner stayed silent past ``stale_after``, is claimed again before anything queued; a live
runner's job is never taken from it. Each test drives ``JobFile`` directly (it is what every
process hosting a runner calls) with runner names made up for the case.
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from imagen.config.model import Config
from imagen.errors import ConfigError
from imagen.jobs import local
from imagen.jobs.local import JobFile, process_alive
from imagen.jobs.model import Job, new_job
from imagen.jobs.queue import ClaimLost, JobConflict, JobNotFound, JobQuery
from imagen.jobs.settings import LocalQueueSettings
from imagen.models import Request

HOST = socket.gethostname()
SETTINGS = LocalQueueSettings(stale_after=30.0, max_attempts=3)


@pytest.fixture
def file(tmp_path: Path) -> Iterator[JobFile]:
    opened = JobFile.open(str(tmp_path / "jobs.sqlite3"))
    yield opened
    opened.close()


def _job(prompt: str = "a cat", count: int = 2, backend: str = "mock") -> Job:
    from imagen.pipeline import prepare

    request = Request(prompt, count=count, seed=1)
    return new_job(prepare(Config(), request, backend="mock"), request=request)


def _queued(file: JobFile, prompt: str = "a cat", backend: str = "mock") -> Job:
    job = _job(prompt)
    if backend != "mock":
        job = attrs.evolve(job, backend=backend)
    return file.insert(job)


def _dead_pid() -> int:
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True)  # fmt: skip
    return int(done.stdout)


def _live() -> str:
    return f"{HOST}:{os.getpid()}:live"


def _dead() -> str:
    return f"{HOST}:{_dead_pid()}:dead"


def _silent_for(file: JobFile, job: Job, seconds: float) -> None:
    """Make ``job``'s runner look silent for ``seconds``, as a runner that froze would."""
    with sqlite3.connect(file.path) as conn:
        conn.execute("UPDATE jobs SET heartbeat = ? WHERE id = ?", (time.time() - seconds, job.id))


def _running_take(job: Job) -> Job:
    return job.with_take(attrs.evolve(job.take(1), state="running", progress=0.5, message="half"))


def test_a_jobs_file_from_a_newer_imagen_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "jobs.sqlite3"
    JobFile.open(str(path)).close()
    JobFile.open(str(path)).close()  # this imagen's own file opens again
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 2")
    with pytest.raises(ConfigError) as refused:
        JobFile.open(str(path))
    assert str(refused.value) == (
        "the jobs file has schema version 2, newer than this imagen understands (1); "
        "upgrade imagen or set IMAGEN_JOBS"
    )


def test_a_jobs_file_that_cannot_be_opened_is_refused_saying_what_to_do(tmp_path: Path) -> None:
    from imagen.errors import OutputError

    (tmp_path / "a-file").write_text("not a folder")
    path = tmp_path / "a-file" / "jobs.sqlite3"
    with pytest.raises(OutputError) as refused:
        JobFile.open(str(path))
    message = str(refused.value)
    assert message.startswith(f"cannot open the jobs file {path}: ")
    assert message.endswith("; check the directory is writable or set IMAGEN_JOBS")


def test_the_jobs_file_is_in_the_data_dir_unless_imagen_jobs_names_another(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import platformdirs

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("IMAGEN_JOBS", "  ~/queue/jobs.db  ")
    assert local.default_path() == str(tmp_path / "queue" / "jobs.db")
    monkeypatch.setenv("IMAGEN_JOBS", "  ")
    expected = os.path.join(platformdirs.user_data_dir("imagen"), "jobs.sqlite3")
    assert local.default_path() == expected
    monkeypatch.delenv("IMAGEN_JOBS")
    assert local.default_path() == expected


def test_a_job_whose_record_cannot_be_read_is_refused_saying_which(file: JobFile) -> None:
    job = _queued(file)
    with sqlite3.connect(file.path) as conn:
        conn.execute("UPDATE jobs SET record = '{not json' WHERE id = ?", (job.id,))
    with pytest.raises(JobConflict) as refused:
        file.get(job.id)
    assert str(refused.value).startswith(f"job {job.id} in {file.path} cannot be read: ")


def test_a_job_whose_folder_name_is_not_utf8_is_stored_and_read_back(file: JobFile) -> None:
    # A name from a non-UTF-8 file system reaches Python as lone surrogates (surrogateescape),
    # which SQLite cannot store as text unless the record escapes them.
    folder = os.fsdecode(b"/tmp/pictures-\xff")
    job = file.insert(attrs.evolve(_job(), output_dir=folder))
    assert file.get(job.id).output_dir == folder


def test_a_job_not_in_the_file_is_not_found_by_its_id(file: JobFile) -> None:
    with pytest.raises(JobNotFound) as missing:
        file.get("no-such-job")
    assert missing.value.job_id == "no-such-job"
    assert str(missing.value) == "no job 'no-such-job' in the queue (list them with: imagen jobs)"


def test_the_queue_opens_the_file_its_settings_name_else_the_default(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import asyncio

    from imagen.jobs.local import LocalQueue

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("IMAGEN_JOBS", str(tmp_path / "default.sqlite3"))

    async def opened(settings: LocalQueueSettings) -> str:
        queue = LocalQueue("local", settings)
        await queue.aclose()
        return queue.path

    named = asyncio.run(opened(LocalQueueSettings(path="~/named.sqlite3")))
    assert named == str(tmp_path / "named.sqlite3")
    assert asyncio.run(opened(LocalQueueSettings())) == str(tmp_path / "default.sqlite3")
    assert (tmp_path / "named.sqlite3").is_file()
    assert (tmp_path / "default.sqlite3").is_file()


def test_a_process_is_alive_until_it_exits_even_before_it_is_reaped() -> None:
    assert process_alive(os.getpid())
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    try:
        # Wait for its exit without reaping it: a zombie, which is no runner.
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert not process_alive(child.pid)
    finally:
        child.wait()
    assert not process_alive(child.pid)


def test_claims_take_the_oldest_queued_job_of_the_runners_backends(file: JobFile) -> None:
    first = _queued(file, "first")
    other = _queued(file, "for another backend", backend="elsewhere")
    second = _queued(file, "second")
    assert file.claim(_live(), [], SETTINGS) is None
    claimed = file.claim(_live(), ["mock"], SETTINGS)
    assert claimed is not None
    assert claimed.id == first.id
    assert (claimed.state, claimed.worker, claimed.attempts) == ("running", _live(), 1)
    assert claimed.started_at is not None
    assert claimed.updated_at > first.updated_at
    claimed = file.claim(_live(), ["mock"], SETTINGS)
    assert claimed is not None
    assert claimed.id == second.id
    assert file.claim(_live(), ["mock"], SETTINGS) is None
    assert file.get(other.id).state == "queued"


def test_a_job_of_a_dead_runner_is_claimed_first_with_its_half_done_take_queued_again(
    file: JobFile,
) -> None:
    orphan = file.claim(_dead(), ["mock"], SETTINGS) if _queued(file, "orphan") else None
    assert orphan is not None
    file.save(_running_take(orphan), orphan.worker or "")
    _queued(file, "waiting")
    claimed = file.claim(_live(), ["mock"], SETTINGS)
    assert claimed is not None
    assert claimed.id == orphan.id
    assert claimed.attempts == 2
    assert claimed.started_at == orphan.started_at
    take = claimed.take(1)
    assert (take.state, take.progress, take.message) == ("queued", 0.0, "")


def test_a_live_runners_job_is_never_claimed_from_it(file: JobFile) -> None:
    job = _queued(file)
    held = file.claim(_live(), ["mock"], SETTINGS)
    assert held is not None
    assert file.claim(f"{HOST}:{os.getpid()}:another", ["mock"], SETTINGS) is None
    # On another host, only silence past stale_after tells a runner is gone.
    elsewhere = _queued(file, "elsewhere")
    away = file.claim("far-away-host:1:w", ["mock"], SETTINGS)
    assert away is not None
    assert away.id == elsewhere.id
    _silent_for(file, away, SETTINGS.stale_after - 10)
    assert file.claim(_live(), ["mock"], SETTINGS) is None
    _silent_for(file, away, SETTINGS.stale_after + 10)
    claimed = file.claim(_live(), ["mock"], SETTINGS)
    assert claimed is not None
    assert claimed.id == elsewhere.id
    assert file.get(job.id).worker == _live()


def test_a_runner_whose_pid_cannot_be_read_is_judged_by_its_silence_alone(file: JobFile) -> None:
    _queued(file)
    odd = file.claim(f"{HOST}:not-a-pid:w", ["mock"], SETTINGS)
    assert odd is not None
    assert file.claim(_live(), ["mock"], SETTINGS) is None
    _silent_for(file, odd, SETTINGS.stale_after + 10)
    claimed = file.claim(_live(), ["mock"], SETTINGS)
    assert claimed is not None
    assert claimed.id == odd.id


def test_a_dead_runners_job_whose_cancel_was_asked_is_canceled_not_claimed(
    file: JobFile,
) -> None:
    _queued(file)
    orphan = file.claim("far-away-host:1:w", ["mock"], SETTINGS)
    assert orphan is not None
    file.save(_running_take(orphan), orphan.worker or "")
    asked = file.cancel(orphan.id, SETTINGS)
    assert (asked.state, asked.cancel_requested) == ("running", True)
    _silent_for(file, orphan, SETTINGS.stale_after + 10)
    assert file.claim(_live(), ["mock"], SETTINGS) is None
    stored = file.get(orphan.id)
    assert stored.state == "canceled"
    assert stored.finished_at is not None
    assert stored.take(1).state == "failed"
    assert stored.take(1).error == local.CANCELED
    assert stored.take(1).finished_at is not None
    assert stored.take(2).state == "queued"


def test_every_runners_job_is_looked_at_before_a_queued_one_is_claimed(file: JobFile) -> None:
    # In submission order: a job worn out by its runners' deaths (interrupted), one whose cancel
    # was asked before its runner went silent (canceled), a live runner's (left alone), then a
    # job to take up again; the queued job waits its turn.
    settings = attrs.evolve(SETTINGS, max_attempts=2)
    worn = _queued(file, "worn")
    assert file.claim("far-away-host:1:a", ["mock"], settings) is not None
    _silent_for(file, worn, settings.stale_after + 10)
    second = file.claim("far-away-host:2:b", ["mock"], settings)  # its 2nd attempt
    assert second is not None
    asked = _queued(file, "asked")
    assert file.claim("far-away-host:3:c", ["mock"], settings) is not None
    assert file.cancel(asked.id, settings).state == "running"  # its runner still beat then
    live = _queued(file, "live")
    assert file.claim(_live(), ["mock"], settings) is not None
    orphan = _queued(file, "orphan")
    assert file.claim("far-away-host:4:d", ["mock"], settings) is not None
    waiting = _queued(file, "waiting")
    for job in (worn, asked, orphan):
        _silent_for(file, job, settings.stale_after + 10)
    claimed = file.claim(f"{HOST}:{os.getpid()}:next", ["mock"], settings)
    assert claimed is not None
    assert claimed.id == orphan.id
    states = [file.get(job.id).state for job in (worn, asked, live, waiting)]
    assert states == ["interrupted", "canceled", "running", "queued"]
    assert file.get(worn.id).updated_at > second.updated_at  # no take ran: the end dates it


def test_a_worn_out_job_is_interrupted_with_its_running_take_failed(file: JobFile) -> None:
    settings = attrs.evolve(SETTINGS, max_attempts=1)
    _queued(file)
    held = file.claim("far-away-host:1:a", ["mock"], settings)
    assert held is not None
    before = file.save(_running_take(held), "far-away-host:1:a")
    _silent_for(file, held, settings.stale_after + 10)
    assert file.claim(_live(), ["mock"], settings) is None
    worn = file.get(held.id)
    assert worn.state == "interrupted"
    assert worn.finished_at is not None
    assert worn.updated_at > before.updated_at
    take = worn.take(1)
    assert (take.state, take.error) == ("failed", local.RUNNER_DIED)
    assert take.finished_at is not None
    assert worn.take(2).state == "queued"


def test_a_runners_save_shows_it_is_alive(file: JobFile) -> None:
    _queued(file)
    away = file.claim("far-away-host:1:w", ["mock"], SETTINGS)
    assert away is not None
    _silent_for(file, away, SETTINGS.stale_after + 10)
    file.save(_running_take(away), "far-away-host:1:w")
    assert file.claim(_live(), ["mock"], SETTINGS) is None


def test_cancel_of_a_queued_job_ends_it_at_once(file: JobFile) -> None:
    job = _queued(file)
    canceled = file.cancel(job.id, SETTINGS)
    assert (canceled.state, canceled.cancel_requested) == ("canceled", True)
    assert canceled.finished_at is not None
    assert canceled.updated_at > job.updated_at
    stored = file.get(job.id)
    assert (stored.state, stored.cancel_requested, stored.version) == (
        "canceled",
        True,
        canceled.version,
    )
    assert file.claim(_live(), ["mock"], SETTINGS) is None
    # Canceling again changes nothing.
    assert file.cancel(job.id, SETTINGS).version == canceled.version


def test_cancel_of_a_job_whose_runner_died_ends_it_at_once(file: JobFile) -> None:
    _queued(file)
    orphan = file.claim(_dead(), ["mock"], SETTINGS)
    assert orphan is not None
    file.save(_running_take(orphan), orphan.worker or "")
    canceled = file.cancel(orphan.id, SETTINGS)
    assert canceled.state == "canceled"
    assert canceled.take(1).state == "failed"
    assert canceled.take(1).error == local.CANCELED
    assert file.get(orphan.id).state == "canceled"


def test_cancel_of_a_running_job_asks_its_runner_which_hears_it_at_its_heartbeat(
    file: JobFile,
) -> None:
    _queued(file)
    running = file.claim(_live(), ["mock"], SETTINGS)
    assert running is not None
    other = _queued(file, "another")
    file.claim(f"{HOST}:{os.getpid()}:other", ["mock"], SETTINGS)
    assert file.heartbeat(_live()) == []
    assert file.cancel_requests(_live()) == []
    asked = file.cancel(running.id, SETTINGS)
    assert (asked.state, asked.cancel_requested) == ("running", True)
    assert asked.version == running.version + 1
    assert file.get(running.id).version == asked.version
    assert file.heartbeat(_live()) == [running.id]
    assert file.cancel_requests(_live()) == [running.id]
    assert file.cancel_requests(f"{HOST}:{os.getpid()}:other") == []
    assert file.get(other.id).cancel_requested is False
    # Asking again changes nothing.
    assert file.cancel(running.id, SETTINGS).version == asked.version


def test_a_runner_whose_job_was_taken_over_can_no_longer_save_it(file: JobFile) -> None:
    _queued(file)
    first = file.claim(_dead(), ["mock"], SETTINGS)
    assert first is not None
    second = file.claim(_live(), ["mock"], SETTINGS)
    assert second is not None
    with pytest.raises(ClaimLost, match=f"job {first.id} was taken over by another runner"):
        file.save(_running_take(first), first.worker or "")
    saved = file.save(_running_take(second), _live())
    assert saved.version == second.version + 1
    assert file.get(first.id).take(1).message == "half"


def test_a_save_answers_the_job_as_stored_with_its_cancel_asked_for(file: JobFile) -> None:
    _queued(file)
    running = file.claim(_live(), ["mock"], SETTINGS)
    assert running is not None
    file.cancel(running.id, SETTINGS)
    saved = file.save(_running_take(running), _live())  # the runner had not heard of it yet
    assert saved.cancel_requested is True
    assert saved.version == file.get(running.id).version


def test_a_job_its_runner_ended_can_no_longer_be_saved_by_it(file: JobFile) -> None:
    # A late save (one the end overtook) must not bring a finished job back to life.
    _queued(file)
    running = file.claim(_live(), ["mock"], SETTINGS)
    assert running is not None
    file.save(attrs.evolve(running, state="failed"), _live())
    with pytest.raises(ClaimLost):
        file.save(_running_take(running), _live())
    assert file.get(running.id).state == "failed"


def test_the_heartbeat_keeps_a_silent_looking_runner_from_being_taken_over(
    file: JobFile,
) -> None:
    _queued(file)
    away = file.claim("far-away-host:1:w", ["mock"], SETTINGS)
    assert away is not None
    _silent_for(file, away, SETTINGS.stale_after + 10)
    assert file.heartbeat("far-away-host:1:w") == []
    assert file.claim(_live(), ["mock"], SETTINGS) is None


def test_text_search_matches_percent_underscore_and_backslash_literally(file: JobFile) -> None:
    plain = _queued(file, "a cat in a hat")
    underscore = _queued(file, "a_cat")
    backslash = _queued(file, r"a\cat")
    percent = _queued(file, "50% dog")

    def found(text: str) -> list[str]:
        return [job.id for job in file.query(JobQuery(text=text))]

    assert found("a_c") == [underscore.id]
    assert found("a\\c") == [backslash.id]
    assert found("50%") == [percent.id]
    assert found("cat") == [backslash.id, underscore.id, plain.id]
    assert [job.id for job in file.query(JobQuery(text="cat", limit=2))] == [
        backslash.id,
        underscore.id,
    ]


def test_filters_combine_and_a_state_filter_takes_several_states(file: JobFile) -> None:
    canceled = _queued(file, "canceled")
    file.cancel(canceled.id, SETTINGS)
    queued = _queued(file, "queued")
    elsewhere = _queued(file, "elsewhere", backend="elsewhere")

    def found(query: JobQuery) -> list[str]:
        return [job.id for job in file.query(query)]

    assert found(JobQuery(states=["canceled", "queued"])) == [
        elsewhere.id,
        queued.id,
        canceled.id,
    ]
    assert found(JobQuery(states=["queued"], backend="mock")) == [queued.id]


def test_a_pick_is_stored_with_the_job(file: JobFile) -> None:
    _queued(file)
    running = file.claim(_live(), ["mock"], SETTINGS)
    assert running is not None
    done = attrs.evolve(running, state="done")
    for take in running.takes:
        done = done.with_take(attrs.evolve(take, state="done"))
    before = file.save(done, _live())
    picked = file.pick(running.id, 2)
    stored = file.get(running.id)
    assert (stored.picked, stored.version) == (2, picked.version)
    assert stored.version == before.version + 1
    assert stored.updated_at > before.updated_at


def test_a_jobs_file_whose_table_is_gone_fails_saying_which_file_and_what_to_do(
    file: JobFile,
) -> None:
    from imagen.errors import OutputError

    with sqlite3.connect(file.path) as conn:  # a current schema version, but its table is gone
        conn.execute("DROP TABLE jobs")
    with pytest.raises(OutputError) as failed:
        file.insert(_job())
    assert str(failed.value) == (
        f"the jobs file {file.path} failed: no such table: jobs; check the disk or set IMAGEN_JOBS"
    )
    with pytest.raises(OutputError, match="no such table: jobs; check the disk"):
        file.heartbeat(_live())


def test_asking_whether_a_runner_is_alive_does_not_disturb_it() -> None:
    # The child ends with an error on any signal it can catch: one it inherited as ignored
    # (SIGHUP under nohup) would otherwise pass unseen.
    watch = (
        "import signal, sys\n"
        "for number in signal.valid_signals():\n"
        "    try:\n"
        "        signal.signal(number, lambda got, frame: sys.exit(f'signal {got}'))\n"
        "    except (OSError, ValueError):\n"
        "        pass\n"
        "print('watching', flush=True)\n"
        "sys.stdin.read()\n"
    )
    child = subprocess.Popen(
        [sys.executable, "-c", watch], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    try:
        assert child.stdout is not None
        assert child.stdout.readline() == "watching\n"
        assert process_alive(child.pid)
    finally:
        child.communicate()  # closes its stdin: it ends
    assert child.returncode == 0


def test_a_process_named_with_a_parenthesis_is_read_right(tmp_path: Path) -> None:
    # /proc/<pid>/stat puts the name in parentheses: the state follows the last one.
    odd = tmp_path / "a) R (b"
    odd.symlink_to("/bin/true")
    child = subprocess.Popen([str(odd)])
    try:
        os.waitid(os.P_PID, child.pid, os.WEXITED | os.WNOWAIT)
        assert not process_alive(child.pid)
    finally:
        child.wait()


def test_a_process_that_cannot_be_signalled_or_read_counts_as_alive(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Another user's process (EPERM), or a system without /proc: never taken for dead, so its
    # job is left to the heartbeat.
    def refused(pid: int, signal: int) -> None:
        raise PermissionError(1, "Operation not permitted")

    with monkeypatch.context() as patch:
        patch.setattr(os, "kill", refused)
        assert process_alive(1)
    monkeypatch.setattr(local, "Path", lambda path: Path("/nonexistent/proc/stat"))
    assert process_alive(os.getpid())


def test_a_queue_left_open_by_an_ended_event_loop_does_not_break_the_next_ones_writes(
    tmp_path: Path,
) -> None:
    import asyncio

    from imagen.jobs.local import LocalQueue

    settings = LocalQueueSettings(path=str(tmp_path / "jobs.sqlite3"))
    left = LocalQueue("local", settings)

    async def first() -> None:
        left.changes.mark()  # it waited here once: bound to this loop, which then ends

    async def second() -> Job:
        queue = LocalQueue("local", settings)
        try:
            return await queue.submit(_job())
        finally:
            await queue.aclose()

    asyncio.run(first())
    try:
        assert asyncio.run(second()).state == "queued"
    finally:
        left.file.close()


def test_an_idle_worker_sleeps_until_a_job_comes_and_then_runs_it(tmp_path: Path) -> None:
    # Idle, it waits on the file's changes (parked, not polling the table), and a submit wakes it.
    import asyncio

    from imagen.config.model import QueueInstance
    from imagen.jobs.local import LocalQueue
    from imagen.jobs.submit import submit
    from imagen.jobs.worker import Worker

    settings = LocalQueueSettings(path=str(tmp_path / "jobs.sqlite3"))
    config = Config(queue=QueueInstance("local", settings))

    async def main() -> Job:
        queue = LocalQueue("local", settings)
        worker = Worker(config, backends=["mock"])
        serving = asyncio.ensure_future(worker.serve(queue))
        try:
            async with asyncio.timeout(30):
                while queue.changes.waiting < 1:  # noqa: ASYNC110 (a count, not an event)
                    await asyncio.sleep(0)
                job = await submit(queue, config, Request("a cat"), output_dir=tmp_path / "out")
                while not (job := await queue.wait(job.id, after=job.version)).finished:
                    pass
            return job
        finally:
            worker.stop()
            await serving
            await queue.aclose()

    assert asyncio.run(main()).state == "done"
