"""The ``imagen`` entry points, cached so a start-up need not import importlib.metadata.

(Paths are plain strings here: ``imagen --help`` reads this cache, and would otherwise import
pathlib for it alone.)

Reading entry points means importing ``importlib.metadata`` (with zipfile, email, csv) and
scanning every installed distribution: a good part of ``imagen --help``'s budget. The list is
kept in a small JSON file in the user cache dir, keyed by the ``sys.path`` directories and their
modification times; installing, upgrading or removing a package changes those, and the next run
scans again.
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any, NamedTuple

CACHE_VERSION = 1


class PluginEntry(NamedTuple):
    """One entry point (a named tuple: every start-up makes this class, and an attrs class
    costs several times more to make)."""

    name: str
    value: str
    distribution: str
    version: str

    def load(self) -> Any:
        import importlib

        module_name, _, attribute = self.value.partition(":")
        target: Any = importlib.import_module(module_name.strip())
        for part in filter(None, attribute.strip().split(".")):
            target = getattr(target, part)
        return target


def installed_key() -> list[Any]:
    """What names this interpreter and its installed packages: Python's version and every
    ``sys.path`` folder with its modification time (installing or removing a package changes
    one). A cache of anything that depends on installed code is valid while this is equal."""
    key: list[Any] = [sys.version]
    # sys.path[0] is the script's folder (or the working directory for ``python -m``): not
    # where distributions are installed, and the same install is reached both ways.
    for entry in sys.path[1:]:
        if not entry:
            continue
        try:
            key.append([entry, os.stat(entry).st_mtime_ns])
        except OSError:
            key.append([entry, None])
    return key


def cache_dir() -> str:
    """imagen's folder in the user cache dir (``$XDG_CACHE_HOME/imagen``)."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if sys.platform != "linux":
        from platformdirs import user_cache_dir

        base = user_cache_dir()
    return os.path.join(base, "imagen")


def _key() -> list[Any]:
    return [CACHE_VERSION, *installed_key()]


def _cache_file() -> str:
    return os.path.join(cache_dir(), "entry-points.json")


def scan() -> list[PluginEntry]:
    """Every ``imagen`` entry point of the installed distributions (the slow, exact way)."""
    from importlib.metadata import entry_points

    found = []
    for entry_point in entry_points(group="imagen"):
        dist = entry_point.dist
        found.append(
            PluginEntry(
                name=entry_point.name,
                value=entry_point.value,
                distribution=dist.name if dist is not None else entry_point.name,
                version=dist.version if dist is not None else "?",
            )
        )
    return found


def plugin_entries() -> list[PluginEntry]:
    """The entry points, from the cache when nothing was installed or removed since."""
    key = _key()
    path = _cache_file()
    try:
        with open(path, encoding="utf-8") as stream:
            cached = json.load(stream)
        if cached.get("key") == key:
            return [PluginEntry(**entry) for entry in cached["entries"]]
    except (OSError, ValueError, TypeError, KeyError, AttributeError):
        pass
    entries = scan()
    temp = f"{path}.{os.getpid()}.tmp"
    try:
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(temp, "w", encoding="utf-8") as stream:
            json.dump({"key": key, "entries": [e._asdict() for e in entries]}, stream)
        os.replace(temp, path)
    except OSError:
        pass  # a read-only home only costs the next start-up a scan
    return entries
