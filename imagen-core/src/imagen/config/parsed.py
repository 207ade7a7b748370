"""A config file's plain data, kept so that an unchanged file is not parsed again.

Parsing YAML with ruamel, which records every key's line for error messages, is most of what
loading a config costs at start-up (imported and run, more than every other part of
``imagen backends`` together). So a config file that loaded without an error is stored, as
its exact text beside its plain data, in a JSON file in the user cache dir. The next load of
the same text, by the same Python with the same packages installed, reads that file instead;
the YAML is parsed again only when a problem needs a line number.

Nothing here decides whether a config is right: the data is checked again on every load.
Only a config without errors is stored, so no inline secret the checks refuse is copied;
the file is private (0600) like the config it mirrors.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from imagen.errors import ConfigError

#: Part of every stored key: change it when ``yamlio.plain`` turns some text into other data.
FORMAT = 1
#: Not parsed yet (``None`` is what an empty document parses to).
_UNPARSED: Any = object()


class Document:
    """A config file's text and plain data; its YAML nodes (for lines) parsed on first need."""

    def __init__(self, text: str, file: str | None, data: Any, root: Any = _UNPARSED) -> None:
        self.text = text
        self.file = file
        self.data = data
        self._root = root
        #: read from the store (so there is nothing to store)
        self.stored = root is _UNPARSED

    @classmethod
    def read(cls, text: str, *, file: str | None = None) -> Document:
        """The document of ``text``: stored data when ``file`` last loaded this very text
        without errors, else parsed (ConfigError for YAML that does not parse)."""
        stored = _stored_data(file, text) if file is not None else _UNPARSED
        if stored is not _UNPARSED:
            return cls(text, file, stored)
        from imagen.config import yamlio

        root = yamlio.parse(text, file=file)
        data = yamlio.plain(root, file=file) if root is not None else {}
        return cls(text, file, data, root)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """1-based line of the deepest key along ``path`` (see ``yamlio.line_of``)."""
        from imagen.config import yamlio

        if self._root is _UNPARSED:
            try:
                self._root = yamlio.parse(self.text, file=self.file)
            except ConfigError:  # it parsed when it was stored; a line is only a help
                self._root = None
        return yamlio.line_of(self._root, path)

    def remember(self) -> None:
        """Store this document for the next load of the same file (a config without errors).

        Best effort: data JSON cannot hold exactly (a YAML date, say) is not stored, and a
        cache dir that cannot be written only costs the next load a parse.
        """
        if self.file is None or self.stored or not _json_exact(self.data, 0):
            return
        path = _store_file(self.file)
        record = {"key": _key(), "text": self.text, "data": self.data}
        # Per process and thread: the server loads configs from several threads at once.
        temp = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
        try:
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            descriptor = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with open(descriptor, "w", encoding="utf-8") as stream:
                json.dump(record, stream)
            os.replace(temp, path)
        except (OSError, ValueError):
            with contextlib.suppress(OSError):
                temp.unlink(missing_ok=True)


def _key() -> list[Any]:
    from imagen.plugins.entrypoints import installed_key

    return [FORMAT, *installed_key()]


def _store_file(file: str) -> Path:
    from imagen.plugins.entrypoints import cache_dir

    name = os.path.abspath(os.path.expanduser(file)).encode("utf-8", "surrogateescape")
    # One file per config path; the text inside says whether it is still this file's.
    return Path(cache_dir(), "config", f"{zlib.crc32(name):08x}.json")


def _stored_data(file: str, text: str) -> Any:
    try:
        record = json.loads(_store_file(file).read_text(encoding="utf-8"))
        if record["text"] == text and record["key"] == _key():
            return record["data"]
    except (OSError, ValueError, TypeError, KeyError):
        pass  # none, unreadable or another version's: parse
    return _UNPARSED


def _json_exact(value: Any, depth: int) -> bool:
    """Whether JSON gives ``value`` back as it is: mappings with text keys, lists, text,
    whole and finite numbers, booleans and null, and nesting a JSON decoder accepts."""
    if depth > 100:
        return False
    if value is None or type(value) in (str, int, bool):
        return True
    if type(value) is float:
        return value == value and value not in (float("inf"), float("-inf"))
    if type(value) is list:
        return all(_json_exact(item, depth + 1) for item in value)
    if type(value) is dict:
        return all(type(key) is str and _json_exact(item, depth + 1) for key, item in value.items())
    return False
