"""``imagen serve``: parses its options and calls ``server.serve``."""

from __future__ import annotations

from typing import Any

import click


@click.command()
@click.option("--host", default=None,
              help="Address to listen on (default: server.host, 127.0.0.1). Any address other "
              "than loopback needs a token in the variable server.token_env names.")  # fmt: skip
@click.option("--port", type=click.IntRange(0, 65535), default=None,
              help="Port (default: server.port, 8750; 0 picks a free one).")  # fmt: skip
@click.option("--allow-host", "allow_hosts", multiple=True, metavar="NAME",
              help="Another name clients use to reach this server (its Host header); "
              "repeatable.")  # fmt: skip
@click.pass_obj
def serve(app: Any, host: str | None, port: int | None, allow_hosts: tuple[str, ...]) -> None:
    """Serve the job HTTP API (/v1) and the studio page (/) until Ctrl-C.

    With the built-in local queue this process also runs the jobs; with another queue type it
    only queues them for `imagen worker` processes.
    """
    from imagen_studio.server import serve as run

    config = app.config()

    def say(line: str) -> None:
        click.echo(f"imagen: {line}", err=True)

    run(
        config,
        host=host or config.server.host,
        port=config.server.port if port is None else port,
        allow_hosts=allow_hosts,
        say=say,
    )
