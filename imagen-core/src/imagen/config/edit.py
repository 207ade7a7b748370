"""Config back to plain data and YAML: for ``config show`` and for round-trip checks."""

from __future__ import annotations

from typing import Any

from imagen.config.model import Config


def unstructure_config(config: Config) -> dict[str, Any]:
    """Plain data that ``parse_config`` turns back into an equal Config."""
    from imagen.config.convert import unstructure

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
        "queue": {
            "type": config.queue.type,
            **(unstructure(config.queue.settings) if config.queue.settings is not None else {}),
        },
        **{key: unstructure(block) for key, block in config.plugin_blocks.items()},
    }


def redacted(data: Any) -> Any:
    """``data`` with token-shaped text and passwords in URLs replaced (by the one rule,
    :func:`imagen.secrets.redact`; config holds env var names, and loading refuses known token
    shapes, so what is left to hide here is high-entropy text the loader lets through)."""
    from imagen.secrets import redact

    if isinstance(data, dict):
        return {redact(key): redacted(value) for key, value in data.items()}
    if isinstance(data, list):
        return [redacted(item) for item in data]
    if isinstance(data, str):
        return redact(data)
    return data


def set_value(text: str, key: str, value: Any, *, file: str | None = None) -> str:
    """``text`` with the dotted ``key`` set to ``value``; comments and key order are kept.

    Missing parent mappings are created. The result is validated before it is returned, so a
    rewrite can never leave a broken config behind.
    """
    from ruamel.yaml.comments import CommentedMap

    from imagen.config import yamlio
    from imagen.config.load import parse_config
    from imagen.errors import ConfigError
    from imagen.secrets import redact

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
            # The key is echoed: a token typed into it by mistake is not.
            raise ConfigError(redact(f"{part} is not a mapping, so {key} cannot be set"), file=file)
        node = child
    node[parts[-1]] = value
    new_text = yamlio.dump(root)
    _, problems = parse_config(new_text, file=file)
    problems.raise_first()
    return new_text


def setting_type(data: Any, key: str) -> Any:
    """The declared type of the dotted setting ``key`` (None when it is not known).

    ``data`` is the config file as plain data: a plugin's keys are typed by the settings class
    of the block's ``type`` there.
    """
    from decimal import Decimal

    from imagen.config.model import TOP_LEVEL, StyleConfig
    from imagen.plugins.loader import registry

    parts = [part for part in key.split(".") if part]
    if parts and parts[0] in registry().settings:
        return _field_type(registry().settings[parts[0]].config_class, parts[1:])
    if not parts or parts[0] not in TOP_LEVEL:
        return None
    head, rest = parts[0], parts[1:]
    if head in ("backends", "sinks"):
        if len(rest) < 2:
            return None
        framework = {"type": str, "concurrency": int, "cost_per_image": Decimal}
        if head == "sinks":
            framework = {"type": str}  # enabled also takes true/false: read as YAML
        if rest[1] in framework or rest[1] == "enabled":
            return framework.get(rest[1]) if len(rest) == 2 else None
        block = data.get(head, {}).get(rest[0]) if isinstance(data, dict) else None
        kind = block.get("type") if isinstance(block, dict) else None
        if not isinstance(kind, str):
            return None
        table = registry().backends if head == "backends" else registry().sinks
        return _field_type(table[kind].config_class, rest[1:]) if kind in table else None
    if head == "styles":
        return _field_type(StyleConfig, rest[1:]) if len(rest) >= 2 else None
    return _field_type(TOP_LEVEL[head], rest)


def _field_type(kind: Any, path: list[str]) -> Any:
    """The type at ``path`` below ``kind`` (attrs classes and mappings); None when unknown."""
    import typing
    from collections.abc import Mapping

    import attrs

    for part in path:
        members = [k for k in typing.get_args(kind) if k is not type(None)]
        if _is_union(kind) and len(members) == 1:
            kind = members[0]  # Optional[Sub] is walked as Sub
        if typing.get_origin(kind) in (Mapping, dict):
            kind = typing.get_args(kind)[1] if typing.get_args(kind) else None
            continue
        if not (isinstance(kind, type) and attrs.has(kind)):
            return None
        try:
            fields = attrs.fields(attrs.resolve_types(kind))
        except Exception:  # a plugin class whose annotations do not resolve: untyped
            return None
        field = next((f for f in fields if (f.alias or f.name) == part), None)  # as written
        if field is None:
            return None
        kind = field.type
    return kind


def _takes_text(kind: Any) -> bool:
    """True for ``str``, ``str | None`` and a Literal of strings: values given as they are."""
    import typing

    if kind is str:
        return True
    args = typing.get_args(kind)
    if typing.get_origin(kind) is typing.Literal:
        return all(isinstance(arg, str) for arg in args)
    members = [arg for arg in args if arg is not type(None)]
    return _is_union(kind) and bool(members) and all(map(_takes_text, members))


def _is_union(kind: Any) -> bool:
    import types
    import typing

    return typing.get_origin(kind) in (typing.Union, types.UnionType)


def parse_value(text: str, kind: Any = None) -> Any:
    """A command-line value for a setting declared as ``kind``.

    A text setting takes ``text`` exactly as typed (``{date}`` is a naming template, not YAML
    flow syntax); any other is read as YAML would read it (``true``, ``4``, ``0.5``).
    """
    from imagen.config import yamlio

    if _takes_text(kind):
        return text
    try:
        value = yamlio.plain(yamlio.parse(f"value: {text}\n"))["value"]
    except Exception:
        return text
    return text if value is None and text.strip() not in ("null", "~") else value
