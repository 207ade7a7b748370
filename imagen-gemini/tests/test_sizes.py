"""Mapping a requested size or ratio to one of Gemini's aspect ratios."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen.adapters import nearest_ratio, parse_ratio, snap_to_table
from imagen.models import Request
from imagen_gemini.sizes import ASPECT_RATIOS

ratios = st.floats(min_value=0.05, max_value=20.0, allow_nan=False)


@pytest.mark.parametrize("name", list(ASPECT_RATIOS))
def test_every_supported_ratio_maps_to_itself(name):
    value = parse_ratio(name)
    assert value is not None
    assert nearest_ratio(value, ASPECT_RATIOS) == name


@given(ratios, ratios)
def test_wider_requests_never_get_narrower_ratios(a, b):
    low, high = sorted((a, b))
    mapped_low = parse_ratio(nearest_ratio(low, ASPECT_RATIOS))
    mapped_high = parse_ratio(nearest_ratio(high, ASPECT_RATIOS))
    assert mapped_low is not None
    assert mapped_high is not None
    assert mapped_low <= mapped_high


@given(st.integers(1, 8000), st.integers(1, 8000))
def test_any_size_maps_to_a_supported_ratio_and_is_recorded(width, height):
    choice = snap_to_table(Request("p", width=width, height=height), ASPECT_RATIOS)
    assert choice.ratio in ASPECT_RATIOS
    assert choice.asked == f"{width}x{height}"


def test_unsupported_ratio_maps_to_the_nearest_one():
    choice = snap_to_table(Request("p", aspect_ratio="2:1"), ASPECT_RATIOS)
    assert choice.ratio == "16:9"
    assert choice.metadata() == {
        "aspect_ratio": "16:9", "size": "1344x768", "requested_size": "2:1"
    }  # fmt: skip


def test_supported_ratio_is_kept_as_is():
    assert snap_to_table(Request("p", aspect_ratio="21:9"), ASPECT_RATIOS).metadata() == {
        "aspect_ratio": "21:9", "size": "1536x672"
    }  # fmt: skip


@pytest.mark.parametrize("text", ["wide", "16x9", "0:9", "16:", ":9", "-1:2", "inf:1"])
def test_ratio_that_is_not_w_h_is_refused(text):
    with pytest.raises(ValueError, match="not W:H"):
        snap_to_table(Request("p", aspect_ratio=text), ASPECT_RATIOS)
