"""The seed range at its edges: the first and last seeds a take may use, and the refusal past them.

Run in this process (the ``imagen`` fixture) so mutation testing sees these tests reach
``imagen.seeds``; ``test_cli_input.py`` checks the same bounds through a real ``python -m imagen``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from imagen.config.load import parse_config
from imagen.errors import ConfigError
from imagen.models import Request
from imagen.pipeline import prepare
from imagen.seeds import SEED_RANGE


def recorded_seeds(ran: Any) -> list[int]:
    assert ran.code == 0, ran.err
    return sorted(json.loads(Path(p).with_suffix(".json").read_text())["seed"] for p in ran.lines)


def test_seed_zero_is_generated_and_recorded(imagen: Any, tmp_path: Path) -> None:
    ran = imagen("generate", "x", "--seed", "0", "-n", "2", "-o", str(tmp_path))
    assert recorded_seeds(ran) == [0, 1]


def test_the_last_seed_of_the_range_is_generated_for_one_take(imagen: Any, tmp_path: Path) -> None:
    ran = imagen("generate", "x", "--seed", str(SEED_RANGE - 1), "-o", str(tmp_path))
    assert recorded_seeds(ran) == [SEED_RANGE - 1]


def test_takes_may_end_on_the_last_seed_of_the_range(imagen: Any, tmp_path: Path) -> None:
    ran = imagen("generate", "x", "--seed", str(SEED_RANGE - 3), "-n", "3", "-o", str(tmp_path))
    assert recorded_seeds(ran) == [SEED_RANGE - 3, SEED_RANGE - 2, SEED_RANGE - 1]


def test_takes_past_the_range_are_refused_with_the_highest_first_seed(
    imagen: Any, tmp_path: Path
) -> None:
    ran = imagen("generate", "x", "--seed", str(SEED_RANGE - 1), "-n", "2", "-o", str(tmp_path))
    assert ran.code == 2
    assert ran.out == ""
    assert ran.err.strip() == (
        f"imagen: error: seed {SEED_RANGE - 1} is out of range with 2 takes; seeds run from 0 "
        f"to {SEED_RANGE - 1}, so the first seed with 2 takes can be at most {SEED_RANGE - 2}"
    )
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize("seed", [-1, SEED_RANGE])
def test_a_library_caller_outside_the_range_with_one_take_is_told_the_bounds(
    seed: int, tmp_path: Path
) -> None:
    # The CLI's --seed option bounds a single take itself; the server and library callers
    # reach this message.
    config, _ = parse_config("")
    assert config is not None
    with pytest.raises(ConfigError) as refused:
        prepare(config, Request(prompt="x", seed=seed), output_dir=tmp_path)
    assert str(refused.value) == (
        f"seed {seed} is out of range; seeds run from 0 to {SEED_RANGE - 1}, "
        f"so the first seed can be at most {SEED_RANGE - 1}"
    )
