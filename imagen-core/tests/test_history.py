"""The local history: recording, migrations, privacy, concurrency, queries and log output."""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import subprocess
import sys
import textwrap
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import platformdirs
import pytest

from imagen.errors import ConfigError, OutputError
from imagen.models import Cost, Generation, Ref, Request
from imagen.store.history import (
    SCHEMA_VERSION,
    History,
    HistoryEntry,
    default_path,
    format_log,
    log_json,
    prompt_sha256,
)

T0 = dt.datetime(2026, 11, 20, 9, 30, 15, 123456, tzinfo=dt.UTC)


def make_generation(
    prompt: str = "a lighthouse at dusk",
    *,
    seed: int = 42,
    created_at: dt.datetime = T0,
    backend: str = "flux-dev-replicate",
    backend_type: str = "replicate",
    **fields: Any,
) -> Generation:
    request_fields = {
        key: fields.pop(key)
        for key in ("negative_prompt", "steps", "options", "refs", "style", "aspect_ratio")
        if key in fields
    }
    values: dict[str, Any] = {
        "request": Request(prompt, seed=seed, **request_fields),
        "backend": backend,
        "backend_type": backend_type,
        "model": "black-forest-labs/flux-dev",
        "seed": seed,
        "path": f"2026-11-20/093015-lighthouse-{seed}.png",
        "output_dir": "/home/m/Pictures/imagen",
        "sha256": "ab" * 32,
        "media_type": "image/png",
        "width": 1024,
        "height": 768,
        "size_bytes": 123_456,
        "latency": 3.25,
        "created_at": created_at,
    }
    values.update(fields)
    return Generation(**values)


@pytest.fixture
def history(tmp_path: Path) -> Any:
    with History.open(str(tmp_path / "history.sqlite3")) as opened:
        yield opened


def raw_rows(path: str, sql: str) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


# --- opening ------------------------------------------------------------------------------


def test_open_creates_a_wal_database_at_the_current_schema_version(tmp_path: Path) -> None:
    path = str(tmp_path / "nested" / "dir" / "history.sqlite3")
    History.open(path).close()
    assert raw_rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert raw_rows(path, "PRAGMA journal_mode") == [("wal",)]


def test_open_without_a_path_uses_the_imagen_history_env_var(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "elsewhere.sqlite3"
    monkeypatch.setenv("IMAGEN_HISTORY", str(target))
    with History.open() as history:
        assert history.path == str(target)
        history.record(make_generation())
    assert raw_rows(str(target), "SELECT count(*) FROM generations") == [(1,)]


def test_default_path_is_in_the_user_data_dir_when_the_env_var_is_unset(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("IMAGEN_HISTORY", raising=False)
    expected = os.path.join(platformdirs.user_data_dir("imagen"), "history.sqlite3")
    assert default_path() == expected


def test_a_file_that_is_not_a_database_is_an_output_error_naming_the_env_var(
    tmp_path: Path,
) -> None:
    path = tmp_path / "history.sqlite3"
    path.write_bytes(b"this is not sqlite, just some text that is long enough" * 20)
    with pytest.raises(OutputError, match="IMAGEN_HISTORY"):
        History.open(str(path))


def test_a_file_from_a_newer_imagen_is_refused_untouched(tmp_path: Path) -> None:
    path = str(tmp_path / "history.sqlite3")
    conn = sqlite3.connect(path)
    conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    conn.close()
    with pytest.raises(ConfigError, match="newer"):
        History.open(path)
    assert raw_rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION + 1,)]


# --- migrations ---------------------------------------------------------------------------

