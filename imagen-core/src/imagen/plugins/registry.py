"""What plugins registered: backend, sink and queue types and styles, merged in one place.

The records are named tuples, not attrs classes: every command that reads a config builds
this registry, and making an attrs class costs several times more than the tuple.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, cast

from imagen import console

if TYPE_CHECKING:
    # Types only: ``imagen backends`` builds this registry and needs none of these modules.
    from imagen.backend import Backend
    from imagen.models import Cost, Request, Status
    from imagen.sinks.protocol import Sink
    from imagen.styles import Style


class BackendInfo(Protocol):
    """What ``imagen backends`` asks of an instance: the backend's ``status()`` and
    ``estimate_cost(request)``, nothing else (every ``Backend`` is one)."""

    def status(self) -> Status: ...

    def estimate_cost(self, request: Request) -> Cost | None: ...


class BackendType(NamedTuple):
    type: str
    factory: Callable[[str, Any], Backend]
    config_class: builtins.type
    sample: str
    concurrency: int
    plugin: str
    #: builds the instance's status and price for ``imagen backends``: ``info`` as registered,
    #: else the factory (the backend answers itself)
    info: Callable[[str, Any], BackendInfo]


class SinkType(NamedTuple):
    type: str
    factory: Callable[[str, Any], Sink]
    config_class: builtins.type
    sample: str
    plugin: str


class QueueType(NamedTuple):
    type: str
    factory: Callable[[str, Any], Any]
    config_class: builtins.type
    sample: str
    plugin: str


class SettingsType(NamedTuple):
    """A top-level config block a plugin owns (``register_settings``)."""

    key: str
    config_class: builtins.type
    sample: str
    plugin: str


Factory = Callable[[str, Any], Any]


def lazy_factory(target: str) -> Factory:
    """A factory named ``"package.module:Class"``, imported the first time it builds something.

    Registering by name keeps start-up cheap: ``imagen backends`` with no instance of a type
    never imports that type's backend module.
    """

    def build(name: str, settings: Any) -> Any:
        import importlib

        module, _, attribute = target.partition(":")
        return getattr(importlib.import_module(module), attribute)(name, settings)

    build.__qualname__ = build.__name__ = target
    return build


def _factory(factory: Factory | str) -> Factory:
    return lazy_factory(factory) if isinstance(factory, str) else factory


class BackendRegister(Protocol):
    def __call__(
        self,
        type: str,
        factory: Callable[[str, Any], Backend] | str,
        config_class: type,
        *,
        sample: str = "",
        concurrency: int = 1,
        info: Callable[[str, Any], BackendInfo] | str | None = None,
    ) -> None: ...


class SinkRegister(Protocol):
    def __call__(
        self,
        type: str,
        factory: Callable[[str, Any], Sink] | str,
        config_class: type,
        *,
        sample: str = "",
    ) -> None: ...


class QueueRegister(Protocol):
    def __call__(
        self,
        type: str,
        factory: Callable[[str, Any], Any] | str,
        config_class: type,
        *,
        sample: str = "",
    ) -> None: ...


class SettingsRegister(Protocol):
    def __call__(self, key: str, config_class: type, *, sample: str = "") -> None: ...


class StyleRegister(Protocol):
    def __call__(
        self,
        name: str,
        prompt: str,
        *,
        negative: str | None = None,
        aspect_ratio: str | None = None,
        size: str | None = None,
        steps: int | None = None,
        description: str = "",
    ) -> None: ...


_RESERVED_TYPES = frozenset({""})


class Registry:
    def __init__(self) -> None:
        self.backends: dict[str, BackendType] = {}
        self.sinks: dict[str, SinkType] = {}
        self.styles: dict[str, Style] = {}
        self.queues: dict[str, QueueType] = {}
        self.settings: dict[str, SettingsType] = {}

    def backend_register(self, plugin: str) -> BackendRegister:
        def register(
            type: str,
            factory: Callable[[str, Any], Backend] | str,
            config_class: type,
            *,
            sample: str = "",
            concurrency: int = 1,
            info: Callable[[str, Any], BackendInfo] | str | None = None,
        ) -> None:
            if not _claim(self.backends, type, plugin, "backend type"):
                return
            build = _factory(factory)
            self.backends[type] = BackendType(
                type,
                build,
                config_class,
                sample,
                max(1, concurrency),
                plugin,
                build if info is None else _factory(info),
            )

        return register

    def sink_register(self, plugin: str) -> SinkRegister:
        return cast(SinkRegister, self._typed(self.sinks, SinkType, plugin, "sink type"))

    def queue_register(self, plugin: str) -> QueueRegister:
        return cast(QueueRegister, self._typed(self.queues, QueueType, plugin, "queue type"))

    @staticmethod
    def _typed(
        table: dict[str, Any], kind: Callable[..., Any], plugin: str, what: str
    ) -> Callable[..., None]:
        """The register function of a sink or queue type (they have the same shape; each
        has its own typed Protocol for plugin authors)."""

        def register(
            type: str,
            factory: Callable[[str, Any], Any] | str,
            config_class: type,
            *,
            sample: str = "",
        ) -> None:
            if _claim(table, type, plugin, what):
                table[type] = kind(type, _factory(factory), config_class, sample, plugin)

        return register

    def settings_register(self, plugin: str) -> SettingsRegister:
        def register(key: str, config_class: type, *, sample: str = "") -> None:
            from imagen.config.model import TOP_LEVEL

            if key in TOP_LEVEL:
                console.warn(f"plugin {plugin!r} registers the core's config key {key!r}; ignored")
                return
            if not _claim(self.settings, key, plugin, "config block"):
                return
            self.settings[key] = SettingsType(key, config_class, sample, plugin)

        return register

    def style_register(self, plugin: str) -> StyleRegister:
        def register(
            name: str,
            prompt: str,
            *,
            negative: str | None = None,
            aspect_ratio: str | None = None,
            size: str | None = None,
            steps: int | None = None,
            description: str = "",
        ) -> None:
            from imagen.styles import Style

            # Later plugins override earlier styles on purpose (user config overrides both).
            self.styles[name] = Style(
                name=name,
                prompt=prompt,
                negative=negative,
                aspect_ratio=aspect_ratio,
                size=size,
                steps=steps,
                description=description,
                source=plugin,
            )

        return register


def _claim(table: dict[str, Any], key: str, plugin: str, what: str) -> bool:
    if not key or key in _RESERVED_TYPES:
        console.warn(f"plugin {plugin!r} registered an empty {what}; ignored")
        return False
    existing = table.get(key)
    if existing is not None:
        console.warn(
            f"plugin {plugin!r} registers {what} {key!r}, already registered by "
            f"{existing.plugin!r}; ignored"
        )
        return False
    return True
