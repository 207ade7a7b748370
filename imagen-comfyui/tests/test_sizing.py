"""Sizes for FLUX: sides snapped to multiples of 16; an aspect ratio alone is about 1 megapixel."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen.errors import InvalidRequest
from imagen.models import Request, Result
from imagen_comfyui.fake import FakeComfyUI
from imagen_comfyui.sizing import MEGAPIXEL, choose_size

sides = st.integers(min_value=1, max_value=16384)
Generate = Callable[..., Result]


@given(sides, sides)
def test_explicit_sizes_snap_to_the_nearest_multiple_of_16(width: int, height: int) -> None:
    choice = choose_size(width, height, None)
    assert choice.width is not None
    assert choice.height is not None
    for asked, got in ((width, choice.width), (height, choice.height)):
        assert got % 16 == 0
        assert 16 <= got <= 16384
        assert abs(got - asked) <= 8 or asked < 8
    assert choice.changed == ((choice.width, choice.height) != (width, height))


@given(st.integers(1, 21), st.integers(1, 21))
def test_an_aspect_ratio_alone_is_about_one_megapixel_at_that_ratio(w: int, h: int) -> None:
    choice = choose_size(None, None, f"{w}:{h}")
    assert choice.width is not None
    assert choice.height is not None
    assert choice.width % 16 == 0
    assert choice.height % 16 == 0
    area = choice.width * choice.height
    assert 0.9 * MEGAPIXEL <= area <= 1.1 * MEGAPIXEL
    # each side moves at most 8 px when snapped, which bounds how far the ratio can drift
    drift = abs((choice.width / choice.height) / (w / h) - 1)
    assert drift <= 2 * (8 / choice.width + 8 / choice.height)


@pytest.mark.parametrize(
    ("ratio", "size"), [("1:1", (1024, 1024)), ("16:9", (1360, 768)), ("2:3", (832, 1248))]
)
def test_common_aspect_ratios(ratio: str, size: tuple[int, int]) -> None:
    choice = choose_size(None, None, ratio)
    assert (choice.width, choice.height) == size


def test_one_side_and_a_ratio_give_the_other_side() -> None:
    choice = choose_size(1024, None, "4:3")
    assert (choice.width, choice.height, choice.changed) == (1024, 768, False)


def test_nothing_asked_keeps_the_workflows_size() -> None:
    choice = choose_size(None, None, None)
    assert (choice.width, choice.height, choice.changed) == (None, None, False)


def test_a_malformed_ratio_is_an_invalid_request() -> None:
    with pytest.raises(InvalidRequest, match="is not W:H, like 16:9"):
        choose_size(None, None, "wide")


def test_sides_snap_to_the_multiple_a_workflow_asks_for() -> None:
    choice = choose_size(1000, 600, None, multiple=64)
    assert (choice.width, choice.height, choice.changed) == (1024, 576, True)


def test_a_malformed_ratio_names_the_backend_instance_and_queues_nothing(
    fake: FakeComfyUI, generate: Generate
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        generate(Request("a cat", aspect_ratio="wide"))
    assert caught.value.backend == "local"
    assert str(caught.value).startswith("local: aspect ratio 'wide' is not W:H")
    assert fake.calls_to("prompt") == []
