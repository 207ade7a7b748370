"""The tools over stdio, as an assistant client sees them: costs disclosed, caps enforced,
errors as tool errors with the server still serving."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import sys
from collections.abc import Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, TypeVar

from mcp import Client
from mcp_types import CallToolResult, ImageContent, TextContent
from PIL import Image

T = TypeVar("T")
#: the ``connect`` fixture: a session with a fresh ``imagen mcp`` subprocess
Connect = Callable[[], AbstractAsyncContextManager[Client]]


def run(work: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(work)


def text_of(result: CallToolResult) -> str:
    return "\n".join(block.text for block in result.content if isinstance(block, TextContent))


def images_in(out: Path) -> list[Path]:
    return sorted(out.rglob("*.png")) if out.exists() else []


def cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "imagen", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        stdin=subprocess.DEVNULL,
    )


def test_paid_tools_state_in_their_description_that_they_spend_and_each_price(
    connect: Connect,
) -> None:
    async def main() -> dict[str, Any]:
        async with connect() as client:
            return {tool.name: tool for tool in (await client.list_tools()).tools}

    tools = run(main())
    for name in ("generate_image", "submit_job"):
        description = tools[name].description or ""
        assert "SPENDS MONEY" in description
        assert "- paid (mock): $0.30 per image" in description
        assert "- mock (mock): $0.00 per image, the default" in description
        assert "Caps: $0.50 per call, $1.00 per day; spent today so far: $0.00" in description
        annotations = tools[name].annotations
        assert annotations is not None
        assert annotations.open_world_hint is True
        assert annotations.read_only_hint is False
        assert annotations.destructive_hint is False
    for name in ("estimate_cost", "list_backends", "list_styles", "recent_images", "get_job"):
        annotations = tools[name].annotations
        assert annotations is not None, name
        assert annotations.read_only_hint is True, name
        assert "SPENDS MONEY" not in (tools[name].description or "")
    schema = tools["generate_image"].input_schema
    assert schema["required"] == ["prompt"]
    assert set(schema["properties"]) == {
        *("prompt", "style", "backend", "takes", "size"),
        *("aspect_ratio", "seed", "refs", "max_cost_usd"),
    }


def test_prices_in_the_description_are_read_when_the_list_is_asked_for(
    connect: Connect, config_file: Path
) -> None:
    async def main() -> tuple[str, str]:
        async with connect() as client:
            before = (await client.list_tools()).tools
            # What changed since the server started: today's spend (from the history).
            await client.call_tool("generate_image", {"prompt": "a cat", "backend": "paid"})
            after = (await client.list_tools()).tools
        first = next(t for t in before if t.name == "generate_image").description or ""
        second = next(t for t in after if t.name == "generate_image").description or ""
        return first, second

    first, second = run(main())
    assert "spent today so far: $0.00" in first
    assert "spent today so far: $0.30" in second


def test_generate_returns_bounded_images_paths_seeds_and_cost_with_progress(
    connect: Connect, tmp_path: Path
) -> None:
    progress: list[tuple[float, float | None, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, total, message))

    async def main() -> CallToolResult:
        async with connect() as client:
            return await client.call_tool(
                "generate_image",
                {"prompt": "a lighthouse", "backend": "paid", "seed": 11},
                progress_callback=on_progress,
            )

    result = run(main())
    assert not result.is_error, text_of(result)
    data = result.structured_content
    [take] = data["images"]
    assert Path(take["path"]).is_file()
    assert Path(take["path"]).is_relative_to(tmp_path / "out")
    assert take["seed"] == 11
    assert take["cost_usd"] == "0.3"  # decimal text, as in sidecars and --json
    assert take["cache_hit"] is False
    assert (data["backend"], data["model"]) == ("paid", "imagen-mock-placeholder")
    assert (data["cost_estimate_usd"], data["cost_actual_usd"]) == ("0.3", "0.3")
    text = text_of(result)
    assert "actual cost $0.30; estimate was $0.30" in text
    assert f"take 1: {take['path']} (seed 11, $0.30)" in text
    [image] = [block for block in result.content if isinstance(block, ImageContent)]
    shown = Image.open(io.BytesIO(base64.b64decode(image.data)))
    # the take is 1024x1024; what goes back inline is bounded by mcp.image_max_px
    assert max(shown.size) == 256
    assert progress, "no progress notification arrived"
    assert progress[-1][:2] == (1.0, 1.0)
    assert [done for done, _, _ in progress] == sorted({done for done, _, _ in progress})


def test_a_call_over_the_per_call_cap_is_refused_with_the_estimate_cap_and_how_to_raise_it(
    connect: Connect, tmp_path: Path
) -> None:
    async def main() -> CallToolResult:
        async with connect() as client:
            return await client.call_tool(
                "generate_image", {"prompt": "two cats", "backend": "paid", "takes": 2}
            )

    result = run(main())
    assert result.is_error
    assert text_of(result) == (
        "refused: estimated $0.60 for 2 takes on paid is over the per-call cap of $0.50; ask "
        "for fewer takes, or raise the cap with: imagen config set mcp.per_call_usd 1.00 (then "
        "restart imagen mcp). Nothing was spent."
    )
    assert images_in(tmp_path / "out") == []


def test_max_cost_below_the_estimate_is_refused(connect: Connect, tmp_path: Path) -> None:
    async def main() -> CallToolResult:
        async with connect() as client:
            return await client.call_tool(
                "generate_image", {"prompt": "a cat", "backend": "paid", "max_cost_usd": 0.1}
            )

    result = run(main())
    assert result.is_error
    assert text_of(result).startswith(
        "refused: estimated $0.30 for 1 take on paid is over max_cost_usd $0.10"
    )
    assert images_in(tmp_path / "out") == []


def test_the_per_day_cap_counts_what_the_cli_spent_today(
    connect: Connect, server_env: dict[str, str], tmp_path: Path
) -> None:
    done = cli(server_env, "generate", "three dogs", "--backend", "paid", "-n", "3")
    assert done.returncode == 0, done.stderr

    async def main() -> CallToolResult:
        async with connect() as client:
            return await client.call_tool("generate_image", {"prompt": "a dog", "backend": "paid"})

    result = run(main())
    assert result.is_error
    assert text_of(result) == (
        "refused: estimated $0.30 for 1 take on paid would bring today's spend from $0.90 to "
        "$1.20, over the per-day cap of $1.00; wait until tomorrow, or raise the cap with: "
        "imagen config set mcp.per_day_usd 2.00 (then restart imagen mcp). Nothing was spent."
    )
    assert len(images_in(tmp_path / "out")) == 3


def test_a_cache_hit_says_it_spent_nothing_and_passes_the_caps(
    connect: Connect, server_env: dict[str, str]
) -> None:
    done = cli(server_env, "generate", "a fox", "--backend", "paid", "--seed", "5", "-n", "3")
    assert done.returncode == 0, done.stderr  # $0.90 of the $1.00 day spent

    async def main() -> CallToolResult:
        async with connect() as client:
            return await client.call_tool(
                "generate_image",
                {"prompt": "a fox", "backend": "paid", "seed": 5, "takes": 3},
            )

    result = run(main())
    assert not result.is_error, text_of(result)
    data = result.structured_content
    assert data["cache_hits"] == 3
    assert data["cost_estimate_usd"] == "0"
    assert data["cost_actual_usd"] == "0"
    assert all(take["cache_hit"] and take["cost_usd"] == "0" for take in data["images"])
    text = text_of(result)
    assert "nothing spent (cache hits)" in text
    assert "(seed 5, cache hit, no new spend)" in text


def test_bad_arguments_and_a_missing_key_are_tool_errors_and_the_server_keeps_serving(
    connect: Connect,
) -> None:
    async def main() -> list[CallToolResult]:
        async with connect() as client:
            return [
                await client.call_tool("generate_image", {"prompt": "a cat", "takes": "many"}),
                await client.call_tool("generate_image", {"prompt": "a cat", "takes": 0}),
                await client.call_tool("generate_image", {"prompt": "a", "size": "big"}),
                await client.call_tool("generate_image", {"prompt": "a cat", "backend": "flux"}),
                await client.call_tool("generate_image", {"prompt": "a cat", "backend": "nope"}),
                await client.call_tool("get_job", {"job_id": "no-such-job"}),
                await client.call_tool("generate_image", {"prompt": "a cat"}),
            ]

    *errors, last = run(main())
    texts = [text_of(result) for result in errors]
    assert all(result.is_error for result in errors), texts
    assert texts[0].startswith("bad arguments for generate_image: takes: Input should be a valid")
    assert texts[1].startswith("bad arguments for generate_image: takes: Input should be greater")
    assert "size" in texts[2]
    assert "big" in texts[2]
    assert "IMAGEN_TEST_REPLICATE_TOKEN" in texts[3]
    assert "nope" in texts[4]
    assert "paid" in texts[4]
    assert "no job 'no-such-job'" in texts[5]
    assert all("\n" not in text and "Traceback" not in text for text in texts)
    assert not last.is_error, text_of(last)
    assert Path(last.structured_content["images"][0]["path"]).is_file()


def test_estimate_cost_and_the_dry_run_give_the_same_estimate(
    connect: Connect, server_env: dict[str, str]
) -> None:
    requests = [
        ({"backend": "paid", "takes": 3, "seed": 40}, ["-b", "paid", "-n", "3", "--seed", "40"]),
        ({"takes": 2, "style": "photo"}, ["-n", "2", "--style", "photo"]),
        ({"backend": "paid", "aspect_ratio": "16:9"}, ["-b", "paid", "--aspect", "16:9"]),
    ]

    async def main() -> list[dict[str, Any]]:
        async with connect() as client:
            return [
                (
                    await client.call_tool("estimate_cost", {"prompt": "a bay", **args})
                ).structured_content
                for args, _ in requests
            ]

    estimates = run(main())
    for estimate, (_, flags) in zip(estimates, requests, strict=True):
        dry = cli(server_env, "generate", "a bay", *flags, "--dry-run", "--json")
        assert dry.returncode == 0, dry.stderr
        printed = json.loads(dry.stdout)
        assert estimate["cost_estimate"] == printed["cost_estimate"]
        for key in ("backend", "takes", "seeds", "width", "height", "aspect_ratio", "prompt"):
            if key != "seeds" or "seed" in " ".join(flags):
                assert estimate[key] == printed[key], key
    assert estimates[0]["cost_estimate"] == {
        "usd": "0.9",
        "basis": "cost_per_image of paid in config",
    }


def test_jobs_are_submitted_followed_picked_and_canceled(connect: Connect) -> None:
    async def main() -> tuple[list[CallToolResult], CallToolResult, CallToolResult]:
        async with connect() as client:
            submitted = await client.call_tool(
                "submit_job", {"prompt": "a tree", "backend": "paid", "takes": 1}
            )
            job_id = submitted.structured_content["id"]
            seen = [submitted]
            # Each get_job is a round trip to the server, whose worker runs the job meanwhile.
            while seen[-1].structured_content["state"] not in ("done", "failed"):
                seen.append(await client.call_tool("get_job", {"job_id": job_id}))
            picked = await client.call_tool("pick_take", {"job_id": job_id, "take": 1})
            canceled = await client.call_tool("cancel_job", {"job_id": job_id})
            return seen, picked, canceled

    seen, picked, canceled = run(main())
    submitted, *_, finished = seen
    assert text_of(submitted).endswith(
        "queued: 1 take(s) on paid, estimated $0.30; it runs in this server. Follow it with "
        "get_job."
    )
    assert submitted.structured_content["cost_estimate"] == {
        "amount": "0.3",
        "basis": "cost_per_image of paid in config",
        "currency": "USD",
    }
    assert finished.structured_content["state"] == "done", text_of(finished)
    assert finished.structured_content["cost_actual"]["amount"] == "0.3"
    assert "spent so far $0.30" in text_of(finished)
    assert picked.structured_content["picked"] == 1
    assert Path(text_of(picked).rsplit(": ", 1)[1]).is_file()
    assert canceled.structured_content["state"] == "done"


def test_submit_job_is_refused_over_the_cap_like_generate(connect: Connect) -> None:
    async def main() -> CallToolResult:
        async with connect() as client:
            return await client.call_tool(
                "submit_job", {"prompt": "trees", "backend": "paid", "takes": 4}
            )

    result = run(main())
    assert result.is_error
    assert "estimated $1.20 for 4 takes on paid is over the per-call cap of $0.50" in text_of(
        result
    )


def test_recent_images_are_listed_and_readable_as_resources(connect: Connect) -> None:
    async def main() -> tuple[CallToolResult, Any, Any]:
        async with connect() as client:
            made = await client.call_tool("generate_image", {"prompt": "a red boat"})
            recent = await client.call_tool("recent_images", {"limit": 5, "query": "boat"})
            resources = await client.list_resources()
            uri = recent.structured_content["images"][0]["uri"]
            read = await client.read_resource(uri)
            assert (
                made.structured_content["images"][0]["path"]
                == (recent.structured_content["images"][0]["path"])
            )
            return recent, resources, read

    recent, resources, read = run(main())
    [row] = recent.structured_content["images"]
    assert row["prompt"] == "a red boat"
    assert row["uri"] in [str(resource.uri) for resource in resources.resources]
    [content] = read.contents
    assert content.mime_type == "image/png"
    assert base64.b64decode(content.blob) == Path(row["path"]).read_bytes()


def test_list_backends_and_styles(connect: Connect) -> None:
    async def main() -> tuple[CallToolResult, CallToolResult]:
        async with connect() as client:
            return await client.call_tool("list_backends", {}), await client.call_tool(
                "list_styles", {}
            )

    backends, styles = run(main())
    rows = {row["name"]: row for row in backends.structured_content["backends"]}
    assert rows["paid"]["price_per_image_usd"] == "0.3"
    assert "not configured" in rows["flux"]["status"]
    assert "IMAGEN_TEST_REPLICATE_TOKEN" in rows["flux"]["status"]
    assert "photo" in {row["name"] for row in styles.structured_content["styles"]}


def test_client_stays_connected_across_many_calls(connect: Connect) -> None:
    """A refused call and a failed one leave the session usable, not only the process."""

    async def main() -> list[bool]:
        async with connect() as client:
            flags = []
            for args in ({"prompt": "x", "backend": "paid", "takes": 5}, {"prompt": "x"}) * 3:
                flags.append((await client.call_tool("generate_image", args)).is_error)
            return flags

    assert run(main()) == [True, False] * 3
