"""Plugin loading: entry points, IMAGEN_LOAD_PLUGINS, broken plugins that don't break the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def make_plugin(root: Path, name: str, body: str) -> Path:
    """An installed distribution ``imagen-<name>`` with entry point ``<name>`` under ``root``."""
    module = f"plugin_{name.replace('-', '_')}"
    (root / f"{module}.py").write_text(body)
    info = root / f"imagen_{name.replace('-', '_')}_test-0.3.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(
        f"Metadata-Version: 2.1\nName: imagen-{name}-test\nVersion: 0.3.0\n"
    )
    (info / "entry_points.txt").write_text(f"[imagen]\n{name} = {module}\n")
    return root


@pytest.fixture
def plugin_dir(tmp_path: Path) -> Path:
    root = tmp_path / "site"
    root.mkdir()
    return root


RAISES_ON_IMPORT = "raise RuntimeError('this plugin is broken on purpose')\n"
RAISES_IN_HOOK = """
from imagen import hookimpl

@hookimpl
def register_backends(register):
    raise ValueError("hook is broken on purpose")
"""
DUPLICATE_TYPE = """
from imagen import hookimpl

@hookimpl
def register_backends(register):
    from imagen.mock import MockBackend, MockSettings
    register("mock", MockBackend, MockSettings)
"""


def test_plugins_lists_builtin_and_installed_plugins(imagen) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("plugins", "--json")
    assert ran.code == 0
    rows = {row["name"]: row for row in json.loads(ran.out)}
    assert rows["mock"]["distribution"] == "imagen-core"
    assert rows["mock"]["builtin"] is True
    assert "register_backends" in rows["mock"]["hooks"]
    assert rows["builtin_styles"]["hooks"] == ["register_styles"]


def test_plugins_table_has_name_version_hooks(imagen) -> None:  # type: ignore[no-untyped-def]
    ran = imagen("plugins")
    assert ran.lines[0].split() == ["NAME", "DISTRIBUTION", "VERSION", "HOOKS"]
    assert any(line.startswith("mock ") and "imagen-core" in line for line in ran.lines)


def test_plugin_that_raises_on_import_is_one_warning_and_every_command_works(  # type: ignore[no-untyped-def]
    imagen_process, plugin_dir: Path, tmp_path: Path
) -> None:
    make_plugin(plugin_dir, "broken", RAISES_ON_IMPORT)
    env = {"PYTHONPATH": str(plugin_dir)}
    for args in (
        ["--help"],
        ["plugins"],
        ["backends"],
        ["styles"],
        ["config", "sample"],
        ["generate", "a cat", "-o", str(tmp_path / "out"), "--seed", "1"],
    ):
        ran = imagen_process(*args, env=env)
        assert ran.code == 0, (args, ran.err)
        warnings = [line for line in ran.err.splitlines() if "broken" in line]
        assert len(warnings) == 1, (args, ran.err)
        assert warnings[0].startswith("imagen: warning: plugin 'broken' (imagen-broken-test 0.3.0)")
        assert "Traceback" not in ran.err
    assert list((tmp_path / "out").rglob("*.png"))


def test_plugin_whose_hook_raises_is_skipped_with_a_warning(  # type: ignore[no-untyped-def]
    imagen_process, plugin_dir: Path
) -> None:
    make_plugin(plugin_dir, "badhook", RAISES_IN_HOOK)
    ran = imagen_process("backends", env={"PYTHONPATH": str(plugin_dir)})
    assert ran.code == 0
    assert "imagen: warning: plugin 'badhook' failed in register_backends: ValueError" in ran.err
    assert "mock" in ran.out


def test_duplicate_backend_type_keeps_the_first_and_warns(  # type: ignore[no-untyped-def]
    imagen_process, plugin_dir: Path
) -> None:
    make_plugin(plugin_dir, "dup", DUPLICATE_TYPE)
    ran = imagen_process("backends", env={"PYTHONPATH": str(plugin_dir)})
    assert ran.code == 0
    assert "registers backend type 'mock', already registered by 'mock'; ignored" in ran.err


def test_imagen_load_plugins_empty_loads_only_builtins(imagen_process, plugin_dir: Path) -> None:  # type: ignore[no-untyped-def]
    make_plugin(plugin_dir, "broken", RAISES_ON_IMPORT)
    ran = imagen_process(
        "plugins", "--json", env={"PYTHONPATH": str(plugin_dir), "IMAGEN_LOAD_PLUGINS": ""}
    )
    assert ran.code == 0
    assert ran.err == ""
    assert {row["distribution"] for row in json.loads(ran.out)} == {"imagen-core"}


def test_imagen_load_plugins_names_the_ones_to_load(imagen_process) -> None:  # type: ignore[no-untyped-def]
    ran = imagen_process("plugins", "--json", env={"IMAGEN_LOAD_PLUGINS": "replicate"})
    names = {row["name"] for row in json.loads(ran.out)}
    assert "replicate" in names
    assert "gemini" not in names


@pytest.mark.parametrize("kind", ["sink", "queue"])
def test_a_sink_or_queue_type_registered_twice_keeps_the_first_and_warns(
    kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from imagen.plugins.registry import Registry

    registry = Registry()
    table = registry.sinks if kind == "sink" else registry.queues
    first = getattr(registry, f"{kind}_register")("first")
    second = getattr(registry, f"{kind}_register")("second")
    first("vault", "first_plugin:Vault", dict, sample="# first")
    second("vault", "second_plugin:Vault", dict, sample="# second")
    second("", "second_plugin:Nameless", dict)
    assert list(table) == ["vault"]
    assert (table["vault"].plugin, table["vault"].sample) == ("first", "# first")
    assert capsys.readouterr().err.splitlines() == [
        f"imagen: warning: plugin 'second' registers {kind} type 'vault', already registered by "
        "'first'; ignored",
        f"imagen: warning: plugin 'second' registered an empty {kind} type; ignored",
    ]
