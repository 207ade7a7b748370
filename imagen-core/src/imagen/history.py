"""The local history: every take recorded in a SQLite file under the user data dir.

The file is ``platformdirs.user_data_dir("imagen")/history.sqlite3`` unless the caller names
another one or ``IMAGEN_HISTORY`` does. Several imagen processes may write to it at once (the
CLI, a worker, the MCP server): the database runs in WAL mode with a busy timeout, and every
write is one short transaction.

The schema version lives in ``PRAGMA user_version``. ``MIGRATIONS[n - 1]`` upgrades a file from
version ``n - 1`` to ``n``; opening a file applies whatever it lacks, in place, inside one
``BEGIN IMMEDIATE`` transaction so two processes opening an old file never both migrate it.
Released migrations are never edited: a change to the schema is a new migration.
"""

from __future__ import annotations

import atexit
import datetime as dt
import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

import attrs

from imagen.errors import ConfigError, OutputError
from imagen.models import Cost, Generation
from imagen.sink import UsageRow
from imagen.sqlitefile import SQLiteFile, immediate, open_database
from imagen.usage import align_columns, format_usd

HISTORY_ENV = "IMAGEN_HISTORY"
FILE_NAME = "history.sqlite3"


def _create_generations(conn: sqlite3.Connection) -> None:
    conn.execute(
        """
        CREATE TABLE generations (
            id               INTEGER PRIMARY KEY AUTOINCREMENT,
            created_at       TEXT    NOT NULL,  -- ISO 8601, UTC, fixed width: sorts as text
            backend          TEXT    NOT NULL,  -- the user's instance name
            backend_type     TEXT    NOT NULL,
            backend_identity TEXT,              -- what the cache keys on, chosen by the caller
            model            TEXT    NOT NULL,
            seed             INTEGER,
            prompt           TEXT,              -- NULL when the prompt is not stored
            negative_prompt  TEXT,
            style            TEXT,
            width            INTEGER NOT NULL,
            height           INTEGER NOT NULL,
            aspect_ratio     TEXT,
            steps            INTEGER,
            options          TEXT    NOT NULL,  -- JSON object
            refs             TEXT    NOT NULL,  -- JSON list of {path, sha256, media_type}
            fingerprint      TEXT    NOT NULL,  -- Request.fingerprint()
            latency          REAL    NOT NULL,  -- seconds
            cost_estimate    TEXT,              -- Decimal USD as text, never a float
            cost_actual      TEXT,
            caller           TEXT,
            cache_hit        INTEGER NOT NULL,
            output_dir       TEXT    NOT NULL,
            path             TEXT    NOT NULL,  -- relative to output_dir, posix separators
            sidecar_path     TEXT,
            sha256           TEXT    NOT NULL,
            media_type       TEXT    NOT NULL,
            size_bytes       INTEGER NOT NULL,
            take             INTEGER NOT NULL,
            takes            INTEGER NOT NULL,
            metadata         TEXT    NOT NULL   -- JSON object: provider ids, mapping decisions
        )
        """
    )
    conn.execute("CREATE INDEX generations_created_at ON generations (created_at)")
    conn.execute("CREATE INDEX generations_backend ON generations (backend, created_at)")


def _add_prompt_sha256(conn: sqlite3.Connection) -> None:
    """Keep a prompt's hash even when the prompt itself is not stored, and index cache lookups."""
    conn.execute("ALTER TABLE generations ADD COLUMN prompt_sha256 TEXT")
    rows = conn.execute("SELECT id, prompt FROM generations WHERE prompt IS NOT NULL").fetchall()
    conn.executemany(
        "UPDATE generations SET prompt_sha256 = ? WHERE id = ?",
        [(prompt_sha256(prompt), row_id) for row_id, prompt in rows],
    )
    conn.execute("CREATE INDEX generations_prompt_sha256 ON generations (prompt_sha256)")
    conn.execute(
        "CREATE INDEX generations_cache ON generations (backend_identity, fingerprint, created_at)"
    )


