"""YAML in and out with ruamel.yaml: plain data for structuring, line numbers for errors,
and round-trip dumps that keep a user's comments and key order."""

from __future__ import annotations

import contextlib
import io
from collections.abc import Sequence
from typing import Any

from imagen.errors import ConfigError


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
        raise ConfigError(f"invalid YAML: {problem}", line=line, file=file) from None
    except YAMLError as error:
        raise ConfigError(f"invalid YAML: {error}".splitlines()[0], file=file) from None


def plain(node: Any) -> Any:
    """ruamel's node types as plain dict/list/str/int/float/bool (so values compare and pickle)."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(node, CommentedMap | dict):
        return {str(key): plain(v) for key, v in node.items()}
    if isinstance(node, CommentedSeq | list | tuple):
        return [plain(item) for item in node]
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
