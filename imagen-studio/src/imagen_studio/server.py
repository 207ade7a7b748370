"""Running the server: bind the socket, serve the app with uvicorn, stop on SIGINT/SIGTERM.

    serve(config, host="127.0.0.1", port=8750)     # what ``imagen serve`` calls

The socket is bound here, before uvicorn starts, so ``port=0`` picks a free port and the one
line saying where the server listens names the real one. That line is printed once the app
has started (queue open, runner running), so a script or a test can wait for it.
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterable

from imagen_studio.security import Policy, check_bind, host_names, read_token


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP spelled out: asyncio sets TCP_NODELAY only on connections accepted from a
    # socket whose proto says TCP, and without it uvicorn's answer (headers, then body: two
    # writes) waits on the client's delayed ACK, a constant 40 ms on Linux.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host.strip("[]"), port))
    except OSError as error:
        sock.close()
        from imagen.errors import ConfigError

        raise ConfigError(
            f"imagen serve cannot listen on {host}:{port}: {error.strerror or error}; "
            "choose another --port (or stop what uses it)"
        ) from None
    sock.listen(128)
    sock.set_inheritable(True)
    return sock


def serve(
    config: object,
    *,
    host: str,
    port: int,
    allow_hosts: Iterable[str] = (),
    data_dir: str | None = None,
    say: Callable[[str], None] = print,
) -> None:
    """Serve the API and the page until interrupted (see the module docstring)."""
    import uvicorn

    from imagen.config.model import Config
    from imagen_studio.app import build_app

    assert isinstance(config, Config)
    token_env = config.server.token_env
    token = read_token(token_env)
    check_bind(host, token, token_env)
    sock = _bind(host, port)
    bound_port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    policy = Policy(host_names(host, allow_hosts), bound_port, token)
    guarded = " (bearer token required)" if token else ""

    def ready(_: object) -> None:
        say(f"serving the studio at http://{shown}:{bound_port}/{guarded}; Ctrl-C stops")

    app = build_app(config, policy=policy, data_dir=data_dir, on_ready=ready, log=say)
    server = uvicorn.Server(
        uvicorn.Config(
            app,
            log_config=None,
            log_level="warning",
            access_log=False,
            lifespan="on",
            server_header=False,
            # No proxy in front to trust: X-Forwarded-* from a client changes nothing here.
            proxy_headers=False,
            timeout_graceful_shutdown=5,
        )
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()


__all__ = ["serve"]
