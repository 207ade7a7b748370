"""Backend instances by name: the configured ones and the built-in ``mock``; built on demand.

Kept apart from the pipeline (which needs asyncio) so listing backends stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from imagen.config.model import MOCK_INSTANCE, Config, Instance
from imagen.errors import ConfigError, ImagenError

if TYPE_CHECKING:
    from imagen.backend import Backend
    from imagen.plugins.registry import BackendInfo, BackendType


def instance_for(config: Config, name: str | None) -> Instance:
    """The named instance (default: ``default_backend``); the built-in ``mock`` always exists."""
    from imagen.config.problems import did_you_mean
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
    backend: Backend = _build(config, name, lambda kind: kind.factory)
    return backend


def backend_info(config: Config, name: str | None = None) -> BackendInfo:
    """What ``imagen backends`` asks of instance ``name``: its status and price.

    Built by the ``info`` its plugin registered, so listing an instance does not import its
    backend module; by the backend itself when there is none. Fails like ``open_backend``.
    """
    info: BackendInfo = _build(config, name, lambda kind: kind.info)
    return info


def _build(
    config: Config, name: str | None, pick: Callable[[BackendType], Callable[[str, Any], Any]]
) -> Any:
    from imagen.plugins.loader import registry

    instance = instance_for(config, name)
    kind = registry().backends.get(instance.type)
    if kind is None:
        raise ConfigError(f"backend type {instance.type!r} is not installed")
    try:
        return pick(kind)(instance.name, instance.settings)
    except ImagenError:
        raise
    except Exception as error:
        raise ConfigError(
            f"backend {instance.name!r} ({instance.type}) could not be built: {error}"
        ) from error


def default_concurrency(instance: Instance) -> int:
    from imagen.plugins.loader import registry

    if instance.concurrency is not None:
        return instance.concurrency
    kind = registry().backends.get(instance.type)
    return kind.concurrency if kind is not None else 1