# The schema exactly as version 1 shipped it: a file written then must open and upgrade now.
V1_SCHEMA = """
CREATE TABLE generations (
    id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL, backend TEXT NOT NULL,
    backend_type TEXT NOT NULL, backend_identity TEXT, model TEXT NOT NULL, seed INTEGER,
    prompt TEXT, negative_prompt TEXT, style TEXT, width INTEGER NOT NULL,
    height INTEGER NOT NULL, aspect_ratio TEXT, steps INTEGER, options TEXT NOT NULL,
    refs TEXT NOT NULL, fingerprint TEXT NOT NULL, latency REAL NOT NULL, cost_estimate TEXT,
    cost_actual TEXT, caller TEXT, cache_hit INTEGER NOT NULL, output_dir TEXT NOT NULL,
    path TEXT NOT NULL, sidecar_path TEXT, sha256 TEXT NOT NULL, media_type TEXT NOT NULL,
    size_bytes INTEGER NOT NULL, take INTEGER NOT NULL, takes INTEGER NOT NULL,
    metadata TEXT NOT NULL
);
CREATE INDEX generations_created_at ON generations (created_at);
CREATE INDEX generations_backend ON generations (backend, created_at);
INSERT INTO generations VALUES (
    7, '2026-10-01T08:00:00.000000+00:00', 'gemini', 'gemini', 'gemini:gemini-2.5', 'gemini-2.5',
    11, 'an old prompt', 'blurry', NULL, 1024, 1024, '1:1', NULL, '{"quality": "high"}', '[]',
    'f00d', 2.5, '0.039', NULL, 'agent-3', 0, '/out', '2026-10-01/old.png', NULL, 'cd',
    'image/png', 999, 1, 1, '{"response_id": "r-1"}'
);
INSERT INTO generations VALUES (
    8, '2026-10-02T08:00:00.000000+00:00', 'gemini', 'gemini', 'gemini:gemini-2.5', 'gemini-2.5',
    12, NULL, NULL, NULL, 1024, 1024, NULL, NULL, '{}', '[]', 'beef', 2.0, NULL, NULL, NULL, 0,
    '/out', '2026-10-02/private.png', NULL, 'ef', 'image/png', 998, 1, 1, '{}'
);
PRAGMA user_version = 1;
"""


def write_v1_file(path: str) -> None:
    conn = sqlite3.connect(path)
    conn.executescript(V1_SCHEMA)
    conn.close()


def test_a_version_1_file_is_upgraded_in_place_and_keeps_its_takes(tmp_path: Path) -> None:
    path = str(tmp_path / "history.sqlite3")
    write_v1_file(path)
    with History.open(path) as history:
        old = history.query(backend="gemini")
    assert raw_rows(path, "PRAGMA user_version") == [(SCHEMA_VERSION,)]
    assert [entry.id for entry in old] == [8, 7]
    kept = old[1]
    assert kept.prompt == "an old prompt"
    assert kept.negative_prompt == "blurry"
    assert kept.options == {"quality": "high"}
    assert kept.cost_estimate == Decimal("0.039")
    assert kept.metadata == {"response_id": "r-1"}
    assert kept.created_at == dt.datetime(2026, 10, 1, 8, 0, tzinfo=dt.UTC)


def test_the_upgrade_backfills_prompt_hashes_of_stored_prompts(tmp_path: Path) -> None:
    path = str(tmp_path / "history.sqlite3")
    write_v1_file(path)
    History.open(path).close()
    hashes = dict(raw_rows(path, "SELECT id, prompt_sha256 FROM generations"))
    assert hashes == {7: prompt_sha256("an old prompt"), 8: None}


def test_the_upgrade_adds_the_cache_lookup_index(tmp_path: Path) -> None:
    path = str(tmp_path / "history.sqlite3")
    write_v1_file(path)
    History.open(path).close()
    plan = raw_rows(
        path,
        "EXPLAIN QUERY PLAN SELECT * FROM generations "
        "WHERE backend_identity = 'x' AND fingerprint = 'y' ORDER BY created_at DESC",
    )
    assert any("generations_cache" in str(step) for step in plan)


def test_an_upgraded_file_accepts_new_takes_and_finds_old_ones_in_the_cache(
    tmp_path: Path,
) -> None:
    path = str(tmp_path / "history.sqlite3")
    write_v1_file(path)
    with History.open(path) as history:
        new_id = history.record(make_generation())
        assert new_id == 9
        assert [entry.id for entry in history.find_cached("gemini:gemini-2.5", "f00d")] == [7]


