"""imagen plugin: the ``solid`` backend type, which draws solid-colour PNGs.

This module holds only hookimpls. imagen imports it at every start (through the ``imagen``
entry point), so everything else is imported inside the hook bodies: ``imagen --help`` stays
fast however many plugins are installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    import click

    from imagen.plugins.registry import BackendRegister


@hookimpl
def register_backends(register: BackendRegister) -> None:
    from imagen_solid.settings import SAMPLE, SolidSettings

    # The backend by name: its module is imported only when a solid instance is built.
    register(
        "solid", "imagen_solid.backend:SolidBackend", SolidSettings, sample=SAMPLE, concurrency=4
    )


@hookimpl
def register_commands(cli: click.Group) -> None:
    from imagen_solid.commands import solid

    cli.add_command(solid)
