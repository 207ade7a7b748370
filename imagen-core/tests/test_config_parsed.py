"""A config file that loaded cleanly is not parsed again while its text stays the same; every
check still runs, and every problem still names its line."""

from __future__ import annotations

import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagen.config import yamlio
from imagen.config.load import check_config, load_config
from imagen.errors import ConfigError
from imagen.plugins import entrypoints, loader

CONFIG = """\
default_backend: flux
backends:
  flux:
    type: replicate
    model: black-forest-labs/flux-schnell
    timeout: 90
sinks:
  backup:
    type: command
    enabled: "off"
    argv: ["cp", "{path}", "/tmp/"]
"""


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The texts ``yamlio.parse`` was asked to parse."""
    seen: list[str] = []
    real = yamlio.parse

    def counting(text: str, *, file: str | None = None) -> Any:
        seen.append(text)
        return real(text, file=file)

    monkeypatch.setattr(yamlio, "parse", counting)
    return seen


@pytest.fixture
def config_file(tmp_path: Path) -> Path:
    path = tmp_path / "imagen.yaml"
    path.write_text(CONFIG, encoding="utf-8")
    return path


def stored() -> list[Path]:
    folder = Path(entrypoints.cache_dir(), "config")
    return sorted(folder.glob("*.json")) if folder.exists() else []


def test_a_config_loaded_again_is_not_parsed_again(config_file: Path, parses: list[str]) -> None:
    first = load_config(config_file)
    second = load_config(config_file)
    assert second == first
    assert second.backends["flux"].settings.timeout == 90
    assert len(parses) == 1


def test_an_edited_config_is_parsed_again(config_file: Path, parses: list[str]) -> None:
    load_config(config_file)
    config_file.write_text(CONFIG.replace("timeout: 90", "timeout: 45"), encoding="utf-8")
    assert load_config(config_file).backends["flux"].settings.timeout == 45
    assert len(parses) == 2


def test_a_config_with_an_error_is_not_stored_and_names_the_line_every_time(
    tmp_path: Path,
) -> None:
    path = tmp_path / "imagen.yaml"
    path.write_text(CONFIG.replace("    timeout: 90\n", "    timeout: 90\n    colour: red\n"))
    for _ in range(2):
        with pytest.raises(ConfigError) as raised:
            load_config(path)
        assert raised.value.line == 7
        assert raised.value.path == "backends.flux.colour"
    assert stored() == []


def test_a_warning_from_a_stored_config_still_names_its_line(
    tmp_path: Path, parses: list[str]
) -> None:
    path = tmp_path / "imagen.yaml"
    path.write_text("# my styles\nstyles:\n  noir:\n    prompt: film noir, high contrast\n")
    lines = []
    for _ in range(2):
        _, problems = check_config(path)
        (warning,) = problems.warnings
        lines.append((warning.path, warning.line))
    assert lines == [("styles.noir.prompt", 4)] * 2
    # The second load read the stored data and parsed the text only to find the line.
    assert len(parses) == 2
    assert len(stored()) == 1


@pytest.fixture
def plugins_reloaded() -> Iterator[None]:
    yield
    loader.reset()  # the next test loads every plugin again


def test_an_uninstalled_plugin_is_an_error_at_the_stored_configs_line(
    config_file: Path, monkeypatch: pytest.MonkeyPatch, plugins_reloaded: None
) -> None:
    load_config(config_file)
    assert len(stored()) == 1
    monkeypatch.setenv("IMAGEN_LOAD_PLUGINS", "")  # imagen-replicate is gone
    loader.reset()
    with pytest.raises(ConfigError) as raised:
        load_config(config_file)
    assert raised.value.path == "backends.flux.type"
    assert raised.value.line == 4
    assert "unknown backend type 'replicate'" in str(raised.value)


def test_the_stored_copy_is_private_to_the_user(config_file: Path) -> None:
    load_config(config_file)
    (path,) = stored()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_damaged_stored_copy_is_ignored(config_file: Path, parses: list[str]) -> None:
    load_config(config_file)
    (path,) = stored()
    path.write_text('{"key": [1], "text": "', encoding="utf-8")
    assert load_config(config_file).backends["flux"].settings.timeout == 90
    assert len(parses) == 2


def test_a_value_json_cannot_hold_as_it_is_is_never_stored(
    tmp_path: Path, parses: list[str]
) -> None:
    path = tmp_path / "imagen.yaml"
    path.write_text(CONFIG.replace("    timeout: 90\n", "    input:\n      since: 2024-05-01\n"))
    for _ in range(2):
        settings = load_config(path).backends["flux"].settings
        assert str(settings.input["since"]) == "2024-05-01"
    assert stored() == []
    assert len(parses) == 2


def test_installing_or_removing_a_package_parses_again(
    config_file: Path, parses: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    load_config(config_file)
    real = entrypoints.installed_key
    monkeypatch.setattr(entrypoints, "installed_key", lambda: [*real(), ["new-site", 1]])
    load_config(config_file)
    assert len(parses) == 2


def test_text_without_a_file_is_never_stored(parses: list[str]) -> None:
    from imagen.config.load import parse_config

    for _ in range(2):
        config, problems = parse_config(CONFIG)
        assert config is not None
        assert not problems.errors
    assert stored() == []
    assert len(parses) == 2
