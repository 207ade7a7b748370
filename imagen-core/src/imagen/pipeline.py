"""The generate pipeline: one library function used by the CLI, the server, the worker and MCP.

    plan = prepare(config, Request(prompt="a cat"), backend="mock")
    outcome = await execute(plan)

``prepare`` resolves everything that costs nothing (instance, style, size, seeds, estimate);
``execute`` runs the takes concurrently up to the instance's concurrency, writes each image
atomically with its sidecar as soon as it arrives, and reports through a ``Reporter``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import os
import secrets
from collections.abc import Sequence
from decimal import Decimal
from typing import Any, Protocol

import attrs

from imagen import debug
from imagen.backend import Backend
from imagen.config import MOCK_INSTANCE, Config, Instance
from imagen.errors import BackendError, ConfigError, ImagenError
from imagen.models import Cost, Generation, Image, Progress, Request, Result
from imagen.styles import Style, lookup

SEED_RANGE = 2**32
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


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

    @property
    def cost_estimate(self) -> Cost | None:
        return self.cost_per_take * len(self.seeds) if self.cost_per_take is not None else None

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


def instance_for(config: Config, name: str | None) -> Instance:
    """The named instance (default: ``default_backend``); the built-in ``mock`` always exists."""
    from imagen.config import did_you_mean
    from imagen.mock import MockSettings

    chosen = name or config.default_backend
    if chosen in config.backends:
        return config.backends[chosen]
    if chosen == MOCK_INSTANCE:
        return Instance(MOCK_INSTANCE, "mock", MockSettings())
    known = ", ".join(sorted({*config.backends, MOCK_INSTANCE}))
    raise ConfigError(
        f"no backend instance named {chosen!r}{did_you_mean(chosen, config.backends)} "
        f"(configured: {known}; see: imagen backends)"
    )


def open_backend(config: Config, name: str | None = None) -> Backend:
    """Build the backend for instance ``name`` (no network; fails only on a config problem)."""
    from imagen.plugins import registry

    instance = instance_for(config, name)
    kind = registry().backends.get(instance.type)
    if kind is None:
        raise ConfigError(
            f"backend type {instance.type!r} is not installed", path=f"backends.{name}"
        )
    try:
        backend: Backend = kind.factory(instance.name, instance.settings)
    except ImagenError:
        raise
    except Exception as error:
        raise ConfigError(
            f"backend {instance.name!r} ({instance.type}) could not be built: {error}"
        ) from error
    return backend


def default_concurrency(instance: Instance) -> int:
    from imagen.plugins import registry

    if instance.concurrency is not None:
        return instance.concurrency
    kind = registry().backends.get(instance.type)
    return kind.concurrency if kind is not None else 1


def prepare(
    config: Config,
    request: Request,
    *,
    backend: str | None = None,
    output_dir: str | os.PathLike[str] | None = None,
    caller: str | None = None,
    estimator: Backend | None = None,
) -> Plan:
    """Resolve instance, style, size and seeds, and estimate the cost. Nothing is spent."""
    instance = instance_for(config, backend)
    if request.count < 1:
        raise ConfigError("the number of takes (-n/--count) must be 1 or more")
    style = lookup(styles_for(config), request.style) if request.style else None
    styled = apply_style(request, style)
    explicit = request.seed is not None
    if explicit:
        assert request.seed is not None
        seeds = tuple(request.seed + i for i in range(request.count))
    else:
        seeds = tuple(secrets.randbelow(SEED_RANGE) for _ in range(request.count))
    styled = attrs.evolve(styled, seed=seeds[0])
    directory = os.path.abspath(
        os.path.expanduser(os.fspath(output_dir or config.output.directory))
    )
    plan = Plan(
        config=config,
        instance=instance,
        concurrency=default_concurrency(instance),
        request=styled,
        user_prompt=request.prompt,
        style=style,
        seeds=seeds,
        explicit_seed=explicit,
        output_dir=directory,
        caller=caller,
        cost_per_take=None,
    )
    per_take = estimate_take(plan, estimator or open_backend(config, instance.name))
    return attrs.evolve(plan, cost_per_take=per_take)


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


def estimate_take(plan: Plan, backend: Backend) -> Cost | None:
    """The cost of one take: the instance's ``cost_per_image`` override, else the backend's."""
    if plan.instance.cost_per_image is not None:
        return Cost(
            plan.instance.cost_per_image, f"cost_per_image of {plan.instance.name} in config"
        )
    return backend.estimate_cost(plan.take_request(1))


def actual_cost(plan: Plan, result: Result, images: int) -> Cost | None:
    """The actual cost of one image of ``result``, where known."""
    if plan.instance.cost_per_image is not None:
        return Cost(
            plan.instance.cost_per_image, f"cost_per_image of {plan.instance.name} in config"
        )
    if result.cost is None:
        return None
    share = (result.cost.amount / Decimal(max(images, 1))).quantize(Decimal("0.000001"))
    return Cost(share, result.cost.basis, result.cost.currency)


async def execute(
    plan: Plan,
    *,
    backend: Backend | None = None,
    reporter: Reporter | None = None,
) -> Outcome:
    """Run every take of ``plan``; write each image as soon as it arrives.

    A failed take does not stop the others; its error is in ``Outcome.failures``. Cancellation
    (Ctrl-C, a cancelled job) cancels the backend's work and leaves no partial file behind.
    """
    report = reporter or QuietReporter()
    owned = backend is None
    active = backend or open_backend(plan.config, plan.instance.name)
    limit = asyncio.Semaphore(plan.concurrency)
    generations: dict[int, Generation] = {}
    failures: dict[int, TakeFailure] = {}
    started_at = dt.datetime.now().astimezone()
    total = len(plan.seeds)

    async def run_take(take: int) -> None:
        async with limit:
            report.take_started(take, total)
            request = plan.take_request(take)

            def progress_update(done: float, of: float | None, message: str) -> None:
                report.take_progress(take, done, of, message)

            try:
                result = await active.generate(request, Progress(progress_update))
                if not result.images:
                    raise BackendError("the backend returned no image", backend=plan.instance.name)
                for warning in result.warnings:
                    report.warning(f"{plan.instance.name}: {warning}")
                written = write_result(plan, take, request, result, started_at)
            except ImagenError as error:
                failures[take] = TakeFailure(take, error)
                report.take_failed(take, error)
                return
            except Exception as error:
                # A bug in a plugin (or here) must not tear down the other takes; --debug
                # shows the traceback.
                debug.log_exception(error)
                wrapped = BackendError(
                    f"internal error: {type(error).__name__}: {error} "
                    "(run with --debug for details)",
                    backend=plan.instance.name,
                )
                failures[take] = TakeFailure(take, wrapped)
                report.take_failed(take, wrapped)
                return
            generations[take] = written
            report.take_finished(take, written)

    try:
        async with asyncio.TaskGroup() as group:
            for take in range(1, total + 1):
                group.create_task(run_take(take))
    finally:
        if owned:
            await asyncio.shield(active.aclose())
    return Outcome(
        plan,
        tuple(generations[k] for k in sorted(generations)),
        tuple(failures[k] for k in sorted(failures)),
    )


def write_result(
    plan: Plan, take: int, request: Request, result: Result, started_at: dt.datetime
) -> Generation:
    """Write the take's image (the first one; a single-take request returns one) and sidecar."""
    image = result.images[0]
    warnings = list(result.warnings)
    if len(result.images) > 1:
        warnings.append(
            f"the backend returned {len(result.images)} images for one take; kept the first"
        )
    return write_image(plan, take, request, result, image, started_at, tuple(warnings))


