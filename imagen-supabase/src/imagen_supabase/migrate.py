"""The SQL migrations shipped with this package: list them, print them, apply the missing ones.

Each migration is one ``NNN_name.sql`` file under ``imagen_supabase/migrations`` and is itself
idempotent (``IF NOT EXISTS``, ``DROP POLICY IF EXISTS``), so pasting them into the SQL editor
twice is harmless. ``apply`` records what it ran in ``imagen_private.schema_migrations`` and runs
each missing migration in its own transaction; an advisory lock keeps two runs from
interleaving. psycopg is imported inside ``apply`` only.

The bookkeeping lives in its own schema, never exposed through the API and with no rights for
any API role (anon, authenticated, service_role), so nobody with a project key can read or
rewrite which migrations ran. Earlier versions kept it in ``imagen.schema_migrations``, inside
the exposed schema; ``apply`` moves it.
"""

from __future__ import annotations

from collections.abc import Sequence
from importlib import resources
from urllib.parse import unquote, urlsplit

import attrs

from imagen.adapters.http import scrub
from imagen.errors import ImagenError

TRACKING_SCHEMA = "imagen_private"
TRACKING_TABLE = f"{TRACKING_SCHEMA}.schema_migrations"
_LOCK_KEY = 0x1A6E_5B5E  # pg_advisory_lock key for "imagen migrations"

# Default privileges may hand new schemas and tables to API roles: take every right back.
_TRACKING_SQL = """\
CREATE SCHEMA IF NOT EXISTS imagen_private;
REVOKE ALL ON SCHEMA imagen_private FROM PUBLIC, anon, authenticated, service_role;
DO $$
BEGIN
    IF to_regclass('imagen.schema_migrations') IS NULL THEN
        RETURN;
    END IF;
    IF to_regclass('imagen_private.schema_migrations') IS NULL THEN
        ALTER TABLE imagen.schema_migrations SET SCHEMA imagen_private;
    ELSE
        INSERT INTO imagen_private.schema_migrations SELECT * FROM imagen.schema_migrations
        ON CONFLICT (name) DO NOTHING;
        DROP TABLE imagen.schema_migrations;
    END IF;
END
$$;
CREATE TABLE IF NOT EXISTS imagen_private.schema_migrations (
    name       text PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);
REVOKE ALL ON imagen_private.schema_migrations FROM PUBLIC, anon, authenticated, service_role;
"""


class MigrationError(ImagenError):
    """A migration could not be applied (connection refused, SQL error)."""


@attrs.frozen
class Migration:
    name: str
    sql: str


def migrations() -> list[Migration]:
    """Every shipped migration, in order."""
    folder = resources.files("imagen_supabase").joinpath("migrations")
    files = sorted(
        (entry for entry in folder.iterdir() if entry.name.endswith(".sql")),
        key=lambda entry: entry.name,
    )
    return [Migration(entry.name.removesuffix(".sql"), entry.read_text("utf-8")) for entry in files]


def script() -> str:
    """All migrations as one SQL script (what ``imagen supabase sql`` prints)."""
    parts = [f"-- ===== {migration.name} =====\n{migration.sql}" for migration in migrations()]
    return "\n".join(parts)


def _secrets_of(db_url: str) -> list[str]:
    try:
        password = urlsplit(db_url).password
    except ValueError:
        password = None
    return [db_url, password, unquote(password) if password else None]  # type: ignore[list-item]


def apply(db_url: str, *, shipped: Sequence[Migration] | None = None) -> list[str]:
    """Apply the migrations not yet recorded in the database; returns the names applied."""
    import psycopg

    todo = list(migrations() if shipped is None else shipped)
    applied: list[str] = []
    current = "connecting"
    try:
        with psycopg.connect(db_url, autocommit=True) as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                current = "creating " + TRACKING_TABLE
                connection.execute(_TRACKING_SQL)
                done = {
                    row[0]
                    for row in connection.execute(f"SELECT name FROM {TRACKING_TABLE}").fetchall()
                }
                for migration in todo:
                    if migration.name in done:
                        continue
                    current = migration.name
                    with connection.transaction():
                        connection.execute(migration.sql.encode())
                        connection.execute(
                            f"INSERT INTO {TRACKING_TABLE} (name) VALUES (%s)", (migration.name,)
                        )
                    applied.append(migration.name)
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    except psycopg.Error as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise MigrationError(
            scrub(f"migration {current} failed: {reason}", _secrets_of(db_url))
            + (f" (applied before it: {', '.join(applied)})" if applied else "")
        ) from None
    return applied


__all__ = [
    "TRACKING_SCHEMA",
    "TRACKING_TABLE",
    "Migration",
    "MigrationError",
    "apply",
    "migrations",
    "script",
]
