"""imagen plugin: ``imagen serve``, the job HTTP API (``/v1``) and the studio page (``/``).

Only the hookimpl lives here: the server, Litestar and uvicorn load when ``imagen serve`` runs,
so ``imagen --help`` stays fast with this plugin installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def register_commands(cli: click.Group) -> None:
    from imagen_studio.cli import serve

    cli.add_command(serve)
