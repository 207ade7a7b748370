"""``imagen config validate`` says "ok" only for a config that can work, and hostile YAML gets one
line and exit 2 (never a hang, a traceback or an internal error)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from imagen.config.load import load_config, parse_config
from imagen.config.yamlio import MAX_VALUES


def validate(imagen_process: Any, tmp_path: Path, text: str) -> Any:
    config = tmp_path / "imagen.yaml"
    config.write_text(text, encoding="utf-8")
    return imagen_process("--config", str(config), "config", "validate")


def one_error(ran: Any) -> str:
    """The single stderr line of a refused config (exit 2, nothing on stdout)."""
    assert ran.code == 2, (ran.out, ran.err)
    assert ran.out == ""
    lines = ran.err.splitlines()
    assert len(lines) == 1, lines
    assert lines[0].startswith("imagen: error: ")
    return lines[0]


# --- output.naming outside the output folder ------------------------------------------------


@pytest.mark.parametrize(
    ("template", "reason"),
    [
        ("../{slug}", "it goes up with .."),
        ("{date}/../../etc/{slug}", "it goes up with .."),
        ("/tmp/{slug}", "it is an absolute path"),
        ("~/elsewhere/{slug}", "it starts at the home folder"),
    ],
)
def test_a_naming_template_that_leaves_the_output_folder_is_refused(
    imagen_process: Any, tmp_path: Path, template: str, reason: str
) -> None:
    line = one_error(validate(imagen_process, tmp_path, f'output:\n  naming: "{template}"\n'))
    assert f"imagen.yaml:2: output.naming: the naming template '{template}' would write" in line
    assert f"outside the output folder ({reason})" in line
    assert "set output.directory to choose the folder" in line


def test_a_python_caller_with_such_a_template_still_writes_inside_the_folder(
    tmp_path: Path,
) -> None:
    """Rendering drops the ".." whatever the config says: the files stay in the folder."""
    import asyncio

    from imagen import Request, generate
    from imagen.config.model import Config, OutputConfig

    out = tmp_path / "out"
    output = OutputConfig(directory=str(out), naming="../../escaped/{seed}", preview="off")
    config = Config(output=output)
    outcome = asyncio.run(generate(Request(prompt="a cat", seed=7), config=config))
    # Generation.path is relative to the output folder.
    written = [(out / g.path).resolve() for g in outcome.generations]
    assert [path.relative_to(out.resolve()).as_posix() for path in written] == ["escaped/7.png"]
    assert all(path.is_file() for path in written)
    assert not (tmp_path / "escaped").exists()


# --- anchors and aliases ("billion laughs"), deep nesting -----------------------------------

BILLION_LAUGHS = (
    'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]\n'
    + "".join(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 10)}]\n" for i in range(1, 10))
    + "output:\n  naming: *a9\n"
)


def test_a_billion_laughs_config_is_refused_not_expanded(
    imagen_process: Any, tmp_path: Path
) -> None:
    # 10^9 strings if expanded; pytest-timeout turns a hang into a failure.
    line = one_error(validate(imagen_process, tmp_path, BILLION_LAUGHS))
    assert "imagen.yaml: invalid YAML: anchors and aliases (&name, *name) expand this" in line
    assert f"more than {MAX_VALUES} values" in line


@pytest.mark.parametrize("command", [["backends"], ["config", "set", "output.naming", "x"]])
def test_every_command_refuses_a_billion_laughs_config(
    imagen_process: Any, tmp_path: Path, command: list[str]
) -> None:
    config = tmp_path / "imagen.yaml"
    config.write_text(BILLION_LAUGHS, encoding="utf-8")
    assert "anchors and aliases" in one_error(imagen_process("--config", str(config), *command))
    assert config.read_text(encoding="utf-8") == BILLION_LAUGHS


def test_anchors_aliases_and_merge_keys_of_an_ordinary_config_still_work() -> None:
    config, problems = parse_config(
        "backends:\n"
        "  small: &small {type: mock, width: 512, height: 512}\n"
        "  copy: *small\n"
        "  wide:\n"
        "    <<: *small\n"
        "    width: 1024\n"
    )
    assert not problems.items
    assert config is not None
    assert config.backends["copy"].settings == config.backends["small"].settings
    assert config.backends["wide"].settings.width == 1024
    assert config.backends["wide"].settings.height == 512


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a: " + "[" * 5000 + "]" * 5000 + "\n", "nested more than 64 levels deep"),
        ("a: " + "[" * 80 + "]" * 80 + "\n", "nested more than 64 levels deep"),
        ("a: &k [1, 2]\n? [*k, *k]\n: x\n", "a key must be plain text"),
    ],
    ids=["deeper than the stack", "deeper than any config", "an aliased list as a key"],
)
def test_hostile_yaml_is_one_line_not_an_internal_error(
    imagen_process: Any, tmp_path: Path, text: str, expected: str
) -> None:
    assert expected in one_error(validate(imagen_process, tmp_path, text))


# --- empty names -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "path", "expected"),
    [
        ('backends:\n  "":\n    type: mock\n', "backends", "a name under backends is empty"),
        ("backends:\n  ~:\n    type: mock\n", "backends", "a name under backends is empty"),
        ('backends:\n  "  ":\n    type: mock\n', "backends", "a name under backends is empty"),
        ('sinks:\n  "":\n    type: webhook\n', "sinks", "a name under sinks is empty"),
        ('styles:\n  "":\n    prompt: "{prompt}"\n', "styles", "a name under styles is empty"),
        ('default_backend: ""\n', "default_backend", "expected the name of a backend instance"),
        ('default_backend: " "\n', "default_backend", "expected the name of a backend instance"),
    ],
)
def test_an_empty_name_is_refused(
    imagen_process: Any, tmp_path: Path, text: str, path: str, expected: str
) -> None:
    line = one_error(validate(imagen_process, tmp_path, text))
    assert f"imagen.yaml:1: {path}: {expected}" in line


# --- output.directory on disk ----------------------------------------------------------------


def test_an_output_directory_that_is_a_file_is_reported(
    imagen_process: Any, tmp_path: Path
) -> None:
    a_file = tmp_path / "pictures"
    a_file.write_text("not a folder", encoding="utf-8")
    line = one_error(validate(imagen_process, tmp_path, f"output:\n  directory: {a_file}\n"))
    assert (
        f"imagen.yaml:2: output.directory: {a_file} is a file, not a folder; point "
        "output.directory at a folder (or move that file away)"
    ) in line


def test_an_output_directory_under_a_file_is_reported(imagen_process: Any, tmp_path: Path) -> None:
    a_file = tmp_path / "pictures"
    a_file.write_text("not a folder", encoding="utf-8")
    line = one_error(
        validate(imagen_process, tmp_path, f"output:\n  directory: {a_file}/imagen/2026\n")
    )
    assert f"{a_file}/imagen/2026 cannot be created: {a_file} is a file" in line


def test_an_output_directory_that_does_not_exist_yet_is_fine(
    imagen_process: Any, tmp_path: Path
) -> None:
    ran = validate(imagen_process, tmp_path, f"output:\n  directory: {tmp_path}/new/folder\n")
    assert ran.code == 0, ran.err
    assert ran.out.startswith("ok: ")


def test_the_disk_is_only_checked_by_validate(tmp_path: Path) -> None:
    """Other commands load the config without looking at the folder (``log`` and ``usage``
    do not need it; a generation checks the folder itself before any paid work)."""
    a_file = tmp_path / "pictures"
    a_file.write_text("not a folder", encoding="utf-8")
    config = tmp_path / "imagen.yaml"
    config.write_text(f"output:\n  directory: {a_file}\n", encoding="utf-8")
    assert load_config(config).output.directory == str(a_file)


@pytest.mark.parametrize("seconds", ["0", "-5", "0.0"])
def test_a_sink_timeout_of_zero_or_less_is_refused_at_its_line(seconds: str) -> None:
    # It would fail every delivery at once, each then waiting in the outbox for `imagen sync`.
    config, problems = parse_config(f"output:\n  sink_timeout: {seconds}\n", file="imagen.yaml")
    assert config is None
    (error,) = problems.errors
    assert str(error).startswith("imagen.yaml:2: output.sink_timeout: expected seconds above 0")


def test_a_small_sink_timeout_is_kept() -> None:
    config, problems = parse_config("output:\n  sink_timeout: 0.5\n")
    assert config is not None
    assert not problems.errors
    assert config.output.sink_timeout == 0.5
