"""Which config file is read, and what a user sees from a good or a bad one: the value that ends
up used, and one line naming the key and saying what to do."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagen.config.load import check_config, config_exists, load_config
from imagen.errors import ConfigError

# --- which file ------------------------------------------------------------------------------


def test_imagen_config_naming_a_missing_file_is_an_error_not_the_defaults(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    missing = tmp_path / "gone.yaml"
    monkeypatch.setenv("IMAGEN_CONFIG", str(missing))
    with pytest.raises(ConfigError) as raised:
        load_config()
    assert str(missing) in str(raised.value)
    assert "create it with: imagen config init" in str(raised.value)


def test_an_explicit_file_wins_over_imagen_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from_env = tmp_path / "env.yaml"
    from_env.write_text("output:\n  directory: /from/env\n")
    given = tmp_path / "given.yaml"
    given.write_text("output:\n  directory: /from/flag\n")
    monkeypatch.setenv("IMAGEN_CONFIG", str(from_env))
    config = load_config(given)
    assert config.output.directory == "/from/flag"
    assert config.source == str(given)


def test_a_path_starting_with_a_tilde_is_read_from_the_home_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / "imagen.yaml").write_text("default_backend: mock\noutput:\n  directory: /x\n")
    assert config_exists("~/imagen.yaml")
    assert not config_exists("~/other.yaml")
    assert load_config("~/imagen.yaml").output.directory == "/x"


def test_config_exists_looks_at_the_default_path_when_none_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    file = tmp_path / "c.yaml"
    monkeypatch.setenv("IMAGEN_CONFIG", str(file))
    assert not config_exists()
    file.write_text("")
    assert config_exists()


def test_a_file_that_is_not_utf8_is_one_line_naming_the_file(tmp_path: Path) -> None:
    file = tmp_path / "latin1.yaml"
    file.write_bytes("output:\n  directory: caf\xe9\n".encode("latin-1"))
    with pytest.raises(ConfigError) as raised:
        load_config(file)
    message = str(raised.value)
    assert message.startswith(f"cannot read config file {file}: ")
    assert "\n" not in message


def test_validate_without_a_file_checks_the_default_output_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """No config file: ``imagen config validate`` still says the default folder cannot be made."""
    from imagen.config.model import builtin_default

    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("IMAGEN_CONFIG", raising=False)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    folder = Path(builtin_default().output.directory).expanduser()
    assert tmp_path in folder.parents
    top = tmp_path / folder.relative_to(tmp_path).parts[0]
    top.write_text("a file where a folder should be")
    config, problems = check_config()
    assert config is not None
    [error] = problems.errors
    assert error.path == "output.directory"
    assert "point output.directory at a folder" in error.message
    # The other commands do not look at the disk: the default config loads.
    assert load_config().output.directory == builtin_default().output.directory
