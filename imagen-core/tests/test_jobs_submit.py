"""``imagen.jobs.submit`` in one process: the max-cost refusal before anything is queued, the
cache's share of an estimate, following a job, and picks written into sidecars and history.

The ``gate`` backend (jobs_gate.py) costs $0.01 a take and holds a take until the test releases
it, so a running job is a state the test waits for, never a sleep.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sqlite3
from decimal import Decimal
from pathlib import Path
from types import ModuleType

import attrs
import pytest

from imagen.config.model import Config, HistoryConfig, Instance, QueueInstance
from imagen.errors import ConfigError
from imagen.jobs import submit as submitting
from imagen.jobs.local import LocalQueue
from imagen.jobs.model import Job
from imagen.jobs.queue import JobQuery
from imagen.jobs.settings import LocalQueueSettings
from imagen.jobs.submit import follow, pick, record_pick, submit
from imagen.jobs.worker import Worker
from imagen.models import Request

from .conftest import run


@attrs.frozen
class Setup:
    config: Config
    out: Path
    hold: Path
    history: Path


@pytest.fixture
def setup(tmp_path: Path, gate_module: ModuleType) -> Setup:
    hold = tmp_path / "hold"
    hold.mkdir()
    log = str(tmp_path / "calls.log")
    history = tmp_path / "history.sqlite3"
    config = Config(
        default_backend="g",
        backends={
            "g": Instance("g", "gate", gate_module.GateSettings(log=log, hold=str(hold))),
            "dear": Instance("dear", "gate", gate_module.GateSettings(log=log)),
        },
        queue=QueueInstance(
            "local", LocalQueueSettings(path=str(tmp_path / "jobs.sqlite3"), heartbeat=0.2)
        ),
        history=HistoryConfig(path=str(history)),
    )
    return Setup(config, tmp_path / "out", hold, history)


async def done_job(queue: LocalQueue, config: Config, out: Path, count: int, seed: int) -> Job:
    job = await submit(queue, config, Request("a cat", count=count, seed=seed), output_dir=out)
    await Worker(config, backends=["g"], once=True).serve(queue)
    done = await queue.get(job.id)
    assert done.state == "done"
    return done


# -- the max-cost check --------------------------------------------------------------------------


def test_a_job_over_max_cost_is_refused_with_the_estimate_and_nothing_is_queued(
    setup: Setup,
) -> None:
    async def work(queue: LocalQueue) -> tuple[str, list[Job]]:
        request = Request("a cat", count=3, seed=1)
        with pytest.raises(ConfigError) as refused:
            await submit(queue, setup.config, request, max_cost=Decimal("0.02"))
        return str(refused.value), await queue.list(JobQuery())

    message, jobs = run(work, setup.config)
    assert message == (
        "estimated $0.03 for 3 takes on g is over --max-cost $0.02; lower -n or raise --max-cost"
    )
    assert jobs == []


def test_a_job_whose_estimate_is_exactly_max_cost_is_queued(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> tuple[Job, list[str]]:
        request = Request("a cat", count=3, seed=1)
        job = await submit(queue, setup.config, request, max_cost=Decimal("0.03"))
        return job, [found.id for found in await queue.list(JobQuery())]

    job, queued = run(work, setup.config)
    assert queued == [job.id]
    assert job.state == "queued"
    assert job.cost_estimate is not None
    assert job.cost_estimate.amount == Decimal("0.03")


def test_the_refusal_names_the_instance_asked_for_not_the_default(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> str:
        with pytest.raises(ConfigError) as refused:
            await submit(queue, setup.config, Request("a cat"), backend="dear",
                         max_cost=Decimal("0.001"))  # fmt: skip
        assert await queue.list(JobQuery()) == []
        return str(refused.value)

    assert run(work, setup.config) == (
        "estimated $0.01 for 1 take on dear is over --max-cost $0.001; lower -n or raise --max-cost"
    )


def test_a_job_is_queued_for_the_instance_folder_and_caller_asked_for(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> Job:
        return await submit(queue, setup.config, Request("a cat"), backend="dear",
                            output_dir=setup.out, caller="  ann  ", no_cloud=True)  # fmt: skip

    job = run(work, setup.config)
    assert job.backend == "dear"
    assert job.output_dir == str(setup.out)
    assert job.caller == "ann"
    assert job.no_cloud is True
    assert job.use_cache is True


def test_takes_the_cache_already_has_are_not_counted_against_max_cost(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> tuple[Job, str, str]:
        await done_job(queue, setup.config, setup.out, 2, 40)
        again = Request("a cat", count=3, seed=40)
        # Takes 1 and 2 are in the history: only take 3 ($0.01) would be paid for.
        job = await submit(queue, setup.config, again, output_dir=setup.out,
                           max_cost=Decimal("0.01"))  # fmt: skip
        with pytest.raises(ConfigError) as over:
            await submit(queue, setup.config, again, output_dir=setup.out,
                         max_cost=Decimal("0.009"))  # fmt: skip
        # Without the cache every take is paid for again.
        with pytest.raises(ConfigError) as uncached:
            await submit(queue, setup.config, again, output_dir=setup.out, use_cache=False,
                         max_cost=Decimal("0.02"))  # fmt: skip
        return job, str(over.value), str(uncached.value)

    job, over, uncached = run(work, setup.config)
    assert job.cost_estimate is not None
    assert job.cost_estimate.amount == Decimal("0.01")
    assert job.use_cache is True
    assert over.startswith("estimated $0.01 for 1 take on g is over --max-cost $0.009")
    assert uncached.startswith("estimated $0.03 for 3 takes on g is over --max-cost $0.02")


def test_a_job_the_cache_has_whole_is_free_and_passes_any_max_cost(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> Job:
        await done_job(queue, setup.config, setup.out, 2, 50)
        again = Request("a cat", count=2, seed=50)
        return await submit(queue, setup.config, again, output_dir=setup.out,
                            max_cost=Decimal("0"))  # fmt: skip

    job = run(work, setup.config)
    assert job.cost_estimate is not None
    assert job.cost_estimate.amount == 0


def test_a_job_submitted_without_the_cache_runs_every_take_again(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> Job:
        await done_job(queue, setup.config, setup.out, 1, 60)
        job = await submit(queue, setup.config, Request("a cat", seed=60),
                           output_dir=setup.out, use_cache=False)  # fmt: skip
        await Worker(setup.config, backends=["g"], once=True).serve(queue)
        return await queue.get(job.id)

    job = run(work, setup.config)
    assert job.use_cache is False
    assert job.cost_estimate is not None
    assert job.cost_estimate.amount == Decimal("0.01")
    assert [take.cache_hit for take in job.takes] == [False]


# -- follow --------------------------------------------------------------------------------------


def test_follow_hears_each_version_once_until_the_job_ends(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Polls that end with no change (a poll of 0.01 s while a take is held) must not repeat a
    # version to on_change.
    monkeypatch.setattr(submitting, "POLL_WAIT", 0.01)
    (setup.hold / "hold-70").touch()

    async def work(queue: LocalQueue) -> tuple[list[int], Job]:
        job = await submit(queue, setup.config, Request("a cat", seed=70), output_dir=setup.out)
        worker = Worker(setup.config, backends=["g"])
        serving = asyncio.ensure_future(worker.serve(queue))
        heard: list[Job] = []
        polls = 0
        quiet = asyncio.Event()
        wait = queue.wait

        async def counted(job_id: str, *, after: int | None = None, max_wait: float = 30) -> Job:
            nonlocal polls
            found = await wait(job_id, after=after, max_wait=max_wait)
            if found.version == after and found.takes[0].state == "running":
                polls += 1
                if polls >= 3:
                    quiet.set()
            return found

        queue.wait = counted  # type: ignore[method-assign]
        try:
            following = asyncio.ensure_future(follow(queue, job.id, on_change=heard.append))
            await quiet.wait()
            (setup.hold / "release-70").touch()
            ended = await following
        finally:
            worker.stop()
            await serving
        return [j.version for j in heard], ended

    versions, ended = run(work, setup.config)
    assert ended.state == "done"
    assert versions == sorted(set(versions))
    assert len(versions) >= 2  # running, then done
    assert versions[-1] == ended.version


def test_follow_returns_a_finished_job_at_once_without_polling(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> tuple[Job, list[Job]]:
        job = await submit(queue, setup.config, Request("a cat"), output_dir=setup.out)
        await queue.cancel(job.id)

        async def no_poll(job_id: str, *, after: int | None = None, max_wait: float = 30) -> Job:
            raise AssertionError("a finished job was polled")

        queue.wait = no_poll  # type: ignore[method-assign]
        heard: list[Job] = []
        return await follow(queue, job.id, on_change=heard.append, max_wait=60), heard

    ended, heard = run(work, setup.config)
    assert ended.state == "canceled"
    assert heard == [ended]


def test_follow_returns_the_job_unfinished_when_max_wait_passes(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> tuple[Job, Job, list[int]]:
        job = await submit(queue, setup.config, Request("a cat"), output_dir=setup.out)
        heard: list[int] = []
        # No worker: the job stays queued, and follow gives up after max_wait.
        found = await follow(queue, job.id, on_change=lambda j: heard.append(j.version),
                             max_wait=0.05)  # fmt: skip
        return job, found, heard

    job, found, heard = run(work, setup.config)
    assert found.state == "queued"
    assert found.id == job.id
    assert heard == [job.version]


def test_follow_without_on_change_returns_the_ended_job(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> Job:
        job = await submit(queue, setup.config, Request("a cat", seed=80), output_dir=setup.out)
        worker = Worker(setup.config, backends=["g"], once=True)
        serving = asyncio.ensure_future(worker.serve(queue))
        try:
            return await follow(queue, job.id)
        finally:
            await serving

    assert run(work, setup.config).state == "done"


# -- picks ---------------------------------------------------------------------------------------


def sidecar_marks(job: Job) -> dict[int, object]:
    marks = {}
    for take in job.takes:
        path = take.images[0].sidecar_path
        assert path is not None
        marks[take.number] = json.loads(Path(path).read_text()).get("picked")
    return marks


def history_marks(setup: Setup, job: Job) -> dict[int, bool]:
    paths = {
        str(Path(take.images[0].path).relative_to(job.output_dir)): take.number
        for take in job.takes
    }
    with contextlib.closing(sqlite3.connect(setup.history)) as conn:
        rows = conn.execute("SELECT path, picked FROM generations").fetchall()
    return {paths[path]: bool(picked) for path, picked in rows}


def test_a_pick_is_written_into_the_sidecars_and_history_and_moves_with_the_next(
    setup: Setup,
) -> None:
    async def work(queue: LocalQueue) -> tuple[Job, Job, Job]:
        job = await done_job(queue, setup.config, setup.out, 3, 90)
        first = await pick(queue, setup.config, job.id, 2)
        marks = sidecar_marks(first), history_marks(setup, first)
        assert marks == ({1: None, 2: True, 3: None}, {1: False, 2: True, 3: False})
        again = await pick(queue, setup.config, job.id, 2)
        second = await pick(queue, setup.config, job.id, 3)
        return again, second, await queue.get(job.id)

    again, second, stored = run(work, setup.config)
    assert again.picked == 2
    assert second.picked == 3
    assert stored.picked == 3
    assert sidecar_marks(second) == {1: None, 2: False, 3: True}
    assert history_marks(setup, second) == {1: False, 2: False, 3: True}


def test_picking_the_same_take_again_leaves_it_picked(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> Job:
        job = await done_job(queue, setup.config, setup.out, 2, 95)
        await pick(queue, setup.config, job.id, 1)
        return await pick(queue, setup.config, job.id, 1)

    job = run(work, setup.config)
    assert sidecar_marks(job) == {1: True, 2: None}
    assert history_marks(setup, job) == {1: True, 2: False}


def test_a_sidecar_that_cannot_take_the_pick_is_a_warning_and_the_rest_are_written(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    job = run(lambda queue: done_job(queue, setup.config, setup.out, 3, 100), setup.config)
    broken = job.takes[0].images[0].sidecar_path
    assert broken is not None
    Path(broken).write_text("[]")
    gone = job.takes[2].images[0].sidecar_path
    assert gone is not None
    Path(gone).unlink()
    capsys.readouterr()

    record_pick(setup.config, attrs.evolve(job, picked=1), previous=None)
    record_pick(setup.config, attrs.evolve(job, picked=2), previous=3)

    err = capsys.readouterr().err.splitlines()
    assert err[0] == (
        f"imagen: warning: the sidecar {broken} could not record the pick: "
        f"{broken} is not a sidecar (a JSON object)"
    )
    assert err[1].startswith(f"imagen: warning: the sidecar {gone} could not record the pick: ")
    assert len(err) == 2
    path = job.takes[1].images[0].sidecar_path
    assert path is not None
    assert json.loads(Path(path).read_text())["picked"] is True
    assert history_marks(setup, job) == {1: True, 2: True, 3: False}


def test_with_history_off_a_pick_goes_to_the_sidecars_alone_without_a_word(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    job = run(lambda queue: done_job(queue, setup.config, setup.out, 2, 110), setup.config)
    off = attrs.evolve(setup.config, history=HistoryConfig(enabled=False, path=str(setup.history)))
    capsys.readouterr()

    record_pick(off, attrs.evolve(job, picked=2), previous=None)

    assert capsys.readouterr().err == ""
    assert sidecar_marks(job) == {1: None, 2: True}
    assert history_marks(setup, job) == {1: False, 2: False}


def test_a_history_that_cannot_take_the_pick_is_a_warning_and_the_sidecars_still_are(
    setup: Setup, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    job = run(lambda queue: done_job(queue, setup.config, setup.out, 2, 120), setup.config)
    broken = tmp_path / "not-a-history.sqlite3"
    broken.write_text("this is not a database\n" * 100)
    elsewhere = attrs.evolve(setup.config, history=HistoryConfig(path=str(broken)))
    capsys.readouterr()

    record_pick(elsewhere, attrs.evolve(job, picked=1), previous=2)

    err = capsys.readouterr().err.splitlines()
    assert len(err) == 2, err
    assert all(line.startswith("imagen: warning: history: ") for line in err)
    assert all(line.endswith("; the pick is recorded in the job only") for line in err)
    assert sidecar_marks(job) == {1: True, 2: False}


def test_a_take_without_a_sidecar_is_skipped_and_the_others_are_picked(setup: Setup) -> None:
    job = run(lambda queue: done_job(queue, setup.config, setup.out, 2, 130), setup.config)
    first = job.takes[0]
    bare = attrs.evolve(first, images=(attrs.evolve(first.images[0], sidecar_path=None),))
    record_pick(setup.config, attrs.evolve(job, takes=(bare, job.takes[1]), picked=1), previous=2)
    # The take with no sidecar is still picked in the history.
    assert history_marks(setup, job) == {1: True, 2: False}
    assert sidecar_marks(job) == {1: None, 2: False}


def test_with_history_off_a_new_pick_still_unpicks_the_previous_takes_sidecar(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    job = run(lambda queue: done_job(queue, setup.config, setup.out, 2, 140), setup.config)
    off = attrs.evolve(setup.config, history=HistoryConfig(enabled=False, path=str(setup.history)))
    record_pick(off, attrs.evolve(job, picked=1), previous=None)
    capsys.readouterr()

    record_pick(off, attrs.evolve(job, picked=2), previous=1)

    assert capsys.readouterr().err == ""
    assert sidecar_marks(job) == {1: False, 2: True}
    assert history_marks(setup, job) == {1: False, 2: False}


def test_every_image_of_a_take_is_picked_even_after_one_without_a_sidecar(setup: Setup) -> None:
    # A take's images: one with no sidecar (nothing to write), then one with its sidecar.
    job = run(lambda queue: done_job(queue, setup.config, setup.out, 2, 150), setup.config)
    first = job.takes[0]
    bare = attrs.evolve(first.images[0], sidecar_path=None)
    two = attrs.evolve(first, images=(bare, first.images[0]))
    record_pick(setup.config, attrs.evolve(job, takes=(two, job.takes[1]), picked=1), previous=2)
    assert sidecar_marks(job) == {1: True, 2: False}


def test_submit_leaves_no_backend_open(setup: Setup, monkeypatch: pytest.MonkeyPatch) -> None:
    # The estimate asks a backend for its price; a backend left open would keep its HTTP client.
    from imagen import pipeline

    opened: list[object] = []
    closed: list[object] = []
    real = pipeline.open_backend

    def counted(config: Config, name: str | None = None) -> object:
        backend = real(config, name)
        opened.append(backend)
        aclose = backend.aclose

        async def close() -> None:
            closed.append(backend)
            await aclose()

        backend.aclose = close  # type: ignore[method-assign]
        return backend

    monkeypatch.setattr(pipeline, "open_backend", counted)

    async def work(queue: LocalQueue) -> None:
        await submit(queue, setup.config, Request("a cat"), output_dir=setup.out)
        with pytest.raises(ConfigError):
            await submit(queue, setup.config, Request("a cat", count=2), max_cost=Decimal("0.01"))

    run(work, setup.config)
    assert len(opened) == 2
    assert closed == opened


def test_follow_with_max_wait_waits_for_a_job_that_ends_within_it(setup: Setup) -> None:
    async def work(queue: LocalQueue) -> Job:
        job = await submit(queue, setup.config, Request("a cat", seed=160), output_dir=setup.out)
        worker = Worker(setup.config, backends=["g"], once=True)
        serving = asyncio.ensure_future(worker.serve(queue))
        try:
            return await follow(queue, job.id, max_wait=60)
        finally:
            await serving

    assert run(work, setup.config).state == "done"


def test_with_debug_a_sidecar_that_cannot_take_the_pick_shows_its_traceback(
    setup: Setup, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    job = run(lambda queue: done_job(queue, setup.config, setup.out, 1, 170), setup.config)
    broken = job.takes[0].images[0].sidecar_path
    assert broken is not None
    Path(broken).write_text("[]")
    monkeypatch.setenv("IMAGEN_DEBUG", "1")
    capsys.readouterr()

    record_pick(setup.config, attrs.evolve(job, picked=1), previous=None)

    err = capsys.readouterr().err
    assert "Traceback (most recent call last):" in err
    assert f"ValueError: {broken} is not a sidecar (a JSON object)" in err
    assert err.rstrip().endswith(f"{broken} is not a sidecar (a JSON object)")


def test_recording_a_job_with_no_pick_only_unpicks_the_previous_take(setup: Setup) -> None:
    job = run(lambda queue: done_job(queue, setup.config, setup.out, 2, 180), setup.config)
    record_pick(setup.config, attrs.evolve(job, picked=2), previous=None)

    record_pick(setup.config, job, previous=2)

    assert job.picked is None
    assert sidecar_marks(job) == {1: None, 2: False}
    assert history_marks(setup, job) == {1: False, 2: False}


def test_the_estimate_is_the_price_of_the_instance_asked_for_not_the_default(
    setup: Setup,
) -> None:
    # The default instance (gate) costs $0.01 a take; the mock asked for is free.
    async def work(queue: LocalQueue) -> Job:
        return await submit(queue, setup.config, Request("a cat", count=2), backend="mock",
                            max_cost=Decimal("0"))  # fmt: skip

    job = run(work, setup.config)
    assert job.backend == "mock"
    assert job.cost_estimate is not None
    assert job.cost_estimate.amount == 0
