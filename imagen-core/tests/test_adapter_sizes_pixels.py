"""snap_to_rules keeps a size inside a provider's total pixel range, and says which rules fired."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen.adapters import SizeChoice, snap_to_rules, snap_to_table
from imagen.adapters.sizes import UnreadableRatio, nearest_ratio, parse_ratio
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


# --- parse_ratio: what counts as a W:H ratio -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("16:9", 16 / 9),
        ("9:16", 9 / 16),
        ("1:1", 1.0),
        ("2:1", 2.0),
        ("1:2", 0.5),
        ("1.5:1", 1.5),
        ("1e200:1e200", 1.0),  # huge sides, an ordinary ratio
    ],
)
def test_a_ratio_of_two_positive_numbers_is_their_quotient(text: str, expected: float) -> None:
    assert parse_ratio(text) == pytest.approx(expected)


@pytest.mark.parametrize(
    "text",
    ["", "16", "16:", ":9", "wide", "a:b", "1:2:3", "0:1", "-1:2", "1:0", "2:-1", "0:0",
     "inf:1", "1e308:1e-308", "nan:1"],
)  # fmt: skip
def test_anything_else_is_not_a_ratio(text: str) -> None:
    assert parse_ratio(text) is None


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_any_two_positive_whole_sides_read_back_as_their_ratio(left: int, right: int) -> None:
    assert parse_ratio(f"{left}:{right}") == pytest.approx(left / right)


# --- nearest_ratio: closest on a log scale ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "supported", "expected"),
    [
        (1.7, ["1:1", "4:3", "16:9"], "16:9"),
        (1.6, ["1:1", "4:3", "16:9"], "16:9"),
        (0.5, ["1:1", "3:4", "9:16"], "9:16"),
        (2.0, ["1:2", "2:1"], "2:1"),
        (0.5, ["2:1", "1:2"], "1:2"),
        # the geometric middle of 1:1 and 2:1 is 1.414, so 1.45 is nearer 2:1 (not on a line)
        (1.45, ["1:1", "2:1"], "2:1"),
        (1.40, ["1:1", "2:1"], "1:1"),
        # a key that is not W:H ("auto") counts as square
        (1.0, ["3:2", "auto"], "auto"),
        (2.0, ["auto", "3:2"], "3:2"),
    ],
)
def test_the_nearest_supported_ratio_is_chosen(
    value: float, supported: list[str], expected: str
) -> None:
    assert nearest_ratio(value, supported) == expected


KNOWN_RATIOS = ["1:1", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "9:16", "16:9", "21:9", "9:21"]


@given(
    st.floats(min_value=0.05, max_value=20.0),
    st.lists(st.sampled_from(KNOWN_RATIOS), min_size=1, unique=True),
)
def test_the_nearest_ratio_is_never_farther_than_any_other(
    value: float, supported: list[str]
) -> None:
    chosen = nearest_ratio(value, supported)
    assert chosen in supported

    def distance(name: str) -> float:
        ratio = parse_ratio(name)
        assert ratio is not None
        return abs(math.log(ratio / value))

    assert all(distance(chosen) <= distance(other) + 1e-12 for other in supported)


# --- snap_to_table: what a table provider is sent ---------------------------------------------

TABLE = {
    "1:1": (1024, 1024),
    "16:9": (1344, 768),
    "9:16": (768, 1344),
    "4:3": (1184, 864),
    "3:4": (864, 1184),
}


@pytest.mark.parametrize(
    ("request_", "expected", "metadata"),
    [
        (
            Request("p", aspect_ratio="16:9"),
            SizeChoice(1344, 768, "16:9", "16:9"),
            {"aspect_ratio": "16:9", "size": "1344x768"},
        ),
        (
            Request("p", aspect_ratio="16:10"),  # 1.6: nearer 16:9 than 4:3
            SizeChoice(1344, 768, "16:9", "16:10"),
            {"aspect_ratio": "16:9", "size": "1344x768", "requested_size": "16:10"},
        ),
        (
            Request("p", aspect_ratio="2:3"),
            SizeChoice(864, 1184, "3:4", "2:3"),
            {"aspect_ratio": "3:4", "size": "864x1184", "requested_size": "2:3"},
        ),
        (
            Request("p", width=1000, height=560),
            SizeChoice(1344, 768, "16:9", "1000x560"),
            {"aspect_ratio": "16:9", "size": "1344x768", "requested_size": "1000x560"},
        ),
        (
            Request("p", width=1344, height=768),  # exactly a table size: nothing changed
            SizeChoice(1344, 768, "16:9", "1344x768"),
            {"aspect_ratio": "16:9", "size": "1344x768"},
        ),
        (
            Request("p", width=700, height=1000),
            SizeChoice(864, 1184, "3:4", "700x1000"),
            {"aspect_ratio": "3:4", "size": "864x1184", "requested_size": "700x1000"},
        ),
        (
            Request("p", width=1, height=2),
            SizeChoice(768, 1344, "9:16", "1x2"),
            {"aspect_ratio": "9:16", "size": "768x1344", "requested_size": "1x2"},
        ),
        (
            Request("p", width=2, height=1),
            SizeChoice(1344, 768, "16:9", "2x1"),
            {"aspect_ratio": "16:9", "size": "1344x768", "requested_size": "2x1"},
        ),
        (  # an aspect ratio wins over width/height
            Request("p", width=1000, height=1000, aspect_ratio="9:16"),
            SizeChoice(768, 1344, "9:16", "9:16"),
            {"aspect_ratio": "9:16", "size": "768x1344"},
        ),
    ],
)
def test_a_request_gets_the_nearest_table_entry_and_its_pixels(
    request_: Request, expected: SizeChoice, metadata: dict[str, str]
) -> None:
    choice = snap_to_table(request_, TABLE)
    assert choice == expected
    assert choice.metadata() == metadata


@pytest.mark.parametrize(
    "request_",
    [
        Request("p"),
        Request("p", width=1000),
        Request("p", height=1000),
        Request("p", width=0, height=1000),
        Request("p", width=-5, height=5),
        Request("p", width=5, height=-5),
    ],
    ids=["nothing", "width-only", "height-only", "zero", "negative-width", "negative-height"],
)
def test_without_a_ratio_or_a_whole_size_the_provider_chooses(request_: Request) -> None:
    choice = snap_to_table(request_, TABLE)
    assert choice == SizeChoice()
    assert choice.metadata() == {}
    assert not choice.changed


def test_a_table_of_ratios_only_sends_the_ratio_and_no_pixels() -> None:
    keys = ("1:1", "16:9", "9:16")
    sized = snap_to_table(Request("p", width=1920, height=1080), keys)
    assert sized == SizeChoice(None, None, "16:9", "1920x1080")
    assert sized.changed  # the pixels are the provider's
    assert sized.metadata() == {"aspect_ratio": "16:9", "requested_size": "1920x1080"}
    ratio = snap_to_table(Request("p", aspect_ratio="3:2"), keys)
    assert ratio == SizeChoice(None, None, "16:9", "3:2")
    assert ratio.metadata() == {"aspect_ratio": "16:9", "requested_size": "3:2"}
    exact = snap_to_table(Request("p", aspect_ratio="9:16"), keys)
    assert exact.metadata() == {"aspect_ratio": "9:16"}


def test_an_asked_ratio_the_table_has_is_sent_as_written() -> None:
    # "auto" is not W:H and counts as square; a "1:1" request still gets the "1:1" key
    choice = snap_to_table(Request("p", aspect_ratio="1:1"), ("auto", "1:1", "16:9"))
    assert choice.ratio == "1:1"
    assert not choice.changed


def test_an_unreadable_ratio_names_the_table_choices() -> None:
    with pytest.raises(UnreadableRatio) as caught:
        snap_to_table(Request("p", aspect_ratio="wide"), {"1:1": (1, 1), "16:9": (16, 9)})
    assert "use one of 1:1, 16:9" in str(caught.value)


@given(
    st.one_of(
        st.builds(lambda w, h: Request("p", width=w, height=h), sides, sides),
        st.builds(lambda r: Request("p", aspect_ratio=r), st.sampled_from(KNOWN_RATIOS)),
    )
)
def test_a_table_choice_is_always_one_of_its_entries(request_: Request) -> None:
    choice = snap_to_table(request_, TABLE)
    assert choice.ratio in TABLE
    assert (choice.width, choice.height) == TABLE[choice.ratio]
    if request_.aspect_ratio in TABLE:
        assert choice.ratio == request_.aspect_ratio


# --- SizeChoice.metadata: what a take records ---------------------------------------------------


@pytest.mark.parametrize(
    ("choice", "metadata"),
    [
        (SizeChoice(), {}),
        (SizeChoice(1024, 1024, None, "1024x1024"), {"size": "1024x1024"}),
        (SizeChoice(1024, 1008, None, "1000x1000"),
         {"size": "1024x1008", "requested_size": "1000x1000"}),
        (SizeChoice(ratio="16:9"), {"aspect_ratio": "16:9"}),
        (SizeChoice(ratio="16:9", asked="16:9"), {"aspect_ratio": "16:9"}),
        (SizeChoice(width=1024), {}),  # half a size is no size
        (SizeChoice(height=1024), {}),
        (SizeChoice(1024, 1024), {"size": "1024x1024"}),
    ],
)  # fmt: skip
def test_a_take_records_what_was_sent_and_what_was_asked_only_when_it_differs(
    choice: SizeChoice, metadata: dict[str, str]
) -> None:
    assert choice.metadata() == metadata


# --- snap_to_rules: exact sizes for each rule ----------------------------------------------------


@pytest.mark.parametrize(
    ("request_", "options", "size"),
    [
        # an aspect ratio alone: one megapixel (1024 x 1024) of that shape by default
        (Request("p", aspect_ratio="1:1"), {}, (1024, 1024)),
        # 16:9 at 1 MP: height 768 (768 x 1365.3 = 1 MP), width 1365.3 -> nearest 16s is 1360
        (Request("p", aspect_ratio="16:9"), {}, (1360, 768)),
        (Request("p", aspect_ratio="9:16"), {}, (768, 1360)),
        # 16:9 at 2 MP: 1930.9 x 1086.1 -> 1936 x 1088
        (Request("p", aspect_ratio="16:9"), {"megapixels": 2.0}, (1936, 1088)),
        (Request("p", aspect_ratio="1:1"), {"megapixels": 0.25}, (512, 512)),
        # one side and a ratio give the other side
        (Request("p", width=1024, aspect_ratio="16:9"), {}, (1024, 576)),
        (Request("p", height=576, aspect_ratio="16:9"), {}, (1024, 576)),
        (Request("p", width=1024, aspect_ratio="9:16"), {}, (1024, 1824)),  # 1820.4 -> 1824
        (Request("p", height=1024, aspect_ratio="9:16"), {}, (576, 1024)),
        # one side alone: a square
        (Request("p", width=800), {}, (800, 800)),
        (Request("p", height=640), {}, (640, 640)),
    ],
)
def test_a_partial_request_is_completed_from_its_shape(
    request_: Request, options: dict[str, float], size: tuple[int, int]
) -> None:
    choice = snap_to_rules(request_, **options)  # type: ignore[arg-type]
    assert (choice.width, choice.height) == size
    assert choice.ratio is None
    assert choice.asked is None  # no whole size was asked, so nothing to report as changed
    assert choice.adjusted == ()
    assert not choice.changed
    assert choice.metadata() == {"size": f"{size[0]}x{size[1]}"}


def test_nothing_asked_keeps_the_providers_default() -> None:
    choice = snap_to_rules(Request("p"), min_pixels=MIN_PIXELS, max_ratio=3)
    assert choice == SizeChoice()
    assert choice.metadata() == {}


RULE_CASES = [
    # (width, height), rules, sent size, adjusted
    ((4096, 512), {"max_ratio": 4}, (4096, 1024), ("ratio at most 4:1",)),
    ((512, 4096), {"max_ratio": 4}, (1024, 4096), ("ratio at most 4:1",)),
    ((4096, 1024), {"max_ratio": 4}, (4096, 1024), ()),  # exactly 4:1 is allowed
    ((3000, 1000), {"max_ratio": 2.5}, (3008, 1200), ("ratio at most 2.5:1",
                                                      "sides multiples of 16")),
    ((4096, 4096), {"max_pixels": 2048 * 2048}, (2048, 2048), ("at most 4,194,304 pixels",)),
    ((2048, 2048), {"max_pixels": 2048 * 2048}, (2048, 2048), ()),  # exactly the maximum
    ((500, 500), {"min_pixels": 1024 * 1024}, (1024, 1024), ("at least 1,048,576 pixels",)),
    ((1024, 1024), {"min_pixels": 1024 * 1024}, (1024, 1024), ()),  # exactly the minimum
    ((4096, 2048), {"max_long_edge": 2048}, (2048, 1024), ("long edge at most 2048",)),
    ((2048, 1024), {"max_long_edge": 2048}, (2048, 1024), ()),  # exactly the long edge
    ((1024, 2048), {"max_long_edge": 2048}, (1024, 2048), ()),
    # a long edge that is not a multiple: the largest multiple under it, not the one above
    ((1000, 1000), {"max_long_edge": 1000, "multiple": 64}, (960, 960),
     ("sides multiples of 64",)),
    # scaled to about 1030 x 1018: the nearest 16s, 1024 x 1024, are exactly the minimum
    ((515, 509), {"min_pixels": 1024 * 1024}, (1024, 1024),
     ("at least 1,048,576 pixels", "sides multiples of 16")),
    # and exactly the maximum
    ((2060, 2036), {"max_pixels": 1024 * 1024}, (1024, 1024),
     ("at most 1,048,576 pixels", "sides multiples of 16")),
    # 1000 x 1000 rounds to 1008 x 1008, over a million: inwards to 992 x 992
    ((2000, 2000), {"max_pixels": 1_000_000}, (992, 992),
     ("at most 1,000,000 pixels", "sides multiples of 16")),
    ((1000, 700), {}, (1008, 704), ("sides multiples of 16",)),
    ((1024, 704), {}, (1024, 704), ()),
]  # fmt: skip


@pytest.mark.parametrize(("asked", "rules", "size", "adjusted"), RULE_CASES)
def test_a_whole_size_is_held_to_the_rules_and_the_rules_that_fired_are_named(
    asked: tuple[int, int],
    rules: dict[str, float],
    size: tuple[int, int],
    adjusted: tuple[str, ...],
) -> None:
    choice = snap_to_rules(Request("p", width=asked[0], height=asked[1]), **rules)  # type: ignore[arg-type]
    assert (choice.width, choice.height) == size
    assert choice.adjusted == adjusted
    assert choice.asked == f"{asked[0]}x{asked[1]}"
    assert choice.changed == (size != asked)
    recorded = {"size": f"{size[0]}x{size[1]}"}
    if size != asked:
        recorded["requested_size"] = f"{asked[0]}x{asked[1]}"
    assert choice.metadata() == recorded


@given(
    st.integers(1, 21),
    st.integers(1, 21),
    st.floats(min_value=0.25, max_value=4.0),
    st.sampled_from([8, 16, 64]),
)
def test_an_aspect_ratio_becomes_about_that_many_megapixels_on_multiples(
    left: int, right: int, megapixels: float, multiple: int
) -> None:
    choice = snap_to_rules(
        Request("p", aspect_ratio=f"{left}:{right}"), megapixels=megapixels, multiple=multiple
    )
    assert choice.width is not None
    assert choice.height is not None
    assert choice.width % multiple == 0
    assert choice.height % multiple == 0
    # each side is within half a multiple of the exact shape, where that is at least one multiple
    exact_height = math.sqrt(megapixels * 1024 * 1024 * right / left)
    exact_width = exact_height * left / right
    assert abs(choice.width - max(exact_width, multiple)) <= multiple / 2 + 1e-6
    assert abs(choice.height - max(exact_height, multiple)) <= multiple / 2 + 1e-6


@given(sides, sides, st.integers(min_value=100, max_value=5000), st.sampled_from([8, 16, 64]))
def test_no_side_is_ever_longer_than_the_long_edge(
    width: int, height: int, long_edge: int, multiple: int
) -> None:
    choice = snap_to_rules(
        Request("p", width=width, height=height), max_long_edge=long_edge, multiple=multiple
    )
    assert choice.width is not None
    assert choice.height is not None
    assert max(choice.width, choice.height) <= long_edge
    assert choice.width % multiple == 0
    assert choice.height % multiple == 0


@pytest.mark.parametrize("text", ["1:inf", "1e-200:1e200", "inf:1", "1e200:1e-200"])
def test_a_ratio_too_thin_to_be_a_number_is_unreadable_naming_the_backend(text: str) -> None:
    assert parse_ratio(text) is None
    with pytest.raises(UnreadableRatio, match=f"^b1: aspect ratio {text!r} is not W:H"):
        snap_to_table(Request("p", aspect_ratio=text), ["1:1", "16:9"], backend="b1")
    with pytest.raises(UnreadableRatio, match=f"^b1: aspect ratio {text!r} is not W:H"):
        snap_to_rules(Request("p", aspect_ratio=text), backend="b1")


@pytest.mark.parametrize(("width", "height"), [(0, 0), (-5, 0), (0, -3)])
def test_a_size_that_is_not_positive_is_no_size_under_any_rule(width: int, height: int) -> None:
    request = Request("p", width=width, height=height)
    assert snap_to_rules(request, min_pixels=655_360, max_ratio=4) == SizeChoice()
    assert snap_to_table(request, ["1:1"]) == SizeChoice()


def test_one_positive_side_beside_one_that_is_not_gives_a_square() -> None:
    choice = snap_to_rules(Request("p", width=512, height=0))
    assert (choice.width, choice.height) == (512, 512)


def test_the_smallest_size_is_a_size() -> None:
    choice = snap_to_rules(Request("p", width=1, height=1), multiple=16)
    assert (choice.width, choice.height, choice.asked) == (16, 16, "1x1")


@pytest.mark.parametrize(
    ("request_", "size"),
    [
        # 5:1 at 1 MP is 2289.7 x 458; clamped to 4:1 the short side grows to 572.4 -> 576
        (Request("p", aspect_ratio="5:1"), (2288, 576)),
        (Request("p", aspect_ratio="1:5"), (576, 2288)),
        (Request("p", width=2000, aspect_ratio="5:1"), (2000, 496)),  # 2000 / 4 = 500 -> 496
    ],
)
def test_a_ratio_clamped_to_the_rules_is_recorded_as_asked(
    request_: Request, size: tuple[int, int]
) -> None:
    choice = snap_to_rules(request_, max_ratio=4, megapixels=1.0)
    assert (choice.width, choice.height) == size
    assert choice.adjusted[0] == "ratio at most 4:1"
    assert choice.changed
    assert choice.metadata() == {
        "size": f"{size[0]}x{size[1]}",
        "requested_size": request_.aspect_ratio,
    }


def test_a_whole_size_clamped_to_the_rules_is_recorded_as_that_size() -> None:
    choice = snap_to_rules(Request("p", width=4096, height=512, aspect_ratio="8:1"), max_ratio=4)
    assert choice.metadata()["requested_size"] == "4096x512"
