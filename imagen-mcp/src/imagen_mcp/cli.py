"""``imagen mcp``: serve imagen's tools to an assistant over stdio (default) or HTTP.

Only click here: the MCP SDK, uvicorn and the pipeline load when the command runs.
"""

from __future__ import annotations

from typing import Any

import click


@click.command()
@click.option("--http", "use_http", is_flag=True,
              help="Serve streamable HTTP at http://HOST:PORT/mcp instead of stdio.")  # fmt: skip
@click.option("--host", help="Address to bind with --http (default: mcp.host, 127.0.0.1).")
@click.option("--port", type=click.IntRange(0, 65535),
              help="Port with --http (default: mcp.port, 8751; 0: any free port).")  # fmt: skip
@click.pass_obj
def mcp(app: Any, /, use_http: bool, host: str | None, port: int | None) -> None:
    """Serve imagen to assistants over MCP (stdio; --http for streamable HTTP).

    Paid tools state their price in their description and their cost in every result; the
    caps in the config's mcp: block refuse calls above them. See docs/assistants.md.
    """
    from imagen.config.load import plugin_settings
    from imagen_mcp.settings import McpSettings

    config = app.config()
    settings: McpSettings = plugin_settings(config, "mcp")
    if use_http:
        from imagen_mcp.serve import serve_http

        chosen = settings.port if port is None else port
        serve_http(config, settings, host=host or settings.host, port=chosen)
    else:
        if host is not None or port is not None:
            raise click.UsageError("--host and --port go with --http")
        from imagen_mcp.serve import serve_stdio

        serve_stdio(config, settings)