def test_opening_a_current_file_again_changes_nothing(tmp_path: Path) -> None:
    path = str(tmp_path / "history.sqlite3")
    with History.open(path) as history:
        history.record(make_generation())
    schema_before = raw_rows(path, "SELECT sql FROM sqlite_master ORDER BY name")
    with History.open(path) as history:
        assert len(history.query()) == 1
    assert raw_rows(path, "SELECT sql FROM sqlite_master ORDER BY name") == schema_before


# --- recording ----------------------------------------------------------------------------


def test_a_recorded_take_reads_back_with_every_field(history: History) -> None:
    ref = Ref(path="in/sketch.png", data=b"png", media_type="image/png", sha256="12" * 32)
    generation = make_generation(
        negative_prompt="text, watermark",
        steps=28,
        options={"guidance": 3.5, "sampler": "euler"},
        refs=(ref,),
        style="watercolor",
        aspect_ratio="4:3",
        take=2,
        takes=3,
        sidecar_path="2026-11-20/093015-lighthouse-42.json",
        cost_estimate=Cost(Decimal("0.025"), "list price per image, 2026-10"),
        cost_actual=Cost(Decimal("0.0243"), "provider billing"),
        caller="agent-7",
        metadata={"prediction_id": "p-123"},
    )
    row_id = history.record(generation, backend_identity="replicate:flux-dev")
    [entry] = history.query()
    assert entry == HistoryEntry(
        id=row_id,
        created_at=T0,
        backend="flux-dev-replicate",
        backend_type="replicate",
        backend_identity="replicate:flux-dev",
        model="black-forest-labs/flux-dev",
        seed=42,
        prompt="a lighthouse at dusk",
        prompt_sha256=prompt_sha256("a lighthouse at dusk"),
        negative_prompt="text, watermark",
        style="watercolor",
        width=1024,
        height=768,
        aspect_ratio="4:3",
        steps=28,
        options={"guidance": 3.5, "sampler": "euler"},
        refs=({"path": "in/sketch.png", "sha256": "12" * 32, "media_type": "image/png"},),
        fingerprint=generation.request.fingerprint(),
        latency=3.25,
        cost_estimate=Decimal("0.025"),
        cost_actual=Decimal("0.0243"),
        caller="agent-7",
        cache_hit=False,
        output_dir="/home/m/Pictures/imagen",
        path="2026-11-20/093015-lighthouse-42.png",
        sidecar_path="2026-11-20/093015-lighthouse-42.json",
        sha256="ab" * 32,
        media_type="image/png",
        size_bytes=123_456,
        take=2,
        takes=3,
        metadata={"prediction_id": "p-123"},
    )
    assert entry.cost == Decimal("0.0243")
    assert entry.absolute_path() == os.path.join(
        "/home/m/Pictures/imagen", "2026-11-20", "093015-lighthouse-42.png"
    )


def test_costs_are_stored_as_exact_decimal_text(history: History) -> None:
    history.record(make_generation(cost_estimate=Cost(Decimal("0.00325"), "list price")))
    stored = raw_rows(history.path, "SELECT cost_estimate, typeof(cost_estimate) FROM generations")
    assert stored == [("0.00325", "text")]


def test_created_at_from_another_offset_is_stored_as_the_same_moment(history: History) -> None:
    berlin = dt.timezone(dt.timedelta(hours=1))
    history.record(make_generation(created_at=dt.datetime(2026, 11, 20, 10, 30, tzinfo=berlin)))
    [entry] = history.query()
    assert entry.created_at == dt.datetime(2026, 11, 20, 9, 30, tzinfo=dt.UTC)
    assert entry.created_at.utcoffset() == dt.timedelta(0)


def test_store_prompt_false_keeps_only_the_prompt_hash(history: History) -> None:
    generation = make_generation("my secret project", negative_prompt="nothing to see")
    history.record(generation, store_prompt=False)
    stored = raw_rows(
        history.path, "SELECT prompt, negative_prompt, prompt_sha256, fingerprint FROM generations"
    )
    assert stored == [
        (None, None, prompt_sha256("my secret project"), generation.request.fingerprint())
    ]
    assert "my secret project" not in Path(history.path).read_bytes().decode("latin-1")


