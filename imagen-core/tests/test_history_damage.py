"""A damaged history: ``log`` and ``usage`` show what they can read and say what they skipped,
and every failure of the file reaches a caller as one ``ImagenError`` (never sqlite3 or json).

The damaged files are real: a history written by ``imagen generate``, then one of its table's
pages overwritten, the file cut short, rows changed behind imagen's back, or random bytes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import random
import shlex
import sqlite3
import struct
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from imagen.errors import ImagenError, OutputError
from imagen.models import Generation, Request
from imagen.store.history import History, close_shared

TAKES = 24
PAGE = 4096
PROMPT = "a lighthouse at dusk, " * 12  # long rows: the table spreads over several pages


@pytest.fixture(scope="module")
def made_history(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    """The bytes of a history file with TAKES takes, written by a real ``imagen generate``."""
    root = tmp_path_factory.mktemp("made")
    env = {name: value for name, value in os.environ.items() if not name.startswith("IMAGEN_")}
    env.update(
        HOME=str(root),
        XDG_CONFIG_HOME=str(root / "config"),
        XDG_DATA_HOME=str(root / "data"),
        IMAGEN_HISTORY=str(root / "history.sqlite3"),
    )
    subprocess.run(
        [sys.executable, "-m", "imagen", "generate", PROMPT, "-n", str(TAKES), "-o", str(root)],
        env=env,
        check=True,
        capture_output=True,
    )
    conn = sqlite3.connect(root / "history.sqlite3")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # every take in the main file
    conn.close()
    return (root / "history.sqlite3").read_bytes()


@pytest.fixture
def history_file(made_history: bytes, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh copy of the made history, where this test's ``imagen`` looks for it (with a
    config file, so stderr holds only what the history says)."""
    config = Path(os.environ["XDG_CONFIG_HOME"]) / "imagen" / "imagen.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text("backends:\n  mock:\n    type: mock\n")
    path = tmp_path / "data" / "history.sqlite3"
    path.parent.mkdir()
    path.write_bytes(made_history)
    monkeypatch.setenv("IMAGEN_HISTORY", str(path))
    return path


def table_leaves(path: Path) -> list[int]:
    """Page numbers of the generations table's leaves, in id order (a two-level b-tree)."""
    conn = sqlite3.connect(path)
    root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'generations'").fetchone()
    conn.close()
    data = path.read_bytes()
    page = data[(root[0] - 1) * PAGE : root[0] * PAGE]
    assert page[0] == 5, "the test needs a table of several pages"
    cells, rightmost = struct.unpack(">H", page[3:5])[0], struct.unpack(">I", page[8:12])[0]
    pointers = [struct.unpack(">H", page[12 + 2 * i : 14 + 2 * i])[0] for i in range(cells)]
    return [struct.unpack(">I", page[p : p + 4])[0] for p in pointers] + [rightmost]


def overwrite_page(path: Path, number: int) -> None:
    garbage = random.Random(number).randbytes(PAGE)  # the same garbage on every run
    with path.open("r+b") as handle:
        handle.seek((number - 1) * PAGE)
        handle.write(garbage)


