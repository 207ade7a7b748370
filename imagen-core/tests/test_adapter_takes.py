"""run_takes: several takes of one request together, their progress added up safely."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from imagen.adapters import TakeProgress, run_takes
from imagen.errors import BackendError, BackendUnavailable, ContentBlocked
from imagen.models import Progress

Seen = list[tuple[float, float | None, str]]


def recorder() -> tuple[Progress, Seen]:
    seen: Seen = []
    return Progress(lambda done, total, message: seen.append((done, total, message))), seen


def test_steps_of_takes_running_together_add_up_and_never_go_backwards() -> None:
    progress, seen = recorder()
    turns = [asyncio.Event(), asyncio.Event()]

    async def take(part: TakeProgress) -> int:
        mine, other = turns[part.index], turns[1 - part.index]
        if part.index == 1:
            await mine.wait()
        for step in range(1, 5):
            part.update(step, 4, "sampling")
            if step == 2:  # hand over half way, so the takes' steps interleave
                other.set()
                if part.index == 0:
                    await mine.wait()
        turns[1 - part.index].set()
        return part.index

    outcome = asyncio.run(run_takes(2, take, progress))
    assert outcome.results == (0, 1)
    dones = [done for done, _, _ in seen]
    assert dones == sorted(dones)
    assert seen[-1][:2] == (8, 8)
    assert (4, 8, "sampling") in seen  # two steps of each


def test_takes_that_count_no_steps_count_one_each_when_they_return() -> None:
    progress, seen = recorder()

    async def take(part: TakeProgress) -> str:
        part.note("sent")
        return "image"

    asyncio.run(run_takes(2, take, progress))
    assert seen[0] == (0, 2, "sent")
    assert seen[-1] == (2, 2, "image received")


def test_declared_steps_show_the_whole_total_from_the_first_update() -> None:
    progress, seen = recorder()

    async def take(part: TakeProgress) -> None:
        part.note("sent")
        part.update(1, 3, "partial image 1 of 2")

    asyncio.run(run_takes(2, take, progress, steps=3))
    assert seen[0] == (0, 6, "sent")
    assert seen[-1] == (6, 6, "image received")


def test_a_step_reported_twice_or_out_of_order_does_not_move_progress_back() -> None:
    progress, seen = recorder()

    async def take(part: TakeProgress) -> None:
        part.update(3, 4, "sampling")
        part.update(1, 4, "late message")
        part.update(float("nan"), 4, "garbage")

    asyncio.run(run_takes(1, take, progress, received="done"))
    assert [done for done, _, _ in seen] == [3, 3, 4]  # a step that is no number is dropped
    assert seen[-1] == (4, 4, "done")


def test_a_failing_progress_callback_never_stops_a_take() -> None:
    def broken(done: float, total: float | None, message: str) -> None:
        raise RuntimeError("the display broke")

    async def take(part: TakeProgress) -> str:
        part.update(1, 2, "half")
        return "image"

    outcome = asyncio.run(run_takes(3, take, Progress(broken)))
    assert outcome.results == ("image", "image", "image")


def test_a_failed_take_leaves_the_others_and_is_reported_as_a_warning() -> None:
    async def take(part: TakeProgress) -> int:
        if part.index == 1:
            raise ContentBlocked("blocked by the filter", backend="acme")
        return part.index

    outcome = asyncio.run(run_takes(3, take, Progress()))
    assert outcome.results == (0, 2)
    assert [type(error) for error in outcome.failures] == [ContentBlocked]
    assert outcome.warnings("Acme calls returned no image") == (
        "1 of 3 Acme calls returned no image: acme: blocked by the filter",
    )


def test_when_every_take_fails_the_first_in_take_order_is_raised() -> None:
    second_failed = asyncio.Event()

    async def take(part: TakeProgress) -> None:
        if part.index == 0:
            await second_failed.wait()  # the first take fails last
            raise BackendUnavailable("first", backend="acme")
        second_failed.set()
        raise BackendError("second", backend="acme")

    with pytest.raises(BackendUnavailable, match="first"):
        asyncio.run(run_takes(2, take, Progress()))


def test_without_keep_going_the_first_failure_cancels_the_others() -> None:
    cancelled: list[int] = []

    async def take(part: TakeProgress) -> None:
        if part.index == 0:
            raise BackendError("broken", backend="acme")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(part.index)
            raise

    with pytest.raises(BackendError, match="broken"):
        asyncio.run(run_takes(3, take, Progress(), keep_going=False))
    assert sorted(cancelled) == [1, 2]


def test_a_bug_in_a_take_is_raised_as_it_is_and_stops_the_others() -> None:
    cancelled: list[int] = []

    async def take(part: TakeProgress) -> None:
        if part.index == 1:
            raise KeyError("a bug, not a provider answer")
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(part.index)
            raise

    with pytest.raises(KeyError):
        asyncio.run(run_takes(2, take, Progress()))
    assert cancelled == [0]


def test_a_limit_of_one_runs_the_takes_one_after_another_in_order() -> None:
    running: list[int] = []
    order: list[int] = []
    most = 0

    progress, seen = recorder()

    async def take(part: TakeProgress) -> tuple[int, int]:
        nonlocal most
        running.append(part.index)
        most = max(most, len(running))
        order.append(part.index)
        part.update(1, 2, "sampling")
        await asyncio.sleep(0)  # a chance for another take to start, if it were allowed
        running.remove(part.index)
        return part.index, part.count

    outcome = asyncio.run(run_takes(3, take, progress, limit=1))
    assert outcome.results == ((0, 3), (1, 3), (2, 3))
    assert most == 1
    assert order == [0, 1, 2]
    assert seen[0] == (1, 6, "sampling")
    assert seen[-1] == (6, 6, "image received")


def test_a_take_waiting_to_retry_says_why_and_for_how_long() -> None:
    progress, seen = recorder()

    async def take(part: TakeProgress) -> None:
        part.retrying("HTTP 429", 2.5)

    asyncio.run(run_takes(1, take, progress))
    assert seen[0] == (0, 1, "HTTP 429; retrying in 2.5 s")


def test_takes_of_different_lengths_each_count_their_own_steps() -> None:
    progress, seen = recorder()

    async def take(part: TakeProgress) -> None:
        part.update(1, 4 if part.index == 0 else 10, "sampling")

    asyncio.run(run_takes(2, take, progress, limit=1))
    # the second take's total is unknown at first: it counts as long as the longest known
    assert seen[:4] == [(1, 8, "sampling"), (4, 8, "image received"), (5, 14, "sampling"),
                        (14, 14, "image received")]  # fmt: skip


def test_steps_of_a_take_without_a_total_count_only_once_it_has_one() -> None:
    progress, seen = recorder()
    first_counted = asyncio.Event()

    async def take(part: TakeProgress) -> None:
        if part.index == 0:
            part.update(1, 4, "sampling")
            first_counted.set()
            await asyncio.Event().wait()  # cancelled by the second take's bug, below
        await first_counted.wait()
        part.update(3, None, "step 3")  # steps of an unknown number: not yet counted
        raise KeyError("stop here")

    with pytest.raises(KeyError):
        asyncio.run(run_takes(2, take, progress))
    assert seen == [(1, 8, "sampling"), (1, 8, "step 3")]


@pytest.mark.parametrize(
    ("done", "total", "shown"),
    [
        (0, 4, (0, 4, "update")),  # step 0 of 4: the total shows at once
        (1, 1, (1, 1, "update")),  # a single step
        (1, 0, (0, 1, "update")),  # a total of no steps is no total
        (1, float("inf"), (0, 1, "update")),  # nor is an endless one
        (1, float("nan"), (0, 1, "update")),
    ],
)
def test_a_take_reports_what_its_step_and_total_mean(
    done: float, total: float, shown: tuple[float, float, str]
) -> None:
    progress, seen = recorder()

    async def take(part: TakeProgress) -> None:
        part.update(done, total, "update")

    asyncio.run(run_takes(1, take, progress))
    assert seen[0] == shown


def test_cancelling_the_caller_cancels_every_take_and_leaves_no_task() -> None:
    started = 0
    all_started = asyncio.Event()

    async def take(part: TakeProgress) -> None:
        nonlocal started
        started += 1
        if started == part.count:
            all_started.set()
        await asyncio.Event().wait()

    async def main() -> list[Any]:
        task = asyncio.create_task(run_takes(3, take, Progress()))
        await all_started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert asyncio.run(main()) == []


def test_a_step_reported_without_words_shows_none() -> None:
    progress, seen = recorder()

    async def take(part: TakeProgress) -> None:
        part.update(1, 2)

    asyncio.run(run_takes(1, take, progress))
    assert seen[0] == (1, 2, "")
