"""Request -> prediction input: aspect-ratio reduction and precedence of values."""

from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from imagen.adapters import decode_data_uri
from imagen.models import Ref, Request
from imagen_replicate.inputs import (
    ASPECT_RATIOS,
    aspect_ratios_for,
    build_input,
)
from imagen_replicate.outputs import output_urls


def _log_ratio(text: str) -> float:
    width, height = (float(part) for part in text.split(":"))
    return math.log(width / height)


def nearest_aspect_ratio(width: int, height: int) -> str:
    prepared = build_input(Request("p", width=width, height=height), output_format="png",
                           defaults={})  # fmt: skip
    return str(prepared.input["aspect_ratio"])


@given(st.integers(1, 10_000), st.integers(1, 10_000))
def test_nearest_ratio_is_supported_and_no_other_is_closer(width: int, height: int) -> None:
    chosen = nearest_aspect_ratio(width, height)
    target = math.log(width / height)
    assert chosen in ASPECT_RATIOS
    assert all(
        abs(_log_ratio(chosen) - target) <= abs(_log_ratio(other) - target) + 1e-12
        for other in ASPECT_RATIOS
    )


@given(st.sampled_from(ASPECT_RATIOS), st.integers(1, 64))
def test_an_exact_supported_ratio_maps_to_itself(ratio: str, scale: int) -> None:
    width, height = (int(part) * scale for part in ratio.split(":"))
    assert nearest_aspect_ratio(width, height) == ratio


def test_an_unsupported_ratio_is_reduced_and_the_original_recorded() -> None:
    prepared = build_input(Request("p", aspect_ratio="2:1"), output_format="png", defaults={})
    assert prepared.input["aspect_ratio"] == "16:9"
    assert prepared.decisions == {"aspect_ratio": "16:9", "aspect_ratio_from": "2:1"}


def test_no_size_or_ratio_leaves_the_models_default() -> None:
    prepared = build_input(Request("p"), output_format="png", defaults={})
    assert "aspect_ratio" not in prepared.input
    assert prepared.decisions == {}


def test_an_aspect_ratio_option_wins_and_is_what_gets_recorded() -> None:
    request = Request("p", width=1920, height=1080, options={"aspect_ratio": "1:1"})
    prepared = build_input(request, output_format="png", defaults={})
    assert prepared.input["aspect_ratio"] == "1:1"
    assert prepared.decisions == {"aspect_ratio": "1:1"}


def test_an_aspect_ratio_option_alone_is_sent_and_recorded() -> None:
    prepared = build_input(
        Request("p", options={"aspect_ratio": "3:2"}), output_format="png", defaults={}
    )
    assert prepared.input["aspect_ratio"] == "3:2"
    assert prepared.decisions == {"aspect_ratio": "3:2"}


def test_an_unreadable_ratio_is_sent_as_written_for_replicate_to_explain() -> None:
    prepared = build_input(Request("p", aspect_ratio="wide"), output_format="png", defaults={})
    assert prepared.input["aspect_ratio"] == "wide"
    assert prepared.decisions == {"aspect_ratio": "wide"}


def test_a_width_without_a_height_leaves_the_models_default() -> None:
    for request in (Request("p", width=1024), Request("p", height=768)):
        prepared = build_input(request, output_format="png", defaults={})
        assert "aspect_ratio" not in prepared.input
        assert prepared.decisions == {}


def test_a_ratio_the_model_lacks_snaps_to_the_nearest_it_has() -> None:
    pro = aspect_ratios_for("Black-Forest-Labs/FLUX-1.1-pro")
    assert "21:9" not in pro
    assert aspect_ratios_for("black-forest-labs/flux-schnell") == ASPECT_RATIOS
    prepared = build_input(
        Request("p", width=2560, height=1080), output_format="png", defaults={}, ratios=pro
    )
    assert prepared.input["aspect_ratio"] == "16:9"
    assert prepared.decisions == {"aspect_ratio": "16:9", "aspect_ratio_from": "2560x1080"}


def test_what_is_not_sent_is_said_in_full() -> None:
    ref = Ref(path="cat.png", data=b"\x89PNG", media_type="image/png", sha256="0" * 64)
    prepared = build_input(
        Request("p", negative_prompt="dogs", refs=(ref,)), output_format="png", defaults={}
    )
    assert "negative_prompt" not in prepared.input
    assert prepared.warnings == (
        "negative prompt not sent: FLUX on Replicate has none "
        "(use --opt negative_prompt=... for a model that takes one)",
        "reference images not sent: pass an image URL with --opt image=... "
        "for a model that takes one",
    )


def test_request_fields_win_over_instance_defaults() -> None:
    prepared = build_input(
        Request("p", seed=3, steps=2),
        output_format="jpg",
        defaults={"seed": 1, "num_inference_steps": 4, "output_format": "webp", "go_fast": False},
    )
    assert prepared.input == {
        "prompt": "p",
        "seed": 3,
        "num_inference_steps": 2,
        "output_format": "jpg",
        "go_fast": False,
    }


def test_single_output_and_lists_both_read_as_urls() -> None:
    assert output_urls("https://x/out.png") == ["https://x/out.png"]
    assert output_urls(["https://x/0.png", "https://x/1.png"]) == [
        "https://x/0.png",
        "https://x/1.png",
    ]
    assert output_urls(None) == []


@given(st.binary(max_size=200))
def test_base64_data_urls_round_trip(data: bytes) -> None:
    import base64

    url = "data:image/png;base64," + base64.b64encode(data).decode()
    assert decode_data_uri(url) == (data, "image/png")
