"""--size and --aspect as a user types them, and the size an aspect ratio becomes."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen.errors import ConfigError
from imagen.sizes import MAX_SIDE, nearest_aspect, parse_aspect, parse_size, size_for_aspect


@pytest.mark.parametrize(
    ("text", "size"),
    [
        ("1024x768", (1024, 768)),
        (" 640 × 480 ", (640, 480)),
        ("32X48", (32, 48)),
        ("1x1", (1, 1)),
        ("16384x16384", (16384, 16384)),
    ],
)
def test_a_size_is_width_by_height(text: str, size: tuple[int, int]) -> None:
    assert parse_size(text) == size


@pytest.mark.parametrize("text", ["1024", "1024x", "x768", "1024*768", "-5x5", "1.5x2"])
def test_a_size_that_is_not_width_by_height_says_the_form(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_size(text)
    assert str(raised.value) == f"invalid size {text!r}; expected WIDTHxHEIGHT, like 1024x768"


@pytest.mark.parametrize("text", ["0x5", "5x0", "16385x1", "1x16385", "99999x99999"])
def test_a_side_out_of_range_says_the_range(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_size(text)
    assert str(raised.value) == f"invalid size {text!r}; each side must be between 1 and 16384"


@pytest.mark.parametrize(
    ("text", "ratio"),
    [("16:9", (16, 9)), (" 3 : 2 ", (3, 2)), ("256:1", (256, 1)), ("1:256", (1, 256))],
)
def test_an_aspect_ratio_is_w_to_h(text: str, ratio: tuple[int, int]) -> None:
    assert parse_aspect(text) == ratio


@pytest.mark.parametrize("text", ["16x9", "16:", ":9", "0:1", "1:0", "0:0", "1.5:1", "1000:1"])
def test_an_aspect_ratio_that_is_not_w_to_h_says_the_form(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_aspect(text)
    assert str(raised.value) == f"invalid aspect ratio {text!r}; expected W:H, like 16:9"


@pytest.mark.parametrize("text", ["257:1", "1:257", " 300:1"])
def test_a_ratio_no_image_within_the_side_limit_has_is_refused(text: str) -> None:
    with pytest.raises(ConfigError) as raised:
        parse_aspect(text)
    assert str(raised.value) == (
        f"aspect ratio {text.strip()} is too elongated; one side may be at most 256 times the "
        "other (images are at most 16384 pixels a side)"
    )


@pytest.mark.parametrize(
    ("aspect", "options", "size"),
    [
        ("1:1", {}, (1024, 1024)),
        ("16:9", {}, (1344, 768)),  # about a megapixel, sides multiples of 64
        ("16:9", {"multiple": 16}, (1360, 768)),
        ("1:1", {"megapixels": 100, "multiple": 1}, (10240, 10240)),  # 100 x 1024 x 1024 pixels
        ("1:1", {"megapixels": 0.25}, (512, 512)),
        ("256:1", {}, (16384, 64)),
        # four megapixels at 256:1 would be 32768 wide: shrunk to the side limit, same ratio
        ("256:1", {"megapixels": 4}, (16384, 64)),
        ("1:256", {"megapixels": 4}, (64, 16384)),
    ],
)
def test_an_aspect_ratio_becomes_a_size_of_about_that_many_megapixels(
    aspect: str, options: dict[str, float], size: tuple[int, int]
) -> None:
    assert size_for_aspect(aspect, **options) == size  # type: ignore[arg-type]


@given(
    st.integers(1, 256),
    st.integers(1, 256),
    st.floats(0.01, 64),
    st.integers(1, 4096),
)
def test_a_size_for_any_aspect_has_sides_on_multiples_within_the_limit(
    w: int, h: int, megapixels: float, multiple: int
) -> None:
    if max(w, h) > 256 * min(w, h):
        return
    for side in size_for_aspect(f"{w}:{h}", megapixels=megapixels, multiple=multiple):
        assert multiple <= side <= MAX_SIDE
        assert side % multiple == 0


def test_a_size_whose_multiple_rounds_past_the_limit_keeps_within_it() -> None:
    # 16384 is 1.6 multiples of 10000: the nearest multiple (20000) is past the side limit.
    assert size_for_aspect("256:1", megapixels=4, multiple=10000) == (10000, 10000)


@pytest.mark.parametrize(
    ("width", "height", "nearest"),
    [
        (1920, 1080, "16:9"),
        (1080, 1920, "9:16"),
        (1000, 1000, "1:1"),
    ],
)
def test_the_nearest_supported_aspect_is_found(width: int, height: int, nearest: str) -> None:
    assert nearest_aspect(width, height, ["1:1", "2:1", "16:9", "9:16"]) == nearest


def test_nearness_is_on_a_log_scale_where_2_1_and_1_2_are_alike() -> None:
    # 1.45 is nearer 1 than 2 on a line, but nearer 2 on a log scale (log 1.45 > log 2 / 2)
    assert nearest_aspect(145, 100, ["1:1", "2:1"]) == "2:1"
    assert nearest_aspect(140, 100, ["1:1", "2:1"]) == "1:1"
    assert nearest_aspect(100, 145, ["1:1", "1:2"]) == "1:2"
