"""Backend instances by name: the configured ones and the built-in ``mock``; built on demand.

Kept apart from the pipeline (which needs asyncio) so listing backends stays cheap.
"""

from __future__ import annotations

from imagen.backend import Backend
from imagen.config.model import MOCK_INSTANCE, Config, Instance
from imagen.errors import ConfigError, ImagenError


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
    from imagen.plugins.loader import registry

    instance = instance_for(config, name)
    kind = registry().backends.get(instance.type)
    if kind is None:
        raise ConfigError(f"backend type {instance.type!r} is not installed")
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
    from imagen.plugins.loader import registry

    if instance.concurrency is not None:
        return instance.concurrency
    kind = registry().backends.get(instance.type)
    return kind.concurrency if kind is not None else 1
