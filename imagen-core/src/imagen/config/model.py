"""The config as data: attrs classes for the core's top-level blocks and each instance block.

Loading and checking them is :mod:`imagen.config.load`; this module imports nothing of imagen,
so every layer (plugins' hook specs included) can name these types.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any, Literal

import attrs

DEFAULT_NAMING = "{date}/{time}-{slug}-{seed}"
MOCK_INSTANCE = "mock"

Mode = Literal["auto", "on", "off"]


def _seconds_above_zero(instance: Any, attribute: Any, value: float) -> None:
    # A timeout of 0 or less would fail every delivery at once (each then waits in the outbox).
    if value <= 0:
        raise ValueError(f"expected seconds above 0, got {value!r}")


@attrs.frozen
class OutputConfig:
    directory: str = "~/Pictures/imagen"
    naming: str = DEFAULT_NAMING
    write_metadata_json: bool = True
    embed_metadata: bool = True
    preview: Mode = "auto"
    preview_command: str = "tmux-img --hold {path}"
    cloud_sync: Mode = "auto"
    sink_timeout: float = attrs.field(default=60.0, validator=_seconds_above_zero)


@attrs.frozen
class HistoryConfig:
    enabled: bool = True
    store_prompt: bool = True
    path: str | None = None


@attrs.frozen
class StyleConfig:
    prompt: str = "{prompt}"
    negative: str | None = None
    aspect_ratio: str | None = None
    size: str | None = None
    steps: int | None = None
    description: str = ""


@attrs.frozen
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8750
    token_env: str = "IMAGEN_SERVER_TOKEN"
    takes: int = 4


@attrs.frozen
class QueueInstance:
    """The ``queue:`` block: ``type`` names a registered queue type, which owns the rest.

    ``settings`` is that type's config class (None: its defaults).
    """

    type: str = "local"
    settings: Any = None


@attrs.frozen
class Instance:
    """One backend instance: the framework's keys plus the plugin's own settings object."""

    name: str
    type: str
    settings: Any
    concurrency: int | None = None
    cost_per_image: Decimal | None = None


@attrs.frozen
class SinkInstance:
    name: str
    type: str
    settings: Any
    enabled: Mode = "auto"


@attrs.frozen
class Config:
    default_backend: str = MOCK_INSTANCE
    output: OutputConfig = OutputConfig()
    history: HistoryConfig = HistoryConfig()
    backends: Mapping[str, Instance] = attrs.field(factory=dict)
    sinks: Mapping[str, SinkInstance] = attrs.field(factory=dict)
    styles: Mapping[str, StyleConfig] = attrs.field(factory=dict)
    server: ServerConfig = ServerConfig()
    queue: QueueInstance = QueueInstance()
    #: top-level blocks plugins own (``register_settings``), by key; read with plugin_settings
    plugin_blocks: Mapping[str, Any] = attrs.field(factory=dict)
    #: the file this came from; None for the built-in default
    source: str | None = attrs.field(default=None, eq=False)


TOP_LEVEL = {
    "default_backend": str,
    "output": OutputConfig,
    "history": HistoryConfig,
    "backends": dict,
    "sinks": dict,
    "styles": dict,
    "server": ServerConfig,
    "queue": QueueInstance,
}
BACKEND_KEYS = ("type", "concurrency", "cost_per_image")
SINK_KEYS = ("type", "enabled")


def default_path() -> Path:
    """``$IMAGEN_CONFIG``, else the platform's config dir (``~/.config/imagen/imagen.yaml``)."""
    env = os.environ.get("IMAGEN_CONFIG")
    if env:
        return Path(env).expanduser()
    folder = _xdg_config_home()
    if folder is not None:
        return Path(folder, "imagen", "imagen.yaml")
    from platformdirs import user_config_path

    return user_config_path("imagen") / "imagen.yaml"


def _xdg_config_home() -> str | None:
    """On Linux, the config folder platformdirs would name (``$XDG_CONFIG_HOME`` when it is
    absolute, else ``$HOME/.config``) without importing it, which costs every command that reads
    the config a few ms; None where platformdirs decides otherwise (Android, no absolute HOME)."""
    android = hasattr(sys, "getandroidapilevel") or "ANDROID_DATA" in os.environ
    if sys.platform != "linux" or android:
        return None
    xdg = os.environ.get("XDG_CONFIG_HOME", "")
    if xdg.startswith("/"):
        return xdg
    home = os.environ.get("HOME", "")
    return os.path.join(home, ".config") if home.startswith("/") else None


def builtin_default() -> Config:
    """The config used when there is no file: one ``mock`` instance, offline."""
    return Config()
