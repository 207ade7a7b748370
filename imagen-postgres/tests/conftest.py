"""A real PostgreSQL for the queue's tests (``imagen.testing.postgres``: it dies with the run)
and a fresh, migrated database per test. Every test here is marked ``postgres``."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagen.testing.postgres import Postgres, PostgresUnavailable, free_port, postgres_cluster


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

    name = f"queue_{free_port()}"
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
