"""``imagen queue migrate``: print or apply the SQL the ``postgres`` queue needs."""

from __future__ import annotations

from typing import Any

import click


@click.group("queue")
def queue() -> None:
    """The shared job queue (queue: {type: postgres}): create its tables."""


@queue.command("migrate")
@click.option("--apply", "apply_", is_flag=True, help="Run the SQL on the database in url_env.")
@click.pass_obj
def migrate(app: Any, apply_: bool) -> None:
    """Print the SQL for the queue's tables (procrastinate's and imagen.jobs); --apply runs it.

    Applying is safe to repeat: what exists is left as it is. The URL comes from the variable
    the queue: block's url_env names (IMAGEN_QUEUE_URL by default).
    """
    from imagen_postgres import schema

    if not apply_:
        click.echo(schema.script(), nl=False)
        return
    from imagen.errors import ConfigError
    from imagen_postgres.connection import queue_url
    from imagen_postgres.settings import PostgresQueueSettings

    config = app.config()
    block = config.queue
    if block.type != "postgres":
        raise ConfigError(
            f"the queue in config is {block.type!r}, not postgres; set queue: {{type: postgres, "
            "url_env: IMAGEN_QUEUE_URL}} first",
            path="queue.type",
        )
    settings = block.settings if isinstance(block.settings, PostgresQueueSettings) else None
    url = queue_url(settings or PostgresQueueSettings())
    done = schema.apply(url)
    if done:
        click.echo(f"imagen: created {' and '.join(done)}", err=True)
    else:
        click.echo("imagen: the queue's tables are already there; nothing to do", err=True)
