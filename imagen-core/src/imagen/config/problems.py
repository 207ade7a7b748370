"""Problems found in a config: errors and warnings, each with its YAML path and line.

Every problem's path and message pass through :func:`imagen.secrets.redact` as they are
recorded, so no plugin or core check can echo a token a user pasted into a value or a key.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import attrs

from imagen.errors import ConfigError
from imagen.secrets import redact


@attrs.frozen
class Problem:
    severity: Literal["error", "warning"]
    path: str
    message: str
    line: int | None = None
    file: str | None = None

    def as_error(self) -> ConfigError:
        return ConfigError(self.message, path=self.path or None, line=self.line, file=self.file)

    def __str__(self) -> str:
        return str(self.as_error())


@attrs.define
class Problems:
    """Collects problems; ``line_of`` maps a dotted path to its line in the file."""

    file: str | None = None
    line_of: Callable[[str], int | None] = lambda path: None
    items: list[Problem] = attrs.field(factory=list)
    # The paths as given (before redaction) that already have an error.
    _error_paths: set[str] = attrs.field(factory=set, init=False, repr=False)

    def error(self, path: str, message: str) -> None:
        # One error per place: the first says what is wrong there (an inline secret is not
        # also an "unknown key").
        if path and path in self._error_paths:
            return
        self._error_paths.add(path)
        self._add("error", path, message)

    def warning(self, path: str, message: str) -> None:
        self._add("warning", path, message)

    def _add(self, severity: Literal["error", "warning"], path: str, message: str) -> None:
        # The line is looked up with the path as written; only what is shown is redacted.
        line = self.line_of(path)
        self.items.append(Problem(severity, redact(path), redact(message), line, self.file))

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.items if p.severity == "warning"]

    def raise_first(self) -> None:
        errors = self.errors
        if not errors:
            return
        first = errors[0].as_error()
        if len(errors) > 1:
            more = len(errors) - 1
            first.args = (
                f"{first} (and {more} more problem{'s' if more > 1 else ''}: "
                "run imagen config validate)",
            )
        raise first


def did_you_mean(word: str, choices: Any) -> str:
    """``"; did you mean 'x'?"`` for the closest choice, or an empty string."""
    import difflib  # only when something is wrong: not on every config load

    options = [str(choice) for choice in choices]
    close = difflib.get_close_matches(word, options, n=1, cutoff=0.6)
    if not close:
        # "naming_template" for "naming": a known key the word starts or ends with
        close = [o for o in options if len(o) >= 3 and (word.startswith(o) or word.endswith(o))]
    if not close:
        close = difflib.get_close_matches(word, options, n=1, cutoff=0.5)
    return f"; did you mean {close[0]!r}?" if close else ""
