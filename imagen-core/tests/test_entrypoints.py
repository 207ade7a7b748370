"""The entry-point cache: reused while nothing is installed, rescanned when something is."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from imagen.plugins import entrypoints


@pytest.fixture
def scans(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = entrypoints.scan

    def counting() -> list[entrypoints.PluginEntry]:
        calls.append(1)
        return real()

    monkeypatch.setattr(entrypoints, "scan", counting)
    return calls


def test_second_start_reads_the_cache(scans: list[int]) -> None:
    first = entrypoints.plugin_entries()
    second = entrypoints.plugin_entries()
    assert first == second
    assert len(scans) == 1
    assert {"replicate", "comfyui", "gemini", "supabase"} <= {entry.name for entry in first}


def test_installing_something_rescans(
    scans: list[int], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    # Where installed packages live: after sys.path[0] (the script's own folder).
    monkeypatch.setattr(sys, "path", [sys.path[0], str(site), *sys.path[1:]])
    entrypoints.plugin_entries()
    info = site / "imagen_new-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: imagen-new\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[imagen]\nnew = imagen_new\n")
    import os

    os.utime(site, ns=(1, 1))  # a different mtime, however fast the file system clock ticks
    entries = entrypoints.plugin_entries()
    assert len(scans) == 2
    assert any(e.name == "new" and e.distribution == "imagen-new" for e in entries)


def test_a_corrupt_cache_file_is_ignored(scans: list[int]) -> None:
    entrypoints.plugin_entries()
    Path(entrypoints._cache_file()).write_text("{not json")
    assert entrypoints.plugin_entries()
    assert len(scans) == 2


def test_entry_loads_module_and_attribute() -> None:
    entry = entrypoints.PluginEntry("x", "imagen.sizes:parse_size", "d", "1")
    assert entry.load()("2x3") == (2, 3)
    assert (
        entrypoints.PluginEntry("y", "imagen.sizes", "d", "1").load() is sys.modules["imagen.sizes"]
    )
