"""Running the server: stdio for assistant clients that launch it, HTTP on loopback.

``serve_http`` binds the socket itself, so ``--port 0`` works and the line it prints on stderr
(``imagen: mcp serving http://127.0.0.1:8751/mcp``) names the port really bound.
"""

from __future__ import annotations

import contextlib
import socket
import sys

import anyio
import click

from imagen.config.model import Config
from imagen_mcp.settings import McpSettings

MCP_PATH = "/mcp"


def serve_stdio(config: Config, settings: McpSettings) -> None:
    """Serve on this process's stdin/stdout until the client closes stdin."""
    from imagen_mcp.server import build_server

    server = build_server(config, settings)
    # stdout is the wire: the SDK claims the real one (the CLI's watched wrapper has no fd) and
    # points fd 1 at stderr meanwhile, so a stray print cannot corrupt a message.
    with contextlib.redirect_stdout(sys.__stdout__):
        anyio.run(server.run_stdio_async)


def serve_http(config: Config, settings: McpSettings, *, host: str, port: int) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` behind the gate (``imagen_mcp.http``)."""
    import uvicorn

    from imagen_mcp.http import Gate, bearer_token
    from imagen_mcp.server import build_server

    token = bearer_token(settings.token_env, host)
    server = build_server(config, settings)
    app = Gate(
        server.streamable_http_app(streamable_http_path=MCP_PATH, host=host),
        bind_host=host,
        token=token,
        allowed_origins=settings.allowed_origins,
    )
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as error:
        sock.close()
        from imagen.errors import ConfigError

        raise ConfigError(
            f"cannot listen on {host}:{port} ({error.strerror or error}); choose another "
            "--port or mcp.port"
        ) from None
    # Listening before the line is printed: a client that reads it can connect at once.
    sock.listen(128)
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    guard = "bearer token required" if token else "loopback only, no token"
    click.echo(f"imagen: mcp serving http://{shown}:{bound}{MCP_PATH} ({guard})", err=True)
    uvicorn_config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uvicorn.Server(uvicorn_config).run(sockets=[sock])


__all__ = ["MCP_PATH", "serve_http", "serve_stdio"]
