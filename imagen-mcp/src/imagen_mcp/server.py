"""The MCP server: imagen's tools and the recent images as resources, on the official SDK.

Paid tools (``generate_image``, ``submit_job``) say in their description that they spend
money, with every configured backend's price per image and the caps, computed each time the
tool list is asked for; their results state the estimate and the actual cost. Every failure is
a tool error (``isError``) with one readable line; the server keeps serving.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import functools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from decimal import Decimal
from typing import Annotated, Any, ParamSpec

from mcp.server.caching import CacheHint
from mcp.server.lowlevel.helper_types import ReadResourceContents
from mcp.server.mcpserver import Context, MCPServer
from mcp.server.mcpserver.exceptions import ResourceNotFoundError, ToolError
from mcp_types import (
    CallToolResult,
    ContentBlock,
    ImageContent,
    Resource,
    ResourceTemplate,
    TextContent,
    Tool,
    ToolAnnotations,
)
from pydantic import AnyUrl, Field, ValidationError

from imagen import debug
from imagen._version import __version__
from imagen.config.model import Config
from imagen.errors import ImagenError
from imagen_mcp.guards import spent_today
from imagen_mcp.images import inline_image
from imagen_mcp.settings import McpSettings
from imagen_mcp.tools import Ask, Tools, money, said, take_data, total_actual, usd

P = ParamSpec("P")

IMAGE_URI = "imagen://images/"
#: how many recent images the resource list shows
RESOURCE_LIST = 20
PAID = frozenset({"generate_image", "submit_job"})

FREE = ToolAnnotations(read_only_hint=True, destructive_hint=False, open_world_hint=False)
SPENDS = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=False, open_world_hint=True
)
JOB_CHANGE = ToolAnnotations(
    read_only_hint=False, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

GENERATE = """\
Generate images with imagen and return them (thumbnails for large takes), with their file \
paths, seeds, the backend and model, and the actual cost per take and in total.

THIS TOOL SPENDS MONEY on paid backends. Before spending, the cost is estimated with the same \
estimator as `imagen generate --dry-run` (call estimate_cost first to see it, for free). A \
seeded request that ran before is a cache hit: no new spend, and the result says so. The call \
is refused, with nothing spent, when the estimate is over max_cost_usd, over the per-call cap \
or would take today's spend over the per-day cap."""

SUBMIT = """\
Queue a generate request as a job (for batches that outlive one call) and return its id and \
cost estimate; follow it with get_job, stop it with cancel_job, choose a take with pick_take.

THIS TOOL SPENDS MONEY when the job runs, on paid backends. The estimate is the one \
estimate_cost gives; the caps apply as for generate_image (unfinished jobs count toward \
today's spend)."""

ESTIMATE = """\
Estimate what a generate_image call would cost, without spending anything: the resolved \
backend, style, size, seeds, the takes the cache already has, and the cost estimate (the same \
numbers `imagen generate --dry-run --json` prints). Free."""

Prompt = Annotated[str, Field(description="What to draw.", min_length=1)]
Style = Annotated[str | None, Field(description="A style preset (see list_styles).")]
Backend = Annotated[
    str | None, Field(description="A backend instance (see list_backends); default: config's.")
]
Takes = Annotated[int, Field(description="How many takes (images) to make.", ge=1, le=16)]
Size = Annotated[str | None, Field(description="WIDTHxHEIGHT, like 1024x768.")]
Aspect = Annotated[str | None, Field(description="W:H, like 16:9 (instead of size).")]
Seed = Annotated[
    int | None,
    Field(description="Seed of the first take (then +1 per take); repeatable results.", ge=0),
]
Refs = Annotated[list[str] | None, Field(description="Paths of reference images (image-to-image).")]
MaxCost = Annotated[
    float | None,
    Field(description="Refuse if the estimate is over this many US dollars.", ge=0),
]
JobId = Annotated[str, Field(description="The job id submit_job returned.", min_length=1)]


def _ask(
    prompt: str,
    style: str | None,
    backend: str | None,
    takes: int,
    size: str | None,
    aspect_ratio: str | None,
    seed: int | None,
    refs: list[str] | None,
    max_cost_usd: float | None = None,
) -> Ask:
    return Ask(
        prompt=prompt,
        style=style,
        backend=backend,
        takes=takes,
        size=size,
        aspect_ratio=aspect_ratio,
        seed=seed,
        refs=tuple(refs or ()),
        # the decimal the caller wrote, not the float's binary expansion
        max_cost_usd=Decimal(str(max_cost_usd)) if max_cost_usd is not None else None,
    )


def error_result(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=message)], is_error=True)


