"""Reading what is left of a damaged history file.

A damaged page (a disk error, a file copied while written, bytes overwritten) makes SQLite fail
every statement that touches it, so one bad page would hide the whole history. When a read
fails that way, ``read_around_damage`` finds the row ids the table can still reach, bypassing
the indexes (which may be the damaged part), then reads those rows one id at a time. Rows on
sound pages come back; the rest are counted. ``Damage`` says what was skipped and how to repair
the file.
"""

from __future__ import annotations

import os
import shlex
import sqlite3
from collections.abc import Sequence
from typing import Any

import attrs

from imagen.store.history.location import HISTORY_ENV
from imagen.store.sqlitefile import is_busy

RANGE = 1024  # ids read per statement while salvaging: few statements, small halving depth
_LISTED_IDS = 10  # more bad rows than this is a file to set aside, not rows to delete
_MIN_ROW_BYTES = 64  # no generations row is smaller: bounds the ids a file can hold


@attrs.frozen
class Damage:
    """What one read of the history could not use.

    ``unreadable``: how many takes are on pages SQLite could not read. ``invalid``: ids of rows
    it read whose values are not what imagen writes (bad JSON, text where a number belongs).
    ``reason`` is the first error met, for the message.
    """

    path: str
    unreadable: int = 0
    invalid: tuple[int, ...] = ()
    reason: str = ""

    @property
    def skipped(self) -> int:
        return self.unreadable + len(self.invalid)

    def message(self) -> str:
        """One line: what was skipped, why, where the file is and how to repair it.

        Damaged pages cannot be mended in place: the advice is to move the file aside (a new
        one is started at the next take). Rows with bad values can simply be deleted.
        """
        takes = "take" if self.skipped == 1 else "takes"
        said = f"skipped {self.skipped} {takes} of the history file {self.path} ({self.reason})"
        if self.unreadable or len(self.invalid) > _LISTED_IDS:
            aside = f"mv {shlex.quote(self.path)} {shlex.quote(self.path + '.damaged')}"
            return (
                f"{said}: the file is damaged; to start a new history, move it aside ({aside}) "
                f"or set {HISTORY_ENV} to another file"
            )
        ids = ", ".join(str(row_id) for row_id in sorted(self.invalid))
        delete = f"DELETE FROM generations WHERE id IN ({ids})"
        return (
            f"{said}: imagen did not write those rows; to drop them: "
            f"sqlite3 {shlex.quote(self.path)} {shlex.quote(delete)}"
        )


def _highest_id(conn: sqlite3.Connection, path: str) -> tuple[int, bool]:
    """The highest row id to look for, and whether the table itself said so.

    When the pages that know are damaged too, it is as many rows as the file could hold.
    """
    for sql in (
        "SELECT max(id) FROM generations",
        "SELECT seq FROM sqlite_sequence WHERE name = 'generations'",
    ):
        try:
            found = conn.execute(sql).fetchone()
        except sqlite3.DatabaseError as error:
            if is_busy(error):
                raise
            continue
        if found is not None and isinstance(found[0], int):
            return found[0], True
    try:
        size = os.path.getsize(path)
    except OSError:
        size = 0
    return max(size // _MIN_ROW_BYTES, RANGE), False


def _fetch(conn: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[sqlite3.Row] | None:
    """The statement's rows, or None when SQLite reports damage on the way."""
    try:
        return conn.execute(sql, params).fetchall()
    except sqlite3.DatabaseError as error:
        if is_busy(error):
            raise
        return None


def _readable_ids(conn: sqlite3.Connection, highest: int) -> set[int]:
    """Every id up to ``highest`` that the table can still find.

    A scan of an id range can fail, or worse, stop early without an error when it meets a page
    whose cells are garbage. imagen never deletes takes, so ids are dense: a range that comes
    back short is split in halves until each missing id has been looked up on its own.
    """
    sql = "SELECT id FROM generations NOT INDEXED WHERE id BETWEEN ? AND ?"
    found: set[int] = set()
    pending = [(low, min(low + RANGE - 1, highest)) for low in range(1, highest + 1, RANGE)]
    pending.reverse()  # a stack, taken from the low end
    while pending:
        low, high = pending.pop()
        rows = _fetch(conn, sql, [low, high])
        ids = {row[0] for row in rows or ()}
        found |= ids
        if len(ids) < high - low + 1 and low < high:
            middle = (low + high) // 2
            pending.extend(
                half for half in ((middle + 1, high), (low, middle)) if not _covered(found, *half)
            )
    return found


def _covered(found: set[int], low: int, high: int) -> bool:
    return all(row_id in found for row_id in range(low, high + 1))


def _rows(
    conn: sqlite3.Connection, ids: list[int], where: str, params: Sequence[Any]
) -> tuple[list[sqlite3.Row], int]:
    """The rows of ``ids`` that match ``where``, each id looked up by itself (so one damaged
    page cannot end the read), and how many of them could not be read."""
    condition = f"AND ({where})" if where else ""
    rows: list[sqlite3.Row] = []
    unreadable = 0
    pending = [ids[start : start + RANGE] for start in range(0, len(ids), RANGE)]
    while pending:
        chunk = pending.pop()
        marks = ", ".join("?" * len(chunk))
        sql = f"SELECT * FROM generations NOT INDEXED WHERE id IN ({marks}) {condition}"
        got = _fetch(conn, sql, [*chunk, *params])
        if got is not None:
            rows.extend(got)
        elif len(chunk) == 1:
            unreadable += 1
        else:
            middle = len(chunk) // 2
            pending.extend([chunk[:middle], chunk[middle:]])
    return rows, unreadable


def read_around_damage(
    conn: sqlite3.Connection, path: str, where: str, params: Sequence[Any]
) -> tuple[list[sqlite3.Row], int]:
    """Every readable row of ``generations`` matching ``where`` (a SQL condition on its
    columns, or ""), in no particular order, and how many takes could not be read.

    Takes that cannot be read are the ids the table cannot find any more below the highest
    one, and those it finds but cannot read. Raises the busy error as is: waiting for a lock
    is not damage.
    """
    highest, known = _highest_id(conn, path)
    ids = _readable_ids(conn, highest)
    if not known:  # beyond the last id found, nothing says a take was ever there
        highest = max(ids, default=0)
    rows, unreadable = _rows(conn, sorted(ids), where, params)
    return rows, unreadable + highest - len(ids)