def write_image(
    plan: Plan,
    take: int,
    request: Request,
    result: Result,
    image: Image,
    started_at: dt.datetime,
    warnings: Sequence[str] = (),
) -> Generation:
    from imagen import naming, output, sidecar
    from imagen.naming_hooks import plugin_naming_fields, plugin_sidecar_fields

    settings = plan.config.output
    # The seed the backend reports; a backend that ignores seeds (Gemini) reports None, and
    # recording the seed we asked for would claim a reproducibility that does not exist.
    seed = image.seed
    generation = Generation(
        request=request,
        backend=plan.instance.name,
        backend_type=plan.instance.type,
        model=result.model,
        seed=seed,
        path="",
        output_dir=plan.output_dir,
        sha256="",
        media_type=image.media_type,
        width=image.width,
        height=image.height,
        size_bytes=len(image.data),
        latency=result.latency,
        created_at=dt.datetime.now().astimezone(),
        take=take,
        takes=len(plan.seeds),
        cost_estimate=plan.cost_per_take,
        cost_actual=actual_cost(plan, result, len(result.images)),
        caller=plan.caller,
        metadata=result.metadata,
        warnings=tuple(warnings),
        user_prompt=plan.user_prompt,
        style=plan.style.name if plan.style else None,
    )
    plugin_fields = plugin_sidecar_fields(generation)
    generation = attrs.evolve(generation, plugin_fields=plugin_fields)
    data = image.data
    if settings.embed_metadata and image.media_type == "image/png":
        data = embed_metadata(generation, data)
    digest = hashlib.sha256(data).hexdigest()
    generation = attrs.evolve(generation, sha256=digest, size_bytes=len(data))

    fields = naming.build_fields(
        prompt=plan.user_prompt,
        seed=seed,
        n=take,
        count=len(plan.seeds),
        backend=plan.instance.name,
        model=result.model,
        style=generation.style or "",
        request_hash=request.fingerprint()[:8],
        width=image.width,
        height=image.height,
        when=started_at,
        extra=plugin_naming_fields(generation),
    )
    template = naming.NamingTemplate.parse(settings.naming, list(fields))
    relpath = template.render(fields)
    extension = EXTENSIONS.get(image.media_type, "bin")
    sidecar_bytes = None
    if settings.write_metadata_json:
        sidecar_bytes = sidecar.sidecar_bytes(
            sidecar.sidecar_data(generation, plugin_fields=plugin_fields)
        )
    image_path, sidecar_path = output.write_take(
        plan.output_dir, relpath, extension, data, sidecar_bytes
    )
    return attrs.evolve(generation, path=image_path, sidecar_path=sidecar_path)


def embed_metadata(generation: Generation, png: bytes) -> bytes:
    """The PNG with imagen's metadata (iTXt) and an A1111 ``parameters`` chunk inserted."""
    import json

    from imagen import pngmeta, sidecar

    data = sidecar.sidecar_data(
        generation, plugin_fields=generation.plugin_fields, include_sha256=False
    )
    request = generation.request
    parameters = pngmeta.a1111_parameters(
        prompt=request.prompt,
        negative_prompt=request.negative_prompt,
        steps=request.steps,
        seed=generation.seed,
        width=generation.width,
        height=generation.height,
        model=generation.model,
    )
    try:
        return pngmeta.embed(
            png,
            itxt={"imagen": json.dumps(data, ensure_ascii=False, default=str)},
            text={"parameters": parameters},
        )
    except ValueError:
        # Not a well-formed PNG after all: keep the provider's bytes untouched.
        return png


def absolute_path(generation: Generation) -> str:
    return os.path.join(generation.output_dir, *generation.path.split("/"))


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
    "apply_style",
    "estimate_take",
    "execute",
    "generate",
    "instance_for",
    "open_backend",
    "prepare",
    "styles_for",
]
