"""imagen plugin: the ``postgres`` job queue (procrastinate on a shared PostgreSQL) and the
``imagen queue`` commands (hookimpls only; everything else is imported inside the hooks)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    import click

    from imagen.plugins.registry import QueueRegister


@hookimpl
def register_queues(register: QueueRegister) -> None:
    from imagen_postgres.settings import SAMPLE, PostgresQueueSettings

    # By name: procrastinate and psycopg load only when a postgres queue is opened.
    register(
        "postgres", "imagen_postgres.queue:PostgresQueue", PostgresQueueSettings, sample=SAMPLE
    )


@hookimpl
def register_commands(cli: click.Group) -> None:
    from imagen_postgres.cli import queue

    cli.add_command(queue)
