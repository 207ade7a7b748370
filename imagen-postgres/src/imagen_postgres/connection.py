"""Reaching the shared PostgreSQL: the URL from the environment, errors without secrets in them."""

from __future__ import annotations

from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from imagen.errors import ConfigError, ImagenError
from imagen.secrets import redact

if TYPE_CHECKING:
    import psycopg

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


__all__ = ["QueueUnavailable", "describe_error", "queue_url", "set_search_path"]
