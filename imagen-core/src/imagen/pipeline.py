"""The generate pipeline: one library function used by the CLI, the server, the worker and MCP.

    plan = prepare(config, Request(prompt="a cat"), backend="mock")
    outcome = await execute(plan)

``prepare`` resolves everything that costs nothing: instance, style, size, seeds, cache hits and
the cost estimate. ``execute`` runs the remaining takes concurrently up to the instance's
concurrency; as each take arrives it is written atomically with its sidecar, recorded in the
history, shown to ``post_generate`` hooks and handed to the sinks. A ``Reporter`` hears about
every step (a progress display, a job record).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

import attrs

from imagen import console, cost, debug
from imagen.backend import Backend
from imagen.config import Config, Instance
from imagen.errors import BackendError, ConfigError, ImagenError
from imagen.instances import default_concurrency, instance_for, open_backend
from imagen.models import Cost, Generation, Progress, Request
from imagen.styles import Style, lookup
from imagen.write import Take, absolute_path, write_image

SEED_RANGE = 2**32


class Reporter(Protocol):
    """What the pipeline tells its caller while it runs (a progress display, a job record)."""

    def take_started(self, take: int, total: int) -> None: ...
    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None: ...
    def take_finished(self, take: int, generation: Generation) -> None: ...
    def take_failed(self, take: int, error: ImagenError) -> None: ...
    def warning(self, message: str) -> None: ...


class QuietReporter:
    """Reports nothing (library callers, non-TTY runs)."""

    def take_started(self, take: int, total: int) -> None:
        return None

    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None:
        return None

    def take_finished(self, take: int, generation: Generation) -> None:
        return None

    def take_failed(self, take: int, error: ImagenError) -> None:
        return None

    def warning(self, message: str) -> None:
        return None


@attrs.frozen
class Plan:
    """Everything resolved before any spend: what will run, where, and what it will cost."""

    config: Config
    instance: Instance
    concurrency: int
    request: Request
    user_prompt: str
    style: Style | None
    seeds: tuple[int, ...]
    explicit_seed: bool
    output_dir: str
    caller: str | None
    cost_per_take: Cost | None
    #: backend type + the settings that change its output (the cache's backend side)
    identity: str
    #: takes (1-based) the cache already has: no backend call, no spend
    cached: Mapping[int, Generation] = attrs.field(factory=dict)
    #: ``--no-cloud``: no sink runs for this plan
    no_cloud: bool = False
    #: False when the backend ignores seeds (``honors_seeds = False``): the seeds are only ours
    seeded: bool = True

    @property
    def takes(self) -> int:
        return len(self.seeds)

    @property
    def to_run(self) -> list[int]:
        """The takes the backend will be asked for (not cached)."""
        return [take for take in range(1, self.takes + 1) if take not in self.cached]

    @property
    def cost_estimate(self) -> Cost | None:
        """The estimate for the takes that will really run."""
        if self.cost_per_take is None:
            return None if self.to_run else Cost.free("cache hits: no new spend")
        return self.cost_per_take * len(self.to_run)

    def take_request(self, take: int) -> Request:
        """The single-take request for take ``take`` (1-based), with its own seed."""
        return attrs.evolve(self.request, count=1, seed=self.seeds[take - 1])


@attrs.frozen
class TakeFailure:
    take: int
    error: ImagenError


@attrs.frozen
class Outcome:
    plan: Plan
    generations: tuple[Generation, ...]
    failures: tuple[TakeFailure, ...]

    @property
    def ok(self) -> bool:
        return not self.failures


def styles_for(config: Config) -> dict[str, Style]:
    """Built-in and plugin styles with the user's config styles merged over them."""
    from imagen.plugins import registry

    merged: dict[str, Style] = dict(registry().styles)
    for name, style in config.styles.items():
        merged[name] = Style(name=name, source="config", **attrs.asdict(style))
    return merged


