"""Showing a just-written image in a tmux window (``imagen generate --preview``).

The mode comes from ``output.preview`` in the config, then ``$IMAGEN_PREVIEW``, then the
``--preview/--no-preview`` flag; the last one given wins. ``auto`` previews only when stdout is
a terminal and this process runs inside tmux; ``on`` insists (and says so when it cannot);
``off`` never previews.

The preview is a new tmux window, named ``imagen-preview``, running ``output.preview_command``
(default ``tmux-img --hold {path}``). The template is split like a shell would split it,
``{path}`` is replaced inside each word (the path is appended when no word has it), and the
result is quoted back into one string with ``shlex.join``, because tmux hands a single-string
command to the shell: a path with spaces, quotes, ``$(...)`` or backticks arrives as itself.

Every failure is a ``PreviewError``; the caller shows it as one warning line, since the image
is already on disk.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
from typing import Literal

from imagen.errors import ConfigError, ImagenError

PreviewMode = Literal["auto", "on", "off"]

PREVIEW_ENV = "IMAGEN_PREVIEW"
WINDOW_NAME = "imagen-preview"
PATH_FIELD = "{path}"
TMUX_TIMEOUT_SECONDS = 5.0

# The env var is typed by hand, so it also takes the usual spellings of yes and no.
_MODES: dict[str, PreviewMode] = {"auto": "auto", "on": "on", "off": "off"}
_ENV_SPELLINGS: dict[str, PreviewMode] = {
    **_MODES,
    "1": "on",
    "true": "on",
    "yes": "on",
    "0": "off",
    "false": "off",
    "no": "off",
}


class PreviewError(ImagenError):
    """The preview could not be opened. The image is on disk; show this as a warning."""


def preview_mode(config_mode: str, *, flag: bool | None) -> PreviewMode:
    """The effective mode: ``config_mode``, overridden by ``$IMAGEN_PREVIEW``, then by ``flag``.

    ``flag`` is None when neither ``--preview`` nor ``--no-preview`` was given. An empty
    ``$IMAGEN_PREVIEW`` counts as unset. Raises ConfigError for a value that is not a mode.
    """
    mode = _MODES.get(config_mode)
    if mode is None:
        raise ConfigError(
            f"{config_mode!r} is not a preview mode; use auto, on or off", path="output.preview"
        )
    env = os.environ.get(PREVIEW_ENV, "").strip()
    if env:
        from_env = _ENV_SPELLINGS.get(env.lower())
        if from_env is None:
            raise ConfigError(
                f"{PREVIEW_ENV}={env!r} is not a preview mode; set it to auto, on or off "
                "(or unset it)"
            )
        mode = from_env
    if flag is not None:
        mode = "on" if flag else "off"
    return mode


def inside_tmux() -> bool:
    """True when this process runs in a tmux pane (tmux sets ``$TMUX`` for it)."""
    return bool(os.environ.get("TMUX"))


def should_preview(mode: PreviewMode, *, stdout_tty: bool, in_tmux: bool) -> bool:
    """Whether to open a preview. ``on`` outside tmux raises PreviewError instead of False."""
    if mode == "off":
        return False
    if mode == "auto":
        return stdout_tty and in_tmux
    if not in_tmux:
        raise PreviewError(
            "preview is on but this is not a tmux session ($TMUX is unset); run imagen inside "
            f"tmux, or turn preview off (--no-preview, {PREVIEW_ENV}=off)"
        )
    return True


def viewer_argv(command: str, path: str) -> list[str]:
    """The viewer's argv: ``command`` split like a shell would, ``{path}`` replaced per word.

    Without a ``{path}`` word the path is appended. Raises PreviewError for an empty command or
    one a shell could not split (an unclosed quote).
    """
    try:
        words = shlex.split(command)
    except ValueError as error:
        raise PreviewError(
            f"output.preview_command cannot be split into words ({error}): {command!r}"
        ) from None
    if not words:
        raise PreviewError("output.preview_command is empty; set it to a viewer, like tmux-img")
    if not any(PATH_FIELD in word for word in words):
        return [*words, path]
    return [word.replace(PATH_FIELD, path) for word in words]


def tmux_argv(tmux: str, viewer: list[str]) -> list[str]:
    """``tmux new-window`` running ``viewer``, quoted into the one string tmux gives its shell."""
    return [tmux, "new-window", "-n", WINDOW_NAME, shlex.join(viewer)]


def open_preview(path: str, *, command: str) -> list[str]:
    """Open a tmux window showing ``path`` with the viewer ``command``; return the argv run.

    The path is made absolute first: the new window does not start in this directory. Raises
    PreviewError when tmux or the viewer is not installed, or tmux refuses.
    """
    tmux = shutil.which("tmux")
    if tmux is None:
        raise PreviewError(
            "tmux is not on PATH; install tmux, or turn preview off "
            f"(--no-preview, {PREVIEW_ENV}=off)"
        )
    viewer = viewer_argv(command, os.path.abspath(path))
    if shutil.which(viewer[0]) is None:
        raise PreviewError(
            f"the viewer {viewer[0]!r} is not on PATH; install it, or set "
            "output.preview_command to a viewer you have"
        )
    argv = tmux_argv(tmux, viewer)
    try:
        completed = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=TMUX_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except subprocess.TimeoutExpired:
        raise PreviewError(f"tmux did not answer within {TMUX_TIMEOUT_SECONDS:g} s") from None
    except OSError as error:
        raise PreviewError(f"tmux could not be run: {error}") from None
    if completed.returncode != 0:
        detail = " ".join(completed.stderr.split()) or f"exit status {completed.returncode}"
        raise PreviewError(f"tmux new-window failed: {detail}")
    return argv


__all__ = [
    "PREVIEW_ENV",
    "WINDOW_NAME",
    "PreviewError",
    "PreviewMode",
    "inside_tmux",
    "open_preview",
    "preview_mode",
    "should_preview",
    "viewer_argv",
]
