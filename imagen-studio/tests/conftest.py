"""Every server a test starts is stopped after it (and dies with the run in any case)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagen_studio.testing import Server, write_config


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Start servers (config from ``write_config``); every one is stopped after the test."""
    started: list[Server] = []

    def start(*args: str, config: Path | None = None, env: dict[str, str] | None = None,
              latency: float = 0.0) -> Server:  # fmt: skip
        server = Server(config or write_config(tmp_path, latency=latency), *args, env=env)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