def _add_file_stat(conn: sqlite3.Connection) -> None:
    """The image file's stat as written, so the cache can tell an untouched file cheaply.

    Any write to a file, or any change of its times, moves its ctime, which cannot be set back:
    a file whose size, mtime, ctime and inode still match was not changed since.
    """
    for column in ("file_mtime_ns", "file_ctime_ns", "file_inode"):
        conn.execute(f"ALTER TABLE generations ADD COLUMN {column} INTEGER")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_generations,
    _add_prompt_sha256,
    _add_file_stat,
)
SCHEMA_VERSION = len(MIGRATIONS)


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
    except OSError:
        return {"file_mtime_ns": None, "file_ctime_ns": None, "file_inode": None}
    return {
        "file_mtime_ns": stat.st_mtime_ns,
        "file_ctime_ns": stat.st_ctime_ns,
        "file_inode": stat.st_ino,
    }


def prompt_sha256(prompt: str) -> str:
    """sha256 hex of the prompt's UTF-8 bytes: what is kept when the prompt itself is not."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


def default_path() -> str:
    """``$IMAGEN_HISTORY`` if set, else ``history.sqlite3`` in the user data dir."""
    from_env = os.environ.get(HISTORY_ENV, "").strip()
    if from_env:
        return os.path.expanduser(from_env)
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("imagen"), FILE_NAME)


def _utc_text(moment: dt.datetime) -> str:
    """Fixed-width UTC ISO text, so SQL text comparison orders moments correctly.

    A naive datetime is taken as local time, like everything else the user types.
    """
    utc = moment.astimezone(dt.UTC)
    return utc.strftime("%Y-%m-%dT%H:%M:%S.%f+00:00")


def _decimal_text(cost: Cost | None) -> str | None:
    return None if cost is None else str(cost.amount)


def _decimal(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


def _json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, ensure_ascii=False, default=str)


@attrs.frozen
class HistoryEntry:
    """One row of the history, as stored. ``created_at`` is timezone-aware UTC.

    ``prompt`` and ``negative_prompt`` are None when the take was recorded with
    ``store_prompt=False``; ``prompt_sha256`` is always kept (None only for rows written before
    schema version 2 without a prompt). Costs are USD ``Decimal`` amounts.
    """

    id: int
    created_at: dt.datetime
    backend: str
    backend_type: str
    backend_identity: str | None
    model: str
    seed: int | None
    prompt: str | None
    prompt_sha256: str | None
    negative_prompt: str | None
    style: str | None
    width: int
    height: int
    aspect_ratio: str | None
    steps: int | None
    options: Mapping[str, Any]
    refs: tuple[Mapping[str, Any], ...]
    fingerprint: str
    latency: float
    cost_estimate: Decimal | None
    cost_actual: Decimal | None
    caller: str | None
    cache_hit: bool
    output_dir: str
    path: str
    sidecar_path: str | None
    sha256: str
    media_type: str
    size_bytes: int
    take: int
    takes: int
    metadata: Mapping[str, Any]
    file_mtime_ns: int | None = None
    file_ctime_ns: int | None = None
    file_inode: int | None = None

    def file_unchanged(self) -> bool | None:
        """True if the image file's stat is as recorded, False if not, None if it is gone."""
        try:
            stat = os.stat(self.absolute_path())
        except OSError:
            return None
        return (
            self.file_ctime_ns is not None
            and stat.st_size == self.size_bytes
            and stat.st_mtime_ns == self.file_mtime_ns
            and stat.st_ctime_ns == self.file_ctime_ns
            and stat.st_ino == self.file_inode
        )

    @property
    def cost(self) -> Decimal | None:
        """What the take cost: the actual amount where known, else the estimate."""
        return self.cost_actual if self.cost_actual is not None else self.cost_estimate

    def absolute_path(self) -> str:
        return os.path.join(self.output_dir, *self.path.split("/"))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data: datetimes as ISO text, money as decimal strings."""
        data = attrs.asdict(self, recurse=False)
        data["created_at"] = self.created_at.isoformat()
        data["options"] = dict(self.options)
        data["refs"] = [dict(ref) for ref in self.refs]
        data["metadata"] = dict(self.metadata)
        for key in ("cost_estimate", "cost_actual"):
            data[key] = None if data[key] is None else str(data[key])
        data["absolute_path"] = self.absolute_path()
        return data


def _entry(row: sqlite3.Row) -> HistoryEntry:
    data = dict(zip(row.keys(), row, strict=True))
    data.update(
        created_at=dt.datetime.fromisoformat(data["created_at"]),
        options=json.loads(data["options"]),
        refs=tuple(json.loads(data["refs"])),
        metadata=json.loads(data["metadata"]),
        cost_estimate=_decimal(data["cost_estimate"]),
        cost_actual=_decimal(data["cost_actual"]),
        cache_hit=bool(data["cache_hit"]),
    )
    return HistoryEntry(**data)


def _like_pattern(text: str) -> str:
    """A LIKE pattern matching ``text`` literally anywhere (``%``, ``_`` and ``\\`` escaped)."""
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the open database up to ``SCHEMA_VERSION`` in place; return the version it had.

    ``conn`` must be in autocommit mode (``isolation_level=None``).
    """
    with immediate(conn):
        found = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if found > SCHEMA_VERSION:
            raise ConfigError(
                f"the history file has schema version {found}, newer than this imagen "
                f"understands ({SCHEMA_VERSION}); upgrade imagen or set {HISTORY_ENV} "
                "to another file"
            )
        for version in range(found, SCHEMA_VERSION):
            MIGRATIONS[version](conn)
        if found != SCHEMA_VERSION:
            # PRAGMA takes no parameters; the value is our own integer.
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return found


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

        conn = open_database(path, what="the history file", env=HISTORY_ENV, prepare=prepare)
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
            "prompt_sha256": prompt_sha256(request.prompt),
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
        columns = ", ".join(values)
        placeholders = ", ".join(f":{name}" for name in values)
        sql = f"INSERT INTO generations ({columns}) VALUES ({placeholders})"
        _, row_id = self._run(sql, values)
        assert row_id is not None  # an INSERT into a rowid table always sets it
        return row_id

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
        """
        return self._select(
            "WHERE backend_identity = ? AND fingerprint = ? AND (cache_hit = 0 OR output_dir = ?)",
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
    ) -> list[HistoryEntry]:
        """Recorded takes, newest first.

        ``backend`` matches the instance name or the backend type; ``text`` is a literal,
        case-insensitive (for ASCII) substring of the stored prompt.
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
        clause = f"WHERE {' AND '.join(where)}" if where else ""
        return self._select(clause, params, newest_first=True, limit=limit)

    def usage_rows(self, since: dt.datetime | None = None) -> list[UsageRow]:
        """Every take since ``since`` (all when None), oldest first, as usage reporting sees it.

        A cache hit cost nothing, so its ``cost_usd`` is 0 whatever the original take cost.
        """
        if since is None:
            entries = self._select("", [], newest_first=False)
        else:
            entries = self._select("WHERE created_at >= ?", [_utc_text(since)], newest_first=False)
        return [_usage_row(entry) for entry in entries]

    def _select(
        self,
        where: str,
        params: Sequence[Any],
        *,
        newest_first: bool,
        limit: int | None = None,
    ) -> list[HistoryEntry]:
        order = "DESC" if newest_first else "ASC"
        sql = f"SELECT * FROM generations {where} ORDER BY created_at {order}, id {order}"
        if limit is not None:
            sql += " LIMIT ?"
            params = [*params, limit]
        rows, _ = self._run(sql, params)
        return [_entry(row) for row in rows]

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
                f"the history file {self.path} failed: {error}; "
                f"check the disk or set {HISTORY_ENV} to another file"
            ) from error


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


