"""Shared test setup: every test gets its own HOME, config and data dirs, and no IMAGEN_* env."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def isolated_environment(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    home = tmp_path_factory.mktemp("home")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_DATA_HOME", str(home / ".local" / "share"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(home / ".cache"))
    for name in list(os.environ):
        if name.startswith("IMAGEN_") or name in ("TMUX", "TMUX_PANE", "MAI_FROM_ID"):
            monkeypatch.delenv(name, raising=False)
    yield home
    # Each test has its own HOME, so its own history file: close the one it kept open.
    from imagen.store.history import close_shared

    close_shared()