def damage_a_middle_page(path: Path) -> None:
    leaves = table_leaves(path)
    overwrite_page(path, leaves[len(leaves) // 2])


def cut_in_half(path: Path) -> None:
    os.truncate(path, path.stat().st_size // 2)


def random_bytes(path: Path) -> None:
    path.write_bytes(random.Random(7).randbytes(50_000))


def bad_rows(path: Path) -> None:
    conn = sqlite3.connect(path)
    with conn:
        conn.execute("UPDATE generations SET metadata = '{not json' WHERE id = 3")
        conn.execute("UPDATE generations SET seed = 'forty-two' WHERE id = 4")
        conn.execute("UPDATE generations SET options = '[1, 2]' WHERE id = 5")
        conn.execute("UPDATE generations SET cost_estimate = 'NaN' WHERE id = 6")
        conn.execute("UPDATE generations SET created_at = 'last tuesday' WHERE id = 7")
    conn.close()


def skipped(err: str) -> int:
    """N from the one ``skipped N takes`` warning."""
    (line,) = [line for line in err.splitlines() if "skipped" in line]
    return int(line.split("skipped ")[1].split()[0])


def test_log_and_usage_show_the_takes_around_a_damaged_page(
    history_file: Path, imagen_process: Any
) -> None:
    damage_a_middle_page(history_file)
    log = imagen_process("log", "-n", "100")
    usage = imagen_process("usage")
    assert (log.code, usage.code) == (0, 0)
    shown = len(log.lines) - 1  # the header
    assert 0 < shown < TAKES
    assert shown + skipped(log.err) == TAKES
    total = usage.lines[-1].split()
    assert total[0] == "TOTAL"
    assert int(total[1]) == shown
    assert skipped(usage.err) == TAKES - shown


def test_the_damage_warning_is_one_line_naming_the_file_and_how_to_start_afresh(
    history_file: Path, imagen_process: Any
) -> None:
    damage_a_middle_page(history_file)
    err = imagen_process("log").err
    (line,) = err.splitlines()
    assert line.startswith("imagen: warning: skipped ")
    assert str(history_file) in line
    assert f"mv {history_file} {history_file}.damaged" in line


@pytest.mark.parametrize("damage", [random_bytes, cut_in_half], ids=["random bytes", "cut short"])
def test_a_file_sqlite_cannot_open_is_one_error_line_saying_how_to_start_afresh(
    damage: Callable[[Path], None], history_file: Path, imagen_process: Any
) -> None:
    damage(history_file)
    for command in ("log", "usage"):
        ran = imagen_process(command)
        assert ran.code == 1
        assert ran.out == ""
        (line,) = ran.err.splitlines()
        assert line.startswith(f"imagen: error: the history file {history_file} is damaged")
        assert f"mv {history_file} {history_file}.damaged" in line


def test_a_seeded_generation_runs_on_a_history_that_is_not_a_database(
    history_file: Path, imagen_process: Any, tmp_path: Path
) -> None:
    random_bytes(history_file)
    ran = imagen_process("generate", "a cat", "--seed", "7", "-o", str(tmp_path / "out"))
    assert ran.code == 0, ran.err
    assert Path(ran.out.strip()).is_file()
    assert "the history file" in ran.err


def test_rows_imagen_did_not_write_are_skipped_with_the_command_that_drops_them(
    history_file: Path, imagen_process: Any
) -> None:
    bad_rows(history_file)
    log = imagen_process("log", "-n", "100", "--json")
    assert log.code == 0
    assert len(json.loads(log.out)) == TAKES - 5
    (line,) = log.err.splitlines()
    assert "skipped 5 takes" in line
    # The advice works: run the statement it names, and the history reads clean.
    statement = shlex.split(line.split("to drop them: ")[1])[-1]
    assert statement == "DELETE FROM generations WHERE id IN (3, 4, 5, 6, 7)"
    with sqlite3.connect(history_file) as conn:
        conn.execute(statement)
    usage = imagen_process("usage")
    assert (usage.code, usage.err) == (0, "")
    assert usage.lines[-1].split()[:2] == ["TOTAL", str(TAKES - 5)]


def test_log_still_shows_n_takes_when_a_bad_row_is_among_the_newest(
    history_file: Path, imagen_process: Any
) -> None:
    with sqlite3.connect(history_file) as conn:
        conn.execute(f"UPDATE generations SET metadata = 'oops' WHERE id = {TAKES}")
    log = imagen_process("log", "-n", "3")
    assert len(log.lines) == 1 + 3
    assert "skipped 1 take " in log.err


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads a file whatever its mode")
def test_an_unreadable_file_is_one_error_line(history_file: Path, imagen_process: Any) -> None:
    history_file.chmod(0)
    ran = imagen_process("log")
    assert ran.code == 1
    (line,) = ran.err.splitlines()
    assert line.startswith("imagen: error: ")
    assert str(history_file) in line


def test_a_file_that_cannot_be_opened_is_one_error_line(
    history_file: Path, imagen: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What a file of mode 0 gives a user who is not root (which the test may not be)."""

    def refuse(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(sqlite3, "connect", refuse)
    for command in ("log", "usage"):
        ran = imagen(command)
        assert ran.code == 1
        assert ran.err == (
            f"imagen: error: cannot open the history file {history_file}: unable to open "
            "database file; check the directory is writable or set IMAGEN_HISTORY\n"
        )


def read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Open every SQLite file read-only, as SQLite does a file its user may not write."""
    real = sqlite3.connect

    def connect(path: Any, *args: Any, **kwargs: Any) -> sqlite3.Connection:
        return real(f"file:{path}?mode=ro", *args, uri=True, **kwargs)

    monkeypatch.setattr(sqlite3, "connect", connect)


def test_a_read_only_history_can_still_be_read(
    history_file: Path, imagen: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_only(monkeypatch)
    log = imagen("log", "-n", "100")
    assert (log.code, log.err) == (0, "")
    assert len(log.lines) == 1 + TAKES


def test_a_locked_history_is_one_line_saying_to_try_again(
    history_file: Path, imagen: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("imagen.store.sqlitefile.BUSY_TIMEOUT_SECONDS", 0.05)
    holder = sqlite3.connect(history_file, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")  # in WAL mode, only an exclusive locking mode stops readers
    try:
        ran = imagen("usage")
    finally:
        holder.close()
    assert ran.code == 1
    (line,) = ran.err.splitlines()
    assert "is locked by another process" in line
    assert "try again" in line


# --- every failure is an ImagenError ----------------------------------------------------


def damage_every_table_page(path: Path) -> None:
    for number in table_leaves(path):
        overwrite_page(path, number)


DAMAGE: dict[str, Callable[[Path], None]] = {
    "damaged page": damage_a_middle_page,
    "every table page damaged": damage_every_table_page,
    "cut short": cut_in_half,
    "random bytes": random_bytes,
    "bad rows": bad_rows,
}


def a_generation() -> Generation:
    return Generation(
        request=Request("a cat", seed=7),
        backend="mock",
        backend_type="mock",
        model="imagen-mock-placeholder",
        seed=7,
        path="a-cat-7.png",
        output_dir="/nowhere",
        sha256="ab" * 32,
        media_type="image/png",
        width=64,
        height=64,
        size_bytes=100,
        latency=0.1,
        created_at=dt.datetime.now(dt.UTC),
    )


def operations(history: History) -> dict[str, Callable[[], object]]:
    """What the pipeline and the commands do with a history."""
    first = next(iter(history.query(limit=1, on_damage=lambda damage: None)), None)
    identity = (first.backend_identity if first else None) or "mock:0"
    fingerprint = first.fingerprint if first else "0" * 64
    return {
        "find_cached": lambda: history.find_cached(identity, fingerprint),
        "record": lambda: history.record(a_generation(), backend_identity=identity),
        "query": lambda: history.query(),
        "usage_rows": lambda: history.usage_rows(),
    }


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_every_failure_of_a_damaged_history_is_an_imagen_error(
    kind: str, history_file: Path
) -> None:
    DAMAGE[kind](history_file)
    close_shared()
    refusals: list[ImagenError] = []
    try:
        history = History.shared(str(history_file))
    except ImagenError as error:
        refusals.append(error)
    else:
        for operation in operations(history).values():
            try:
                operation()
            except ImagenError as error:  # anything else (sqlite3, json, KeyError) fails the test
                refusals.append(error)
    assert all(isinstance(error, OutputError) for error in refusals)
    assert all("\n" not in str(error) for error in refusals)


def test_a_locked_file_is_an_imagen_error_for_the_pipeline_too(
    history_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("imagen.store.sqlitefile.BUSY_TIMEOUT_SECONDS", 0.05)
    close_shared()
    holder = sqlite3.connect(history_file, isolation_level=None)
    holder.execute("PRAGMA locking_mode = EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(OutputError, match="locked by another process"):
            History.shared(str(history_file)).find_cached("mock:0", "0" * 64)
    finally:
        holder.close()


def test_a_read_only_file_refuses_a_record_with_an_output_error(
    history_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    read_only(monkeypatch)
    with History.open(str(history_file)) as history:
        assert len(history.query()) == TAKES
        with pytest.raises(OutputError, match="readonly"):
            history.record(a_generation())
