"""The open history file: recording takes and reading them back.

Several imagen processes may write to the file at once (the CLI, a worker, the MCP server): the
database runs in WAL mode with a busy timeout, and every write is one short transaction.

Every failure of the file (locked, unreadable, full disk, damaged pages, rows imagen did not
write) is an ``OutputError`` with one line saying what to do; nothing else escapes, so a caller
that must not stop (the pipeline) catches ``ImagenError``. Reads for people (``query``,
``usage_rows``) can instead be given ``on_damage``: they then return every take they can read and
report what they skipped.
"""

from __future__ import annotations

import atexit
import datetime as dt
import json
import os
import sqlite3
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from imagen.errors import OutputError
from imagen.models import Cost, Generation
from imagen.sinks.protocol import UsageRow
from imagen.store.history.entry import HistoryEntry, InvalidRow, entry_from_row
from imagen.store.history.location import HISTORY_ENV, default_path
from imagen.store.history.salvage import Damage, read_around_damage
from imagen.store.history.schema import migrate, prompt_sha256
from imagen.store.sqlitefile import SQLiteFile, explain, is_damage, open_database

OnDamage = Callable[[Damage], None]
_WHAT = "the history file"

_SHARED: dict[str, tuple[int, History]] = {}


def close_shared() -> None:
    """Close the shared histories this process opened (at exit; tests between cases)."""
    while _SHARED:
        _, (pid, history) = _SHARED.popitem()
        if pid == os.getpid():
            history.close()


atexit.register(close_shared)


def _file_stat(generation: Generation) -> dict[str, int | None]:
    path = os.path.join(generation.output_dir, *generation.path.split("/"))
    try:
        stat = os.stat(path)
    except (OSError, ValueError):
        return {"file_mtime_ns": None, "file_ctime_ns": None, "file_inode": None}
    return {
        "file_mtime_ns": stat.st_mtime_ns,
        "file_ctime_ns": stat.st_ctime_ns,
        "file_inode": stat.st_ino,
    }


def _utc_text(moment: dt.datetime) -> str:
    """Fixed-width UTC ISO text, so SQL text comparison orders moments correctly.

    A naive datetime is taken as local time, like everything else the user types.
    """
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _decimal_text(cost: Cost | None) -> str | None:
    return None if cost is None else str(cost.amount)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