# --- concurrency --------------------------------------------------------------------------

WRITER = textwrap.dedent(
    """
    import datetime as dt, os, sys, time
    from imagen.store.history import History
    from imagen.models import Generation, Request

    path, worker, count, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    while not os.path.exists(go):  # start together, so opening and writing really overlap
        time.sleep(0.001)
    with History.open(path) as history:
        for i in range(count):
            history.record(Generation(
                request=Request(f"worker {worker} take {i}", seed=i),
                backend=f"worker-{worker}", backend_type="mock", model="mock", seed=i,
                path=f"{worker}/{i}.png", output_dir="/out", sha256="00", media_type="image/png",
                width=8, height=8, size_bytes=1, latency=0.0,
                created_at=dt.datetime.now(dt.UTC),
            ))
    """
)


@pytest.mark.slow
def test_several_processes_writing_at_once_lose_no_takes(tmp_path: Path) -> None:
    path = str(tmp_path / "history.sqlite3")
    go = tmp_path / "go"
    workers, takes = 4, 150
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, path, str(worker), str(takes), str(go)],
            stderr=subprocess.PIPE,
            text=True,
        )
        for worker in range(workers)
    ]
    time.sleep(1.0)  # let every writer import imagen and wait at the line
    go.touch()
    for process in processes:
        _, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
    with History.open(path) as history:
        entries = history.query()
    assert len(entries) == workers * takes
    assert len({entry.id for entry in entries}) == workers * takes
    per_worker = {f"worker-{w}": 0 for w in range(workers)}
    for entry in entries:
        per_worker[entry.backend] += 1
    assert per_worker == {f"worker-{w}": takes for w in range(workers)}


# --- the cache ----------------------------------------------------------------------------


def test_find_cached_returns_original_takes_of_that_identity_and_request_newest_first(
    history: History,
) -> None:
    first = history.record(make_generation(created_at=T0), backend_identity="replicate:dev")
    second = history.record(
        make_generation(created_at=T0 + dt.timedelta(minutes=5)),
        backend_identity="replicate:dev",
    )
    # A cache hit points at an original's file: the original is what the cache offers.
    history.record(
        make_generation(created_at=T0 + dt.timedelta(minutes=9), cache_hit=True),
        backend_identity="replicate:dev",
    )
    history.record(make_generation(created_at=T0), backend_identity="replicate:schnell")
    history.record(make_generation(seed=43, created_at=T0), backend_identity="replicate:dev")
    fingerprint = make_generation().request.fingerprint()
    found = history.find_cached("replicate:dev", fingerprint)
    assert [entry.id for entry in found] == [second, first]


def test_takes_recorded_without_an_identity_are_never_offered_to_the_cache(
    history: History,
) -> None:
    history.record(make_generation())
    assert history.find_cached("", make_generation().request.fingerprint()) == []


# --- queries ------------------------------------------------------------------------------


@pytest.fixture
def filled(history: History) -> History:
    takes = [
        ("a red fox in snow", "flux-dev-replicate", "replicate", 0),
        ("100% cotton_shirt mockup", "gemini", "gemini", 1),
        ("A RED barn", "flux-schnell-local", "comfyui", 2),
        ("100 cotton shirts", "gemini", "gemini", 3),
    ]
    for prompt, backend, backend_type, hours in takes:
        history.record(
            make_generation(
                prompt,
                backend=backend,
                backend_type=backend_type,
                created_at=T0 + dt.timedelta(hours=hours),
            )
        )
    return history


def prompts(entries: list[HistoryEntry]) -> list[str | None]:
    return [entry.prompt for entry in entries]


def test_query_returns_newest_first(filled: History) -> None:
    assert prompts(filled.query()) == [
        "100 cotton shirts",
        "A RED barn",
        "100% cotton_shirt mockup",
        "a red fox in snow",
    ]


