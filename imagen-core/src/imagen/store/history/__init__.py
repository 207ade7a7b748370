"""The local history: every take recorded in a SQLite file under the user data dir.

The file is ``platformdirs.user_data_dir("imagen")/history.sqlite3`` unless the caller names
another one or ``IMAGEN_HISTORY`` does.

    location.py   where the file is (``default_path``, ``IMAGEN_HISTORY``)
    schema.py     the table and its migrations (``PRAGMA user_version``)
    entry.py      ``HistoryEntry``: one take read back, checked at the boundary
    store.py      ``History``: record, cache lookups, queries; every failure an ``OutputError``
    salvage.py    reading around damaged pages, and ``Damage``: what a read skipped
    log.py        ``imagen log`` output (table and JSON)
"""

from __future__ import annotations

from imagen.store.history.entry import HistoryEntry, InvalidRow
from imagen.store.history.location import HISTORY_ENV, default_path
from imagen.store.history.log import format_log, log_json
from imagen.store.history.salvage import Damage
from imagen.store.history.schema import MIGRATIONS, SCHEMA_VERSION, migrate, prompt_sha256
from imagen.store.history.store import History, OnDamage, close_shared

__all__ = [
    "HISTORY_ENV",
    "MIGRATIONS",
    "SCHEMA_VERSION",
    "Damage",
    "History",
    "HistoryEntry",
    "InvalidRow",
    "OnDamage",
    "close_shared",
    "default_path",
    "format_log",
    "log_json",
    "migrate",
    "prompt_sha256",
]
