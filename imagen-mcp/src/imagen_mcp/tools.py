"""What the MCP tools do, as plain library calls (no MCP types here; ``server`` wraps them).

Every paid path goes through ``pipeline.prepare`` for its plan and estimate (the estimator the
CLI's ``--dry-run`` and the studio use), then the spend guards, then ``pipeline.execute`` or
the job queue. Results are JSON-ready dicts; money is a decimal string in USD.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import attrs

from imagen.config.model import Config
from imagen.errors import ConfigError, ImagenError
from imagen.models import Cost, Generation, Request
from imagen_mcp.guards import SpendGuard, usd
from imagen_mcp.settings import McpSettings

if TYPE_CHECKING:
    from imagen.backend import Backend
    from imagen.jobs.model import Job
    from imagen.jobs.queue import Queue
    from imagen.jobs.worker import Worker
    from imagen.pipeline import Outcome, Plan

#: (progress, total, message): what a generate call reports while its takes run
ProgressSink = Callable[[float, float | None, str], Awaitable[None]]

#: how many history rows a resource read looks through for an image id
RESOURCE_WINDOW = 500


@attrs.frozen
class Ask:
    """One generate request as a tool receives it (before the config resolves it)."""

    prompt: str
    style: str | None = None
    backend: str | None = None
    takes: int = 1
    size: str | None = None
    aspect_ratio: str | None = None
    seed: int | None = None
    refs: tuple[str, ...] = ()
    max_cost_usd: Decimal | None = None


def money(cost: Cost | None) -> str | None:
    return None if cost is None else format(cost.amount, "f")


def said(cost: Cost | None) -> str:
    """``$0.06`` or ``unknown``."""
    return "unknown" if cost is None else cost.format()


class Tools:
    """The server's state: config, caps, the job queue and its in-process worker."""

    def __init__(self, config: Config, settings: McpSettings) -> None:
        self.config = config
        self.settings = settings
        self.guard = SpendGuard(config, settings)
        self._queue: Queue | None = None
        self._worker: Worker | None = None
        self._worker_task: asyncio.Task[None] | None = None

    # -- backends, styles, prices ---------------------------------------------------------

    def backends(self) -> list[dict[str, Any]]:
        """Each configured instance (and ``mock``): type, status, price per image, default."""
        from imagen.backends_info import describe_backends

        rows = describe_backends(self.config)
        for row in rows:
            row["price_per_image_usd"] = self._price(row["name"])
        return rows

    def _price(self, name: str) -> str | None:
        from imagen import cost
        from imagen.instances import instance_for, open_backend

        try:
            instance = instance_for(self.config, name)
            per_take = cost.estimate_take(
                instance, open_backend(self.config, name), Request(prompt="price check")
            )
        except ImagenError:
            return None
        return money(per_take)

    def price_lines(self) -> list[str]:
        """``- flux (replicate): $0.025 per image, ready`` for each instance."""
        lines = []
        for row in self.backends():
            price = row["price_per_image_usd"]
            shown = f"{usd(Decimal(price))} per image" if price is not None else "price unknown"
            default = ", the default" if row["default"] else ""
            lines.append(f"- {row['name']} ({row['type']}): {shown}{default}; {row['status']}")
        return lines

    def styles(self) -> list[dict[str, Any]]:
        from imagen.pipeline import styles_for

        return [
            {
                "name": style.name,
                "source": style.source,
                "description": style.description,
                "prompt": style.prompt,
                "aspect_ratio": style.aspect_ratio,
                "size": style.size,
            }
            for style in sorted(styles_for(self.config).values(), key=lambda s: s.name)
        ]

    # -- estimate and generate ------------------------------------------------------------

    def request(self, ask: Ask) -> Request:
        from imagen.cli.parsing import build_request

        if not ask.prompt.strip():
            raise ConfigError("the prompt is empty; say what to draw")
        if ask.size and ask.aspect_ratio:
            raise ConfigError("give either size or aspect_ratio, not both")
        return build_request(
            ask.prompt,
            style=ask.style,
            size=ask.size,
            aspect=ask.aspect_ratio,
            seed=ask.seed,
            count=ask.takes,
            refs=ask.refs,
        )

    def plan(self, ask: Ask, backend: Backend) -> Plan:
        from imagen.pipeline import prepare

        return prepare(
            self.config,
            self.request(ask),
            backend=ask.backend,
            caller=self.settings.caller,
            estimator=backend,
        )

    async def estimate(self, ask: Ask) -> dict[str, Any]:
        """The dry run: the same data ``imagen generate --dry-run --json`` prints. Free."""
        from imagen.cli.parsing import plan_json
        from imagen.pipeline import open_backend

        backend = open_backend(self.config, ask.backend)
        try:
            plan = self.plan(ask, backend)
        finally:
            await backend.aclose()
        return plan_json(plan)

    async def generate(self, ask: Ask, progress: ProgressSink | None = None) -> Outcome:
        """Plan, check the caps, run the takes; ``progress`` hears every step."""
        from imagen.pipeline import check_ready, execute, open_backend

        backend = open_backend(self.config, ask.backend)
        try:
            plan = self.plan(ask, backend)
            pending = await self.jobs_pending()
            self.guard.check(
                plan.cost_estimate,
                takes=len(plan.to_run),
                backend=plan.instance.name,
                max_cost_usd=ask.max_cost_usd,
                pending=pending,
            )
            check_ready(plan, backend)
            with self.guard.holding(plan.cost_estimate):
                reporter = _ProgressReporter(plan.takes, progress)
                try:
                    return await execute(plan, backend=backend, reporter=reporter)
                finally:
                    await reporter.close()
        finally:
            await backend.aclose()

    # -- jobs -----------------------------------------------------------------------------

    async def queue(self) -> Queue:
        """The configured queue, opened on first use; with ``run_jobs`` a worker in this
        process claims its jobs for the instances that are ready here."""
        if self._queue is None:
            from imagen.jobs.queue import open_queue

            self._queue = open_queue(self.config)
            if self.settings.run_jobs:
                from imagen.jobs.worker import Worker, ready_backends

                ready = ready_backends(self.config)
                if ready:
                    self._worker = Worker(self.config, backends=ready, concurrency=1)
                    self._worker_task = asyncio.ensure_future(self._worker.serve(self._queue))
        return self._queue

    async def jobs_pending(self) -> Decimal:
        """What this server's unfinished jobs may still spend (estimate less actual so far)."""
        if self._queue is None:
            return Decimal(0)
        from imagen.jobs.queue import JobQuery

        jobs = await self._queue.list(
            JobQuery(states=("queued", "running"), caller=self.settings.caller, limit=1000)
        )
        left = Decimal(0)
        for job in jobs:
            estimate = job.cost_estimate.amount if job.cost_estimate is not None else Decimal(0)
            spent = job.cost_actual.amount if job.cost_actual is not None else Decimal(0)
            left += max(Decimal(0), estimate - spent)
        return left

    async def submit_job(self, ask: Ask) -> Job:
        """Plan, check the caps (counting this server's unfinished jobs), queue the job."""
        from imagen.jobs.model import new_job
        from imagen.pipeline import open_backend

        backend = open_backend(self.config, ask.backend)
        try:
            request = self.request(ask)
            plan = self.plan(ask, backend)
        finally:
            await backend.aclose()
        queue = await self.queue()
        self.guard.check(
            plan.cost_estimate,
            takes=len(plan.to_run),
            backend=plan.instance.name,
            max_cost_usd=ask.max_cost_usd,
            pending=await self.jobs_pending(),
        )
        return await queue.submit(new_job(plan, request=request))

    async def get_job(self, job_id: str) -> Job:
        return await (await self.queue()).get(job_id)

    async def cancel_job(self, job_id: str) -> Job:
        return await (await self.queue()).cancel(job_id)

    async def pick_take(self, job_id: str, take: int) -> Job:
        return await (await self.queue()).pick(job_id, take)

    # -- the history ------------------------------------------------------------------------

    def recent(self, limit: int = 10, query: str | None = None) -> list[dict[str, Any]]:
        """The newest recorded takes (``query``: a substring of the prompt), newest first."""
        from imagen.store.history import History

        if not self.config.history.enabled:
            return []
        history = History.shared(self.config.history.path)
        entries = history.query(text=query or None, limit=limit, on_damage=lambda _: None)
        return [
            {
                "id": entry.id,
                "uri": f"imagen://images/{entry.id}",
                "created_at": entry.created_at.isoformat(),
                "path": entry.absolute_path(),
                "prompt": entry.prompt,
                "style": entry.style,
                "backend": entry.backend,
                "model": entry.model,
                "seed": entry.seed,
                "width": entry.width,
                "height": entry.height,
                "media_type": entry.media_type,
                "cost_usd": None
                if entry.cache_hit or entry.cost is None
                else format(entry.cost, "f"),
                "cache_hit": entry.cache_hit,
            }
            for entry in entries
        ]

    def image_file(self, image_id: int) -> tuple[str, str]:
        """(path, media type) of the recorded take ``image_id``, among the recent ones."""
        for row in self.recent(RESOURCE_WINDOW):
            if row["id"] == image_id:
                return row["path"], row["media_type"]
        raise ConfigError(
            f"no image {image_id} among the last {RESOURCE_WINDOW} takes; list them with "
            "recent_images"
        )

    async def aclose(self) -> None:
        if self._worker is not None and self._worker_task is not None:
            # Twice: claim nothing more, then hand running jobs back for the next runner.
            self._worker.stop()
            self._worker.stop()
            with contextlib.suppress(Exception, asyncio.CancelledError):
                await self._worker_task
        if self._queue is not None:
            await self._queue.aclose()


