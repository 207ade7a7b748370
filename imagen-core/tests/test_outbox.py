"""The outbox keeps failed deliveries durably, across processes, and ``sync`` retries them."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import pytest

from imagen import hookimpl
from imagen.config.load import parse_config
from imagen.config.model import Config
from imagen.errors import ConfigError, OutputError, SinkError
from imagen.models import Generation, Request
from imagen.plugins import loader as plugins
from imagen.sinks.outbox import Outbox, default_path
from imagen.sinks.protocol import Delivery
from imagen.sinks.serialize import generation_to_dict
from imagen.sinks.sync import SyncResult, SyncSummary, sync


def make_generation(directory: Path, name: str = "cat 1.png", *, write: bool = True) -> Generation:
    if write:
        (directory / name).write_bytes(b"\x89PNG not really")
    return Generation(
        request=Request("a cat", seed=1),
        backend="mock",
        backend_type="mock",
        model="placeholder",
        seed=1,
        path=name,
        output_dir=str(directory),
        sha256="ab" * 32,
        media_type="image/png",
        width=8,
        height=8,
        size_bytes=15,
        latency=0.1,
        created_at=dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC),
    )


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox.open(str(tmp_path / "outbox.sqlite3")) as box:
        yield box


def test_a_kept_delivery_comes_back_with_sink_generation_state_and_error(
    outbox: Outbox, tmp_path: Path
) -> None:
    generation = make_generation(tmp_path)
    delivery_id = outbox.add("cloud", generation, state={"uploaded": True}, error="HTTP 503")
    [pending] = outbox.pending()
    assert pending.id == delivery_id
    assert pending.sink == "cloud"
    assert pending.generation == generation
    assert pending.attempts == 1
    assert pending.state == {"uploaded": True}
    assert pending.last_error == "HTTP 503"
    assert pending.created_at.tzinfo is not None


def test_a_failed_retry_counts_the_attempt_and_replaces_state_and_error(
    outbox: Outbox, tmp_path: Path
) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path), state={}, error="first")
    outbox.failed(delivery_id, state={"uploaded": True}, error="second")
    [pending] = outbox.pending()
    assert (pending.attempts, pending.state, pending.last_error) == (
        2,
        {"uploaded": True},
        "second",
    )
    assert pending.updated_at >= pending.created_at


def test_whether_a_retry_alone_can_help_is_kept_and_updated(outbox: Outbox, tmp_path: Path) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path), error="HTTP 403", retryable=False)
    assert [p.retryable for p in outbox.pending()] == [False]
    outbox.failed(delivery_id, error="HTTP 503", retryable=True)
    assert [p.retryable for p in outbox.pending()] == [True]


def test_done_removes_only_that_delivery(outbox: Outbox, tmp_path: Path) -> None:
    first = outbox.add("a", make_generation(tmp_path), error="x")
    second = outbox.add("b", make_generation(tmp_path), error="y")
    outbox.done(first)
    assert [pending.id for pending in outbox.pending()] == [second]


def test_drop_says_whether_there_was_such_a_delivery(outbox: Outbox, tmp_path: Path) -> None:
    delivery_id = outbox.add("a", make_generation(tmp_path), error="x")
    assert outbox.drop(delivery_id) is True
    assert outbox.drop(delivery_id) is False
    assert outbox.pending() == []


def test_deliveries_survive_closing_and_reopening_the_file(tmp_path: Path) -> None:
    path = str(tmp_path / "box.sqlite3")
    with Outbox.open(path) as box:
        box.add("cloud", make_generation(tmp_path), error="offline")
    with Outbox.open(path) as box:
        assert [pending.sink for pending in box.pending()] == ["cloud"]


def test_imagen_outbox_names_the_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("IMAGEN_OUTBOX", str(tmp_path / "chosen.sqlite3"))
    with Outbox.open() as box:
        assert box.path == str(tmp_path / "chosen.sqlite3")
    assert (tmp_path / "chosen.sqlite3").is_file()


def test_the_default_file_is_in_the_user_data_dir(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import platformdirs

    monkeypatch.delenv("IMAGEN_OUTBOX", raising=False)
    expected = Path(platformdirs.user_data_dir("imagen")) / "outbox.sqlite3"
    assert Path(default_path()) == expected


def test_text_utf8_cannot_hold_is_kept_and_given_back(outbox: Outbox, tmp_path: Path) -> None:
    # A prompt from undecodable command-line bytes holds lone surrogates; SQLite text is UTF-8.
    generation = attrs.evolve(make_generation(tmp_path), request=Request("a cat \udcff", seed=1))
    outbox.add("cloud", generation, state={"note": "\udcfe"}, error="offline")
    [pending] = outbox.pending()
    assert pending.generation.request.prompt == "a cat \udcff"
    assert pending.state == {"note": "\udcfe"}


def test_an_attempt_failed_without_saying_is_taken_as_retryable(
    outbox: Outbox, tmp_path: Path
) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path), error="HTTP 403", retryable=False)
    outbox.failed(delivery_id, error="offline")
    assert [p.retryable for p in outbox.pending()] == [True]


def test_a_delivery_that_cannot_be_read_names_itself_and_how_to_drop_it(
    outbox: Outbox, tmp_path: Path
) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path), error="offline")
    with sqlite3.connect(outbox.path) as conn:
        conn.execute("UPDATE deliveries SET generation = '{\"seed\": 1}'")
    with pytest.raises(OutputError) as raised:
        outbox.pending()
    assert str(raised.value).startswith(f"delivery {delivery_id} in the outbox {outbox.path}")
    assert str(raised.value).endswith(f"remove it with: imagen sync --drop {delivery_id}")


def test_a_write_to_a_damaged_outbox_is_an_output_error_naming_the_file(tmp_path: Path) -> None:
    path = tmp_path / "damaged.sqlite3"
    with sqlite3.connect(path) as conn:  # a current schema version, but its table is gone
        conn.execute("PRAGMA user_version = 1")
    with Outbox.open(str(path)) as box, pytest.raises(OutputError) as raised:
        box.add("cloud", make_generation(tmp_path), error="offline")
    assert str(raised.value).startswith(f"cannot write the outbox file {path}: ")
    assert "no such table" in str(raised.value)


def test_the_file_is_in_wal_mode(outbox: Outbox) -> None:
    with sqlite3.connect(outbox.path) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


def test_a_file_from_a_newer_imagen_is_refused_with_what_to_do(tmp_path: Path) -> None:
    path = tmp_path / "new.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA user_version = 99")
    with pytest.raises(ConfigError, match="newer than this imagen"):
        Outbox.open(str(path))


def test_a_file_that_is_not_a_database_is_an_output_error(tmp_path: Path) -> None:
    path = tmp_path / "garbage.sqlite3"
    path.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(OutputError) as raised:
        Outbox.open(str(path))
    assert str(raised.value).startswith(f"the outbox file {path} is damaged")
    assert "IMAGEN_OUTBOX" in str(raised.value)


ADD_FROM_ANOTHER_PROCESS = """
import json, sys
from imagen.sinks.outbox import Outbox
from imagen.sinks.serialize import generation_from_dict
path, sink, count, data = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
with Outbox.open(path) as box:
    for n in range(count):
        box.add(sink, generation_from_dict(json.loads(data)), error=f"failure {n}")
