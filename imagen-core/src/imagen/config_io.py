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


def set_value(text: str, key: str, value: Any, *, file: str | None = None) -> str:
    """``text`` with the dotted ``key`` set to ``value``; comments and key order are kept.

    Missing parent mappings are created. The result is validated before it is returned, so a
    rewrite can never leave a broken config behind.
    """
    from ruamel.yaml.comments import CommentedMap

    from imagen import yamlio
    from imagen.config import parse_config
    from imagen.errors import ConfigError

    root = yamlio.parse(text, file=file)
    if root is None:
        root = CommentedMap()
    if not isinstance(root, CommentedMap):
        raise ConfigError("the config file must be a mapping of keys", file=file)
    parts = [part for part in key.split(".") if part]
    if not parts:
        raise ConfigError("expected a dotted key, like output.directory")
    node = root
    for part in parts[:-1]:
        child = node.get(part)
        if child is None:
            child = node[part] = CommentedMap()
        if not isinstance(child, CommentedMap):
            raise ConfigError(f"{part} is not a mapping, so {key} cannot be set", file=file)
        node = child
    node[parts[-1]] = value
    new_text = yamlio.dump(root)
    _, problems = parse_config(new_text, file=file)
    problems.raise_first()
    return new_text


def parse_value(text: str) -> Any:
    """A command-line value as YAML would read it (``true``, ``4``, ``0.5``, ``a string``)."""
    from imagen import yamlio

    try:
        value = yamlio.plain(yamlio.parse(f"value: {text}\n"))["value"]
    except Exception:
        return text
    return text if value is None and text.strip() not in ("null", "~") else value