def prepare(
    config: Config,
    request: Request,
    *,
    backend: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    caller: str | None = None,
    estimator: Backend | None = None,
    use_cache: bool = True,
    no_cloud: bool = False,
) -> Plan:
    """Resolve instance, style, size, seeds and cache hits, and estimate the cost.

    Nothing is spent and no file is written. ``estimator`` is the backend to ask for prices
    (built from config when not given).
    """
    from imagen.cache import backend_identity

    instance = instance_for(config, backend)
    if request.count < 1:
        raise ConfigError("the number of takes (-n/--count) must be 1 or more")
    style = lookup(styles_for(config), request.style) if request.style else None
    styled = apply_style(request, style)
    explicit = request.seed is not None
    if request.seed is not None:
        seeds = tuple(request.seed + i for i in range(request.count))
    else:
        seeds = tuple(secrets.randbelow(SEED_RANGE) for _ in range(request.count))
    directory = os.path.abspath(
        os.path.expanduser(os.fspath(output_dir or config.output.directory))
    )
    plan = Plan(
        config=config,
        instance=instance,
        concurrency=default_concurrency(instance),
        request=attrs.evolve(styled, seed=seeds[0]),
        user_prompt=request.prompt,
        style=style,
        seeds=seeds,
        explicit_seed=explicit,
        output_dir=directory,
        caller=caller,
        cost_per_take=None,
        identity=backend_identity(instance),
        no_cloud=no_cloud,
    )
    if explicit and use_cache and config.history.enabled:
        plan = attrs.evolve(plan, cached=_cache_hits(plan))
    chosen = estimator or open_backend(config, instance.name)
    per_take = cost.estimate_take(instance, chosen, plan.take_request(1))
    return attrs.evolve(plan, cost_per_take=per_take)


def _cache_hits(plan: Plan) -> dict[int, Generation]:
    from imagen import cache
    from imagen.history import History

    hits: dict[int, Generation] = {}
    history = History.shared(plan.config.history.path)
    for take in range(1, plan.takes + 1):
        found = cache.lookup(history, plan.identity, plan.take_request(take), take, plan.takes)
        if found is not None:
            hits[take] = attrs.evolve(found, caller=plan.caller, user_prompt=plan.user_prompt)
    return hits


def apply_style(request: Request, style: Style | None) -> Request:
    """The request with the style's template and defaults; explicit request fields win."""
    if style is None:
        return request
    from imagen.sizes import parse_size

    negatives = [n for n in (style.negative, request.negative_prompt) if n]
    changes: dict[str, Any] = {
        "prompt": style.render(request.prompt),
        "negative_prompt": ", ".join(negatives) if negatives else None,
        "steps": request.steps if request.steps is not None else style.steps,
    }
    if request.width is None and request.aspect_ratio is None:
        if style.size:
            changes["width"], changes["height"] = parse_size(style.size)
        elif style.aspect_ratio:
            changes["aspect_ratio"] = style.aspect_ratio
    return attrs.evolve(request, **changes)


