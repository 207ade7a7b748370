"""One request, three front ends, one estimate: ``imagen generate --dry-run --json``, MCP's
``estimate_cost`` and the studio's ``POST /v1/estimate`` all come from ``pipeline.prepare``.

Each front end runs as its own process (the CLI, ``imagen mcp`` over stdio with the SDK's
client, ``imagen serve`` on a loopback port) in the test's HOME, so they share one config and
one history: a take the cache already has is free in all three.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

CONFIG = """\
default_backend: paid
output:
  directory: {out}
  preview: "off"
backends:
  paid:
    type: mock
    cost_per_image: 0.30
  cheap:
    type: mock
    cost_per_image: 0.0125
  free:
    type: mock
"""

#: what is asked, as (CLI flags, MCP arguments, studio body); the prompt is added to each
REQUESTS: list[tuple[list[str], dict[str, Any], dict[str, Any]]] = [
    # the default backend; one take is the CLI's and MCP's default, the studio's is server.takes
    ([], {}, {"takes": 1}),
    # take 1 (seed 40) is in the cache: 2 paid takes
    (
        ["-b", "paid", "-n", "3", "--seed", "40"],
        {"backend": "paid", "takes": 3, "seed": 40},
        {"backend": "paid", "takes": 3, "seed": 40},
    ),
    (
        ["-b", "cheap", "-n", "4", "--style", "photo", "--aspect", "16:9"],
        {"backend": "cheap", "takes": 4, "style": "photo", "aspect_ratio": "16:9"},
        {"backend": "cheap", "takes": 4, "style": "photo", "aspect": "16:9"},
    ),
    (
        ["-b", "cheap", "-n", "2", "--size", "640x480", "--seed", "7"],
        {"backend": "cheap", "takes": 2, "size": "640x480", "seed": 7},
        {"backend": "cheap", "takes": 2, "size": "640x480", "seed": 7},
    ),
    (["-b", "free", "-n", "2"], {"backend": "free", "takes": 2}, {"backend": "free", "takes": 2}),
    # seed 40 ran once before (see the test): take 1 is a cache hit, priced at zero everywhere
    (
        ["-b", "paid", "-n", "2", "--seed", "40"],
        {"backend": "paid", "takes": 2, "seed": 40},
        {"backend": "paid", "takes": 2, "seed": 40},
    ),
]
PROMPT = "a harbour at dawn"
#: what each of the three reports about the resolved request, besides the cost
SHARED = ("backend", "backend_type", "takes", "style", "width", "height", "aspect_ratio")


def _cli(env: dict[str, str], *args: str) -> dict[str, Any]:
    run = subprocess.run(
        [sys.executable, "-m", "imagen", *args],
        env=env, capture_output=True, text=True, timeout=120, check=False,
        stdin=subprocess.DEVNULL,
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    if "--json" not in args:
        return {}
    data: dict[str, Any] = json.loads(run.stdout)
    return data


async def _mcp_estimates(env: dict[str, str]) -> list[dict[str, Any]]:
    from mcp import Client, StdioServerParameters

    params = StdioServerParameters(command=sys.executable, args=["-m", "imagen", "mcp"], env=env)
    found = []
    async with Client(params, cache=None, read_timeout_seconds=60) as client:
        for _, arguments, _ in REQUESTS:
            result = await client.call_tool("estimate_cost", {"prompt": PROMPT, **arguments})
            assert not result.is_error, result.content
            found.append(dict(result.structured_content or {}))
    return found


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_the_cli_mcp_and_studio_estimate_the_same_request_the_same(tmp_path: Path) -> None:
    from imagen_studio.testing import Server

    config = tmp_path / "imagen.yaml"
    config.write_text(CONFIG.format(out=tmp_path / "out"), encoding="utf-8")
    env = {**os.environ, "IMAGEN_CONFIG": str(config)}
    # one seeded take in the history, so the last request has a cached take
    _cli(env, "generate", PROMPT, "-b", "paid", "--seed", "40")

    dry_runs = [
        _cli(env, "generate", PROMPT, *flags, "--dry-run", "--json") for flags, _, _ in REQUESTS
    ]
    tool = asyncio.run(_mcp_estimates(env))
    server = Server(config)
    try:
        studio = []
        for _, _, body in REQUESTS:
            answer = server.request("POST", "/v1/estimate", json={"prompt": PROMPT, **body})
            assert answer.status_code == 200, answer.text
            studio.append(answer.json())
    finally:
        server.stop()

    for number, (dry, mcp, web) in enumerate(zip(dry_runs, tool, studio, strict=True)):
        asked = REQUESTS[number][0]
        assert dry["cost_estimate"] == mcp["cost_estimate"] == web["cost_estimate"], asked
        for key in SHARED:
            assert dry[key] == mcp[key] == web[key], (asked, key)
        assert dry["cached_takes"] == mcp["cached_takes"] == web["cached_takes"], asked
        if dry["seeded"] and "--seed" in asked:
            assert dry["seeds"] == mcp["seeds"] == web["seeds"], asked

    # the numbers themselves, so three wrong answers that agree still fail
    costs = [dry["cost_estimate"] for dry in dry_runs]
    assert [Decimal(cost["usd"]) if cost else None for cost in costs] == [
        Decimal(usd) for usd in ("0.3", "0.6", "0.05", "0.025", "0", "0.3")
    ]
    assert dry_runs[1]["cached_takes"] == dry_runs[-1]["cached_takes"] == [1]
    assert (dry_runs[2]["style"], dry_runs[2]["aspect_ratio"]) == ("photo", "16:9")
    assert (dry_runs[3]["width"], dry_runs[3]["height"]) == (640, 480)
