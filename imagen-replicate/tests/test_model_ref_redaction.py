"""A token pasted into a model ref (``model: owner/name:r8_...``) is never printed back."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from imagen.testing import Ran, run_imagen
from imagen.testing.tokens import SHAPES, make_token, secret_part
from imagen_replicate.settings import ReplicateSettings


def imagen(config: Path, *args: str) -> Ran:
    env = {**os.environ, "REPLICATE_API_TOKEN": "r8_from_the_environment"}
    return run_imagen(*args, config=config, env=env)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rng=st.randoms(use_true_random=False))
def test_the_cli_never_prints_a_token_pasted_into_a_model_ref(
    tmp_path_factory: pytest.TempPathFactory, rng: random.Random
) -> None:
    """One instance per token shape, all in one file; every command that reads it."""
    tokens = {shape: make_token(shape, rng) for shape in SHAPES}
    blocks = [
        f"  r-{shape}:\n    type: replicate\n    model: {json.dumps('owner/name:' + token)}"
        for shape, token in tokens.items()
    ]
    config = tmp_path_factory.mktemp("cfg") / "imagen.yaml"
    config.write_text(
        "default_backend: r-replicate\nbackends:\n" + "\n".join(blocks) + "\n", encoding="utf-8"
    )
    for command in (["config", "validate"], ["backends"], ["generate", "a cat", "--dry-run"]):
        done = imagen(config, *command)
        assert done.code == 2, done.err
        assert "backends.r-replicate" in done.err
        for token in tokens.values():
            assert secret_part(token) not in done.out + done.err


def test_the_model_check_itself_does_not_quote_a_token() -> None:
    token = make_token("replicate", random.Random(1))
    with pytest.raises(ValueError, match=r"model 'owner/name:r8_\*\*\*' is not") as refused:
        ReplicateSettings(model=f"owner/name:{token}")
    assert secret_part(token) not in str(refused.value)


def test_an_ordinary_bad_model_ref_is_quoted_as_written() -> None:
    with pytest.raises(ValueError, match="model 'black-forest-labs flux' is not a Replicate"):
        ReplicateSettings(model="black-forest-labs flux")


@pytest.mark.parametrize(
    "version",
    ["5599ed30", "5599ED30" * 8, "5599ed30" * 8 + "0", "5599ed3g" * 8],
    ids=["short", "upper-case", "65 digits", "not hex"],
)
def test_a_version_that_is_not_64_hex_digits_is_refused(version: str) -> None:
    with pytest.raises(ValueError, match="64-digit version id"):
        ReplicateSettings(model=f"owner/name:{version}")


def test_a_64_hex_digit_version_pins_the_model() -> None:
    version = "5599ed30" * 8
    assert ReplicateSettings(model=f"owner/name:{version}").model == f"owner/name:{version}"
