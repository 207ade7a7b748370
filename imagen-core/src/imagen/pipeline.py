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
import contextlib
import datetime as dt
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import attrs

from imagen import console, cost, debug
from imagen.backend import Backend
from imagen.config.model import Config, Instance
from imagen.errors import BackendError, ConfigError, ImagenError
from imagen.instances import default_concurrency, instance_for, open_backend
from imagen.models import Cost, Generation, Progress, Request
from imagen.output.write import Take, absolute_path, write_image
from imagen.seeds import SEED_RANGE as SEED_RANGE
from imagen.seeds import seeds_for
from imagen.styles import Style, lookup

if TYPE_CHECKING:
    from imagen.sinks.protocol import Stored


class Reporter(Protocol):
    """What the pipeline tells its caller while it runs (a progress display, a job record)."""

    def take_started(self, take: int, total: int) -> None: ...
    def take_progress(self, take: int, done: float, total: float | None, message: str) -> None: ...
    def take_finished(self, take: int, generation: Generation) -> None: ...
    def take_failed(self, take: int, error: ImagenError) -> None: ...
    def warning(self, message: str) -> None: ...


@runtime_checkable
class StoreReporter(Protocol):
    """A Reporter that also hears where a storage sink put a take (a job records it)."""

    def take_stored(self, take: int, generation: Generation, sink: str, stored: Stored) -> None:
        """Called after the sinks ran, once for each sink that stored the take."""
        ...


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
        if not self.to_run:
            return Cost.free("cache hits: no new spend")
        if self.cost_per_take is None:
            return None
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
    from imagen.plugins.loader import registry

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
    from imagen.store.cache import backend_identity

    instance = instance_for(config, backend)
    if request.count < 1:
        raise ConfigError("the number of takes (-n/--count) must be 1 or more")
    style = lookup(styles_for(config), request.style) if request.style else None
    styled = apply_style(request, style)
    explicit = request.seed is not None
    seeds = seeds_for(request.seed, request.count)
    directory = os.path.abspath(
        os.path.expanduser(os.fspath(output_dir or config.output.directory))
    )
    chosen = estimator or open_backend(config, instance.name)
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
        seeded=bool(getattr(chosen, "honors_seeds", True)),
    )
    # A backend that ignores seeds gives a new image for the same seed: nothing to reuse.
    if explicit and plan.seeded and use_cache and config.history.enabled:
        plan = attrs.evolve(plan, cached=_cache_hits(plan))
    per_take = cost.estimate_take(instance, chosen, plan.take_request(1))
    return attrs.evolve(plan, cost_per_take=per_take)


def _cache_hits(plan: Plan) -> dict[int, Generation]:
    """The takes the history already has; a broken history only costs the cache (a warning)."""
    from imagen.store import cache
    from imagen.store.history import History

    hits: dict[int, Generation] = {}
    try:
        history = History.shared(plan.config.history.path)
        for take in range(1, plan.takes + 1):
            found = cache.lookup(
                history, plan.identity, plan.take_request(take), take, plan.takes, plan.output_dir
            )
            if found is not None:
                hits[take] = attrs.evolve(found, caller=plan.caller, user_prompt=plan.user_prompt)
    except Exception as error:  # the cache is an optimisation: nothing in it may stop a run
        debug.log_exception(error)
        reason = str(error) if isinstance(error, ImagenError) else type(error).__name__
        console.warn(f"history: {reason}; the cache is skipped for this run")
        return {}
    return hits


