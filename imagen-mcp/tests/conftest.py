"""``imagen mcp`` started as a subprocess, spoken to with the MCP SDK's own client."""

from __future__ import annotations

import os
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from mcp import Client, StdioServerParameters

CONFIG = """\
default_backend: mock
output:
  directory: {out}
  preview: "off"
backends:
  paid:
    type: mock
    cost_per_image: 0.30
  flux:
    type: replicate
    model: black-forest-labs/flux-dev
    api_token_env: IMAGEN_TEST_REPLICATE_TOKEN
mcp:
  per_call_usd: 0.50
  per_day_usd: 1.00
  image_max_px: 256
"""

Connect = Callable[[], AbstractAsyncContextManager[Client]]


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "imagen.yaml"
    path.write_text(CONFIG.format(out=tmp_path / "out"), encoding="utf-8")
    return path


@pytest.fixture
def server_env(config_file: Path) -> dict[str, str]:
    """The test's isolated environment (root conftest) with the config above."""
    env = dict(os.environ)
    env["IMAGEN_CONFIG"] = str(config_file)
    env.pop("IMAGEN_TEST_REPLICATE_TOKEN", None)
    return env


@pytest.fixture
def connect(server_env: dict[str, str]) -> Connect:
    """Start ``python -m imagen mcp`` and connect to it over stdio; it ends with the block."""

    @asynccontextmanager
    async def session() -> AsyncIterator[Client]:
        params = StdioServerParameters(
            command=sys.executable, args=["-m", "imagen", "mcp"], env=server_env
        )
        # cache=None: every listing must reach the server (prices are computed per listing)
        async with Client(params, cache=None, read_timeout_seconds=60) as client:
            yield client

    return session
