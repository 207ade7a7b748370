"""Fixtures: a fake Supabase on a loopback socket, sample generations, and a real PostgreSQL.

The PostgreSQL fixture is ``imagen.testing.postgres``'s throw-away cluster (a killed test run
takes the server with it) with Supabase's roles added. Without server binaries the tests that
need it are skipped.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from imagen.models import Cost, Generation, Request
from imagen.testing.postgres import Postgres, PostgresUnavailable, free_port, postgres_cluster
from imagen.testing.servers import serve_app
from imagen_supabase.testing import PNG, FakeSupabase, RecordingSleep


@attrs.define
class Served:
    fake: FakeSupabase
    url: str


@pytest.fixture
def supabase() -> Iterator[Served]:
    fake = FakeSupabase()
    with serve_app(fake.app()) as url:
        yield Served(fake, url)


@pytest.fixture
def generation(tmp_path: Path) -> Generation:
    """One finished take on disk: a PNG and its sidecar under a dated folder."""
    relative = "2026-11-23/150912-a-cat-in-a-fishbowl-42.png"
    image = tmp_path / relative
    image.parent.mkdir(parents=True)
    image.write_bytes(PNG)
    sidecar = {"schema": 1, "prompt": "a cat in a fishbowl, watercolor", "seed": 42}
    image.with_suffix(".json").write_text(json.dumps(sidecar))
    return Generation(
        request=Request(
            prompt="a cat in a fishbowl, watercolor",
            negative_prompt="text",
            style="watercolor",
            seed=42,
        ),
        backend="flux-dev-replicate",
        backend_type="replicate",
        model="black-forest-labs/flux-dev",
        seed=42,
        path=relative,
        output_dir=str(tmp_path),
        sha256=hashlib.sha256(PNG).hexdigest(),
        media_type="image/png",
        width=1024,
        height=768,
        size_bytes=len(PNG),
        latency=3.2504,
        created_at=dt.datetime(2026, 11, 23, 15, 9, 12, tzinfo=dt.UTC),
        sidecar_path=relative.removesuffix(".png") + ".json",
        cost_estimate=Cost(Decimal("0.025"), "list price per image, 2026-10"),
        caller="tester",
        user_prompt="a cat in a fishbowl",
        style="watercolor",
    )


@pytest.fixture
def sleeps() -> RecordingSleep:
    return RecordingSleep()


# -- PostgreSQL ------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A PostgreSQL cluster for this test run, gone when the run ends, however it ends.

    ``imagen.testing.postgres`` starts it (in the foreground, tied to this process and guarded
    by a watchdog); here it gets Supabase's roles.
    """
    try:
        with postgres_cluster() as server:
            _create_supabase_roles(server)
            yield server
    except PostgresUnavailable as reason:
        pytest.skip(str(reason))


def _create_supabase_roles(server: Postgres) -> None:
    import psycopg

    with psycopg.connect(server.url(), autocommit=True) as connection:
        connection.execute(
            """
            CREATE ROLE anon NOLOGIN NOINHERIT;
            CREATE ROLE authenticated NOLOGIN NOINHERIT;
            CREATE ROLE service_role NOLOGIN NOINHERIT BYPASSRLS;
            CREATE ROLE authenticator LOGIN NOINHERIT;
            GRANT anon, authenticated, service_role TO authenticator;
            """
        )


# Supabase's own schemas, reduced to what the migrations touch: auth.users and auth.uid()
# (reading the request.jwt.claim.sub setting, as Supabase's does), storage.buckets and
# storage.objects (RLS on, as in Supabase).
SUPABASE_STUB = """
CREATE SCHEMA auth;
CREATE TABLE auth.users (id uuid PRIMARY KEY, email text);
CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
    SELECT nullif(current_setting('request.jwt.claim.sub', true), '')::uuid
$$;
GRANT USAGE ON SCHEMA auth TO anon, authenticated, service_role;
GRANT EXECUTE ON FUNCTION auth.uid() TO anon, authenticated, service_role;

CREATE SCHEMA storage;
CREATE TABLE storage.buckets (
    id text PRIMARY KEY,
    name text NOT NULL,
    public boolean DEFAULT false,
    created_at timestamptz DEFAULT now()
);
CREATE TABLE storage.objects (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
    bucket_id text REFERENCES storage.buckets (id),
    name text,
    owner uuid,
    created_at timestamptz DEFAULT now()
);
ALTER TABLE storage.objects ENABLE ROW LEVEL SECURITY;
GRANT USAGE ON SCHEMA storage TO anon, authenticated, service_role;
GRANT ALL ON storage.buckets, storage.objects TO anon, authenticated, service_role;
"""


@pytest.fixture
def supabase_db(postgres_server: Postgres) -> Iterator[str]:
    """A fresh database with the Supabase stub schemas; yields its connection URL."""
    import psycopg

    name = f"imagen_{os.getpid()}_{free_port()}"
    with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        # Role settings are cluster-wide: start each test from Supabase's unset default.
        admin.execute("ALTER ROLE authenticator RESET pgrst.db_schemas")
    url = postgres_server.url(name)
    with psycopg.connect(url, autocommit=True) as connection:
        connection.execute(SUPABASE_STUB.encode())
    try:
        yield url
    finally:
        with psycopg.connect(postgres_server.url(), autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def pytest_collection_modifyitems(items: list[Any]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        fixtures = getattr(item, "fixturenames", ())
        if str(item.path).startswith(here) and {"supabase_db", "postgres_server"} & set(fixtures):
            item.add_marker(pytest.mark.postgres)