def data_result(text: str, data: Any, *extra: ContentBlock) -> CallToolResult:
    return CallToolResult(
        content=[TextContent(text=text), *extra],
        structured_content=data if isinstance(data, dict) else {"items": data},
    )


def _tool(body: Callable[P, Awaitable[CallToolResult]]) -> Callable[P, Awaitable[CallToolResult]]:
    """``body`` as a tool: any failure becomes one readable tool error, never a dead server.

    The tool keeps ``body``'s signature (``functools.wraps``): the SDK builds the tool's input
    schema from it.
    """

    @functools.wraps(body)
    async def tool(*args: P.args, **kwargs: P.kwargs) -> CallToolResult:
        try:
            return await body(*args, **kwargs)
        except ImagenError as error:
            return error_result(str(error))
        except Exception as error:
            debug.log_exception(error)
            return error_result(f"internal error: {type(error).__name__}: {error}")

    return tool


def _job_result(job: Any, verb: str) -> CallToolResult:
    """A job tool's answer: one line about the job, and its JSON form."""
    from imagen.jobs.model import job_to_dict

    return data_result(_job_line(job, verb), job_to_dict(job))


class ImagenServer(MCPServer[Any]):
    """MCPServer whose paid tools' descriptions carry prices computed at listing time, and
    whose resources are the recent images in the history."""

    def __init__(self, tools: Tools) -> None:
        @contextlib.asynccontextmanager
        async def lifespan(_: MCPServer[Any]) -> AsyncIterator[None]:
            try:
                yield None
            finally:
                await tools.aclose()

        super().__init__(
            "imagen",
            title="imagen",
            version=__version__,
            instructions=(
                "Image generation with imagen. generate_image and submit_job spend money on "
                "paid backends: check estimate_cost first, and tell the user what was spent."
            ),
            lifespan=lifespan,
            log_level="WARNING",
            # Prices and caps are read at every listing: never serve a stale list.
            cache_hints={"tools/list": CacheHint(ttl_ms=0), "resources/list": CacheHint(ttl_ms=0)},
        )
        self.tools = tools
        _register(self, tools)

    async def list_tools(self) -> list[Tool]:
        listed = await super().list_tools()
        if not PAID & {tool.name for tool in listed}:
            return listed
        costs = self.cost_note()
        return [
            tool.model_copy(update={"description": f"{tool.description}\n\n{costs}"})
            if tool.name in PAID
            else tool
            for tool in listed
        ]

    def cost_note(self) -> str:
        """Prices per image and the caps, as of now."""
        settings = self.tools.settings
        try:
            today = f"; spent today so far: {usd(spent_today(self.tools.config))}"
        except ImagenError:
            today = ""
        lines = [
            "Configured backends and their price per image (as of this listing):",
            *self.tools.price_lines(),
            f"Caps: {usd(settings.per_call_usd)} per call, {usd(settings.per_day_usd)} per day"
            f"{today} (mcp.per_call_usd, mcp.per_day_usd in the imagen config).",
        ]
        return "\n".join(lines)

    async def call_tool(
        self, name: str, arguments: dict[str, Any], context: Context[Any, Any] | None = None
    ) -> Any:
        try:
            return await super().call_tool(name, arguments, context)
        except ToolError as error:
            if isinstance(error.__cause__, ValidationError):
                return error_result(_bad_arguments(name, error.__cause__))
            raise

    async def list_resources(self) -> list[Resource]:
        listed = await super().list_resources()
        try:
            recent = self.tools.recent(RESOURCE_LIST)
        except ImagenError:
            recent = []
        return listed + [
            Resource(
                uri=row["uri"],
                name=f"image-{row['id']}",
                title=_short(row["prompt"] or row["path"]),
                description=f"{row['backend']} seed {row['seed']}, {row['created_at']}",
                mime_type=row["media_type"],
            )
            for row in recent
        ]

    async def list_resource_templates(self) -> list[ResourceTemplate]:
        return [
            *await super().list_resource_templates(),
            ResourceTemplate(
                uri_template=IMAGE_URI + "{id}",
                name="image",
                description="An image imagen recorded in its history, by id (recent_images).",
            ),
        ]

    async def read_resource(
        self, uri: AnyUrl | str, context: Context[Any, Any] | None = None
    ) -> Iterable[ReadResourceContents] | Any:
        text = str(uri)
        if not text.startswith(IMAGE_URI):
            return await super().read_resource(uri, context)
        number = text.removeprefix(IMAGE_URI)
        try:
            path, media_type = self.tools.image_file(int(number))
            data = await asyncio.to_thread(_read, path)
        except ValueError:
            raise ResourceNotFoundError(f"{text}: the image id is a number") from None
        except ImagenError as error:
            raise ResourceNotFoundError(str(error)) from None
        except OSError as error:
            raise ResourceNotFoundError(
                f"image {number} is no longer at {path} ({error.strerror or error})"
            ) from None
        return [ReadResourceContents(content=data, mime_type=media_type)]


