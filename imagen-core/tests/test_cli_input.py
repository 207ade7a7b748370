"""Bad command-line input: one ``imagen: error:`` line, exit 2, nothing spent or written.

Every test runs ``python -m imagen`` as its own process: what a user's shell sees.
"""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen.config.load import parse_config
from imagen.errors import ConfigError
from imagen.models import Request
from imagen.pipeline import prepare
from imagen.seeds import SEED_RANGE
from imagen.sizes import MAX_ASPECT, MAX_SIDE, size_for_aspect


def one_error_line(ran: Any) -> str:
    """The only stderr line, checked to be an ``imagen: error:`` line; exit 2, nothing on stdout."""
    assert ran.code == 2, ran.err
    assert ran.out == ""
    lines = ran.err.splitlines()
    assert len(lines) == 1, ran.err
    assert lines[0].startswith("imagen: error: ")
    return lines[0]


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["generate", "x", "--sise", "5"],
            "imagen: error: no such option '--sise' (did you mean one of: '--seed', '--size', "
            "'--style'?) (see: imagen generate --help)",
        ),
        (["generate"], "imagen: error: missing argument 'PROMPT' (see: imagen generate --help)"),
        (
            ["generate", "x", "--steps", "abc"],
            "imagen: error: invalid value for '--steps': 'abc' is not a valid integer range "
            "(see: imagen generate --help)",
        ),
        (["nosuch"], "imagen: error: no such command 'nosuch' (see: imagen --help)"),
        (
            ["generate", "x", "y"],
            "imagen: error: got unexpected extra argument (y) (see: imagen generate --help)",
        ),
        (["config", "set", "output.naming"], "imagen: error: missing argument 'VALUE'"),
        (["log", "-n", "many"], "imagen: error: invalid value for '-n'"),
        (["generate", "x", "-b"], "imagen: error: option '-b' requires an argument"),
        (["generate", "x", "--size", "big"], "imagen: error: invalid size 'big'"),
        (["generate", "  "], "imagen: error: the prompt is empty; say what to draw"),
    ],
)
def test_every_usage_error_is_one_line_and_exit_2(
    imagen_process: Any, args: list[str], expected: str
) -> None:
    assert one_error_line(imagen_process(*args)).startswith(expected)


@pytest.mark.parametrize("amount", ["nan", "NaN", "inf", "-inf", "-1", "-0.01", "cheap", ""])
def test_max_cost_takes_only_a_finite_amount_of_dollars(
    imagen_process: Any, tmp_path: Path, amount: str
) -> None:
    ran = imagen_process("generate", "x", "--max-cost", amount, "-o", str(tmp_path / "o"))
    line = one_error_line(ran)
    assert "'--max-cost'" in line
    assert "give one like 0.50" in line
    assert not (tmp_path / "o").exists()


