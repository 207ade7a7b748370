"""Results on stdout, and how a command ends when stdout goes away.

stdout carries only results (paths, tables, JSON). When it stops taking them, the work that
produced them is not cut short: ``imagen generate`` writes and records every take. Then:

- a closed pipe (``imagen generate -n 8 | head -1``) ends quietly with exit code 141, what a
  shell reports for a writer stopped by SIGPIPE (``head``'s usual partner);
- any other write error (stdout on a full device) ends with one line on stderr that says what
  could not be printed and where the results are, and exit code 1.

``guarded()`` watches ``sys.stdout`` while a command runs, so that a write error on stdout is
told apart from every other ``OSError`` (a full output folder is a different error).
"""

from __future__ import annotations

import contextlib
import errno
import io
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO, cast

import click

#: the exit code when stdout was a pipe whose reader went away: 128 + SIGPIPE
CLOSED_PIPE = 141


class _Watched:
    """``sys.stdout`` while a command runs: the first write error is kept, and raised again."""

    def __init__(self, stream: TextIO | io.TextIOBase) -> None:
        self.stream = stream
        self.failure: OSError | None = None
        #: said after the error line, e.g. where the images are
        self.note = ""

    def write(self, text: str) -> int:
        self._check()
        try:
            return self.stream.write(text)
        except OSError as error:
            self.failure = error
            raise

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._check()
        try:
            self.stream.flush()
        except OSError as error:
            self.failure = error
            raise

    def _check(self) -> None:
        # Once gone, stdout stays gone: later writes fail the same way, never half-succeed.
        if self.failure is not None:
            raise self.failure

    def __getattr__(self, name: str) -> Any:
        return getattr(self.stream, name)


class _Closed(io.TextIOBase):
    """stdout when the process started without one: every write fails with EBADF."""

    def write(self, text: str) -> int:
        raise OSError(errno.EBADF, os.strerror(errno.EBADF))

    def isatty(self) -> bool:
        return False


_watched: _Watched | None = None


def print_result(line: str) -> bool:
    """Print one result line; False, with nothing raised, when stdout cannot take it.

    For results printed while other work goes on (each take's path): losing stdout must not
    stop that work. ``guarded()`` ends the command accordingly afterwards.
    """
    if lost():
        return False
    try:
        click.echo(line)
    except OSError:
        return False
    return True


def lost() -> bool:
    """Whether stdout has failed during this command."""
    return _watched is not None and _watched.failure is not None


def note_if_lost(note: str) -> None:
    """What to add when stdout is lost, like "the images are in DIR"."""
    if _watched is not None:
        _watched.note = note


@contextmanager
def guarded() -> Iterator[None]:
    """Run a command with ``sys.stdout`` watched; a lost stdout ends it as the module says.

    A command that exits with its own non-zero code (failed takes) keeps that code; the line
    about stdout is still said.
    """
    global _watched
    original = sys.stdout
    # Started with stdout closed (`>&-`): Python's sys.stdout is None; it fails like a lost one.
    watched = _Watched(original if original is not None else _Closed())
    _watched = watched
    stream = cast(TextIO, watched)
    sys.stdout = stream
    try:
        yield
    except OSError as error:
        if error is not watched.failure:
            raise
    except SystemExit as done:
        if watched.failure is not None:
            code = _say(watched)
            if done.code in (0, None):
                sys.exit(code)
        raise
    finally:
        if sys.stdout is stream:
            sys.stdout = original
        _watched = None
    if watched.failure is not None:
        sys.exit(_say(watched))


def _say(watched: _Watched) -> int:
    """The line for a lost stdout (none for a closed pipe); returns the exit code."""
    error = watched.failure
    assert error is not None
    if isinstance(error, BrokenPipeError) or error.errno == errno.EPIPE:
        return CLOSED_PIPE
    reason = error.strerror or str(error)
    note = f"; {watched.note}" if watched.note else ""
    with contextlib.suppress(OSError, ValueError):  # stderr gone too: the code still says it
        click.echo(f"imagen: error: could not print to stdout ({reason}){note}", err=True)
    return 1
