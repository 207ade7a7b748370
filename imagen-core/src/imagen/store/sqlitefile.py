"""Opening imagen's SQLite files (history, outbox): WAL, a busy timeout, one-line errors.

Several imagen processes may use one file at once (the CLI, a worker, ``imagen sync``): WAL mode
lets readers and a writer overlap, and the busy timeout makes a writer wait its turn.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import stat
import threading
from collections.abc import Callable, Iterator
from typing import Self

from imagen.errors import OutputError

BUSY_TIMEOUT_SECONDS = 30.0


def is_busy(error: BaseException) -> bool:
    return isinstance(error, sqlite3.OperationalError) and "locked" in str(error)


def _primary_code(error: BaseException) -> int | None:
    code = getattr(error, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None  # extended codes keep it in the low byte


def is_damage(error: BaseException) -> bool:
    """True when the file's bytes are not a sound database: a damaged page, not SQLite at all,
    or text that is not UTF-8 (which SQLite never writes itself)."""
    if _primary_code(error) in (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB):
        return True
    return isinstance(error, sqlite3.OperationalError) and "decode" in str(error)


def explain(error: BaseException, *, what: str, path: str, env: str) -> str:
    """One line saying what went wrong with the file at ``path`` and what to do about it.

    ``what`` names the file ("the history file"), ``env`` the variable that moves it.
    """
    import shlex

    if is_busy(error):
        return f"{what} {path} is locked by another process ({error}); try again when it is done"
    if is_damage(error):
        aside = f"mv {shlex.quote(path)} {shlex.quote(path + '.damaged')}"
        return (
            f"{what} {path} is damaged ({error}); move it aside to start a new one ({aside}) "
            f"or set {env} to another file"
        )
    if _primary_code(error) in (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR):
        return f"{what} {path} failed: {error}; check the disk or set {env} to another file"
    return (
        f"{what} {path} failed: {error}; check the file and its folder are readable and "
        f"writable, or set {env} to another file"
    )


def use_wal(conn: sqlite3.Connection) -> None:
    """Switch the file to WAL (a persistent setting), waiting out other processes doing so.

    SQLite answers "database is locked" at once, without its busy handler, when another
    connection holds a lock while this one changes the journal mode; so retry here.
    """
    import tenacity

    for attempt in tenacity.Retrying(
        retry=tenacity.retry_if_exception(is_busy),
        wait=tenacity.wait_random_exponential(multiplier=0.005, max=0.2),
        stop=tenacity.stop_after_delay(BUSY_TIMEOUT_SECONDS),
        reraise=True,
    ):
        with attempt:
            conn.execute("PRAGMA journal_mode = WAL")


def create_private(path: str) -> None:
    """Create ``path`` empty with mode 0600 (its folder 0700) unless it exists, before SQLite
    opens it: the files hold every prompt and error. SQLite gives its ``-wal`` and ``-shm``
    files the database file's mode.

    An existing file (and its ``-wal``/``-shm``) of ours loses any group and other bits, so a
    file an older imagen created 0644 is closed too; imagen never widens a mode, and it leaves
    existing folders (``IMAGEN_HISTORY`` may point into a shared one) and others' files alone.
    """
    os.makedirs(os.path.dirname(os.path.abspath(path)), mode=0o700, exist_ok=True)
    try:
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    except FileExistsError:
        if not hasattr(os, "geteuid"):  # Windows: no mode bits to tighten
            return
        for existing in (path, path + "-wal", path + "-shm"):
            with contextlib.suppress(OSError):  # gone, not ours, or a read-only file system
                status = os.stat(existing)
                mode = stat.S_IMODE(status.st_mode)
                ours = status.st_uid == os.geteuid() and stat.S_ISREG(status.st_mode)
                if ours and mode & 0o077:
                    os.chmod(existing, mode & 0o700)


def open_database(
    path: str, *, what: str, env: str, prepare: Callable[[sqlite3.Connection], None]
) -> sqlite3.Connection:
    """Open ``path`` in WAL mode and run ``prepare`` (schema, migrations) on it.

    ``what`` names the file in errors ("the history file"), ``env`` the variable that moves it.
    Any failure is an OutputError that says what to do; the connection is closed.
    """
    try:
        create_private(path)
        conn = sqlite3.connect(
            path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None, check_same_thread=False
        )
    except (OSError, ValueError, sqlite3.Error) as error:  # ValueError: a NUL in the path
        raise OutputError(
            f"cannot open {what} {path}: {error}; check the directory is writable or set {env}"
        ) from error
    try:
        conn.row_factory = sqlite3.Row
        use_wal(conn)
        prepare(conn)
    except sqlite3.Error as error:
        conn.close()
        raise OutputError(explain(error, what=what, path=path, env=env)) from error
    except BaseException:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def immediate(conn: sqlite3.Connection) -> Iterator[None]:
    """One ``BEGIN IMMEDIATE`` transaction: committed if the block ends, rolled back if not.

    IMMEDIATE takes the write lock at once, so two processes preparing one file (creating its
    schema, migrating it) take turns instead of both doing it. ``conn`` must be in autocommit
    mode (``isolation_level=None``).
    """
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
        conn.execute("COMMIT")
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


class SQLiteFile:
    """An open imagen SQLite file; calls from several threads are serialised by a lock."""

    def __init__(self, conn: sqlite3.Connection, path: str) -> None:
        self._conn = conn
        self._lock = threading.Lock()
        self.path = path

    def close(self) -> None:
        with self._lock:
            self._conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