def test_max_cost_in_dollars_still_refuses_an_expensive_run(
    imagen_process: Any, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("backends:\n  paid:\n    type: mock\n    cost_per_image: 0.05\n")
    ran = imagen_process(
        "--config", str(config), "generate", "x", "-b", "paid", "-n", "2",
        "--max-cost", "$0.06", "-o", str(tmp_path / "o"),
    )  # fmt: skip
    assert one_error_line(ran) == (
        "imagen: error: estimated $0.10 for 2 takes on paid is over --max-cost $0.06; "
        "lower -n or raise --max-cost"
    )


@pytest.mark.parametrize(
    ("option", "what"),
    [
        ("-o", "the output directory is empty"),
        ("-b", "the backend name is empty"),
        ("-s", "the style name is empty"),
        ("--size", "the size is empty"),
        ("--aspect", "the aspect ratio is empty"),
        ("--caller", "the caller is empty"),
    ],
)
def test_an_empty_option_value_is_refused_not_taken_as_the_default(
    imagen_process: Any, tmp_path: Path, option: str, what: str
) -> None:
    ran = imagen_process("generate", "x", option, "", "--dry-run")
    assert what in one_error_line(ran)


def test_an_empty_config_path_is_refused_not_read_as_the_current_folder(
    imagen_process: Any,
) -> None:
    ran = imagen_process("--config", "", "generate", "x", "--dry-run")
    assert "the config file path is empty" in one_error_line(ran)


def test_an_empty_output_directory_writes_nothing_to_the_default_folder(
    imagen_process: Any, isolated_environment: Path
) -> None:
    ran = imagen_process("generate", "x", "-o", "")
    one_error_line(ran)
    assert not (isolated_environment / "Pictures").exists()


@pytest.mark.parametrize("ratio", ["999:1", "1:999", "257:1"])
def test_an_aspect_ratio_beyond_the_size_limit_is_refused(
    imagen_process: Any, tmp_path: Path, ratio: str
) -> None:
    ran = imagen_process("generate", "x", "--aspect", ratio, "-o", str(tmp_path / "o"))
    assert one_error_line(ran) == (
        f"imagen: error: aspect ratio {ratio} is too elongated; one side may be at most 256 "
        "times the other (images are at most 16384 pixels a side)"
    )
    assert not (tmp_path / "o").exists()


def test_the_most_elongated_aspect_ratio_stays_within_the_size_limit(
    imagen_process: Any, tmp_path: Path
) -> None:
    ran = imagen_process("generate", "x", "--aspect", "256:1", "-o", str(tmp_path))
    assert ran.code == 0, ran.err
    sidecar = json.loads(Path(ran.out.strip()).with_suffix(".json").read_text())
    assert (sidecar["width"], sidecar["height"]) == (16384, 64)


def test_a_style_with_an_aspect_ratio_beyond_the_limit_fails_validation(
    imagen_process: Any, tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("styles:\n  banner:\n    aspect_ratio: '999:1'\n")
    ran = imagen_process("--config", str(config), "config", "validate")
    assert ran.code == 2
    assert "styles.banner.aspect_ratio: aspect ratio 999:1 is too elongated" in ran.err


@given(
    w=st.integers(1, MAX_ASPECT),
    h=st.integers(1, MAX_ASPECT),
    megapixels=st.floats(0.01, 64),
    multiple=st.sampled_from([8, 16, 64]),
)
def test_a_size_for_any_accepted_ratio_is_within_the_limit(
    w: int, h: int, megapixels: float, multiple: int
) -> None:
    width, height = size_for_aspect(f"{w}:{h}", megapixels=megapixels, multiple=multiple)
    assert multiple <= width <= MAX_SIDE
    assert multiple <= height <= MAX_SIDE
    assert width % multiple == height % multiple == 0


def test_a_missing_imagen_config_is_one_error_without_the_built_in_hint(
    imagen_process: Any, tmp_path: Path
) -> None:
    missing = tmp_path / "nope.yaml"
    ran = imagen_process("generate", "x", "--dry-run", env={"IMAGEN_CONFIG": str(missing)})
    assert one_error_line(ran) == (
        f"imagen: error: config file {missing} does not exist; create it with: imagen config init"
    )


def test_a_bad_option_is_reported_before_the_no_config_hint(imagen_process: Any) -> None:
    one_error_line(imagen_process("generate", "x", "--aspect", "wide"))


# --- seeds: every take's seed inside the range the backends and the history take ---


def test_a_seed_whose_takes_pass_the_range_is_refused_before_any_file(
    imagen_process: Any, tmp_path: Path, isolated_environment: Path
) -> None:
    ran = imagen_process(
        "generate", "x", "--seed", str(2**63 - 2), "-n", "4", "-o", str(tmp_path / "o")
    )
    assert "'--seed'" in one_error_line(ran)
    assert not (tmp_path / "o").exists()
    ran = imagen_process(
        "generate", "x", "--seed", str(SEED_RANGE - 2), "-n", "4", "-o", str(tmp_path / "o")
    )
    assert one_error_line(ran) == (
        f"imagen: error: seed {SEED_RANGE - 2} is out of range with 4 takes; seeds run from 0 "
        f"to {SEED_RANGE - 1}, so the first seed with 4 takes can be at most {SEED_RANGE - 4}"
    )
    assert not (tmp_path / "o").exists()


def test_dry_run_enforces_the_same_seed_bound(imagen_process: Any) -> None:
    ran = imagen_process("generate", "x", "--seed", str(SEED_RANGE - 1), "-n", "2", "--dry-run")
    assert "is out of range with 2 takes" in one_error_line(ran)


def test_the_last_seeds_of_the_range_are_generated_and_recorded(
    imagen_process: Any, tmp_path: Path, isolated_environment: Path
) -> None:
    first = SEED_RANGE - 3
    ran = imagen_process("generate", "x", "--seed", str(first), "-n", "3", "-o", str(tmp_path))
    assert ran.code == 0, ran.err
    assert len(ran.out.splitlines()) == 3
    history = next(isolated_environment.rglob("history.sqlite3"))
    with sqlite3.connect(history) as db:
        seeds = sorted(row[0] for row in db.execute("SELECT seed FROM generations"))
    assert seeds == [first, first + 1, first + 2]


@pytest.mark.parametrize(
    ("seed", "count"), [(-1, 1), (SEED_RANGE, 1), (SEED_RANGE - 1, 2), (2**63, 4), (True, 1)]
)
def test_prepare_refuses_a_seed_outside_the_range(seed: Any, count: int, tmp_path: Path) -> None:
    config, _ = parse_config("")
    assert config is not None
    with pytest.raises(ConfigError, match="seed"):
        prepare(config, Request(prompt="x", seed=seed, count=count), output_dir=tmp_path)


# --- imagen config set: the setting's declared type decides how VALUE is read ---


def config_set(imagen_process: Any, config: Path, key: str, value: str) -> Any:
    return imagen_process("--config", str(config), "config", "set", key, value)


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("output.naming", "{date}"),
        ("output.naming", "{date}/{slug}-{seed}"),
        ("output.directory", "2024"),
        ("output.directory", "[draft]"),
        ("styles.poster.prompt", "{prompt}, poster: bold"),
        ("styles.poster.aspect_ratio", "3:2"),
        ("history.path", "~/h.sqlite"),
    ],
)
def test_a_text_setting_takes_the_value_exactly_as_typed(
    imagen_process: Any, tmp_path: Path, key: str, value: str
) -> None:
    config = tmp_path / "imagen.yaml"
    ran = config_set(imagen_process, config, key, value)
    assert ran.code == 0, ran.err
    loaded, problems = parse_config(config.read_text())
    assert loaded is not None, problems.items
    section, *rest = key.split(".")
    found: Any = getattr(loaded, section)
    for part in rest:
        found = found[part] if isinstance(found, dict) else getattr(found, part)
    assert found == value


def test_other_settings_are_still_read_as_numbers_and_booleans(
    imagen_process: Any, tmp_path: Path
) -> None:
    config = tmp_path / "imagen.yaml"
    for key, value in [
        ("output.embed_metadata", "false"),
        ("server.port", "9000"),
        ("output.sink_timeout", "2.5"),
        ("backends.fast.type", "mock"),
        ("backends.fast.concurrency", "2"),
        ("backends.fast.width", "64"),
        ("backends.fast.model", "{m: 1}"),
    ]:
        ran = config_set(imagen_process, config, key, value)
        assert ran.code == 0, ran.err
    loaded, problems = parse_config(config.read_text())
    assert loaded is not None, problems.items
    assert loaded.output.embed_metadata is False
    assert loaded.server.port == 9000
    assert loaded.output.sink_timeout == 2.5
    assert loaded.backends["fast"].concurrency == 2
    assert loaded.backends["fast"].settings.width == 64
    assert loaded.backends["fast"].settings.model == "{m: 1}"
