"""Running the configured sinks after a take is on disk (SPEC 3.1 step 9).

    mode = cloud_mode(config, no_cloud=flag)          # config, then IMAGEN_CLOUD_SYNC, then flag
    sinks = build_sinks(config, mode)
    failures = await deliver(sinks, generation, timeout=config.output.sink_timeout, outbox=box)
    await close_sinks(sinks)

The global mode decides which sinks run: ``off`` none; ``on`` every sink whose own ``enabled``
is not ``off`` (one that is ``auto`` but not configured is skipped with a warning); ``auto``
each sink by its own ``enabled``, where ``auto`` asks the sink (``Sink.enabled_auto()``).

A sink failure never raises out of ``deliver`` and never loses the image: it is printed as
``imagen: <sink>: <error>`` and kept in the outbox, which ``imagen sync`` retries.

A program a sink starts gets ``child_environment``: imagen's own environment minus every
variable a ``*_env`` key of the config names (``secret_env_names``), so a backup script never
sees the provider keys. A sink that starts programs says so by having ``withhold_env``
(``RunsPrograms``); ``open_sink`` hands it the names.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import attrs

from imagen import console
from imagen.errors import ConfigError, ImagenError, SinkError
from imagen.sinks.protocol import Delivery, Sink, Stored

if TYPE_CHECKING:
    from imagen.config.model import Config, SinkInstance
    from imagen.models import Generation
    from imagen.sinks.outbox import Outbox

CLOUD_SYNC_ENV = "IMAGEN_CLOUD_SYNC"
Mode = Literal["auto", "on", "off"]
MODES: tuple[Mode, ...] = ("auto", "on", "off")


def cloud_mode(config: Config, *, no_cloud: bool = False) -> Mode:
    """The cloud-sync mode: ``output.cloud_sync``, then ``IMAGEN_CLOUD_SYNC``, then the flag.

    A bad ``IMAGEN_CLOUD_SYNC`` value is a ConfigError naming it.
    """
    mode: Mode = config.output.cloud_sync
    value = os.environ.get(CLOUD_SYNC_ENV, "").strip().lower()
    if value:
        if value not in MODES:
            raise ConfigError(
                f"{CLOUD_SYNC_ENV}={value!r} is not a cloud-sync mode; set it to auto, on or off"
            )
        mode = value
    return "off" if no_cloud else mode


@runtime_checkable
class RunsPrograms(Protocol):
    """A sink that starts programs. ``open_sink`` calls ``withhold_env`` once, with the
    variables the config names in ``*_env`` keys; the sink must keep them from its programs
    (``child_environment`` builds that environment)."""

    def withhold_env(self, names: frozenset[str]) -> None: ...


def secret_env_names(config: Config) -> frozenset[str]:
    """Every environment variable a ``*_env`` key anywhere in ``config`` names.

    Backends, sinks, server and queue alike, defaults included (``key_env`` left at
    ``SUPABASE_SERVICE_KEY`` counts), so what holds a secret is known without guessing from
    variable names.
    """
    import dataclasses

    names: set[str] = set()
    # Free-form settings may refer to themselves (a YAML alias): each object is walked once.
    walked: set[int] = set()

    def add(value: Any) -> None:
        if isinstance(value, str) and value:
            names.add(value)
        elif isinstance(value, list | tuple) and id(value) not in walked:
            walked.add(id(value))
            for item in value:
                add(item)

    def walk(value: Any) -> None:
        if id(value) in walked:
            return
        walked.add(id(value))
        items: list[tuple[str, Any]] = []
        if attrs.has(type(value)):
            items = [(f.name, getattr(value, f.name)) for f in attrs.fields(type(value))]
        elif dataclasses.is_dataclass(value) and not isinstance(value, type):
            items = [(f.name, getattr(value, f.name)) for f in dataclasses.fields(value)]
        elif isinstance(value, Mapping):
            items = [(str(key), item) for key, item in value.items()]
        elif isinstance(value, list | tuple):
            items = [("", item) for item in value]
        for key, item in items:
            if key.endswith("_env"):
                add(item)
            else:
                walk(item)

    walk(config)
    return frozenset(names)


def child_environment(withheld: Collection[str], *, allow: Collection[str] = ()) -> dict[str, str]:
    """The environment for a program a sink starts: this process's, minus ``withheld``
    (except the names in ``allow``, which the user passed through on purpose)."""
    hidden = set(withheld) - set(allow)
    return {name: value for name, value in os.environ.items() if name not in hidden}


def open_sink(config: Config, name: str) -> Sink:
    """Build the sink instance ``name`` from config (no network); ConfigError if it cannot be."""
    from imagen.config.problems import did_you_mean
    from imagen.plugins.loader import registry

    instance = config.sinks.get(name)
    if instance is None:
        known = ", ".join(sorted(config.sinks)) or "none"
        raise ConfigError(
            f"no sink named {name!r} in the config{did_you_mean(name, config.sinks)} "
            f"(configured: {known})"
        )
    kind = registry().sinks.get(instance.type)
    if kind is None:
        raise ConfigError(f"sink type {instance.type!r} is not installed", path=f"sinks.{name}")
    try:
        sink: Sink = kind.factory(instance.name, instance.settings)
    except ImagenError:
        raise
    except Exception as error:
        raise ConfigError(f"sink {name!r} ({instance.type}) could not be built: {error}") from error
    if isinstance(sink, RunsPrograms):
        sink.withhold_env(secret_env_names(config))
    return sink


def build_sinks(config: Config, mode: str) -> list[Sink]:
    """The sinks that should run under ``mode``, built and ready (warnings go to stderr)."""
    if mode == "off":
        return []
    chosen: list[Sink] = []
    for instance in config.sinks.values():
        if instance.enabled == "off":
            continue
        try:
            sink = open_sink(config, instance.name)
        except ImagenError as error:
            console.warn(f"sink {instance.name!r} skipped: {error}")
            continue
        if _wanted(instance, sink, mode):
            chosen.append(sink)
    return chosen


def _wanted(instance: SinkInstance, sink: Sink, mode: str) -> bool:
    if instance.enabled == "on":
        return True
    try:
        configured = sink.enabled_auto()
    except Exception as error:  # a plugin bug must not stop the generate that called us
        console.warn(f"sink {instance.name!r} skipped: enabled_auto failed: {error}")
        return False
    if configured:
        return True
    if mode == "on":
        console.warn(
            f"sink {instance.name!r} ({instance.type}) is skipped although cloud sync is on: "
            f"its settings or environment variables are incomplete (or set enabled: on)"
        )
    return False


@attrs.frozen
class Failure:
    """Why one delivery attempt failed, and what it finished first (for the next attempt)."""

    message: str
    state: Mapping[str, Any] = attrs.field(factory=dict)
    retryable: bool = True


# The time limit is per sink, inside the call, so an asyncio.timeout around it is no substitute.
async def attempt(sink: Sink, delivery: Delivery, *, timeout: float) -> Failure | None:  # noqa: ASYNC109
    """One delivery attempt within ``timeout`` seconds: None on success, else its Failure.

    Never raises, except ``asyncio.CancelledError``. Steps finished on earlier attempts stay
    in the state unless the sink's error says otherwise.
    """
    outcome = await _attempt(sink, delivery, timeout=timeout)
    return outcome if isinstance(outcome, Failure) else None


async def _attempt(sink: Sink, delivery: Delivery, *, timeout: float) -> Failure | Stored | None:  # noqa: ASYNC109
    """``attempt``, with where the sink stored the take when it says (``Stored``)."""
    limit = asyncio.timeout(timeout)
    try:
        async with limit:
            stored = await sink.deliver(delivery)
    except SinkError as error:
        return Failure(str(error), {**delivery.state, **error.state}, error.retryable)
    except TimeoutError as error:
        if limit.expired():
            return Failure(f"timed out after {timeout:g} s", delivery.state)
        return _unexpected(error, delivery)
    except ImagenError as error:
        return Failure(str(error), delivery.state)
    except Exception as error:
        return _unexpected(error, delivery)
    return stored if isinstance(stored, Stored) else None


def _unexpected(error: Exception, delivery: Delivery) -> Failure:
    # A sink is meant to raise SinkError only; anything else is a bug, shown with --debug.
    from imagen import debug

    debug.log_exception(error)
    return Failure(
        f"internal error: {type(error).__name__}: {error} (run with --debug for details)",
        delivery.state,
    )


async def deliver(
    sinks: Sequence[Sink],
    generation: Generation,
    *,
    timeout: float,  # noqa: ASYNC109 (each sink's own limit, see attempt)
    outbox: Outbox | None,
    stored: Callable[[str, Stored], None] | None = None,
) -> list[tuple[str, str]]:
    """Hand ``generation`` to every sink at once, each within ``timeout`` seconds.

    Returns ``(sink name, error message)`` for each failure, already printed on stderr as
    ``imagen: <sink>: <error>`` and kept in ``outbox`` (when given) for ``imagen sync``.
    ``stored(sink name, Stored)`` hears where each sink that stores objects put the take.
    """

    async def one(sink: Sink) -> tuple[str, str] | None:
        outcome = await _attempt(sink, Delivery(generation, sink.name), timeout=timeout)
        if not isinstance(outcome, Failure):
            if outcome is not None and stored is not None:
                stored(sink.name, outcome)
            return None
        failure = outcome
        console.note(f"{sink.name}: {failure.message}{_queue(outbox, sink, generation, failure)}")
        return sink.name, failure.message

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(sink)) for sink in sinks]
    return [result for task in tasks if (result := task.result()) is not None]


def _queue(outbox: Outbox | None, sink: Sink, generation: Generation, failure: Failure) -> str:
    """Keep the failed delivery; the hint to append to the error line."""
    if outbox is None:
        return ""
    try:
        outbox.add(
            sink.name,
            generation,
            state=failure.state,
            error=failure.message,
            retryable=failure.retryable,
        )
    except ImagenError as error:
        console.warn(f"{sink.name}: the delivery could not be kept for a retry: {error}")
        return ""
    if not failure.retryable:
        return " (kept; a retry alone will not help: fix the cause, then run imagen sync)"
    return " (kept for retry: imagen sync)"


async def close_sinks(sinks: Sequence[Sink]) -> None:
    """Close every sink; a failure to close is one warning line, never an error."""
    for sink in sinks:
        try:
            await sink.aclose()
        except Exception as error:
            console.warn(
                f"sink {sink.name!r} did not close cleanly: {type(error).__name__}: {error}"
            )


__all__ = [
    "CLOUD_SYNC_ENV",
    "Failure",
    "RunsPrograms",
    "attempt",
    "build_sinks",
    "child_environment",
    "close_sinks",
    "cloud_mode",
    "deliver",
    "open_sink",
    "secret_env_names",
]
