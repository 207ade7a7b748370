"""The cache: which earlier take a seeded repeat gets back, and what that hit says about itself.

The pipeline tests cover hit and miss; these cover the choices in between: a file touched but
not changed, several earlier copies of which some are gone, a sidecar that was deleted, and the
backend identity the history keys on.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import os
from decimal import Decimal
from pathlib import Path
from typing import Any

import attrs
import pytest

from imagen.config.load import parse_config
from imagen.config.model import Instance
from imagen.models import Generation, Request
from imagen.pipeline import execute, prepare
from imagen.store.cache import backend_identity
from imagen.store.history import History

MOCK = "backends:\n  m:\n    type: mock\n    width: 32\n    height: 32\n"


def config_for(text: str = MOCK) -> Any:
    config, problems = parse_config(text)
    assert not problems.errors, problems.errors
    return config


def generate(
    config: Any, folder: Path, *, count: int = 1, use_cache: bool = True, **request: Any
) -> list[Generation]:
    """Run one seeded request into ``folder``; every take must succeed."""
    plan = prepare(
        config,
        Request(prompt="a lighthouse at dusk", seed=7, count=count, **request),
        output_dir=folder,
        backend="m",
        use_cache=use_cache,
    )
    outcome = asyncio.run(execute(plan))
    assert not outcome.failures, outcome.failures
    return list(outcome.generations)


def images_in(folder: Path) -> list[str]:
    return sorted(str(p.relative_to(folder)) for p in folder.rglob("*.png"))


# --- what a hit is ------------------------------------------------------------------------


def test_a_hit_is_the_original_take_at_no_cost_and_says_where_it_came_from(
    tmp_path: Path,
) -> None:
    config = config_for(MOCK + "styles:\n  dusk:\n    prompt: '{prompt}, at dusk'\n")
    first = generate(config, tmp_path, count=2, style="dusk")
    again = generate(config, tmp_path, count=2, style="dusk")

    originals = {entry.path: entry.id for entry in History.shared(config.history.path).query()}
    free = ("0", "cache hit: no new spend")
    for hit, original in zip(again, first, strict=True):
        assert hit.cache_hit
        assert (hit.path, hit.output_dir, hit.sidecar_path) == (
            original.path,
            original.output_dir,
            original.sidecar_path,
        )
        assert (hit.take, hit.takes, hit.seed, hit.style) == (
            original.take,
            original.takes,
            original.seed,
            "dusk",
        )
        assert hit.latency == 0
        assert hit.cost_estimate is not None
        assert hit.cost_actual is not None
        assert (str(hit.cost_estimate.amount), hit.cost_estimate.basis) == free
        assert (str(hit.cost_actual.amount), hit.cost_actual.basis) == free
        assert hit.metadata["cached_from"] == originals[original.path]
        assert {k: v for k, v in hit.metadata.items() if k != "cached_from"} == original.metadata
    assert [hit.take for hit in again] == [1, 2]


def test_a_file_touched_but_not_changed_is_still_served(tmp_path: Path) -> None:
    config = config_for()
    (first,) = generate(config, tmp_path)
    image = tmp_path / first.path
    stat = image.stat()
    os.utime(image, ns=(stat.st_atime_ns, stat.st_mtime_ns + 5_000_000_000))
    (again,) = generate(config, tmp_path)
    assert again.cache_hit
    assert again.path == first.path


# --- which earlier take ---------------------------------------------------------------------


def test_the_copy_in_the_asked_folder_wins_over_a_newer_one_elsewhere(tmp_path: Path) -> None:
    config = config_for()
    here, elsewhere = tmp_path / "here", tmp_path / "elsewhere"
    (first,) = generate(config, here)
    generate(config, elsewhere, use_cache=False)  # newer, same request
    (again,) = generate(config, here)
    assert again.cache_hit
    assert (again.output_dir, again.path) == (str(here), first.path)
    assert "copied_from" not in again.metadata
    assert images_in(here) == [first.path]


def test_a_hit_copied_into_a_folder_is_reused_there_not_copied_again(tmp_path: Path) -> None:
    config = config_for()
    source, target = tmp_path / "source", tmp_path / "target"
    generate(config, source)
    (copied,) = generate(config, target)
    assert "copied_from" in copied.metadata
    (again,) = generate(config, target)
    assert (again.output_dir, again.path) == (str(target), copied.path)
    assert images_in(target) == [copied.path]


@pytest.mark.parametrize("damage", ["delete", "change"])
def test_an_older_copy_is_served_when_the_newest_is_gone_or_changed(
    tmp_path: Path, damage: str
) -> None:
    config = config_for()
    older, newer, asked = tmp_path / "older", tmp_path / "newer", tmp_path / "asked"
    (kept,) = generate(config, older)
    (damaged,) = generate(config, newer, use_cache=False)
    image = newer / damaged.path
    if damage == "delete":
        image.unlink()
    else:
        image.write_bytes(image.read_bytes() + b"edited")
    (hit,) = generate(config, asked)
    assert hit.cache_hit
    assert hit.metadata["copied_from"] == str(older / kept.path)


# --- the sidecar ------------------------------------------------------------------------------


def test_a_hit_whose_sidecar_was_deleted_has_none(tmp_path: Path) -> None:
    config = config_for()
    (first,) = generate(config, tmp_path)
    assert first.sidecar_path is not None
    (tmp_path / first.sidecar_path).unlink()
    (again,) = generate(config, tmp_path)
    assert again.cache_hit
    assert again.sidecar_path is None


def test_a_hit_from_another_folder_whose_sidecar_was_deleted_is_copied_alone(
    tmp_path: Path,
) -> None:
    config = config_for()
    source, target = tmp_path / "source", tmp_path / "target"
    (first,) = generate(config, source)
    assert first.sidecar_path is not None
    (source / first.sidecar_path).unlink()
    (copied,) = generate(config, target)
    assert copied.cache_hit
    assert copied.sidecar_path is None
    assert sorted(p.name for p in target.rglob("*") if p.is_file()) == [Path(first.path).name]


def test_a_sidecar_in_a_folder_whose_name_has_spaces_is_found(tmp_path: Path) -> None:
    config = config_for(MOCK + "output:\n  naming: 'my images/{slug} {seed}'\n")
    (first,) = generate(config, tmp_path)
    assert first.sidecar_path == "my images/a-lighthouse-at-dusk 7.json"
    (again,) = generate(config, tmp_path)
    assert again.sidecar_path == first.sidecar_path


# --- the backend identity -------------------------------------------------------------------


@attrs.frozen
class AcmeSettings:
    model: str = "m1"
    token_env: str = "ACME_TOKEN"
    timeout: float = 30.0
    transport: str = attrs.field(default="http2", metadata={"imagen_identity": False})
    quality: str = attrs.field(default="high", metadata={"imagen_identity": True})
    price: Decimal = Decimal("0.01")
    defaults: dict[str, object] = attrs.field(factory=dict)
    # A type the config converter passes through as it is (not JSON): hashed as its text.
    window: dt.timedelta = dt.timedelta(seconds=30)


def acme(**settings: Any) -> str:
    return backend_identity(Instance("a", "acme", AcmeSettings(**settings)))


def test_the_identity_is_stable_across_versions() -> None:
    # Identities are stored in every user's history: a change here makes each cached take a
    # miss after an upgrade, so it must be deliberate.
    assert acme() == "acme:52544896a6b9fe30"


def test_settings_that_change_the_output_change_the_identity() -> None:
    assert acme(model="m2") != acme()
    assert acme(quality="low") != acme()
    assert acme(price=Decimal("0.02")) != acme()
    assert acme(defaults={"steps": 4}) != acme()
    assert acme(window=dt.timedelta(seconds=60)) != acme()


def test_settings_that_only_change_how_we_talk_to_the_provider_do_not() -> None:
    assert acme(token_env="OTHER_TOKEN") == acme()
    assert acme(timeout=5.0) == acme()
    assert acme(transport="http1") == acme()


def test_the_order_of_keys_in_a_mapping_setting_does_not_change_the_identity() -> None:
    assert acme(defaults={"steps": 4, "guidance": 3}) == acme(defaults={"guidance": 3, "steps": 4})


def test_a_backend_without_a_settings_class_is_identified_by_its_type() -> None:
    assert backend_identity(Instance("a", "plain", None)) == backend_identity(
        Instance("b", "plain", None)
    )
    assert backend_identity(Instance("a", "plain", None)) != backend_identity(
        Instance("a", "other", None)
    )