"""


def test_processes_adding_at_the_same_time_lose_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "shared.sqlite3")
    data = json.dumps(generation_to_dict(make_generation(tmp_path)))
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", ADD_FROM_ANOTHER_PROCESS, path, f"sink-{n}", "25", data]
        )
        for n in range(4)
    ]
    assert [writer.wait(60) for writer in writers] == [0, 0, 0, 0]
    with Outbox.open(path) as box:
        pending = box.pending()
    assert len(pending) == 100
    assert len({p.id for p in pending}) == 100
    for n in range(4):
        errors = [p.last_error for p in pending if p.sink == f"sink-{n}"]
        assert errors == [f"failure {i}" for i in range(25)]


CLAIM_FROM_ANOTHER_PROCESS = """
import sys
from imagen.sinks.outbox import Outbox
with Outbox.open(sys.argv[1]) as box:
    print(box.claim(int(sys.argv[2]), lease=float(sys.argv[3])))
"""


def claim_elsewhere(path: str, delivery_id: int, lease: float) -> str:
    done = subprocess.run(
        [sys.executable, "-c", CLAIM_FROM_ANOTHER_PROCESS, path, str(delivery_id), str(lease)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def test_a_claimed_delivery_cannot_be_claimed_by_another_process(
    outbox: Outbox, tmp_path: Path
) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path), error="x")
    assert outbox.claim(delivery_id)
    assert claim_elsewhere(outbox.path, delivery_id, 600) == "False"


def test_a_claim_older_than_its_lease_is_taken_over(outbox: Outbox, tmp_path: Path) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path), error="x")
    assert outbox.claim(delivery_id)
    assert claim_elsewhere(outbox.path, delivery_id, 0) == "True"


def test_a_failed_attempt_releases_its_claim(outbox: Outbox, tmp_path: Path) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path), error="x")
    assert outbox.claim(delivery_id)
    outbox.failed(delivery_id, error="again")
    assert outbox.claim(delivery_id)


# --- sync: a scripted sink type registered by a test plugin ---------------------------------


@attrs.frozen
class FlakySettings:
    failures: int = 0
    hang: bool = False
    retryable: bool = True


SEEN: dict[str, list[Delivery]] = {}
#: sink name -> how many instances were built, and how many closed
OPENED: dict[str, int] = {}
CLOSED: dict[str, int] = {}
#: set when a hanging delivery has started
HANGING: list[asyncio.Event] = []


class FlakySink:
    """Fails its first ``failures`` deliveries after finishing step one; records every call."""

    def __init__(self, name: str, settings: FlakySettings) -> None:
        self.name = name
        self.settings = settings
        OPENED[name] = OPENED.get(name, 0) + 1

    def enabled_auto(self) -> bool:
        return True

    async def deliver(self, delivery: Delivery) -> None:
        seen = SEEN.setdefault(self.name, [])
        seen.append(delivery)
        if self.settings.hang:
            for started in HANGING:
                started.set()
            await asyncio.Event().wait()
        if len(seen) <= self.settings.failures:
            raise SinkError(
                "step two failed", state={"step_one": True}, retryable=self.settings.retryable
            )

    async def aclose(self) -> None:
        CLOSED[self.name] = CLOSED.get(self.name, 0) + 1


class FlakyPlugin:
    @hookimpl
    def register_sinks(self, register: Any) -> None:
        register("flaky", FlakySink, FlakySettings)


@pytest.fixture
def flaky_plugin() -> Iterator[None]:
    plugin = FlakyPlugin()
    plugins.manager().register(plugin, name="test-flaky-sinks")
    plugins.registry.cache_clear()
    SEEN.clear()
    HANGING.clear()
    OPENED.clear()
    CLOSED.clear()
    yield
    plugins.manager().unregister(plugin)
    plugins.registry.cache_clear()


def config_with(sinks: str) -> Config:
    config, problems = parse_config(f"sinks:\n{sinks}")
    problems.raise_first()
    assert config is not None
    return config


def run_sync(config: Config, outbox: Outbox) -> tuple[SyncSummary, list[SyncResult]]:
    results: list[SyncResult] = []
    summary = asyncio.run(sync(config, outbox, report=results.append))
    return summary, results


@pytest.mark.usefixtures("flaky_plugin")
def test_sync_delivers_a_pending_delivery_and_removes_it(outbox: Outbox, tmp_path: Path) -> None:
    generation = make_generation(tmp_path)
    outbox.add("cloud", generation, state={"step_one": True}, error="offline")
    summary, results = run_sync(config_with("  cloud: {type: flaky}\n"), outbox)
    assert summary == SyncSummary(synced=1)
    assert [r.outcome for r in results] == ["synced"]
    assert outbox.pending() == []
    [delivery] = SEEN["cloud"]
    assert delivery.generation == generation
    assert (delivery.sink, delivery.attempt, delivery.state) == ("cloud", 2, {"step_one": True})


@pytest.mark.usefixtures("flaky_plugin")
def test_sync_keeps_a_delivery_that_fails_again_with_its_new_state(
    outbox: Outbox, tmp_path: Path
) -> None:
    outbox.add("cloud", make_generation(tmp_path), error="offline")
    summary, results = run_sync(config_with("  cloud: {type: flaky, failures: 1}\n"), outbox)
    assert summary == SyncSummary(failed=1)
    assert results[0].message == "step two failed"
    [pending] = outbox.pending()
    assert (pending.attempts, pending.state, pending.last_error) == (
        2,
        {"step_one": True},
        "step two failed",
    )
    summary, _ = run_sync(config_with("  cloud: {type: flaky, failures: 1}\n"), outbox)
    assert summary == SyncSummary(synced=1)
    assert SEEN["cloud"][-1].attempt == 3


@pytest.mark.usefixtures("flaky_plugin")
def test_a_delivery_whose_sink_left_the_config_stays_pending_with_a_clear_message(
    outbox: Outbox, tmp_path: Path
) -> None:
    delivery_id = outbox.add("old-cloud", make_generation(tmp_path), error="offline")
    summary, results = run_sync(config_with("  cloud: {type: flaky}\n"), outbox)
    assert summary == SyncSummary(skipped=1)
    assert results[0].delivery.id == delivery_id
    assert "no sink named 'old-cloud'" in (results[0].message or "")
    assert "imagen sync --drop" in (results[0].message or "")
    assert [p.attempts for p in outbox.pending()] == [1]


@pytest.mark.usefixtures("flaky_plugin")
def test_a_delivery_whose_image_is_gone_is_reported_and_not_attempted(
    outbox: Outbox, tmp_path: Path
) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path, write=False), error="offline")
    summary, results = run_sync(config_with("  cloud: {type: flaky}\n"), outbox)
    assert summary == SyncSummary(skipped=1)
    assert results[0].delivery.id == delivery_id
    assert "no longer exists" in (results[0].message or "")
    assert f"imagen sync --drop {delivery_id}" in (results[0].message or "")
    assert "cloud" not in SEEN


@pytest.mark.usefixtures("flaky_plugin")
def test_sync_leaves_a_delivery_another_process_is_working_on(
    outbox: Outbox, tmp_path: Path
) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path), error="offline")
    assert claim_elsewhere(outbox.path, delivery_id, 600) == "True"
    summary, results = run_sync(config_with("  cloud: {type: flaky}\n"), outbox)
    assert summary == SyncSummary(skipped=1)
    assert results[0].delivery.id == delivery_id
    assert results[0].message == "another imagen sync is delivering it right now"
    assert "cloud" not in SEEN


def claimed_ago(outbox: Outbox, delivery_id: int, seconds: float) -> None:
    """The delivery as a sync that started ``seconds`` ago (and may have died) left it."""
    with sqlite3.connect(outbox.path) as conn:
        conn.execute(
            "UPDATE deliveries SET claimed_at = ? WHERE id = ?",
            (time.time() - seconds, delivery_id),
        )


@pytest.mark.usefixtures("flaky_plugin")
def test_a_claim_is_held_for_twice_the_sink_time_limit_when_that_is_over_ten_minutes(
    outbox: Outbox, tmp_path: Path
) -> None:
    # A sync whose sink may take 1000 s is still alive 1500 s in; 2500 s in, it has died.
    config = config_with("  cloud: {type: flaky}\noutput:\n  sink_timeout: 1000\n")
    delivery_id = outbox.add("cloud", make_generation(tmp_path), error="offline")
    claimed_ago(outbox, delivery_id, 1500)
    summary, _ = run_sync(config, outbox)
    assert summary == SyncSummary(skipped=1)
    claimed_ago(outbox, delivery_id, 2500)
    summary, _ = run_sync(config, outbox)
    assert summary == SyncSummary(synced=1)


@pytest.mark.usefixtures("flaky_plugin")
def test_a_claim_from_a_sync_that_died_over_ten_minutes_ago_is_taken_over(
    outbox: Outbox, tmp_path: Path
) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path), error="offline")
    claimed_ago(outbox, delivery_id, 700)
    summary, _ = run_sync(config_with("  cloud: {type: flaky}\n"), outbox)
    assert summary == SyncSummary(synced=1)


@pytest.mark.usefixtures("flaky_plugin")
def test_a_sink_that_hangs_in_a_sync_is_cut_off_at_the_sink_time_limit(
    outbox: Outbox, tmp_path: Path
) -> None:
    outbox.add("cloud", make_generation(tmp_path), error="offline")
    config = config_with("  cloud: {type: flaky, hang: true}\noutput:\n  sink_timeout: 0.2\n")
    summary, results = run_sync(config, outbox)
    assert summary == SyncSummary(failed=1)
    assert results[0].message == "timed out after 0.2 s"
    assert [p.attempts for p in outbox.pending()] == [2]


@pytest.mark.usefixtures("flaky_plugin")
def test_a_retry_a_retry_alone_cannot_fix_is_kept_as_such(outbox: Outbox, tmp_path: Path) -> None:
    outbox.add("cloud", make_generation(tmp_path), error="offline")
    config = config_with("  cloud: {type: flaky, failures: 1, retryable: false}\n")
    summary, _ = run_sync(config, outbox)
    assert summary == SyncSummary(failed=1)
    assert [p.retryable for p in outbox.pending()] == [False]


@pytest.mark.usefixtures("flaky_plugin")
def test_sync_counts_every_delivery_and_builds_each_sink_once(
    outbox: Outbox, tmp_path: Path
) -> None:
    for n in range(3):
        outbox.add("cloud", make_generation(tmp_path, f"cat {n}.png"), error="offline")
    summary, _ = run_sync(config_with("  cloud: {type: flaky}\n"), outbox)
    assert summary == SyncSummary(synced=3)
    assert (OPENED, CLOSED) == ({"cloud": 1}, {"cloud": 1})


@pytest.mark.usefixtures("flaky_plugin")
def test_an_interrupted_sync_gives_its_claim_back_without_counting_an_attempt(
    outbox: Outbox, tmp_path: Path
) -> None:
    delivery_id = outbox.add("cloud", make_generation(tmp_path), error="offline")
    config = config_with("  cloud: {type: flaky, hang: true}\n")

    async def interrupt() -> None:
        started = asyncio.Event()
        HANGING.append(started)
        task = asyncio.create_task(sync(config, outbox, report=lambda result: None))
        await started.wait()
        task.cancel()
        await task

    with pytest.raises(asyncio.CancelledError):
        asyncio.run(interrupt())
    assert claim_elsewhere(outbox.path, delivery_id, 600) == "True"
    assert [p.attempts for p in outbox.pending()] == [1]


def test_the_summary_says_what_is_left() -> None:
    assert SyncSummary().describe() == "nothing to sync"
    assert SyncSummary(synced=2).describe() == "2 synced"
    assert SyncSummary(synced=1, failed=1, skipped=1).describe() == (
        "1 synced, 2 still pending (see: imagen sync --list)"
    )


@pytest.mark.usefixtures("flaky_plugin")
def test_a_sync_of_chosen_deliveries_delivers_those_and_leaves_the_others(
    outbox: Outbox, tmp_path: Path
) -> None:
    first = outbox.add("cloud", make_generation(tmp_path, "cat 1.png"), error="offline")
    second = outbox.add("cloud", make_generation(tmp_path, "cat 2.png"), error="offline")
    results: list[SyncResult] = []
    config = config_with("  cloud: {type: flaky}\n")
    summary = asyncio.run(sync(config, outbox, report=results.append, only={second}))
    assert summary == SyncSummary(synced=1)
    assert [result.delivery.id for result in results] == [second]
    assert [pending.id for pending in outbox.pending()] == [first]