def take_data(generation: Generation) -> dict[str, Any]:
    """One take of a generate result: where it is, its seed and what it cost."""
    from imagen.output.write import absolute_path

    return {
        "take": generation.take,
        "path": absolute_path(generation),
        "seed": generation.seed,
        "width": generation.width,
        "height": generation.height,
        "media_type": generation.media_type,
        "backend": generation.backend,
        "model": generation.model,
        "cost_usd": money(generation.cost_actual),
        "cache_hit": generation.cache_hit,
    }


def total_actual(generations: Sequence[Generation]) -> Decimal | None:
    """What the takes cost together in USD (None when any take's price is unknown)."""
    total = Decimal(0)
    for generation in generations:
        if generation.cost_actual is None:
            return None
        total += generation.cost_actual.amount
    return total


class _ProgressReporter:
    """The pipeline's Reporter for one call: overall progress (takes done, fractions
    included) sent in order by one task, only when it grows."""

    def __init__(self, takes: int, sink: ProgressSink | None) -> None:
        self.takes = takes
        self.sink = sink
        self.done: dict[int, float] = {}
        self.sent = -1.0
        self.outbox: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
        self.task = asyncio.ensure_future(self._pump()) if sink is not None else None

    def _report(self, message: str) -> None:
        value = round(sum(self.done.values()), 3)
        if self.sink is None or value <= self.sent:
            return
        self.sent = value
        self.outbox.put_nowait((value, message))

    async def _pump(self) -> None:
        assert self.sink is not None
        while (item := await self.outbox.get()) is not None:
            with contextlib.suppress(Exception):  # a client gone away loses only progress
                await self.sink(item[0], float(self.takes), item[1])

    def take_started(self, take: int, total: int) -> None:
        self.done.setdefault(take, 0.0)
        self._report(f"take {take} of {total} started")

    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None:
        fraction = min(max(done / total, 0.0), 0.99) if total else 0.0
        self.done[take] = max(self.done.get(take, 0.0), fraction)
        self._report(f"take {take} of {self.takes}: {message}" if message else f"take {take}")

    def take_finished(self, take: int, generation: Generation) -> None:
        self.done[take] = 1.0
        note = " (cache hit, no spend)" if generation.cache_hit else ""
        self._report(f"take {take} of {self.takes} done{note}")

    def take_failed(self, take: int, error: ImagenError) -> None:
        self.done[take] = 1.0
        self._report(f"take {take} of {self.takes} failed")

    def warning(self, message: str) -> None:
        return None

    async def close(self) -> None:
        if self.task is not None:
            self.outbox.put_nowait(None)
            await self.task


__all__ = [
    "Ask",
    "ProgressSink",
    "Tools",
    "money",
    "said",
    "take_data",
    "total_actual",
    "usd",
]