LOG_PROMPT_WIDTH = 60


def _truncate(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def format_log(entries: Iterable[HistoryEntry]) -> str:
    """``imagen log``: one aligned line per take, newest first as given (no trailing newline).

    Columns: local time, backend, model, seed, cost, cache mark, absolute path, prompt.
    """
    lines: list[list[str]] = []
    for entry in entries:
        prompt = entry.prompt if entry.prompt is not None else "(prompt not stored)"
        cost = entry.cost
        lines.append(
            [
                entry.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                entry.backend,
                entry.model,
                "-" if entry.seed is None else str(entry.seed),
                "-" if cost is None else format_usd(cost),
                "cached" if entry.cache_hit else "-",
                entry.absolute_path(),
                _truncate(prompt, LOG_PROMPT_WIDTH),
            ]
        )
    if not lines:
        return "no generations recorded"
    return align_columns(lines, right={3, 4})


def log_json(entries: Iterable[HistoryEntry]) -> str:
    """``imagen log --json``: a JSON list with one object per take (every stored column)."""
    return json.dumps([entry.to_dict() for entry in entries], indent=2, ensure_ascii=False)


__all__ = [
    "HISTORY_ENV",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "History",
    "HistoryEntry",
    "default_path",
    "format_log",
    "log_json",
    "migrate",
    "prompt_sha256",
]
