"""The history table and its migrations.

The schema version lives in ``PRAGMA user_version``. ``MIGRATIONS[n - 1]`` upgrades a file from
version ``n - 1`` to ``n``; opening a file applies whatever it lacks, in place, inside one
``BEGIN IMMEDIATE`` transaction so two processes opening an old file never both migrate it.
Released migrations are never edited: a change to the schema is a new migration.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Callable

from imagen.errors import ConfigError
from imagen.store.history.location import HISTORY_ENV
from imagen.store.sqlitefile import immediate


def prompt_sha256(prompt: str) -> str:
    """sha256 hex of the prompt's UTF-8 bytes: what is kept when the prompt itself is not."""
    return hashlib.sha256(prompt.encode("utf-8")).hexdigest()


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


def _add_picked(conn: sqlite3.Connection) -> None:
    """Which takes a person picked among a job's takes (``imagen jobs pick``, the studio)."""
    conn.execute("ALTER TABLE generations ADD COLUMN picked INTEGER NOT NULL DEFAULT 0")


MIGRATIONS: tuple[Callable[[sqlite3.Connection], None], ...] = (
    _create_generations,
    _add_prompt_sha256,
    _add_file_stat,
    _add_picked,
)
SCHEMA_VERSION = len(MIGRATIONS)


def _version(conn: sqlite3.Connection) -> int:
    found = int(conn.execute("PRAGMA user_version").fetchone()[0])
    if found > SCHEMA_VERSION:
        raise ConfigError(
            f"the history file has schema version {found}, newer than this imagen "
            f"understands ({SCHEMA_VERSION}); upgrade imagen or set {HISTORY_ENV} "
            "to another file"
        )
    return found


def migrate(conn: sqlite3.Connection) -> int:
    """Bring the open database up to ``SCHEMA_VERSION`` in place; return the version it had.

    ``conn`` must be in autocommit mode (``isolation_level=None``). A file already at the
    current version is only read: no write lock, so ``imagen log`` works on a read-only file
    and does not wait for a process that is writing.
    """
    if _version(conn) == SCHEMA_VERSION:
        return SCHEMA_VERSION
    with immediate(conn):
        found = _version(conn)  # again under the lock: another process may have migrated
        for version in range(found, SCHEMA_VERSION):
            MIGRATIONS[version](conn)
        if found != SCHEMA_VERSION:
            # PRAGMA takes no parameters; the value is our own integer.
            conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
    return found
