"""What the server does for every answer's speed, apart from the API: the listening socket."""

from __future__ import annotations

import asyncio
import socket

from imagen_studio.server import _bind


def test_accepted_connections_send_small_answers_at_once() -> None:
    # uvicorn writes an answer's headers and body separately; with Nagle's algorithm on, the
    # body waits for the client's delayed ACK (40 ms). asyncio turns it off on connections
    # accepted from a socket that says it is TCP, which _bind's must.
    sock = _bind("127.0.0.1", 0)
    port = sock.getsockname()[1]

    async def main() -> int:
        accepted: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            conn = writer.get_extra_info("socket")
            accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            writer.close()

        server = await asyncio.start_server(on_connect, sock=sock)
        async with server:
            _, writer = await asyncio.open_connection("127.0.0.1", port)
            nodelay = await accepted
            writer.close()
        return nodelay

    assert asyncio.run(main()) != 0