class _AfterWrite:
    """Steps 8-9 for each take on disk: history, post_generate hooks, sinks. Never raise."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan
        self.history: Any = None
        self.sinks: list[Any] = []
        self.outbox: Any = None

    def open(self) -> None:
        config = self.plan.config
        if config.history.enabled:
            from imagen.history import History

            try:
                self.history = History.shared(config.history.path)
            except ImagenError as error:
                console.warn(f"history: {error}; this run is not recorded")
        if config.sinks:
            from imagen import sinks
            from imagen.outbox import Outbox

            self.sinks = sinks.build_sinks(
                config, sinks.cloud_mode(config, no_cloud=self.plan.no_cloud)
            )
            if self.sinks:
                try:
                    self.outbox = Outbox.open()
                except ImagenError as error:
                    console.warn(f"outbox: {error}; failed deliveries will not be kept")

    def record(self, generation: Generation) -> None:
        if self.history is None:
            return
        try:
            self.history.record(
                generation,
                store_prompt=self.plan.config.history.store_prompt,
                backend_identity=self.plan.identity,
            )
        except ImagenError as error:
            console.warn(f"history: {error}; {generation.path} is on disk but not recorded")

    async def deliver(self, generation: Generation) -> None:
        from imagen.hookcalls import post_generate

        await post_generate(generation)
        # A cache hit is a file the sinks already have: nothing new to deliver.
        if self.sinks and not generation.cache_hit:
            from imagen import sinks

            await sinks.deliver(
                self.sinks,
                generation,
                timeout=self.plan.config.output.sink_timeout,
                outbox=self.outbox,
            )

    async def close(self) -> None:
        if self.sinks:
            from imagen import sinks

            await sinks.close_sinks(self.sinks)
        if self.outbox is not None:
            self.outbox.close()
        # The history stays open: it is shared for the rest of the process (History.shared).


async def execute(
    plan: Plan,
    *,
    backend: Backend | None = None,
    reporter: Reporter | None = None,
) -> Outcome:
    """Run every take of ``plan``; write, record and deliver each as soon as it arrives.

    A failed take does not stop the others; its error is in ``Outcome.failures``. Cancellation
    (Ctrl-C, a cancelled job) cancels the backend's work and leaves no partial file behind.
    """
    report = reporter or QuietReporter()
    generations: dict[int, Generation] = {}
    failures: dict[int, TakeFailure] = {}
    after = _AfterWrite(plan)
    after.open()

    async def finish(take: int, generation: Generation) -> None:
        generations[take] = generation
        after.record(generation)
        report.take_finished(take, generation)
        await after.deliver(generation)

    def fail(take: int, error: ImagenError) -> None:
        failures[take] = TakeFailure(take, error)
        report.take_failed(take, error)

    try:
        for take, generation in sorted(plan.cached.items()):
            report.take_started(take, plan.takes)
            await finish(take, generation)
        if plan.to_run:
            active = backend or open_backend(plan.config, plan.instance.name)
            try:
                await _run_takes(plan, active, report, finish, fail)
            finally:
                if backend is None:
                    await asyncio.shield(active.aclose())
    finally:
        await asyncio.shield(after.close())
    return Outcome(
        plan,
        tuple(generations[k] for k in sorted(generations)),
        tuple(failures[k] for k in sorted(failures)),
    )


async def _run_takes(
    plan: Plan, backend: Backend, report: Reporter, finish: Any, fail: Any
) -> None:
    limit = asyncio.Semaphore(plan.concurrency)
    started_at = dt.datetime.now().astimezone()
    name = plan.instance.name

    async def run_take(number: int) -> None:
        written = await backend_take(number)
        if written is not None:
            # Outside the concurrency slot: a slow sink must not hold up the next take.
            await finish(number, written)

    async def backend_take(number: int) -> Generation | None:
        async with limit:
            report.take_started(number, plan.takes)
            request = plan.take_request(number)

            def progress_update(done: float, total: float | None, message: str) -> None:
                report.take_progress(number, done, total, message)

            take = Take(
                config=plan.config,
                instance=plan.instance,
                output_dir=plan.output_dir,
                user_prompt=plan.user_prompt,
                style=plan.style.name if plan.style else None,
                number=number,
                takes=plan.takes,
                started_at=started_at,
                caller=plan.caller,
                cost_estimate=plan.cost_per_take,
            )
            try:
                result = await backend.generate(request, Progress(progress_update))
                if not result.images:
                    raise BackendError("the backend returned no image", backend=name)
                warnings = list(result.warnings)
                if len(result.images) > 1:
                    warnings.append(
                        f"the backend returned {len(result.images)} images for one take; "
                        "kept the first"
                    )
                for warning in warnings:
                    report.warning(f"{name}: {warning}")
                actual = cost.actual_cost(plan.instance, result, len(result.images))
                written = write_image(take, request, result, result.images[0], actual, warnings)
            except ImagenError as error:
                fail(number, error)
                return None
            except Exception as error:
                # A bug in a plugin (or here) must not tear down the other takes; --debug
                # shows the traceback.
                debug.log_exception(error)
                fail(
                    number,
                    BackendError(
                        f"internal error: {type(error).__name__}: {error} "
                        "(run with --debug for details)",
                        backend=name,
                    ),
                )
                return None
            return written

    async with asyncio.TaskGroup() as group:
        for number in plan.to_run:
            group.create_task(run_take(number))


async def generate(
    request: Request,
    *,
    config: Config | None = None,
    backend: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    caller: str | None = None,
    reporter: Reporter | None = None,
) -> Outcome:
    """Prepare and execute in one call: what the CLI, the server and the worker all do."""
    from imagen.config import load_config

    chosen = config if config is not None else load_config()
    plan = prepare(chosen, request, backend=backend, output_dir=output_dir, caller=caller)
    return await execute(plan, reporter=reporter)


__all__ = [
    "Outcome",
    "Plan",
    "QuietReporter",
    "Reporter",
    "TakeFailure",
    "absolute_path",
    "apply_style",
    "execute",
    "generate",
    "instance_for",
    "open_backend",
    "prepare",
    "styles_for",
]
