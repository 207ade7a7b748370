"""The sink outbox: deliveries that failed, kept in SQLite until ``imagen sync`` gets them through.

The file is ``platformdirs.user_data_dir("imagen")/outbox.sqlite3`` unless the caller names
another one or ``IMAGEN_OUTBOX`` does. Several processes may use it at once (a generate adding,
a sync retrying): WAL mode, a busy timeout, one short transaction per write. A sync *claims* a
delivery before it tries it, so two syncs running together never deliver the same one twice;
a claim older than its lease (a sync that was killed) is taken over.

    with Outbox.open() as outbox:
        outbox.add("cloud", generation, state={"uploaded": True}, error="row insert: HTTP 503")
        summary = asyncio.run(sync(config, outbox, report=print))   # imagen.sinks.sync
"""

from __future__ import annotations

import datetime as dt
import json
import os
import sqlite3
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from imagen.errors import ConfigError, OutputError
from imagen.models import Generation
from imagen.store.sqlitefile import SQLiteFile, immediate, open_database

if TYPE_CHECKING:
    pass

OUTBOX_ENV = "IMAGEN_OUTBOX"
FILE_NAME = "outbox.sqlite3"
SCHEMA_VERSION = 1
#: a claim older than this (seconds) belongs to a sync that died; another sync may take it
CLAIM_LEASE_SECONDS = 600.0

_SCHEMA = """
CREATE TABLE deliveries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    sink        TEXT    NOT NULL,   -- the sink instance name in config
    generation  TEXT    NOT NULL,   -- JSON: serialize.generation_to_dict
    attempts    INTEGER NOT NULL,   -- attempts made so far (the failed first one included)
    state       TEXT    NOT NULL,   -- JSON object: SinkError.state, steps already done
    last_error  TEXT,
    retryable   INTEGER NOT NULL,   -- 0: the sink said a retry alone cannot help (a 4xx)
    created_at  TEXT    NOT NULL,   -- ISO 8601 UTC
    updated_at  TEXT    NOT NULL,
    claimed_at  REAL               -- time.time() of the sync working on it, else NULL
);
CREATE INDEX deliveries_sink ON deliveries (sink, id);
"""


def default_path() -> str:
    """``$IMAGEN_OUTBOX`` if set, else ``outbox.sqlite3`` in the user data dir."""
    from_env = os.environ.get(OUTBOX_ENV, "").strip()
    if from_env:
        return os.path.expanduser(from_env)
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("imagen"), FILE_NAME)


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="microseconds")


def _json(value: Any) -> str:
    # ASCII escapes keep lone surrogates storable (SQLite text is UTF-8).
    return json.dumps(value, sort_keys=True, ensure_ascii=True)


