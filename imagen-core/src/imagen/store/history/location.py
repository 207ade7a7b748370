"""Where the history file lives: ``$IMAGEN_HISTORY``, else the user data dir."""

from __future__ import annotations

import os

HISTORY_ENV = "IMAGEN_HISTORY"
FILE_NAME = "history.sqlite3"


def default_path() -> str:
    """``$IMAGEN_HISTORY`` if set, else ``history.sqlite3`` in the user data dir."""
    from_env = os.environ.get(HISTORY_ENV, "").strip()
    if from_env:
        return os.path.expanduser(from_env)
    import platformdirs

    return os.path.join(platformdirs.user_data_dir("imagen"), FILE_NAME)
