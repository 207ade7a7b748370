"""Config back to plain data and YAML: for ``config show`` and for round-trip checks."""

from __future__ import annotations

import re
from typing import Any

from imagen.config import Config

_URL_PASSWORD = re.compile(r"(://[^/@:\s]*:)[^/@\s]+@")


def unstructure_config(config: Config) -> dict[str, Any]:
    """Plain data that ``parse_config`` turns back into an equal Config."""
    from imagen.convert import unstructure

    def instance_block(instance: Any, framework: dict[str, Any]) -> dict[str, Any]:
        block = {"type": instance.type}
        block.update({k: v for k, v in framework.items() if v is not None})
        block.update(unstructure(instance.settings))
        return block

    return {
        "default_backend": config.default_backend,
        "output": unstructure(config.output),
        "history": unstructure(config.history),
        "backends": {
            name: instance_block(
                inst,
                {
                    "concurrency": inst.concurrency,
                    "cost_per_image": str(inst.cost_per_image)
                    if inst.cost_per_image is not None
                    else None,
                },
            )
            for name, inst in config.backends.items()
        },
        "sinks": {
            name: instance_block(sink, {"enabled": sink.enabled})
            for name, sink in config.sinks.items()
        },
        "styles": {name: unstructure(style) for name, style in config.styles.items()},
        "server": unstructure(config.server),
        "queue": unstructure(config.queue),
    }


def redacted(data: Any) -> Any:
    """``data`` with passwords in URLs replaced (config holds env var names, not secrets)."""
    if isinstance(data, dict):
        return {key: redacted(value) for key, value in data.items()}
    if isinstance(data, list):
        return [redacted(item) for item in data]
    if isinstance(data, str):
        return _URL_PASSWORD.sub(r"\1***@", data)
    return data
