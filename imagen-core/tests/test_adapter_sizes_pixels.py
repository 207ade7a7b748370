"""snap_to_rules keeps a size inside a provider's total pixel range, and says which rules fired."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen.adapters import SizeChoice, snap_to_rules, snap_to_table
from imagen.errors import InvalidRequest
from imagen.models import Request

MIN_PIXELS, MAX_PIXELS = 655_360, 8_294_400  # a GPT Image 2 style range
sides = st.integers(min_value=1, max_value=16384)


def test_a_size_below_the_minimum_grows_to_it_keeping_its_shape() -> None:
    choice = snap_to_rules(Request("p", width=512, height=512), min_pixels=MIN_PIXELS)
    assert choice.width == choice.height
    assert choice.width is not None
    assert choice.height is not None
    assert choice.width * choice.height >= MIN_PIXELS
    assert (choice.width - 16) ** 2 < MIN_PIXELS  # the smallest square of 16s that is enough
    assert choice.changed
    assert choice.metadata()["requested_size"] == "512x512"


def test_a_size_above_the_maximum_shrinks_to_it_keeping_its_shape() -> None:
    choice = snap_to_rules(Request("p", width=4000, height=3000), max_pixels=MAX_PIXELS)
    assert choice.width is not None
    assert choice.height is not None
    assert choice.width * choice.height <= MAX_PIXELS
    assert abs(choice.width / choice.height - 4 / 3) < 0.02
    assert choice.changed


def test_a_size_inside_the_range_is_left_alone() -> None:
    choice = snap_to_rules(
        Request("p", width=1024, height=1024), min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS
    )
    assert (choice.width, choice.height) == (1024, 1024)
    assert not choice.changed
    assert choice.adjusted == ()


def test_the_pixel_rule_that_fired_is_recorded_with_the_others() -> None:
    grown = snap_to_rules(Request("p", width=500, height=500), min_pixels=MIN_PIXELS)
    shrunk = snap_to_rules(
        Request("p", width=9000, height=1000), max_pixels=MAX_PIXELS, max_ratio=3
    )
    assert grown.adjusted == ("at least 655,360 pixels", "sides multiples of 16")
    assert shrunk.adjusted[:2] == ("ratio at most 3:1", "at most 8,294,400 pixels")


def test_an_aspect_ratio_alone_is_held_inside_the_range_too() -> None:
    choice = snap_to_rules(Request("p", aspect_ratio="16:9"), megapixels=0.25,
                           min_pixels=MIN_PIXELS)  # fmt: skip
    assert choice.width is not None
    assert choice.height is not None
    assert choice.width * choice.height >= MIN_PIXELS
    assert choice.adjusted == ("at least 655,360 pixels",)


def test_the_long_edge_wins_when_the_rules_cannot_all_hold() -> None:
    choice = snap_to_rules(
        Request("p", width=16000, height=16), max_long_edge=3840, min_pixels=MIN_PIXELS
    )
    assert choice.width == 3840
    assert "long edge at most 3840" in choice.adjusted


@given(sides, sides)
def test_every_size_lands_inside_the_range_on_multiples(width: int, height: int) -> None:
    choice = snap_to_rules(
        Request("p", width=width, height=height),
        multiple=16,
        max_ratio=3,
        max_long_edge=3840,
        min_pixels=MIN_PIXELS,
        max_pixels=MAX_PIXELS,
    )
    assert choice.width is not None
    assert choice.height is not None
    assert choice.width % 16 == 0
    assert choice.height % 16 == 0
    assert MIN_PIXELS <= choice.width * choice.height <= MAX_PIXELS
    assert max(choice.width, choice.height) <= 3840
    assert max(choice.width, choice.height) <= 3 * min(choice.width, choice.height) + 16


@pytest.mark.parametrize(
    "snap",
    [
        lambda request: snap_to_table(request, ["1:1", "16:9"], backend="b1"),
        lambda request: snap_to_rules(request, backend="b1"),
    ],
    ids=["table", "rules"],
)
def test_an_unreadable_ratio_is_an_invalid_request_naming_the_backend_and_a_value_error(
    snap: Callable[[Request], SizeChoice],
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        snap(Request("p", aspect_ratio="wide"))
    assert caught.value.backend == "b1"
    assert caught.value.fields == {"aspect_ratio": caught.value.message}
    assert "'wide' is not W:H" in str(caught.value)
    assert isinstance(caught.value, ValueError)  # adapters that pass the text on catch this
