"""How much time the openai backend adds to an image, beside OpenAI's own client.

A local fake OpenAI Images API (imagen_openai.fake_server, real loopback HTTP) holds each answer
for 1.0 s, as a render would, then answers with a 1024x1024 PNG of fine noise (2.3 MB, 3.2 MB
as base64: the size of a detailed render) made once before timing, and its token usage. The
fake runs in a process of its own; its handlers' time is measured there (bench/_overhead.py)
and taken off each run, so the overhead is the client's alone. Measured on the same fake in
the same run:

- imagen's ``OpenAIBackend.generate()`` in-process (client warm, as in a server or worker);
- the official ``openai`` client's ``images.generate()`` plus decoding the base64 image;
- the floor: a bare ``httpx.AsyncClient`` POST, ``json.loads`` and ``base64.b64decode``, which
  any Python client of this API spends on moving and decoding the answer;
- ``imagen generate`` as a subprocess (cold: interpreter start, plugin loading, file writing),
  with ``imagen generate --backend mock`` beside it for the CLI's own fixed cost.

Target: generate() adds at most 10 ms to the server's time.

    uv run --with openai python bench/openai_overhead.py [--runs 7] [--profile 30]

``--profile N`` also runs generate() under cProfile and prints its N costliest functions.
"""

from __future__ import annotations

import argparse
import base64
import io
import os
import random
import statistics
import sys
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import TYPE_CHECKING, Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from _overhead import (
    Clock,
    Comparison,
    Loop,
    Sample,
    cli_against_mock,
    load,
    sample_turns,
    serve_fake,
)

if TYPE_CHECKING:
    from aiohttp import web

    from imagen_openai.backend import OpenAIBackend

RENDER_TIME = 1.0
TARGET_MS = 10.0
KEY = "sk-bench-key-not-secret"
MODEL = "gpt-image-1"
PROMPT = "a cat in a fishbowl"
SIZE = 1024


def detailed_png() -> str:
    """A 1024x1024 PNG of fine noise (6 bits a channel), base64: as large as a detailed render."""
    from PIL import Image

    noise = bytes(b & 0xFC for b in random.Random(0).randbytes(SIZE * SIZE * 3))
    buffer = io.BytesIO()
    Image.frombytes("RGB", (SIZE, SIZE), noise).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def fake_app() -> web.Application:
    """The fake Images API the benchmark talks to (built in the fake's own process), answering
    with the detailed PNG."""
    from imagen_openai.fake_server import FakeOpenAI

    image = detailed_png()
    fake = FakeOpenAI(key=KEY, render=lambda width, height, fmt, transparent: image)
    fake.delay = RENDER_TIME
    return fake.app()


def flat_fake_app() -> web.Application:
    """The same fake answering with a one-colour PNG of the asked size (a few kilobytes)."""
    from imagen_openai.fake_server import FakeOpenAI

    fake = FakeOpenAI(key=KEY)
    fake.delay = RENDER_TIME
    return fake.app()


def imagen_generate(base_url: str) -> tuple[Callable[[], Coroutine[Any, Any, None]], OpenAIBackend]:
    """(one generate() coroutine factory, the backend) for the fake at ``base_url``."""
    from imagen.models import Progress, Request
    from imagen_openai.backend import OpenAIBackend
    from imagen_openai.settings import OpenAISettings

    backend = OpenAIBackend("bench", OpenAISettings(model=MODEL, base_url=base_url, quality="low"))

    async def once() -> None:
        result = await backend.generate(Request(PROMPT, width=SIZE, height=SIZE), Progress())
        assert len(result.images) == 1

    return once, backend


def bare_httpx(base_url: str) -> tuple[Callable[[], Coroutine[Any, Any, None]], Any]:
    """(one request as any Python client must make it, its client): the floor."""
    import json

    import httpx

    client = httpx.AsyncClient(base_url=base_url, timeout=60)
    body = {"model": MODEL, "prompt": PROMPT, "size": "1024x1024", "quality": "low", "n": 1}

    async def once() -> None:
        response = await client.post(
            "/images/generations", json=body, headers={"Authorization": f"Bearer {KEY}"}
        )
        response.raise_for_status()
        assert base64.b64decode(json.loads(response.content)["data"][0]["b64_json"])

    return once, client


