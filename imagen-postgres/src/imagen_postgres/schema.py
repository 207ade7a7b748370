"""The tables the ``postgres`` queue needs: procrastinate's, and ``imagen.jobs`` for the records.

procrastinate's objects (its jobs, workers, events, functions) live in the schema ``imagen_queue``
rather than ``public``, which Supabase's REST API exposes; every connection the queue opens sets
``search_path`` to it. The job records live in ``imagen.jobs``: the JSON form of each job plus the
columns lists filter and sort on. A trigger announces every change on the ``imagen_jobs`` channel
(``<id> <version> <cancel_requested>``), which is what long polls and workers LISTEN to.

``script()`` is the whole SQL, for a DBA to read or run; ``apply(url)`` runs what is missing and
is safe to run again (procrastinate's part is skipped when its tables exist, ours is written to
be re-run).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from imagen.errors import ImagenError

if TYPE_CHECKING:
    import psycopg

#: where procrastinate's tables and functions live
QUEUE_SCHEMA = "imagen_queue"
#: the channel every change of a job record is announced on
CHANNEL = "imagen_jobs"
#: bumped when imagen.jobs changes shape
SCHEMA_VERSION = 1
# Two `imagen queue migrate --apply` at once wait for each other (any constant of our own).
_LOCK_KEY = 7_203_417_553

JOBS_SQL = f"""\
CREATE SCHEMA IF NOT EXISTS imagen;

CREATE TABLE IF NOT EXISTS imagen.jobs (
    id               text        PRIMARY KEY,           -- UUIDv7: sorts by creation time
    state            text        NOT NULL CHECK (state IN
                         ('queued', 'running', 'done', 'failed', 'canceled', 'interrupted')),
    backend          text        NOT NULL,              -- the instance name
    caller           text,
    prompt           text        NOT NULL,              -- as asked, for text search
    record           jsonb       NOT NULL,              -- the job's JSON form
    format_version   integer     NOT NULL,              -- of record (newer: for newer workers)
    version          bigint      NOT NULL,              -- grows at every change (long polls)
    worker           text,                              -- host:pid:tag of its worker
    cancel_requested boolean     NOT NULL DEFAULT false,
    task_id          bigint,                            -- its procrastinate job
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS jobs_state_created ON imagen.jobs (state, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_backend_created ON imagen.jobs (backend, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_caller_created ON imagen.jobs (caller, created_at DESC);
CREATE INDEX IF NOT EXISTS jobs_created ON imagen.jobs (created_at DESC);

CREATE OR REPLACE FUNCTION imagen.jobs_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('{CHANNEL}',
                      NEW.id || ' ' || NEW.version || ' ' || NEW.cancel_requested::int);
    RETURN NULL;
END;
$$;
DROP TRIGGER IF EXISTS jobs_changed ON imagen.jobs;
CREATE TRIGGER jobs_changed AFTER INSERT OR UPDATE ON imagen.jobs
    FOR EACH ROW EXECUTE FUNCTION imagen.jobs_changed();

-- Prompts are private: no policy means no row for any role but the owner (and BYPASSRLS roles),
-- so an API that exposes the schema (Supabase's anon and authenticated roles) shows nothing.
ALTER TABLE imagen.jobs ENABLE ROW LEVEL SECURITY;
REVOKE ALL ON imagen.jobs FROM PUBLIC;
REVOKE ALL ON SCHEMA {QUEUE_SCHEMA} FROM PUBLIC;
DO $$
DECLARE
    api_role text;
BEGIN
    FOREACH api_role IN ARRAY ARRAY['anon', 'authenticated'] LOOP
        IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = api_role) THEN
            EXECUTE format('REVOKE ALL ON imagen.jobs FROM %I', api_role);
            EXECUTE format('REVOKE ALL ON ALL TABLES IN SCHEMA {QUEUE_SCHEMA} FROM %I',
                           api_role);
            EXECUTE format('REVOKE ALL ON SCHEMA {QUEUE_SCHEMA} FROM %I', api_role);
        END IF;
    END LOOP;
END;
$$;

COMMENT ON TABLE imagen.jobs IS 'imagen job records (schema version {SCHEMA_VERSION})';
"""


class MigrationError(ImagenError):
    """The queue's tables could not be created."""


def procrastinate_sql() -> str:
    """procrastinate's own schema (its fresh-install SQL, as the installed version ships it)."""
    from procrastinate.schema import SchemaManager

    return str(SchemaManager.get_schema())


def script() -> str:
    """The whole SQL ``imagen queue migrate --apply`` runs, in order."""
    return (
        f"-- imagen's postgres job queue: procrastinate's schema in {QUEUE_SCHEMA}, then "
        "imagen.jobs.\n"
        "-- `imagen queue migrate --apply` runs it and skips procrastinate's part when its\n"
        "-- tables exist; run by hand, run procrastinate's part once only.\n\n"
        f"CREATE SCHEMA IF NOT EXISTS {QUEUE_SCHEMA};\n"
        f"SET search_path TO {QUEUE_SCHEMA};\n\n"
        f"{procrastinate_sql().rstrip()}\n\n"
        "-- imagen's job records\n\n"
        f"{JOBS_SQL}"
    )


def has_procrastinate(connection: psycopg.Connection[Any]) -> bool:
    row = connection.execute(
        "SELECT to_regclass(%s)", (f"{QUEUE_SCHEMA}.procrastinate_jobs",)
    ).fetchone()
    return row is not None and row[0] is not None


def apply(url: str) -> list[str]:
    """Create what is missing; return what was done (``[]``: everything was there)."""
    import psycopg

    from imagen_postgres.connection import describe_error

    done: list[str] = []
    try:
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("SELECT pg_advisory_lock(%s)", (_LOCK_KEY,))
            try:
                with connection.transaction():
                    connection.execute(f"CREATE SCHEMA IF NOT EXISTS {QUEUE_SCHEMA}")
                    if not has_procrastinate(connection):
                        connection.execute(f"SET LOCAL search_path TO {QUEUE_SCHEMA}")
                        connection.execute(procrastinate_sql().encode())
                        done.append(f"procrastinate's schema in {QUEUE_SCHEMA}")
                with connection.transaction():
                    existed = connection.execute("SELECT to_regclass('imagen.jobs')").fetchone()
                    connection.execute(JOBS_SQL.encode())
                    if existed is None or existed[0] is None:
                        done.append("imagen.jobs")
            finally:
                connection.execute("SELECT pg_advisory_unlock(%s)", (_LOCK_KEY,))
    except psycopg.Error as error:
        reason = describe_error(error, url)
        raise MigrationError(f"the queue's tables could not be created: {reason}") from None
    return done


__all__ = ["CHANNEL", "JOBS_SQL", "QUEUE_SCHEMA", "MigrationError", "apply", "script"]
