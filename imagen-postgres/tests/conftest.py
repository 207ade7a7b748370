"""A real PostgreSQL for the queue's tests (``imagen.testing.postgres``: it dies with the run)
and a fresh, migrated database per test. Every test here is marked ``postgres``."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from imagen.testing.postgres import Postgres, PostgresUnavailable, postgres_cluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[Postgres]:
    try:
        with postgres_cluster() as server:
            yield server
    except PostgresUnavailable as reason:
        pytest.skip(str(reason))


def fresh_database(server: Postgres, *, migrate: bool = True) -> str:
    """A new empty database on ``server`` (the queue's tables in it); its URL."""
    import psycopg

    from imagen_postgres.schema import apply

    name = f"queue_{uuid.uuid4().hex[:16]}"  # never one a test made before
    with psycopg.connect(server.url(), autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')
    url = server.url(name)
    if migrate:
        apply(url)
    return url


@pytest.fixture
def queue_db(postgres_server: Postgres) -> str:
    """A migrated database of its own for this test; its URL (no password: trust auth)."""
    return fresh_database(postgres_server)


def pytest_collection_modifyitems(items: list[Any]) -> None:
    here = str(Path(__file__).parent)
    for item in items:
        if str(item.path).startswith(here):
            item.add_marker(pytest.mark.postgres)


@contextlib.asynccontextmanager
async def traced(queue: Any, trace: Path) -> AsyncIterator[None]:
    """Within the block, every connection of ``queue``'s pool (two) writes what it sends and
    receives to ``trace`` (libpq's protocol trace), so a test counts round trips."""
    pool = (await queue._open()).connector.pool
    lent = [await pool.getconn(), await pool.getconn()]
    with trace.open("w") as wire:
        for conn in lent:
            conn.pgconn.trace(wire.fileno())
        for conn in lent:
            await pool.putconn(conn)
        yield
    for conn in lent:
        conn.pgconn.untrace()
