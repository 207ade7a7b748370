"""The shipped SQL migrations against a real PostgreSQL with Supabase's roles and schema stubs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import psycopg
import pytest

from imagen_supabase.migrate import (
    TRACKING_TABLE,
    Migration,
    MigrationError,
    apply,
    migrations,
    script,
)

OWNER = str(uuid.uuid4())
STRANGER = str(uuid.uuid4())

EXPECTED = [
    "001_schemas",
    "002_tables",
    "003_indexes",
    "004_rls",
    "005_grants",
    "006_storage",
    "007_expose",
    "008_lock_down",
]
API_ROLES = ("anon", "authenticated", "service_role")


@contextmanager
def connect(url: str) -> Iterator[psycopg.Connection[Any]]:
    with psycopg.connect(url, autocommit=True) as connection:
        yield connection


def seed_images(url: str) -> None:
    with connect(url) as db:
        for user, path in [(OWNER, "2026-11-23/mine.png"), (STRANGER, "2026-11-23/theirs.png")]:
            db.execute("INSERT INTO auth.users (id, email) VALUES (%s, %s)", (user, f"{user}@x"))
            db.execute(
                "INSERT INTO imagen.images (owner_user_id, storage_path, prompt, backend, model, "
                "width, height, sha256, sidecar) "
                "VALUES (%s, %s, 'a cat', 'mock', 'mock-1', 64, 64, 'abc', '{\"seed\": 1}')",
                (user, path),
            )
            db.execute(
                "INSERT INTO storage.objects (bucket_id, name) VALUES ('imagen-generated', %s)",
                (path,),
            )


def visible_as(url: str, role: str, sub: str | None, query: str) -> list[Any]:
    with connect(url) as db, db.transaction():
        db.execute(f"SET LOCAL ROLE {role}")
        if sub is not None:
            db.execute("SELECT set_config('request.jwt.claim.sub', %s, true)", (sub,))
        return db.execute(query).fetchall()


def test_the_shipped_migrations_are_in_order() -> None:
    assert [migration.name for migration in migrations()] == EXPECTED


def test_sql_script_holds_every_migration_in_order() -> None:
    text = script()

    positions = [text.index(f"-- ===== {name} =====") for name in EXPECTED]
    assert positions == sorted(positions)
    assert "NOTIFY pgrst, 'reload config'" in text


def test_migrations_apply_once_and_a_second_run_applies_nothing(supabase_db: str) -> None:
    assert apply(supabase_db) == EXPECTED
    assert apply(supabase_db) == []

    with connect(supabase_db) as db:
        recorded = db.execute(f"SELECT name FROM {TRACKING_TABLE} ORDER BY name").fetchall()
    assert [name for (name,) in recorded] == EXPECTED


def test_every_migration_can_be_run_twice_by_hand(supabase_db: str) -> None:
    # What a user pasting `imagen supabase sql` into the SQL editor twice would do.
    with connect(supabase_db) as db:
        db.execute(script().encode())
        db.execute(script().encode())
        buckets = db.execute("SELECT id, public FROM storage.buckets").fetchall()
    assert buckets == [("imagen-generated", False)]


def test_tables_and_indexes_exist(supabase_db: str) -> None:
    apply(supabase_db)

    with connect(supabase_db) as db:
        indexes = {
            name
            for (name,) in db.execute(
                "SELECT indexname FROM pg_indexes WHERE schemaname IN ('imagen', 'mai')"
            ).fetchall()
        }
        usage_columns = [
            name
            for (name,) in db.execute(
                "SELECT column_name FROM information_schema.columns "
                "WHERE table_schema = 'mai' AND table_name = 'imagen_usage' "
                "ORDER BY ordinal_position"
            ).fetchall()
        ]
    assert {
        "images_created_at_idx",
        "images_owner_created_at_idx",
        "imagen_usage_created_at_idx",
        "imagen_usage_caller_idx",
    } <= indexes
    assert usage_columns == [
        "id",
        "created_at",
        "backend",
        "model",
        "seed",
        "prompt_hash",
        "latency_ms",
        "cost_usd_estimate",
        "caller",
    ]


def test_owner_reads_only_their_own_images(supabase_db: str) -> None:
    apply(supabase_db)
    seed_images(supabase_db)

    mine = visible_as(supabase_db, "authenticated", OWNER, "SELECT storage_path FROM imagen.images")
    nobody = visible_as(supabase_db, "authenticated", None, "SELECT 1 FROM imagen.images")

    assert mine == [("2026-11-23/mine.png",)]
    assert nobody == []


def test_owner_reads_only_their_own_objects_in_the_bucket(supabase_db: str) -> None:
    apply(supabase_db)
    seed_images(supabase_db)

    objects = visible_as(supabase_db, "authenticated", STRANGER, "SELECT name FROM storage.objects")

    assert objects == [("2026-11-23/theirs.png",)]


def test_anon_cannot_read_images_or_usage(supabase_db: str) -> None:
    apply(supabase_db)

    for table in ("imagen.images", "mai.imagen_usage"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            visible_as(supabase_db, "anon", None, f"SELECT 1 FROM {table}")


def test_authenticated_users_cannot_write_images(supabase_db: str) -> None:
    apply(supabase_db)
    seed_images(supabase_db)

    with pytest.raises(psycopg.errors.InsufficientPrivilege):
        visible_as(supabase_db, "authenticated", OWNER, "DELETE FROM imagen.images RETURNING 1")


def test_service_role_writes_images_and_usage(supabase_db: str) -> None:
    apply(supabase_db)
    with connect(supabase_db) as db:
        db.execute("INSERT INTO auth.users (id) VALUES (%s)", (OWNER,))

    inserted = visible_as(
        supabase_db,
        "service_role",
        None,
        f"INSERT INTO imagen.images (owner_user_id, storage_path, prompt, backend, model, width, "
        f"height, sha256) VALUES ('{OWNER}', 'a.png', 'p', 'b', 'm', 1, 1, 's') RETURNING 1",
    )
    logged = visible_as(
        supabase_db,
        "service_role",
        None,
        "INSERT INTO mai.imagen_usage (backend, model, prompt_hash) VALUES ('b', 'm', 'h') "
        "RETURNING 1",
    )

    assert inserted == [(1,)]
    assert logged == [(1,)]


def test_images_require_an_owner_that_exists(supabase_db: str) -> None:
    apply(supabase_db)

    with connect(supabase_db) as db, pytest.raises(psycopg.errors.ForeignKeyViolation):
        db.execute(
            "INSERT INTO imagen.images (owner_user_id, storage_path, prompt, backend, model, "
            "width, height, sha256) VALUES (%s, 'a.png', 'p', 'b', 'm', 1, 1, 's')",
            (STRANGER,),
        )


def test_expose_step_adds_the_schemas_and_keeps_those_already_exposed(
    supabase_db: str,
) -> None:
    with connect(supabase_db) as db:
        db.execute("ALTER ROLE authenticator SET pgrst.db_schemas = 'public, storage, extra'")

    apply(supabase_db)
    apply(supabase_db)  # nothing to do, and nothing duplicated

    with connect(supabase_db) as db:
        [(settings,)] = db.execute(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE r.rolname = 'authenticator' AND s.setdatabase = 0"
        ).fetchall()
    assert "pgrst.db_schemas=public, storage, extra, imagen, mai" in settings


def test_expose_step_starts_from_supabase_defaults_when_unset(supabase_db: str) -> None:
    apply(supabase_db)

    with connect(supabase_db) as db:
        [(settings,)] = db.execute(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE r.rolname = 'authenticator' AND s.setdatabase = 0"
        ).fetchall()
    assert "pgrst.db_schemas=public, graphql_public, imagen, mai" in settings


def test_a_failing_migration_is_named_and_the_ones_before_it_stay_applied(
    supabase_db: str,
) -> None:
    with connect(supabase_db) as db:
        db.execute("DROP TABLE storage.buckets CASCADE")

    with pytest.raises(MigrationError, match=r"migration 006_storage failed") as caught:
        apply(supabase_db)

    assert "applied before it: 001_schemas" in str(caught.value)
    with connect(supabase_db) as db:
        recorded = db.execute(f"SELECT name FROM {TRACKING_TABLE} ORDER BY name").fetchall()
    assert [name for (name,) in recorded] == EXPECTED[:5]


def test_connection_errors_never_show_the_password(postgres_server: Any) -> None:
    url = f"postgresql://postgres:hunter2-secret@127.0.0.1:{postgres_server.port}/no_such_db"

    with pytest.raises(MigrationError) as caught:
        apply(url)

    assert "hunter2-secret" not in str(caught.value)
    assert "connecting" in str(caught.value)


# -- nothing for anon, no bookkeeping in an exposed schema ---------------------------------------

PROJECT_WIDE_DEFAULTS_FOR_ANON = """
ALTER DEFAULT PRIVILEGES GRANT ALL ON TABLES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES GRANT ALL ON SEQUENCES TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES GRANT ALL ON FUNCTIONS TO anon, authenticated, service_role;
ALTER DEFAULT PRIVILEGES GRANT USAGE, CREATE ON SCHEMAS TO anon, authenticated, service_role;
"""

IMAGEN_SCHEMAS = ("imagen", "mai", "imagen_private")


def rights(url: str, role: str) -> set[str]:
    """Every right ``role`` holds (directly or through PUBLIC) on imagen's schemas and on the
    tables, sequences and functions in them."""
    table_rights = "SELECT,INSERT,UPDATE,DELETE,TRUNCATE,REFERENCES,TRIGGER"
    held: set[str] = set()
    with connect(url) as db:
        existing = db.execute(
            "SELECT nspname FROM pg_namespace WHERE nspname = ANY(%s)", (list(IMAGEN_SCHEMAS),)
        ).fetchall()
        for (schema,) in existing:
            for right in ("USAGE", "CREATE"):
                if db.execute(
                    "SELECT has_schema_privilege(%s, %s, %s)", (role, schema, right)
                ).fetchone() == (True,):
                    held.add(f"{right} ON SCHEMA {schema}")
        for name, kind in db.execute(
            "SELECT c.oid::regclass::text, c.relkind FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = ANY(%s) AND c.relkind IN ('r', 'v', 'm', 'S', 'p')",
            (list(IMAGEN_SCHEMAS),),
        ).fetchall():
            for right in table_rights.split(","):
                check = "has_sequence_privilege" if kind == "S" else "has_table_privilege"
                wanted = "USAGE" if kind == "S" and right == "SELECT" else right
                if kind == "S" and right not in ("SELECT", "UPDATE"):
                    continue
                if db.execute(f"SELECT {check}(%s, %s, %s)", (role, name, wanted)).fetchone() == (
                    True,
                ):
                    held.add(f"{wanted} ON {name}")
        for (name,) in db.execute(
            "SELECT p.oid::regprocedure::text FROM pg_proc p "
            "JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = ANY(%s)",
            (list(IMAGEN_SCHEMAS),),
        ).fetchall():
            if db.execute(
                "SELECT has_function_privilege(%s, %s, 'EXECUTE')", (role, name)
            ).fetchone() == (True,):
                held.add(f"EXECUTE ON {name}")
    return held


def test_the_bookkeeping_table_is_outside_every_schema_the_api_serves(supabase_db: str) -> None:
    apply(supabase_db)

    with connect(supabase_db) as db:
        [(settings,)] = db.execute(
            "SELECT setconfig FROM pg_db_role_setting s JOIN pg_roles r ON r.oid = s.setrole "
            "WHERE r.rolname = 'authenticator' AND s.setdatabase = 0"
        ).fetchall()
        old = db.execute("SELECT to_regclass('imagen.schema_migrations')").fetchone()
    exposed = next(s for s in settings if s.startswith("pgrst.db_schemas="))
    served = {name.strip() for name in exposed.split("=", 1)[1].split(",")}
    assert TRACKING_TABLE.split(".")[0] not in served
    assert old == (None,)


@pytest.mark.parametrize("defaults", [False, True], ids=["plain", "project-wide-defaults"])
def test_api_roles_get_only_what_they_use(supabase_db: str, defaults: bool) -> None:
    # Some projects hand every new object to the API roles (ALTER DEFAULT PRIVILEGES without
    # IN SCHEMA); the migrations must take that back.
    if defaults:
        with connect(supabase_db) as db:
            db.execute(PROJECT_WIDE_DEFAULTS_FOR_ANON)

    apply(supabase_db)

    assert rights(supabase_db, "anon") == set()
    assert rights(supabase_db, "authenticated") == {
        "USAGE ON SCHEMA imagen",
        "SELECT ON imagen.images",
    }
    service = rights(supabase_db, "service_role")
    assert not {right for right in service if "imagen_private" in right}
    assert {
        "USAGE ON SCHEMA imagen",
        "USAGE ON SCHEMA mai",
        "INSERT ON imagen.images",
        "SELECT ON mai.imagen_usage",
        "INSERT ON mai.imagen_usage",
    } <= service


def test_anon_cannot_read_the_bookkeeping_even_by_name(supabase_db: str) -> None:
    with connect(supabase_db) as db:
        db.execute(PROJECT_WIDE_DEFAULTS_FOR_ANON)
    apply(supabase_db)

    for role in API_ROLES:
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            visible_as(supabase_db, role, None, f"SELECT name FROM {TRACKING_TABLE}")


OLD_GRANTS = "GRANT USAGE ON SCHEMA imagen TO anon, authenticated, service_role;"


def test_an_older_install_moves_its_bookkeeping_and_takes_back_anons_rights(
    supabase_db: str,
) -> None:
    # As the previous version left a project: 001-007 applied (005 granting anon USAGE on
    # imagen) and recorded in imagen.schema_migrations, inside the exposed schema.
    old = [
        Migration(m.name, OLD_GRANTS + "\n" + m.sql if m.name == "005_grants" else m.sql)
        for m in migrations()
        if m.name != "008_lock_down"
    ]
    with connect(supabase_db) as db:
        db.execute(PROJECT_WIDE_DEFAULTS_FOR_ANON)
        for migration in old:
            db.execute(migration.sql.encode())
        db.execute(
            "CREATE TABLE imagen.schema_migrations (name text PRIMARY KEY, "
            "applied_at timestamptz NOT NULL DEFAULT now())"
        )
        for migration in old:
            db.execute("INSERT INTO imagen.schema_migrations (name) VALUES (%s)", (migration.name,))
    assert "USAGE ON SCHEMA imagen" in rights(supabase_db, "anon")

    assert apply(supabase_db) == ["008_lock_down"]

    with connect(supabase_db) as db:
        recorded = db.execute(f"SELECT name FROM {TRACKING_TABLE} ORDER BY name").fetchall()
        left = db.execute("SELECT to_regclass('imagen.schema_migrations')").fetchone()
    assert [name for (name,) in recorded] == EXPECTED
    assert left == (None,)
    assert rights(supabase_db, "anon") == set()