def test_query_since_keeps_takes_at_or_after_the_moment(filled: History) -> None:
    since = (T0 + dt.timedelta(hours=2)).astimezone(dt.timezone(dt.timedelta(hours=-5)))
    assert prompts(filled.query(since=since)) == ["100 cotton shirts", "A RED barn"]


def test_query_backend_matches_instance_name_or_type(filled: History) -> None:
    assert prompts(filled.query(backend="flux-schnell-local")) == ["A RED barn"]
    assert prompts(filled.query(backend="replicate")) == ["a red fox in snow"]


def test_query_text_is_a_case_insensitive_substring(filled: History) -> None:
    assert prompts(filled.query(text="red")) == ["A RED barn", "a red fox in snow"]


def test_query_text_treats_like_wildcards_literally(filled: History) -> None:
    assert prompts(filled.query(text="100%")) == ["100% cotton_shirt mockup"]
    assert prompts(filled.query(text="cotton_")) == ["100% cotton_shirt mockup"]
    assert filled.query(text="\\") == []


def test_query_text_skips_takes_whose_prompt_was_not_stored(history: History) -> None:
    history.record(make_generation("hidden fox"), store_prompt=False)
    history.record(make_generation("visible fox"))
    assert prompts(history.query(text="fox")) == ["visible fox"]


def test_query_filters_combine_and_limit_keeps_the_newest(filled: History) -> None:
    assert prompts(filled.query(backend="gemini", text="cotton", limit=1)) == ["100 cotton shirts"]
    assert prompts(filled.query(limit=2)) == ["100 cotton shirts", "A RED barn"]


# --- usage rows ---------------------------------------------------------------------------


def test_usage_rows_are_oldest_first_with_latency_in_ms_and_the_best_known_cost(
    history: History,
) -> None:
    history.record(
        make_generation(
            created_at=T0 + dt.timedelta(hours=1),
            latency=1.2345,
            cost_estimate=Cost(Decimal("0.025"), "list"),
            cost_actual=Cost(Decimal("0.024"), "billed"),
            caller="agent-7",
        )
    )
    history.record(make_generation(created_at=T0, cost_estimate=Cost(Decimal("0.025"), "list")))
    history.record(make_generation(created_at=T0 - dt.timedelta(days=9)))
    rows = history.usage_rows(T0 - dt.timedelta(days=1))
    assert [(row.created_at, row.latency_ms, row.cost_usd, row.caller) for row in rows] == [
        (T0, 3250, Decimal("0.025"), None),
        (T0 + dt.timedelta(hours=1), 1234, Decimal("0.024"), "agent-7"),
    ]
    assert len(history.usage_rows(None)) == 3


def test_a_cache_hit_costs_nothing_in_usage_rows(history: History) -> None:
    history.record(make_generation(cache_hit=True, cost_estimate=Cost(Decimal("0.025"), "list")))
    [row] = history.usage_rows(None)
    assert row.cache_hit
    assert row.cost_usd == Decimal(0)


# --- imagen log ---------------------------------------------------------------------------


def test_format_log_prints_a_header_then_one_aligned_line_per_take(filled: History) -> None:
    header, *lines = format_log(filled.query()).splitlines()
    assert header.split("  ")[0] == "CREATED AT"
    assert header.split()[-2:] == ["PATH", "PROMPT"]
    assert len(lines) == 4
    path_columns = {line.index("/home/m/Pictures/imagen/") for line in lines}
    assert path_columns == {header.index("PATH")}


def test_format_log_shows_local_time_backend_model_seed_cost_cache_path_and_prompt(
    history: History,
) -> None:
    history.record(
        make_generation(cost_estimate=Cost(Decimal("0.025"), "list"), cache_hit=True, seed=7)
    )
    line = format_log(history.query()).splitlines()[1]
    local = T0.astimezone().strftime("%Y-%m-%d %H:%M:%S")
    assert line.split("  ")[0] == local
    fields = line.split()
    assert fields[2:] == [
        "flux-dev-replicate",
        "black-forest-labs/flux-dev",
        "7",
        "$0.025",
        "cached",
        "/home/m/Pictures/imagen/2026-11-20/093015-lighthouse-7.png",
        "a",
        "lighthouse",
        "at",
        "dusk",
    ]