def _read(path: str) -> bytes:
    with open(path, "rb") as handle:
        return handle.read()


def _bad_arguments(tool: str, error: ValidationError) -> str:
    """``bad arguments for generate_image: takes: ...`` on one line, one part per field."""
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "arguments"
        parts.append(f"{where}: {problem['msg']} (got {problem.get('input')!r})")
    return f"bad arguments for {tool}: " + "; ".join(parts)


def _short(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


ProgressFn = Callable[[float, float | None, str], Awaitable[None]]


def _progress(ctx: Context[Any, Any]) -> ProgressFn:
    async def report(done: float, total: float | None, message: str) -> None:
        await ctx.report_progress(done, total, message)

    return report


def _register(server: ImagenServer, tools: Tools) -> None:
    settings = tools.settings

    @_tool
    async def generate_image(
        prompt: Prompt,
        ctx: Context[Any, Any],
        style: Style = None,
        backend: Backend = None,
        takes: Takes = 1,
        size: Size = None,
        aspect_ratio: Aspect = None,
        seed: Seed = None,
        refs: Refs = None,
        max_cost_usd: MaxCost = None,
    ) -> CallToolResult:
        ask = _ask(prompt, style, backend, takes, size, aspect_ratio, seed, refs, max_cost_usd)
        return await _generate(tools, ask, _progress(ctx), settings)

    @_tool
    async def estimate_cost(
        prompt: Prompt,
        style: Style = None,
        backend: Backend = None,
        takes: Takes = 1,
        size: Size = None,
        aspect_ratio: Aspect = None,
        seed: Seed = None,
        refs: Refs = None,
    ) -> CallToolResult:
        plan = await tools.estimate(
            _ask(prompt, style, backend, takes, size, aspect_ratio, seed, refs)
        )
        estimate = plan["cost_estimate"]
        shown = (
            f"{usd(Decimal(estimate['usd']))} ({estimate['basis']})"
            if estimate
            else f"unknown (no price for {plan['backend']}; set cost_per_image in config)"
        )
        cached = plan["cached_takes"]
        note = f"; takes {cached} are cache hits, no new spend" if cached else ""
        text = (
            f"Estimate for {plan['takes']} take(s) on {plan['backend']}: {shown}{note}. "
            "Nothing was spent."
        )
        return data_result(text, plan)

    @_tool
    async def submit_job(
        prompt: Prompt,
        style: Style = None,
        backend: Backend = None,
        takes: Takes = 1,
        size: Size = None,
        aspect_ratio: Aspect = None,
        seed: Seed = None,
        refs: Refs = None,
        max_cost_usd: MaxCost = None,
    ) -> CallToolResult:
        from imagen.jobs.model import job_to_dict

        ask = _ask(prompt, style, backend, takes, size, aspect_ratio, seed, refs, max_cost_usd)
        job = await tools.submit_job(ask)
        runner = "it runs in this server" if settings.run_jobs else "an `imagen worker` runs it"
        text = (
            f"Job {job.id} queued: {job.takes_total} take(s) on {job.backend}, estimated "
            f"{said(job.cost_estimate)}; {runner}. Follow it with get_job."
        )
        return data_result(text, job_to_dict(job))

    @_tool
    async def get_job(job_id: JobId) -> CallToolResult:
        return _job_result(await tools.get_job(job_id), "is")

    @_tool
    async def cancel_job(job_id: JobId) -> CallToolResult:
        return _job_result(await tools.cancel_job(job_id), "after cancel is")

    @_tool
    async def pick_take(
        job_id: JobId,
        take: Annotated[int, Field(description="The take number (from 1) to pick.", ge=1)],
    ) -> CallToolResult:
        from imagen.jobs.model import job_to_dict

        job = await tools.pick_take(job_id, take)
        path = job.take(take).path
        return data_result(f"Picked take {take} of job {job.id}: {path}", job_to_dict(job))

    @_tool
    async def list_backends() -> CallToolResult:
        return data_result("\n".join(tools.price_lines()), {"backends": tools.backends()})

    @_tool
    async def list_styles() -> CallToolResult:
        rows = tools.styles()
        text = "\n".join(f"- {row['name']}: {row['description'] or row['prompt']}" for row in rows)
        return data_result(text or "no styles", {"styles": rows})

    @_tool
    async def recent_images(
        limit: Annotated[int, Field(description="How many, newest first.", ge=1, le=100)] = 10,
        query: Annotated[
            str | None, Field(description="Only prompts containing this text.")
        ] = None,
    ) -> CallToolResult:
        rows = tools.recent(limit, query)
        text = "\n".join(
            f"- {row['uri']} {row['path']} ({row['backend']}, seed {row['seed']})" for row in rows
        )
        return data_result(text or "no images recorded yet", {"images": rows})

    add = server.add_tool
    add(generate_image, title="Generate images (spends money)", description=GENERATE,
        annotations=SPENDS)  # fmt: skip
    add(estimate_cost, title="Estimate the cost (free)", description=ESTIMATE, annotations=FREE)
    add(submit_job, title="Queue a generate job (spends money)", description=SUBMIT,
        annotations=SPENDS)  # fmt: skip
    add(get_job, description="A job's state, progress, takes, estimate and cost so far. Free.",
        annotations=FREE)  # fmt: skip
    add(cancel_job, description="Cancel a job: queued takes never run; finished takes stay.",
        annotations=JOB_CHANGE)  # fmt: skip
    add(pick_take, description="Record which take of a finished job is the one to keep.",
        annotations=JOB_CHANGE)  # fmt: skip
    add(list_backends, description="Configured backends: type, status and price per image.",
        annotations=FREE)  # fmt: skip
    add(list_styles, description="Style presets that generate_image accepts.", annotations=FREE)
    add(recent_images, description="Recent images from imagen's history (paths, prompts, "
        "cost); each has a resource URI to attach.", annotations=FREE)  # fmt: skip


async def _generate(
    tools: Tools, ask: Ask, progress: ProgressFn, settings: McpSettings
) -> CallToolResult:
    outcome = await tools.generate(ask, progress)
    plan = outcome.plan
    generations = outcome.generations
    if not generations and outcome.failures:
        lines = {str(failure.error) for failure in outcome.failures}
        return error_result("; ".join(sorted(lines)) + ". Nothing was generated.")
    total = total_actual(generations)
    hits = sum(1 for g in generations if g.cache_hit)
    blocks: list[ContentBlock] = []
    notes: list[str] = []
    for generation in generations:
        data = take_data(generation)
        cost = (
            "cache hit, no new spend"
            if generation.cache_hit
            else usd(generation.cost_actual.amount)
            if generation.cost_actual is not None
            else "cost not reported"
        )
        notes.append(f"take {generation.take}: {data['path']} (seed {generation.seed}, {cost})")
        try:
            shown = await asyncio.to_thread(
                inline_image, data["path"], generation.media_type, max_px=settings.image_max_px
            )
        except OSError:
            notes[-1] += "; the image could not be read back to show it"
            continue
        encoded = base64.b64encode(shown.data).decode("ascii")
        blocks.append(ImageContent(data=encoded, mime_type=shown.media_type))
    spent = (
        "nothing spent (cache hits)"
        if hits == len(generations)
        else f"actual cost {usd(total)}"
        if total is not None
        else "actual cost not reported by the backend"
    )
    model = generations[0].model if generations else "-"
    head = (
        f"Generated {len(generations)} image(s) on {plan.instance.name} (model {model}): "
        f"{spent}; estimate was {said(plan.cost_estimate)}."
    )
    failed = [f"take {f.take} failed: {f.error}" for f in outcome.failures]
    data = {
        "images": [take_data(g) for g in generations],
        "backend": plan.instance.name,
        "backend_type": plan.instance.type,
        "model": model,
        "cost_estimate_usd": money(plan.cost_estimate),
        "cost_actual_usd": None if total is None else format(total, "f"),
        "cache_hits": hits,
        "errors": [{"take": f.take, "error": str(f.error)} for f in outcome.failures],
    }
    return data_result("\n".join([head, *notes, *failed]), data, *blocks)


def _job_line(job: Any, verb: str) -> str:
    spent = job.cost_actual
    return (
        f"Job {job.id} {verb} {job.state}: {job.takes_done}/{job.takes_total} takes done on "
        f"{job.backend}; estimated {said(job.cost_estimate)}, spent so far "
        f"{said(spent) if spent is not None else '$0.00'}"
        + (f"; picked take {job.picked}" if job.picked else "")
        + (f"; {job.error.detail}" if job.error is not None and job.state != "done" else "")
    )


def build_server(config: Config, settings: McpSettings) -> ImagenServer:
    return ImagenServer(Tools(config, settings))


__all__ = ["ImagenServer", "build_server"]