def official_client(base_url: str) -> tuple[Callable[[], None], Any] | None:
    """(one ``images.generate()`` plus decoding, the client), or None without ``openai``."""
    try:
        import openai
    except ImportError:
        return None
    client = openai.OpenAI(api_key=KEY, base_url=base_url, max_retries=0)

    def once() -> None:
        answer = client.images.generate(
            model=MODEL, prompt=PROMPT, size="1024x1024", quality="low", n=1
        )
        assert answer.data
        data = answer.data[0].b64_json
        assert data
        assert base64.b64decode(data)

    return once, client


def in_turns(base_url: str, clock: Clock, runs: int, *, official: bool) -> dict[str, list[Sample]]:
    """imagen's generate(), the floor and (with ``official``) the official client, in turns."""
    with Loop() as loop:
        ours, backend = imagen_generate(base_url)
        floor, bare = bare_httpx(base_url)
        calls: dict[str, Callable[[], object]] = {
            "ours": loop.call(ours),
            "floor": loop.call(floor),
        }
        theirs = official_client(base_url) if official else None
        if theirs is not None:
            calls["official"] = theirs[0]
        try:
            return sample_turns(calls, clock, runs)
        finally:
            loop.call(backend.aclose)()
            loop.call(bare.aclose)()
            if theirs is not None:
                theirs[1].close()


def profile(base_url: str, runs: int, top: int) -> None:
    """generate() under cProfile, the server's thread not included: where the client's time goes."""
    import asyncio
    import cProfile
    import pstats

    once, backend = imagen_generate(base_url)

    async def main() -> None:
        await once()
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(runs):
            await once()
        profiler.disable()
        await backend.aclose()
        stats = pstats.Stats(profiler).sort_stats("tottime")
        stats.print_stats(top)

    asyncio.run(main())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profile", type=int, default=0, metavar="N")
    args = parser.parse_args()

    os.environ["OPENAI_API_KEY"] = KEY  # the fake's key, for imagen and the official client
    image = detailed_png()  # the fake's process makes the same one: its size for the record
    load_before = load()
    with serve_fake(fake_app) as (url, clock):
        base_url = f"{url}/v1"
        if args.profile:
            profile(base_url, args.runs, args.profile)
        large = in_turns(base_url, clock, args.runs, official=True)
        cli = cli_against_mock(
            f"{{type: openai, model: {MODEL}, quality: low, base_url: '{base_url}'}}",
            clock,
            prompt=PROMPT,
            options=["--size", "1024x1024"],
            runs=args.runs,
            env={"OPENAI_API_KEY": KEY},
        )
    with serve_fake(flat_fake_app) as (url, clock):
        small = in_turns(f"{url}/v1", clock, args.runs, official=False)
    mine, least = (
        statistics.median(s.overhead for s in small[key]) * 1000 for key in ("ours", "floor")
    )
    Comparison(
        name="openai_overhead",
        command="uv run --with openai python bench/openai_overhead.py",
        setup=(
            f"The fake holds each answer {RENDER_TIME:.1f} s (gpt-image-1, low, 1024x1024), then "
            f"sends a {len(image) * 3 // 4 / 2**20:.1f} MB PNG as {len(image) / 2**20:.1f} MB of "
            "base64 in its JSON, made before timing."
        ),
        target_ms=TARGET_MS,
        ours=("imagen OpenAIBackend.generate() (in-process)", large["ours"]),
        official=(
            ("openai.OpenAI().images.generate() + b64decode (official client)", large["official"])
            if "official" in large
            else None
        ),
        official_hint="run with `uv run --with openai`",
        floor=("bare httpx POST + json.loads + b64decode (the floor)", large["floor"]),
        more=(
            ("imagen OpenAIBackend.generate(), a one-colour PNG (a few KB)", small["ours"]),
            ("the floor, a one-colour PNG (a few KB)", small["floor"]),
        ),
        notes=(
            f"With a small answer (a one-colour PNG, as the fake draws by default) generate() adds "
            f"{mine:+.1f} ms ({'met' if mine <= TARGET_MS else 'NOT met'}), the floor "
            f"{least:+.1f} ms: what a large answer adds is moving and decoding its megabytes.",
            "`--profile N` shows where generate()'s own time goes (httpx reading the body, json "
            "and base64 decoding it: the floor's work).",
        ),
        cli=cli,
    ).write(args.runs, load_before)


if __name__ == "__main__":
    main()
