"""Fixtures: a fake Supabase on a loopback socket, sample generations, and a real PostgreSQL.

The PostgreSQL fixture finds the server binaries (PATH, then /usr/lib/postgresql/*/bin),
``initdb``s a throw-away cluster, starts it on a free port with its unix socket in a temp dir
and stops it at the end. As root it runs the server as the ``postgres`` user (PostgreSQL
refuses to run as root). Without binaries the tests that need it are skipped, saying so.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from imagen.models import Cost, Generation, Request
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


def _server_bin_dir() -> Path | None:
    found = shutil.which("initdb") and shutil.which("pg_ctl")
    if found:
        return Path(os.path.realpath(str(shutil.which("pg_ctl")))).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "pg_ctl").exists():
            return Path(candidate)
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@attrs.frozen
class Postgres:
    host: str
    port: int
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    bin_dir = _server_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries not found (initdb/pg_ctl on PATH or in "
            "/usr/lib/postgresql/*/bin); install them with: apt-get install -y postgresql"
        )
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    base = Path(tempfile.mkdtemp(prefix="imagen-pg-"))
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    run_as: list[str] = []
    if as_root:
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a 'postgres' user to run PostgreSQL as")
        if shutil.which("runuser") is None:
            pytest.skip("running as root and runuser is missing: cannot start PostgreSQL")
        shutil.chown(base, "postgres")
        shutil.chown(sockets, "postgres")
        run_as = ["runuser", "-u", "postgres", "--"]
    port = _free_port()

    def run(*argv: str) -> None:
        subprocess.run([*run_as, *argv], check=True, capture_output=True, timeout=60)

    run(
        str(bin_dir / "initdb"),
        "-D",
        str(data),
        "-U",
        "postgres",
        "--auth=trust",
        "--no-sync",
        "-E",
        "UTF8",
        "--locale=C",
    )
    options = f"-p {port} -k {sockets} -c listen_addresses=127.0.0.1 -c fsync=off"
    run(
        str(bin_dir / "pg_ctl"),
        "-D",
        str(data),
        "-o",
        options,
        "-l",
        str(base / "log"),
        "-w",
        "-t",
        "30",
        "start",
    )
    try:
        server = Postgres("127.0.0.1", port)
        _create_supabase_roles(server)
        yield server
    finally:
        subprocess.run(
            [*run_as, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"],
            capture_output=True,
            timeout=60,
        )
        shutil.rmtree(base, ignore_errors=True)


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

    name = f"imagen_{os.getpid()}_{_free_port()}"
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