def _like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (``%``, ``_`` and ``\\`` escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _stored_text(value: Any) -> Any:
    """A value SQLite can store: a lone surrogate (an undecodable byte of a command-line
    argument or file name) has no UTF-8 form, so it is kept as "?" rather than losing the row."""
    if isinstance(value, str) and not value.isascii():
        return value.encode("utf-8", "replace").decode("utf-8")
    return value


class History(SQLiteFile):
    """An open history file. Use ``History.open()`` (or ``History.shared()``); close it with
    ``close()`` or ``with``. One instance may be shared between threads.
    """

    @classmethod
    def open(cls, path: str | None = None) -> History:
        """Open (creating and upgrading as needed) ``path``, else ``default_path()``."""
        path = os.path.expanduser(path) if path else default_path()

        def prepare(conn: sqlite3.Connection) -> None:
            conn.execute("PRAGMA synchronous = NORMAL")
            migrate(conn)

        conn = open_database(path, what=_WHAT, env=HISTORY_ENV, prepare=prepare)
        return cls(conn, path)

    @classmethod
    def shared(cls, path: str | None = None) -> History:
        """One open history per file and process, kept until the process exits.

        The pipeline asks for the history twice per run (the cache lookup, then the record) and
        a server or worker runs many generations: opening a SQLite file in WAL mode and closing
        it (which checkpoints the log) costs more than the writes. Reopened after a fork.
        """
        resolved = os.path.abspath(os.path.expanduser(path) if path else default_path())
        found = _SHARED.get(resolved)
        if found is not None and found[0] == os.getpid():
            return found[1]
        history = cls.open(resolved)
        _SHARED[resolved] = (os.getpid(), history)
        return history

    def record(
        self,
        generation: Generation,
        *,
        store_prompt: bool = True,
        backend_identity: str | None = None,
    ) -> int:
        """Record one take; return its row id.

        With ``store_prompt=False`` only the prompt's sha256 is kept (prompt and negative prompt
        are NULL). ``backend_identity`` is what ``find_cached`` matches on; takes recorded
        without one are never offered to the cache.
        """
        request = generation.request
        values: dict[str, Any] = {
            "created_at": _utc_text(generation.created_at),
            "backend": generation.backend,
            "backend_type": generation.backend_type,
            "backend_identity": backend_identity,
            "model": generation.model,
            "seed": generation.seed,
            "prompt": request.prompt if store_prompt else None,
            "prompt_sha256": prompt_sha256(_stored_text(request.prompt)),
            "negative_prompt": request.negative_prompt if store_prompt else None,
            "style": request.style,
            "width": generation.width,
            "height": generation.height,
            "aspect_ratio": request.aspect_ratio,
            "steps": request.steps,
            "options": _json(dict(request.options)),
            "refs": _json(
                [
                    {"path": ref.path, "sha256": ref.sha256, "media_type": ref.media_type}
                    for ref in request.refs
                ]
            ),
            "fingerprint": request.fingerprint(),
            "latency": generation.latency,
            "cost_estimate": _decimal_text(generation.cost_estimate),
            "cost_actual": _decimal_text(generation.cost_actual),
            "caller": generation.caller,
            "cache_hit": int(generation.cache_hit),
            "output_dir": generation.output_dir,
            "path": generation.path,
            "sidecar_path": generation.sidecar_path,
            "sha256": generation.sha256,
            "media_type": generation.media_type,
            "size_bytes": generation.size_bytes,
            "take": generation.take,
            "takes": generation.takes,
            "metadata": _json(dict(generation.metadata)),
            **_file_stat(generation),
        }
        values = {name: _stored_text(value) for name, value in values.items()}
        columns = ", ".join(values)
        placeholders = ", ".join(f":{name}" for name in values)
        sql = f"INSERT INTO generations ({columns}) VALUES ({placeholders})"
        _, row_id = self._run(sql, values)
        assert row_id is not None  # an INSERT into a rowid table always sets it
        return row_id

    def mark_picked(self, output_dir: str, paths: Sequence[str], *, picked: bool = True) -> int:
        """Mark the takes written at ``paths`` (relative to ``output_dir``) as picked or not;
        return how many rows changed."""
        if not paths:
            return 0
        marks = ", ".join("?" for _ in paths)
        rows, _ = self._run(
            f"UPDATE generations SET picked = ? WHERE output_dir = ? AND path IN ({marks})"
            " RETURNING id",
            [int(picked), output_dir, *paths],
        )
        return len(rows)

    def find_cached(
        self,
        backend_identity: str,
        fingerprint: str,
        *,
        limit: int = 5,
        output_dir: str | None = None,
    ) -> list[HistoryEntry]:
        """Original takes (not earlier cache hits) of the same request on the same backend
        identity, newest first, at most ``limit``; with ``output_dir``, also the cache hits
        copied into that folder (so a hit is copied into a folder once, not at every run).

        The caller checks that the files still exist (and match their sha256) before reusing one.
        A damaged file or row is an ``OutputError``: the cache is only an optimisation.
        """
        return self._select(
            "backend_identity = ? AND fingerprint = ? AND (cache_hit = 0 OR output_dir = ?)",
            [backend_identity, fingerprint, output_dir],
            newest_first=True,
            limit=limit,
        )

    def query(
        self,
        *,
        since: dt.datetime | None = None,
        backend: str | None = None,
        text: str | None = None,
        limit: int | None = None,
        on_damage: OnDamage | None = None,
    ) -> list[HistoryEntry]:
        """Recorded takes, newest first.

        ``backend`` matches the instance name or the backend type; ``text`` is a literal,
        case-insensitive (for ASCII) substring of the stored prompt. Without ``on_damage`` a
        damaged file or row is an ``OutputError``; with it, the takes that can be read are
        returned and ``on_damage`` hears once what was skipped.
        """
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("created_at >= ?")
            params.append(_utc_text(since))
        if backend is not None:
            where.append("(backend = ? OR backend_type = ?)")
            params.extend([backend, backend])
        if text:
            where.append("prompt LIKE ? ESCAPE '\\'")
            params.append(_like_pattern(text))
        return self._select(
            " AND ".join(where), params, newest_first=True, limit=limit, on_damage=on_damage
        )

    def usage_rows(
        self, since: dt.datetime | None = None, *, on_damage: OnDamage | None = None
    ) -> list[UsageRow]:
        """Every take since ``since`` (all when None), oldest first, as usage reporting sees it.

        A cache hit cost nothing, so its ``cost_usd`` is 0 whatever the original take cost.
        ``on_damage`` as for ``query``.
        """
        where, params = ("", []) if since is None else ("created_at >= ?", [_utc_text(since)])
        entries = self._select(where, params, newest_first=False, on_damage=on_damage)
        return [_usage_row(entry) for entry in entries]

    def _select(
        self,
        where: str,
        params: Sequence[Any],
        *,
        newest_first: bool,
        limit: int | None = None,
        on_damage: OnDamage | None = None,
    ) -> list[HistoryEntry]:
        unreadable, reason = 0, ""
        try:
            rows = self._ordered_rows(where, params, newest_first=newest_first, limit=limit)
        except OutputError as failure:
            error = failure.__cause__
            if on_damage is None or error is None or not is_damage(error):
                raise
            rows, unreadable = self._read_around_damage(where, params)
            rows.sort(key=lambda row: (str(row["created_at"]), row["id"]), reverse=newest_first)
            reason = str(error)
        entries, invalid = [], []
        for row in rows:
            try:
                entries.append(entry_from_row(row))
            except InvalidRow as problem:
                invalid.append(row["id"])
                reason = reason or f"row {row['id']}: {problem}"
        if unreadable or invalid:
            damage = Damage(self.path, unreadable, tuple(invalid), reason)
            if on_damage is None:
                raise OutputError(damage.message())
            on_damage(damage)
        return entries if limit is None else entries[:limit]

    def _ordered_rows(
        self, where: str, params: Sequence[Any], *, newest_first: bool, limit: int | None
    ) -> list[sqlite3.Row]:
        """The rows in order, at most ``limit`` valid ones: rows imagen did not write are read
        past, so ``imagen log -n 20`` still shows 20 takes when one row is bad."""
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT * FROM generations {f'WHERE {where}' if where else ''}"
        sql += f" ORDER BY created_at {order}, id {order}"
        if limit is None:
            return self._run(sql, params)[0]
        fetch = limit
        while True:
            rows, _ = self._run(sql + " LIMIT ?", [*params, fetch])
            valid = sum(1 for row in rows if _is_valid(row))
            if valid >= limit or len(rows) < fetch:
                return rows
            fetch += limit - valid

    def _read_around_damage(
        self, where: str, params: Sequence[Any]
    ) -> tuple[list[sqlite3.Row], int]:
        try:
            with self._lock:
                return read_around_damage(self._conn, self.path, where, params)
        except sqlite3.Error as error:
            raise OutputError(
                explain(error, what=_WHAT, path=self.path, env=HISTORY_ENV)
            ) from error

    def _run(
        self, sql: str, params: Sequence[Any] | Mapping[str, Any]
    ) -> tuple[list[sqlite3.Row], int | None]:
        """Execute one statement (its own transaction); return its rows and last row id."""
        try:
            with self._lock:
                cursor = self._conn.execute(sql, params)
                return cursor.fetchall(), cursor.lastrowid
        except sqlite3.Error as error:
            raise OutputError(
                explain(error, what=_WHAT, path=self.path, env=HISTORY_ENV)
            ) from error
        except OverflowError as error:  # an integer past SQLite's 64 bits
            raise OutputError(f"{_WHAT} {self.path} cannot store a value: {error}") from error


def _is_valid(row: sqlite3.Row) -> bool:
    try:
        entry_from_row(row)
    except InvalidRow:
        return False
    return True


def _usage_row(entry: HistoryEntry) -> UsageRow:
    return UsageRow(
        created_at=entry.created_at,
        backend=entry.backend,
        model=entry.model,
        caller=entry.caller,
        seed=entry.seed,
        latency_ms=round(entry.latency * 1000),
        cost_usd=Decimal(0) if entry.cache_hit else entry.cost,
        cache_hit=entry.cache_hit,
    )
