"""YAML in and out with ruamel.yaml: plain data for structuring, line numbers for errors,
and round-trip dumps that keep a user's comments and key order.

A YAML file is hostile input: anchors and aliases can make a few lines stand for billions of
values ("billion laughs"), and nesting can be deep enough to exhaust the stack. ruamel shares
an aliased node rather than copying it, so parsing stays cheap; :func:`plain` is where the
aliases would be expanded, and it stops at :data:`MAX_VALUES` values or :data:`MAX_DEPTH`
levels with a one-line ConfigError.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

from imagen.errors import ConfigError
from imagen.secrets import redact

#: More values than any config holds (a large one has a few thousand), few enough that
#: expanding them takes well under a second.
MAX_VALUES = 100_000
#: Deeper than any config nests (inline ComfyUI workflows reach about eight levels).
MAX_DEPTH = 64

_KEY_NOT_TEXT = "invalid YAML: a key must be plain text, not a list or mapping"


def _yaml(typ: str = "rt") -> Any:
    from ruamel.yaml import YAML

    yaml = YAML(typ=typ)
    yaml.allow_duplicate_keys = False
    yaml.preserve_quotes = True
    yaml.default_flow_style = False
    yaml.width = 4096
    yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def parse(text: str, *, file: str | None = None) -> Any:
    """Parse YAML text into ruamel's round-trip nodes (which remember lines), or ConfigError."""
    from ruamel.yaml.error import MarkedYAMLError, YAMLError

    try:
        return _yaml().load(text)
    except RecursionError:
        raise ConfigError(_too_deep(), file=file) from None
    except TypeError:
        # ruamel builds a mapping key from a list that an alias points at, then cannot hash it
        raise ConfigError(_KEY_NOT_TEXT, file=file) from None
    except MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = (error.problem or error.context or "invalid YAML").strip()
        context = error.context_mark
        if error.context and context is not None and mark is not None and context.line != mark.line:
            problem = f"{problem} ({error.context.strip()} started on line {context.line + 1})"
        if "found duplicate key" in str(error):
            problem = (
                "duplicate key " + str(error).split('found duplicate key "', 1)[-1].split('"')[0]
            )
            problem = f"{problem!s}; each key may appear once"
        # ruamel quotes the offending text (a duplicate key, say), which may be a pasted token.
        raise ConfigError(redact(f"invalid YAML: {problem}"), line=line, file=file) from None
    except YAMLError as error:
        message = redact(f"invalid YAML: {error}".splitlines()[0])
        raise ConfigError(message, file=file) from None


def plain(node: Any, *, file: str | None = None) -> Any:
    """ruamel's node types as plain dict/list/str/int/float/bool (so values compare and pickle).

    Aliases are expanded into copies; ConfigError if that would pass :data:`MAX_VALUES` values
    or :data:`MAX_DEPTH` levels.
    """
    return _Expander(file).plain(node, 0)


def _too_deep() -> str:
    return f"invalid YAML: nested more than {MAX_DEPTH} levels deep; a config needs only a few"


class _Expander:
    """:func:`plain` with a budget: every value it copies counts, once per alias that uses it."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.left = MAX_VALUES

    def plain(self, node: Any, depth: int) -> Any:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        self.left -= 1
        if self.left < 0:
            raise ConfigError(
                f"invalid YAML: anchors and aliases (&name, *name) expand this document to more "
                f"than {MAX_VALUES} values; a config needs far fewer: remove the nested aliases",
                file=self.file,
            )
        if depth > MAX_DEPTH:
            raise ConfigError(_too_deep(), file=self.file)
        if isinstance(node, CommentedMap | dict):
            return {self.key(key): self.plain(v, depth + 1) for key, v in node.items()}
        if isinstance(node, CommentedSeq | list | tuple):
            return [self.plain(item, depth + 1) for item in node]
        return _scalar(node)

    def key(self, key: Any) -> str:
        # A null key (``~:`` or ``null:``) is a name left empty, not the word "None".
        if key is None:
            return ""
        if not isinstance(key, str | int | float):
            # A list or mapping as a key (``? [*a, *a]``) would be expanded by str() unbounded.
            raise ConfigError(_KEY_NOT_TEXT, file=self.file)
        return str(key)


def _scalar(node: Any) -> Any:
    if isinstance(node, bool):
        return bool(node)
    if isinstance(node, str):
        return str(node)
    if isinstance(node, int):
        # ruamel's ScalarBoolean is an int subclass
        if type(node).__name__ == "ScalarBoolean":
            return bool(node)
        return int(node)
    if isinstance(node, float):
        return float(node)
    return node


def line_of(root: Any, path: Sequence[str | int]) -> int | None:
    """1-based line of the deepest node along ``path`` that ruamel recorded."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    node = root
    line: int | None = None
    for key in path:
        if isinstance(node, CommentedMap) and key in node:
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                line = node.lc.key(key)[0] + 1
            node = node[key]
        elif isinstance(node, CommentedSeq) and isinstance(key, int) and 0 <= key < len(node):
            with contextlib.suppress(KeyError, TypeError, AttributeError):
                line = node.lc.item(key)[0] + 1
            node = node[key]
        else:
            break
    return line


def dump(data: Any) -> str:
    """YAML text for plain data or round-trip nodes (comments and key order are kept)."""
    stream = io.StringIO()
    _yaml().dump(data, stream)
    return stream.getvalue()
