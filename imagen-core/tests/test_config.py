"""Config loading: every broken config gives one clear line naming path and line, and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from imagen.config.load import load_config, parse_config
from imagen.config.model import Config
from imagen.errors import ConfigError

BROKEN = {
    "bad yaml": ("output:\n  directory: [unclosed\n", 3, "started on line 2"),
    "tab indentation": ("output:\n\tdirectory: x\n", 2, "invalid YAML"),
    "duplicate key": ("default_backend: mock\ndefault_backend: mock\n", 2, "duplicate key"),
    "not a mapping": ("- a\n- b\n", None, "must be a mapping"),
    "unknown top-level key": ("ouptut:\n  directory: x\n", 1, "did you mean 'output'"),
    "unknown output key": ("output:\n  naming_template: x\n", 2, "did you mean 'naming'"),
    "wrong type bool": ("output:\n  embed_metadata: 'yes'\n", 2, "expected true or false"),
    "wrong type int": ("server:\n  port: eighty\n", 2, "expected a whole number"),
    "bad literal": ("output:\n  preview: sometimes\n", 2, "expected one of: auto, on, off"),
    "backend without type": ("backends:\n  x:\n    latency: 1\n", 2, "missing type"),
    "unknown backend type": (
        "backends:\n  x:\n    type: dalle\n",
        3,
        "unknown backend type 'dalle'",
    ),
    "unknown backend key": (
        "backends:\n  m:\n    type: mock\n    latncy: 1\n",
        4,
        "did you mean 'latency'",
    ),
    "backend field wrong type": (
        "backends:\n  m:\n    type: mock\n    latency: slow\n",
        4,
        "expected a number",
    ),
    "bad concurrency": (
        "backends:\n  m:\n    type: mock\n    concurrency: 0\n",
        4,
        "1 or more",
    ),
    "negative cost": (
        "backends:\n  m:\n    type: mock\n    cost_per_image: -1\n",
        4,
        "cannot be negative",
    ),
    "inline api token key": (
        "backends:\n  m:\n    type: mock\n    api_token: abc123\n",
        4,
        "inline secret not allowed",
    ),
    "token-shaped value": (
        "backends:\n  m:\n    type: mock\n    model: r8_AbCdEfGhIjKlMnOpQrStUv\n",
        4,
        "looks like an inline secret",
    ),
    "token in an _env key": (
        "backends:\n  m:\n    type: mock\n    api_token_env: r8_AbCdEfGhIjKlMnOpQrStUv\n",
        4,
        "names an environment variable",
    ),
    "password in a url": (
        "queue:\n  url: postgresql://user:hunter2@db/imagen\n",
        2,
        "contains a password",
    ),
    "unknown default backend": ("default_backend: flux\n", 1, "no backend instance named 'flux'"),
    "unknown naming field": ('output:\n  naming: "{date}/{promt}"\n', 2, "promt"),
    "bad naming spec": ('output:\n  naming: "{seed:zz}"\n', 2, "output.naming"),
    "naming attribute access": ('output:\n  naming: "{slug.upper}"\n', 2, "output.naming"),
    "bad style size": ("styles:\n  s:\n    size: big\n", 3, "expected WIDTHxHEIGHT"),
    "unknown sink type": ("sinks:\n  s:\n    type: s3\n", 3, "unknown sink type 's3'"),
    "value refused by a plugin's validator": (
        "backends:\n  m:\n    type: mock\n    width: 0\n",
        4,
        "backends.m.width: 'width' must be in range(1, 16385) (got 0)",
    ),
}


def test_a_typo_in_a_type_suggests_the_fix_not_an_install() -> None:
    _, problems = parse_config("backends:\n  m:\n    type: comfyu\n")
    (error,) = problems.errors
    assert "did you mean 'comfyui'?" in error.message
    assert "pip install" not in error.message


def test_an_instance_with_errors_is_not_reported_missing_as_default() -> None:
    _, problems = parse_config(
        "default_backend: m\nbackends:\n  m:\n    type: mock\n    latency: x\n"
    )
    assert [p.path for p in problems.errors] == ["backends.m.latency"]


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_config_is_one_clear_error_with_line(name: str) -> None:
    text, line, fragment = BROKEN[name]

    def load() -> None:
        _, problems = parse_config(text, file="imagen.yaml")
        problems.raise_first()

    with pytest.raises(ConfigError) as raised:
        load()
    message = str(raised.value)
    assert fragment in message
    assert "\n" not in message
    assert message.startswith("imagen.yaml")
    if line is not None:
        assert raised.value.line == line, message


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_broken_config_exits_2_with_one_line(name: str, imagen, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    config = tmp_path / "imagen.yaml"
    config.write_text(BROKEN[name][0])
    ran = imagen("--config", str(config), "generate", "a cat", "-o", str(tmp_path / "out"))
    assert ran.code == 2
    errors = [line for line in ran.err.splitlines() if line.startswith("imagen: error:")]
    assert len(errors) == 1, ran.err
    assert not (tmp_path / "out").exists()


def test_empty_file_is_the_default_config() -> None:
    config, problems = parse_config("", file="imagen.yaml")
    assert not problems.items
    assert config == Config()


def test_missing_explicit_config_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist; create it with: imagen config init"):
        load_config(tmp_path / "nope.yaml")


def test_no_config_file_gives_the_builtin_default() -> None:
    config = load_config()
    assert config.default_backend == "mock"
    assert config.source is None


def test_imagen_config_env_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "c.yaml"
    path.write_text("output:\n  directory: /srv/images\n")
    monkeypatch.setenv("IMAGEN_CONFIG", str(path))
    assert load_config().output.directory == "/srv/images"


def test_backend_block_is_structured_into_the_plugin_class() -> None:
    from imagen.mock import MockSettings

    text = (
        "backends:\n  slow:\n    type: mock\n    latency: 0.5\n"
        "    concurrency: 2\n    cost_per_image: 0.004\n"
    )
    config, problems = parse_config(text)
    assert not problems.items
    assert config is not None
    instance = config.backends["slow"]
    assert instance.settings == MockSettings(latency=0.5)
    assert instance.concurrency == 2
    assert str(instance.cost_per_image) == "0.004"


def test_all_errors_are_collected_for_validate() -> None:
    _, problems = parse_config("ouptut: 1\nserver:\n  port: x\nbackends:\n  a: {type: nope}\n")
    assert len(problems.errors) == 3


def test_first_error_mentions_how_many_more() -> None:
    _, problems = parse_config("ouptut: 1\nserver:\n  port: x\n")
    with pytest.raises(ConfigError, match=r"and 1 more problem: run imagen config validate"):
        problems.raise_first()


def test_env_names_are_fine_and_never_secrets() -> None:
    text = (
        "sinks:\n  hook:\n    type: webhook\n    url: http://127.0.0.1:9/x\n"
        "    secret_env: HOOK_SECRET\n"
    )
    _, problems = parse_config(text)
    assert not [p for p in problems.errors if "secret" in p.message]