def check_ready(plan: Plan, backend: Backend) -> None:
    """Refuse before any spend: a backend that is not configured, an unwritable output folder.

    Called by ``execute`` and, earlier, by front ends that print a cost notice first.
    """
    from imagen.errors import NotConfigured
    from imagen.output.files import probe_directory

    if plan.to_run:
        status = backend.status()
        if not status.ok:
            raise NotConfigured(f"backend {plan.instance.name} is {status.message}")
    if plan.to_run or any(g.output_dir != plan.output_dir for g in plan.cached.values()):
        probe_directory(plan.output_dir)


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
            from imagen.store.history import History

            try:
                self.history = History.shared(config.history.path)
            except ImagenError as error:
                console.warn(f"history: {error}; this run is not recorded")
        if config.sinks:
            from imagen.sinks import run as sinks
            from imagen.sinks.outbox import Outbox

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
        except Exception as error:  # the file is safe; a history failure is only a warning
            debug.log_exception(error)
            reason = str(error) if isinstance(error, ImagenError) else type(error).__name__
            console.warn(f"history: {reason}; {generation.path} is on disk but not recorded")

    async def deliver(self, generation: Generation) -> list[tuple[str, Stored]]:
        """Run the hooks and sinks; where the sinks that store objects put it."""
        from imagen.plugins.hookcalls import post_generate

        await post_generate(generation)
        stored: list[tuple[str, Stored]] = []
        # A cache hit is a file the sinks already have: nothing new to deliver.
        if self.sinks and not generation.cache_hit:
            from imagen.sinks import run as sinks

            await sinks.deliver(
                self.sinks,
                generation,
                timeout=self.plan.config.output.sink_timeout,
                outbox=self.outbox,
                stored=lambda sink, place: stored.append((sink, place)),
            )
        return stored

    async def close(self) -> None:
        if self.sinks:
            from imagen.sinks import run as sinks

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

    Before any backend call the backend's readiness and the output folder are checked
    (``check_ready``). A failed take does not stop the others; its error is in
    ``Outcome.failures``. Nothing after a take's bytes arrive (writing, the history, the
    reporter, hooks, sinks) can cancel another take. An image that cannot be written where asked
    is kept in the data dir (``rescue_dir()``) and its spend recorded. Cancellation (Ctrl-C, a
    signal, a cancelled job) cancels the backend's work and leaves no partial file behind.
    """
    report = reporter or QuietReporter()
    generations: dict[tuple[int, int], Generation] = {}
    failures: dict[int, TakeFailure] = {}
    active = backend or (open_backend(plan.config, plan.instance.name) if plan.to_run else None)
    after = _AfterWrite(plan)
    try:
        if active is not None:
            check_ready(plan, active)
        elif plan.cached:
            check_ready(plan, _NO_BACKEND)
        after.open()

        async def finish(take: int, index: int, generation: Generation) -> None:
            generations[(take, index)] = generation
            after.record(generation)
            _safely(lambda: report.take_finished(take, generation))
            try:
                stored = await after.deliver(generation)
            except Exception as error:  # hooks and sinks report their own failures
                debug.log_exception(error)
                console.warn(f"{generation.path}: delivery failed: {type(error).__name__}")
                return
            if isinstance(report, StoreReporter):
                for sink, place in stored:
                    _safely(lambda: report.take_stored(take, generation, sink, place))  # noqa: B023

        def fail(take: int, error: ImagenError) -> None:
            failures[take] = TakeFailure(take, error)
            _safely(lambda: report.take_failed(take, error))

        for take, cached in sorted(plan.cached.items()):
            _safely(lambda: report.take_started(take, plan.takes))  # noqa: B023
            try:
                placed = _place_cached(plan, cached)
            except ImagenError as error:
                fail(take, error)
                continue
            await finish(take, 0, placed)
        if plan.to_run and active is not None:
            await _run_takes(plan, active, report, finish, fail, after)
    finally:
        try:
            if active is not None and backend is None:
                await asyncio.shield(active.aclose())
        finally:
            await asyncio.shield(after.close())
    return Outcome(
        plan,
        tuple(generations[k] for k in sorted(generations)),
        tuple(failures[k] for k in sorted(failures)),
    )


class _Unused:
    """The backend stand-in when every take is a cache hit: always ready, never called."""

    name = "cache"

    def status(self) -> Any:
        from imagen.models import Status

        return Status.ready()


_NO_BACKEND: Any = _Unused()


def _safely(step: Any) -> None:
    """Run a reporter call; a failing display (a closed pipe, a full device) loses no take."""
    try:
        step()
    except Exception as error:
        debug.log_exception(error)


def _place_cached(plan: Plan, generation: Generation) -> Generation:
    """The cached take in the asked output folder: a copy when it lives in another one.

    A copy, not a link: editing one file must not change the other (or the cache's record).
    """
    from imagen.errors import OutputError
    from imagen.output.files import write_take

    if generation.output_dir == plan.output_dir:
        return generation
    source = absolute_path(generation)
    stem, dot, ext = generation.path.rpartition(".")
    try:
        with open(source, "rb") as handle:
            data = handle.read()
        sidecar = None
        if generation.sidecar_path:
            sidecar_file = os.path.join(generation.output_dir, *generation.sidecar_path.split("/"))
            with open(sidecar_file, "rb") as handle:
                sidecar = handle.read()
    except OSError as error:
        raise OutputError(
            f"the cached take {source} could not be read ({error.strerror or error}); "
            "run again with --no-cache"
        ) from error
    path, sidecar_path = write_take(
        plan.output_dir, stem if dot else generation.path, ext if dot else "", data, sidecar
    )
    return attrs.evolve(
        generation,
        path=path,
        sidecar_path=sidecar_path,
        output_dir=plan.output_dir,
        metadata={**generation.metadata, "copied_from": source},
    )


def rescue_dir() -> str:
    """Where images that could not be written to the output folder are kept (the data dir)."""
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("imagen"), "rescued")


async def _run_takes(
    plan: Plan, backend: Backend, report: Reporter, finish: Any, fail: Any, after: _AfterWrite
) -> None:
    limit = asyncio.Semaphore(plan.concurrency)
    started_at = dt.datetime.now().astimezone()
    name = plan.instance.name

    async def run_take(number: int) -> None:
        try:
            written = await backend_take(number)
            # Outside the concurrency slot: a slow sink must not hold up the next take.
            for index, generation in enumerate(written):
                await finish(number, index, generation)
        except Exception as error:
            # Nothing may escape into the task group: it would cancel every other take.
            debug.log_exception(error)
            fail(number, _internal(error, name))

    async def backend_take(number: int) -> list[Generation]:
        async with limit:
            _safely(lambda: report.take_started(number, plan.takes))
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
            except ImagenError as error:
                fail(number, error)
                return []
            except Exception as error:
                # A bug in a plugin (or here) must not tear down the other takes; --debug
                # shows the traceback.
                debug.log_exception(error)
                fail(number, _internal(error, name))
                return []
            # Paid for from here on: every image is kept and its share of the cost recorded.
            warnings = list(result.warnings)
            actual = _actual_cost(plan.instance, result, warnings)
            for warning in warnings:
                _safely(lambda: report.warning(f"{name}: {warning}"))  # noqa: B023
            written: list[Generation] = []
            for image in result.images:
                try:
                    written.append(write_image(take, request, result, image, actual, warnings))
                except Exception as error:
                    if not isinstance(error, ImagenError):
                        debug.log_exception(error)
                    kept = _rescue(take, request, result, image, actual, warnings, error, after)
                    fail(number, kept)
            return written

    async with asyncio.TaskGroup() as group:
        for number in plan.to_run:
            group.create_task(run_take(number))


def _actual_cost(instance: Instance, result: Any, warnings: list[str]) -> Cost | None:
    """Each image's share of the result's reported cost; unknown (and a warning) when the
    provider's amount cannot be shared (a float, an infinity, NaN): the images are paid for and
    must still be written."""
    try:
        actual = cost.actual_cost(instance, result, len(result.images))
        if actual is None or actual.amount.is_finite():
            return actual
    except Exception as error:
        debug.log_exception(error)
    warnings.append(
        f"the reported cost {result.cost.amount!r} could not be read; recorded as unknown"
    )
    return None


def _internal(error: BaseException, backend: str) -> BackendError:
    return BackendError(
        f"internal error: {type(error).__name__}: {error} (run with --debug for details)",
        backend=backend,
    )


def _rescue(
    take: Take,
    request: Request,
    result: Any,
    image: Any,
    actual: Cost | None,
    warnings: list[str],
    error: BaseException,
    after: _AfterWrite,
) -> ImagenError:
    """Keep a paid-for image that could not be written where asked; record its spend.

    Returns the take's error, saying where the image is (or that it could not be kept).
    """
    from imagen.errors import OutputError

    reason = str(error) if isinstance(error, ImagenError) else f"{type(error).__name__}: {error}"
    place = rescue_dir()
    try:
        # A data folder, like the history: only the user may list it (the images inside
        # follow the umask, like any output).
        os.makedirs(place, mode=0o700, exist_ok=True)
        with contextlib.suppress(OSError):  # made 0755 by an older imagen, or not ours
            os.chmod(place, 0o700)
        kept = write_image(
            attrs.evolve(take, output_dir=place), request, result, image, actual, warnings
        )
    except Exception as second:
        debug.log_exception(second)
        again = str(second) if isinstance(second, ImagenError) else type(second).__name__
        return OutputError(f"{reason}; keeping the image in {place} failed too ({again})")
    after.record(kept)
    return OutputError(f"{reason}; the image is kept at {absolute_path(kept)}")


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
    from imagen.config.load import load_config

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
    "check_ready",
    "execute",
    "generate",
    "instance_for",
    "open_backend",
    "prepare",
    "rescue_dir",
    "styles_for",
]
