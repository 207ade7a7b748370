"""imagen plugin for assistants: ``imagen mcp``, an MCP server whose paid tools disclose their
cost, and the ``mcp:`` config block with its spend caps (hookimpls only; the MCP SDK loads
when the server starts, never for ``imagen --help``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from imagen import hookimpl

if TYPE_CHECKING:
    import click

    from imagen.plugins.registry import SettingsRegister


@hookimpl
def register_settings(register: SettingsRegister) -> None:
    from imagen_mcp.settings import SAMPLE, McpSettings

    register("mcp", McpSettings, sample=SAMPLE)


@hookimpl
def register_commands(cli: click.Group) -> None:
    from imagen_mcp.cli import mcp

    cli.add_command(mcp)