def test_format_log_truncates_long_prompts_and_marks_unstored_ones(history: History) -> None:
    history.record(make_generation("word " * 40, created_at=T0))
    history.record(
        make_generation("secret", created_at=T0 + dt.timedelta(seconds=1)), store_prompt=False
    )
    _, newest, oldest = format_log(history.query()).splitlines()
    assert newest.endswith("(prompt not stored)")
    assert oldest.endswith("…")
    assert len(oldest.split("/home/m/Pictures/imagen/")[1].split("  ", 1)[1].strip()) == 60


def test_format_log_of_nothing_is_empty(history: History) -> None:
    assert format_log([]) == ""


def test_log_json_is_a_list_of_objects_with_money_as_strings(filled: History) -> None:
    newest = T0 + dt.timedelta(days=1)
    filled.record(make_generation(created_at=newest, cost_actual=Cost(Decimal("0.0243"), "b")))
    data = json.loads(log_json(filled.query()))
    assert len(data) == 5
    assert data[0]["cost_actual"] == "0.0243"
    assert data[0]["created_at"] == newest.isoformat()
    assert data[0]["absolute_path"].endswith("093015-lighthouse-42.png")
    assert {"prompt", "seed", "backend", "fingerprint", "cache_hit"} <= set(data[0])


def test_importing_history_loads_neither_pillow_nor_httpx() -> None:
    code = "import sys, imagen.store.history; print(sorted({'PIL', 'httpx'} & set(sys.modules)))"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_a_write_that_cannot_get_the_lock_in_time_is_an_output_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("imagen.store.sqlitefile.BUSY_TIMEOUT_SECONDS", 0.05)
    path = str(tmp_path / "history.sqlite3")
    with History.open(path) as history:
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN EXCLUSIVE")
        try:
            with pytest.raises(OutputError, match=r"history file .* is locked by another process"):
                history.record(make_generation())
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert history.record(make_generation()) == 1


# --- imagen log and imagen usage, as commands -------------------------------------------------


def test_log_prints_a_header_row_as_usage_does(imagen_process: Any, tmp_path: Path) -> None:
    assert imagen_process("generate", "a cat", "-o", str(tmp_path)).code == 0
    log = imagen_process("log")
    assert log.lines[0].split() == [
        "CREATED", "AT", "BACKEND", "MODEL", "SEED", "COST", "CACHE", "PATH", "PROMPT"
    ]  # fmt: skip
    assert log.lines[1].endswith("a cat")
    assert imagen_process("usage").lines[0].split()[0] == "BACKEND"


@pytest.mark.parametrize(
    ("args", "note"),
    [
        (["log"], "imagen: no generations recorded"),
        (["usage"], "imagen: no generations recorded"),
        (["usage", "--raw"], "imagen: no generations recorded"),
        (["log", "-q", "wolf"], "imagen: no recorded takes match the filters"),
    ],
)
def test_nothing_recorded_is_an_empty_stdout_and_a_note_on_stderr(
    imagen_process: Any, args: list[str], note: str
) -> None:
    ran = imagen_process(*args)
    assert (ran.code, ran.out) == (0, "")
    # Only the note: no "no config file ... using the built-in mock backend" hint, since
    # reading the history runs no backend.
    assert ran.err.splitlines() == [note]


def test_nothing_recorded_as_json_is_an_empty_list(imagen_process: Any) -> None:
    ran = imagen_process("log", "--json")
    assert (ran.code, json.loads(ran.out)) == (0, [])
    assert ran.err.splitlines()[-1] == "imagen: no generations recorded"


def test_usage_notes_takes_of_unknown_cost_on_stderr_not_in_the_table(
    history: History, imagen: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("IMAGEN_HISTORY", history.path)
    history.record(make_generation())
    ran = imagen("usage")
    assert ran.out.splitlines()[-1].split()[:2] == ["TOTAL", "1"]
    assert ran.err.splitlines()[-1] == (
        "imagen: 1 take has no known cost, counted as 0 in COST USD"
    )
