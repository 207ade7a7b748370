"""The config: its data (:mod:`.model`), loading and checking (:mod:`.load`), YAML with line
numbers (:mod:`.yamlio`), the strict cattrs converter (:mod:`.convert`), problems with their
YAML path and line (:mod:`.problems`), ``imagen config set`` (:mod:`.edit`) and the sample
config (:mod:`.sample`).

``from imagen.config import Config, load_config, parse_config, plugin_settings`` keeps working:
names are looked up on first use, so importing this package imports none of its modules.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from imagen.config.load import (
        check_config,
        config_exists,
        load_config,
        parse_config,
        plugin_settings,
    )
    from imagen.config.model import (
        Config,
        HistoryConfig,
        Instance,
        OutputConfig,
        QueueInstance,
        ServerConfig,
        SinkInstance,
        StyleConfig,
        builtin_default,
        default_path,
    )
    from imagen.config.problems import Problem, Problems

_EXPORTS = {
    **dict.fromkeys(
        ["check_config", "config_exists", "load_config", "parse_config", "plugin_settings"],
        "imagen.config.load",
    ),
    **dict.fromkeys(
        [
            "Config",
            "HistoryConfig",
            "Instance",
            "OutputConfig",
            "QueueInstance",
            "ServerConfig",
            "SinkInstance",
            "StyleConfig",
            "builtin_default",
            "default_path",
        ],
        "imagen.config.model",
    ),
    **dict.fromkeys(["Problem", "Problems"], "imagen.config.problems"),
}

__all__ = [
    "Config",
    "HistoryConfig",
    "Instance",
    "OutputConfig",
    "Problem",
    "Problems",
    "QueueInstance",
    "ServerConfig",
    "SinkInstance",
    "StyleConfig",
    "builtin_default",
    "check_config",
    "config_exists",
    "default_path",
    "load_config",
    "parse_config",
    "plugin_settings",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'imagen.config' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
