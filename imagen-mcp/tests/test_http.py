"""``imagen mcp --http``: streamable HTTP on loopback, a token for other binds, no foreign
origins; and ``imagen --help`` without the SDK."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from mcp import Client

from imagen_mcp.http import Gate, is_loopback


@pytest.fixture
def http_server(server_env: dict[str, str]) -> Iterator[tuple[str, dict[str, str]]]:
    """``imagen mcp --http --port 0`` with a token; yields its URL (from its stderr line)."""
    env = {**server_env, "IMAGEN_MCP_TOKEN": "test-token-123"}
    process = subprocess.Popen(
        [sys.executable, "-m", "imagen", "mcp", "--http", "--port", "0"],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        line = ""
        # The line is printed once the socket listens: waiting for it is waiting for the server.
        while "mcp serving" not in line:
            line = process.stderr.readline()
            assert line, "imagen mcp --http exited before serving"
        url = line.split("mcp serving ", 1)[1].split(" ", 1)[0]
        yield url, {"Authorization": "Bearer test-token-123"}
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def test_tools_over_streamable_http_with_the_token(
    http_server: tuple[str, dict[str, str]],
) -> None:
    url, headers = http_server

    async def main() -> tuple[list[str], Any]:
        async with (
            httpx2.AsyncClient(headers=headers) as http,
            Client(_transport(url, http), cache=None) as client,
        ):
            names = [tool.name for tool in (await client.list_tools()).tools]
            estimate = await client.call_tool("estimate_cost", {"prompt": "x", "backend": "paid"})
            return names, estimate

    names, estimate = asyncio.run(main())
    assert "generate_image" in names
    assert estimate.structured_content["cost_estimate"]["usd"] == "0.3"


def test_http_refuses_a_missing_token_and_a_foreign_origin(
    http_server: tuple[str, dict[str, str]],
) -> None:
    url, headers = http_server
    body = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
    accept = {"Accept": "application/json, text/event-stream"}
    no_token = httpx.post(url, json=body, headers=accept)
    assert no_token.status_code == 401
    assert no_token.headers["www-authenticate"].startswith("Bearer")
    foreign = httpx.post(
        url, json=body, headers={**headers, **accept, "Origin": "https://evil.example"}
    )
    assert foreign.status_code == 403
    assert "mcp.allowed_origins" in foreign.json()["error"]


def test_a_bind_beyond_loopback_without_a_token_does_not_start(
    server_env: dict[str, str],
) -> None:
    env = {k: v for k, v in server_env.items() if k != "IMAGEN_MCP_TOKEN"}
    done = subprocess.run(
        [sys.executable, "-m", "imagen", "mcp", "--http", "--host", "0.0.0.0", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 2
    assert "needs a bearer token: put one in the environment variable IMAGEN_MCP_TOKEN" in (
        done.stderr
    )


def test_the_gate_rules() -> None:
    gate = Gate(_no_app, bind_host="127.0.0.1", token=None, allowed_origins=["https://ok.example"])
    local = {"host": "127.0.0.1:8751"}
    assert gate.refusal(local) is None
    assert gate.refusal({**local, "origin": "http://localhost:3000"}) is None
    assert gate.refusal({**local, "origin": "https://ok.example"}) is None
    assert gate.refusal({**local, "origin": "null"}) is not None
    # DNS rebinding: the right address under a foreign name
    assert gate.refusal({"host": "evil.example:8751"}) is not None
    assert is_loopback("::1")
    assert is_loopback("localhost")
    assert not is_loopback("0.0.0.0")


def test_help_lists_mcp_without_importing_the_sdk(server_env: dict[str, str]) -> None:
    code = (
        "import sys\n"
        "from imagen.cli import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "names = ('mcp', 'uvicorn', 'starlette', 'pydantic')\n"
        "heavy = sorted(m for m in names if m in sys.modules)\n"
        "print('HEAVY', heavy)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=server_env, capture_output=True, text=True, timeout=60,
        check=False,
    )  # fmt: skip
    assert "  mcp " in done.stdout
    assert "HEAVY []" in done.stdout, done.stdout


async def _no_app(scope: Any, receive: Any, send: Any) -> None:
    return None


def _transport(url: str, http: httpx2.AsyncClient) -> Any:
    from mcp.client.streamable_http import streamable_http_client

    return streamable_http_client(url, http_client=http)
