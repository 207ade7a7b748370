"""Who asked for a generation: the ``caller`` recorded in history, sidecars and usage.

Precedence, first non-empty wins: the explicit ``--caller`` value, ``$IMAGEN_CALLER``,
``$MAI_FROM_ID``, the ``@mai-name`` option of the tmux pane this process runs in, the OS user,
and finally ``"unknown"``. The tmux step mirrors how mai agents name themselves: each agent's
pane carries its name as a user option.
"""

from __future__ import annotations

import getpass
import os
import subprocess

CALLER_ENV_VARS = ("IMAGEN_CALLER", "MAI_FROM_ID")
TMUX_OPTION = "@mai-name"
TMUX_TIMEOUT_SECONDS = 1.0
UNKNOWN = "unknown"


def tmux_pane_name() -> str | None:
    """The current tmux pane's ``@mai-name`` option, or None outside tmux or on any failure."""
    pane = os.environ.get("TMUX_PANE", "").strip()
    if not os.environ.get("TMUX") or not pane:
        return None
    try:
        completed = subprocess.run(
            ["tmux", "show-options", "-pqv", "-t", pane, TMUX_OPTION],
            capture_output=True,
            text=True,
            timeout=TMUX_TIMEOUT_SECONDS,
            check=False,
            stdin=subprocess.DEVNULL,
        )
    except (OSError, subprocess.SubprocessError, UnicodeDecodeError):
        return None
    if completed.returncode != 0:
        return None
    return completed.stdout.strip() or None


def os_user() -> str | None:
    """The login name as ``getpass`` finds it (env vars, then the password database)."""
    try:
        return getpass.getuser().strip() or None
    except (OSError, KeyError, ImportError):
        # No LOGNAME/USER and no passwd entry for the uid (a bare container).
        return None


def resolve_caller(explicit: str | None = None) -> str:
    """The caller identity for this process (see the module docstring for the order)."""
    if explicit and explicit.strip():
        return explicit.strip()
    for name in CALLER_ENV_VARS:
        value = os.environ.get(name, "").strip()
        if value:
            return value
    return tmux_pane_name() or os_user() or UNKNOWN


__all__ = ["CALLER_ENV_VARS", "os_user", "resolve_caller", "tmux_pane_name"]