@attrs.frozen
class PendingDelivery:
    """One delivery waiting in the outbox. ``attempts`` counts the failed tries so far."""

    id: int
    sink: str
    generation: Generation
    attempts: int
    state: Mapping[str, Any]
    last_error: str | None
    retryable: bool
    created_at: dt.datetime
    updated_at: dt.datetime

    def absolute_path(self) -> str:
        return os.path.join(self.generation.output_dir, *self.generation.path.split("/"))

    def image_exists(self) -> bool:
        return os.path.isfile(self.absolute_path())

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON data for ``imagen sync --list --json``."""
        return {
            "id": self.id,
            "sink": self.sink,
            "path": self.generation.path,
            "absolute_path": self.absolute_path(),
            "image_exists": self.image_exists(),
            "backend": self.generation.backend,
            "attempts": self.attempts,
            "state": dict(self.state),
            "last_error": self.last_error,
            "retryable": self.retryable,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
        }


def _prepare(conn: sqlite3.Connection) -> None:
    """The schema, created once (another process may be doing the same at that moment)."""
    with immediate(conn):
        version = int(conn.execute("PRAGMA user_version").fetchone()[0])
        if version > SCHEMA_VERSION:
            raise ConfigError(
                f"the outbox file has schema version {version}, newer than this imagen "
                f"understands ({SCHEMA_VERSION}); upgrade imagen or set {OUTBOX_ENV}"
            )
        if version == 0:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")


class Outbox(SQLiteFile):
    """An open outbox file. Use ``Outbox.open()``; close it with ``close()`` or ``with``.

    One instance may be shared between threads.
    """

    @classmethod
    def open(cls, path: str | None = None) -> Outbox:
        """Open (creating as needed) ``path``, else ``default_path()``."""
        path = os.path.expanduser(path) if path else default_path()
        conn = open_database(path, what="the outbox file", env=OUTBOX_ENV, prepare=_prepare)
        return cls(conn, path)

    def _write(self, sql: str, params: tuple[Any, ...]) -> sqlite3.Cursor:
        with self._lock:
            try:
                return self._conn.execute(sql, params)
            except sqlite3.Error as error:
                raise OutputError(f"cannot write the outbox file {self.path}: {error}") from error

    def add(
        self,
        sink: str,
        generation: Generation,
        *,
        state: Mapping[str, Any] | None = None,
        error: str | None = None,
        retryable: bool = True,
    ) -> int:
        """Keep a delivery whose first attempt failed; returns its id."""
        from imagen.sinks.serialize import generation_to_dict

        now = _now()
        cursor = self._write(
            "INSERT INTO deliveries (sink, generation, attempts, state, last_error, retryable,"
            " created_at, updated_at) VALUES (?, ?, 1, ?, ?, ?, ?, ?)",
            (sink, _json(generation_to_dict(generation)), _json(dict(state or {})), error,
             retryable, now, now),
        )  # fmt: skip
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    def pending(self) -> list[PendingDelivery]:
        """Every delivery still waiting, oldest first."""
        with self._lock:
            rows = self._conn.execute("SELECT * FROM deliveries ORDER BY id").fetchall()
        return [self._delivery(row) for row in rows]

    def _delivery(self, row: sqlite3.Row) -> PendingDelivery:
        from imagen.sinks.serialize import generation_from_dict

        try:
            generation = generation_from_dict(json.loads(row["generation"]))
        except ValueError as error:
            raise OutputError(
                f"delivery {row['id']} in the outbox {self.path} cannot be read ({error}); "
                f"remove it with: imagen sync --drop {row['id']}"
            ) from error
        return PendingDelivery(
            id=row["id"],
            sink=row["sink"],
            generation=generation,
            attempts=row["attempts"],
            state=json.loads(row["state"]),
            last_error=row["last_error"],
            retryable=bool(row["retryable"]),
            created_at=dt.datetime.fromisoformat(row["created_at"]),
            updated_at=dt.datetime.fromisoformat(row["updated_at"]),
        )

    def claim(self, delivery_id: int, *, lease: float = CLAIM_LEASE_SECONDS) -> bool:
        """Mark a delivery as being worked on; False when another process holds a live claim."""
        now = time.time()
        cursor = self._write(
            "UPDATE deliveries SET claimed_at = ? WHERE id = ? "
            "AND (claimed_at IS NULL OR claimed_at < ?)",
            (now, delivery_id, now - lease),
        )
        return cursor.rowcount == 1

    def done(self, delivery_id: int) -> None:
        """The delivery got through: forget it."""
        self._write("DELETE FROM deliveries WHERE id = ?", (delivery_id,))

    def failed(
        self,
        delivery_id: int,
        *,
        state: Mapping[str, Any] | None = None,
        error: str,
        retryable: bool = True,
    ) -> None:
        """Another attempt failed: count it, keep what it finished, release the claim."""
        self._write(
            "UPDATE deliveries SET attempts = attempts + 1, state = ?, last_error = ?, "
            "retryable = ?, updated_at = ?, claimed_at = NULL WHERE id = ?",
            (_json(dict(state or {})), error, retryable, _now(), delivery_id),
        )

    def release(self, delivery_id: int) -> None:
        """Give back a claim without counting an attempt (the sync was interrupted)."""
        self._write("UPDATE deliveries SET claimed_at = NULL WHERE id = ?", (delivery_id,))

    def drop(self, delivery_id: int) -> bool:
        """Remove a delivery on purpose; False when there is no such id."""
        return self._write("DELETE FROM deliveries WHERE id = ?", (delivery_id,)).rowcount == 1


__all__ = [
    "OUTBOX_ENV",
    "Outbox",
    "PendingDelivery",
    "default_path",
]
