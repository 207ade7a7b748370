"""Fixtures: a fake Supabase on a loopback socket, sample generations, and a real PostgreSQL.

The PostgreSQL fixture finds the server binaries (PATH, then /usr/lib/postgresql/*/bin),
``initdb``s a throw-away cluster, starts ``postgres`` on a free port with its unix socket in a
temp dir and stops it at the end; a killed test run takes the server with it (see
``postgres_server``). As root it runs initdb and the server as the ``postgres`` user
(PostgreSQL refuses to run as root). Without binaries the tests that need it are skipped.
"""

from __future__ import annotations

import datetime as dt
import glob
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from imagen.models import Cost, Generation, Request
from imagen.testing.processes import Watchdog, start_tied
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
    found = shutil.which("initdb") and shutil.which("postgres")
    if found:
        return Path(os.path.realpath(str(shutil.which("postgres")))).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists() and (Path(candidate) / "postgres").exists():
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
    pid: int
    """The postmaster's process id; it leads the server's process group."""
    directory: Path
    """The cluster's data, socket and log directory, removed at the end."""
    watchdog_pid: int
    """The process that stops the server and removes ``directory`` if the test run is killed."""
    user: str = "postgres"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}@{self.host}:{self.port}/{database}"


# The postmaster's log line once it accepts connections (messages are in English: lc_messages=C).
READY_LINE = b"database system is ready to accept connections"


def _follow_log(server: subprocess.Popen[bytes], log: Path, ready: threading.Event) -> None:
    """Copy the server's output to ``log``; set ``ready`` when it accepts connections or ends."""
    assert server.stdout is not None
    with log.open("ab") as sink:
        for line in server.stdout:
            sink.write(line)
            sink.flush()
            if READY_LINE in line:
                ready.set()
    ready.set()


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    """A PostgreSQL cluster for this test run, gone when the run ends, however it ends.

    ``postgres`` runs in the foreground as this process's child (not daemonised by pg_ctl) in
    its own process group, with SIGQUIT (PostgreSQL's immediate shutdown, which also frees its
    shared memory) as its parent-death signal; a watchdog process stops the group and removes
    the cluster's directory where that signal cannot help. See ``imagen.testing.processes``.
    """
    bin_dir = _server_bin_dir()
    if bin_dir is None:
        pytest.skip(
            "PostgreSQL server binaries not found (initdb/postgres on PATH or in "
            "/usr/lib/postgresql/*/bin); install them with: apt-get install -y postgresql"
        )
    run_as: str | None = None
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        # PostgreSQL refuses to run as root: run initdb and the server as its own user.
        import pwd

        try:
            pwd.getpwnam("postgres")
        except KeyError:
            pytest.skip("running as root without a 'postgres' user to run PostgreSQL as")
        run_as = "postgres"
    with Watchdog() as watchdog:
        base = Path(tempfile.mkdtemp(prefix="imagen-pg-"))
        watchdog.remove(base)
        try:
            yield from _serve(bin_dir, base, run_as, watchdog)
        finally:
            shutil.rmtree(base, ignore_errors=True)


def _serve(bin_dir: Path, base: Path, run_as: str | None, watchdog: Watchdog) -> Iterator[Postgres]:
    data, sockets = base / "data", base / "sockets"
    sockets.mkdir()
    if run_as is not None:
        shutil.chown(base, run_as)
        shutil.chown(sockets, run_as)
    initdb = start_tied(
        [
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
        ],
        user=run_as,
        cwd=base,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    output, _ = initdb.communicate(timeout=60)
    if initdb.returncode != 0:
        raise RuntimeError(
            f"initdb failed ({initdb.returncode}):\n{output.decode(errors='replace')}"
        )

    port = _free_port()
    server = start_tied(
        [
            str(bin_dir / "postgres"),
            "-D",
            str(data),
            "-p",
            str(port),
            "-k",
            str(sockets),
            "-c",
            "listen_addresses=127.0.0.1",
            "-c",
            "fsync=off",
            "-c",
            "lc_messages=C",
        ],
        death_signal=signal.SIGQUIT,
        user=run_as,
        cwd=base,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    watchdog.guard(server.pid, signal.SIGQUIT)
    ready = threading.Event()
    log = base / "log"
    follower = threading.Thread(
        target=_follow_log, args=(server, log, ready), name="postgres-log", daemon=True
    )
    follower.start()
    try:
        ready.wait(60)
        if server.poll() is not None or not ready.is_set():
            raise RuntimeError(
                f"PostgreSQL did not start (exit {server.poll()}):\n"
                + log.read_text(encoding="utf-8", errors="replace")
            )
        postgres = Postgres("127.0.0.1", port, server.pid, base, watchdog.pid)
        _create_supabase_roles(postgres)
        yield postgres
    finally:
        # SIGQUIT is what ``pg_ctl stop -m immediate`` sends: nothing here needs a clean stop.
        server.send_signal(signal.SIGQUIT)
        try:
            server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
        follower.join(timeout=10)


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
