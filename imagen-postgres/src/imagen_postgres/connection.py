"""Reaching the shared PostgreSQL: the URL from the environment, errors without secrets in them."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from imagen.errors import ConfigError, ImagenError
from imagen.secrets import redact

if TYPE_CHECKING:
    import psycopg
    import psycopg_pool

    from imagen_postgres.settings import PostgresQueueSettings


class QueueUnavailable(ImagenError):
    """The queue's database cannot be reached (down, refused, wrong URL, missing tables)."""


def queue_url(settings: PostgresQueueSettings) -> str:
    """The connection URL from ``$<url_env>``; a ConfigError that says what to set without it."""
    import os

    url = os.environ.get(settings.url_env, "").strip()
    if not url:
        raise ConfigError(
            f"{settings.url_env} is not set; export the queue's PostgreSQL URL in it "
            f"(export {settings.url_env}=postgresql://user:password@host:5432/db)",
            path="queue.url_env",
        )
    return url


def _secrets_of(url: str) -> list[str]:
    try:
        password = urlsplit(url).password
    except ValueError:
        password = None
    found = [url]
    if password:
        found += [password, unquote(password)]
    return found


def describe_error(error: BaseException, url: str) -> str:
    """One line for a database error, with the URL and its password taken out."""
    text = " ".join(str(error).split()) or type(error).__name__
    for secret in sorted(_secrets_of(url), key=len, reverse=True):
        if secret:
            text = text.replace(secret, "***")
    return redact(text)


async def set_search_path(connection: psycopg.AsyncConnection[object]) -> None:
    """Each new connection finds procrastinate's objects in its own schema (see schema.py).

    A SET in the session, not a startup option: poolers (Supabase's Supavisor) may not pass
    startup options through.
    """
    from imagen_postgres.schema import QUEUE_SCHEMA

    await connection.execute(f"SET search_path TO {QUEUE_SCHEMA}")
    if not connection.autocommit:
        await connection.commit()


async def check_if_disturbed(connection: psycopg.AsyncConnection[Any]) -> None:
    """The pool's check of a connection it lends, with a round trip only when one can tell.

    procrastinate's pool sends an empty query before every loan: a round trip per statement
    the queue runs. A connection sitting idle in the pool has nothing to read unless the
    server wrote to it meanwhile, which is what a dying connection looks like (a restart or a
    terminated backend sends its error and closes the socket). Only such a connection gets
    the empty query, which fails for a dead one, so the pool replaces it before lending.
    """
    import select

    import psycopg
    from psycopg_pool import AsyncConnectionPool

    try:
        disturbed = bool(select.select([connection.fileno()], [], [], 0)[0])
    except (OSError, ValueError, psycopg.Error):
        disturbed = True
    if disturbed or connection.broken:
        await AsyncConnectionPool.check_connection(connection)


def pool(**options: Any) -> psycopg_pool.AsyncConnectionPool[Any]:
    """procrastinate's pool factory: its pool, with ``check_if_disturbed`` as the check."""
    from psycopg_pool import AsyncConnectionPool

    return AsyncConnectionPool(**{**options, "check": check_if_disturbed})


__all__ = [
    "QueueUnavailable",
    "check_if_disturbed",
    "describe_error",
    "pool",
    "queue_url",
    "set_search_path",
]
