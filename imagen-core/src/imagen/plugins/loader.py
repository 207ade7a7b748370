"""The plugin manager: built-in parts and ``imagen`` entry points, loaded once, safely.

Every hook that adds things is called one implementation at a time, so a plugin whose hook
raises is reported as one warning line and skipped instead of breaking every command.
``IMAGEN_LOAD_PLUGINS`` (comma-separated entry-point or distribution names; empty for none)
limits which installed plugins load; the built-in ones always do.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from functools import cache
from typing import TYPE_CHECKING, Any, NamedTuple

import pluggy

from imagen import console
from imagen.plugins import hookspecs

if TYPE_CHECKING:
    from imagen.plugins.registry import BackendType, QueueType, SettingsType, SinkType
    from imagen.styles import Style

BUILTIN_MODULES = (
    "imagen.plugins.builtin.mock",
    "imagen.plugins.builtin.builtin_styles",
    "imagen.plugins.builtin.sinks",
    "imagen.plugins.builtin.queues",
)
BUILTIN = "imagen-core"


# A named tuple and a plain class, not attrs classes: this module loads for every command
# that reads a config, where making an attrs class costs several times more.
class PluginInfo(NamedTuple):
    name: str
    distribution: str
    version: str
    hooks: tuple[str, ...]
    builtin: bool


class _Loaded:
    def __init__(self, manager: pluggy.PluginManager) -> None:
        self.manager = manager
        # plugin object -> (entry point name, distribution, version)
        self.origins: dict[int, tuple[str, str, str]] = {}


def _wanted() -> set[str] | None:
    value = os.environ.get("IMAGEN_LOAD_PLUGINS")
    if value is None:
        return None
    return {name.strip() for name in value.split(",") if name.strip()}


@cache
def _loaded() -> _Loaded:
    import importlib

    from imagen._version import __version__

    manager = pluggy.PluginManager("imagen")
    manager.add_hookspecs(hookspecs)
    loaded = _Loaded(manager)
    for module_name in BUILTIN_MODULES:
        module = importlib.import_module(module_name)
        manager.register(module, name=module_name)
        loaded.origins[id(module)] = (module_name.rsplit(".", 1)[1], BUILTIN, __version__)

    from imagen.plugins.entrypoints import plugin_entries

    wanted = _wanted()
    for entry in plugin_entries():
        if wanted is not None and not ({entry.name, entry.distribution} & wanted):
            continue
        if manager.has_plugin(entry.name):
            continue
        try:
            plugin = entry.load()
            manager.register(plugin, name=entry.name)
        except Exception as error:  # a broken plugin must never block the CLI
            console.warn(
                f"plugin {entry.name!r} ({entry.distribution} {entry.version}) failed to load "
                f"and was skipped: {type(error).__name__}: {error}"
            )
            continue
        loaded.origins[id(plugin)] = (entry.name, entry.distribution, entry.version)
    return loaded


def manager() -> pluggy.PluginManager:
    return _loaded().manager


def plugin_name(plugin: object) -> str:
    origin = _loaded().origins.get(id(plugin))
    return origin[0] if origin else str(manager().get_name(plugin))


def call_each(hook_name: str, call: Callable[[Callable[..., Any]], Any]) -> list[tuple[str, Any]]:
    """Call every implementation of ``hook_name`` via ``call(function)``, one at a time.

    Returns ``(plugin name, return value)`` pairs; an implementation that raises is reported
    as a warning and left out.
    """
    results: list[tuple[str, Any]] = []
    caller = getattr(manager().hook, hook_name)
    # Registration order: built-ins first, then entry points, so the first claim of a name wins.
    for impl in caller.get_hookimpls():
        name = plugin_name(impl.plugin)
        try:
            results.append((name, call(impl.function)))
        except Exception as error:
            console.warn(f"plugin {name!r} failed in {hook_name}: {type(error).__name__}: {error}")
    return results


def plugin_infos() -> list[PluginInfo]:
    loaded = _loaded()
    infos = []
    for plugin in loaded.manager.get_plugins():
        name, dist, version = loaded.origins.get(id(plugin), (str(plugin), "?", "?"))
        hooks = tuple(
            sorted(caller.name for caller in loaded.manager.get_hookcallers(plugin) or [])
        )
        infos.append(PluginInfo(name, dist, version, hooks, dist == BUILTIN))
    return sorted(infos, key=lambda info: (not info.builtin, info.name))


class LazyRegistry:
    """The merged registry; each table is filled on first use, so ``imagen backends`` never pays
    for loading styles and ``imagen styles`` never imports backend code."""

    def __init__(self) -> None:
        from imagen.plugins.registry import Registry

        self._tables = Registry()
        self._filled: set[str] = set()

    def _fill(self, hook: str, make: Callable[[str], Any]) -> None:
        if hook not in self._filled:
            self._filled.add(hook)
            call_each(hook, _with_plugin(make))

    @property
    def backends(self) -> dict[str, BackendType]:
        self._fill("register_backends", self._tables.backend_register)
        return self._tables.backends

    @property
    def sinks(self) -> dict[str, SinkType]:
        self._fill("register_sinks", self._tables.sink_register)
        return self._tables.sinks

    @property
    def queues(self) -> dict[str, QueueType]:
        self._fill("register_queues", self._tables.queue_register)
        return self._tables.queues

    @property
    def settings(self) -> dict[str, SettingsType]:
        self._fill("register_settings", self._tables.settings_register)
        return self._tables.settings

    @property
    def styles(self) -> dict[str, Style]:
        self._fill("register_styles", self._tables.style_register)
        return self._tables.styles


@cache
def registry() -> LazyRegistry:
    """Backend, sink and queue types and styles from every plugin (built once per process)."""
    return LazyRegistry()


def _with_plugin(make: Callable[[str], Any]) -> Callable[[Callable[..., Any]], Any]:
    # Each implementation gets a register callback that knows which plugin is registering.
    def call(function: Callable[..., Any]) -> Any:
        module = sys.modules.get(function.__module__)
        plugin = plugin_name(module) if module is not None else function.__module__
        return function(make(plugin))

    return call


def reset() -> None:
    """Forget loaded plugins (tests that change IMAGEN_LOAD_PLUGINS or entry points)."""
    _loaded.cache_clear()
    registry.cache_clear()
