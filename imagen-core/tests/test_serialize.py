"""A Generation survives JSON (the outbox, webhook bodies) unchanged, except reference bytes."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import PurePosixPath
from typing import Any

import attrs
import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen.models import Cost, Generation, Ref, Request
from imagen.sinks import serialize
from imagen.sinks.serialize import generation_from_dict, generation_json, generation_to_dict

text = st.text(max_size=20)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False)
    | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=8,
)  # fmt: skip
json_objects = st.dictionaries(text, json_values, max_size=4)
offsets = st.integers(-14 * 60, 14 * 60).map(
    lambda minutes: dt.timezone(dt.timedelta(minutes=minutes))
)
moments = st.datetimes(timezones=offsets)
money = st.decimals(allow_nan=False, allow_infinity=False, places=6, min_value=0, max_value=10**6)
costs = st.none() | st.builds(Cost, amount=money, basis=text)
refs = st.builds(Ref, path=text, data=st.binary(max_size=8), media_type=text, sha256=text)
small = st.none() | st.integers(1, 4096)

requests = st.builds(
    Request,
    prompt=text,
    negative_prompt=st.none() | text,
    width=small,
    height=small,
    aspect_ratio=st.none() | text,
    steps=small,
    seed=st.none() | st.integers(0, 2**32),
    count=st.integers(1, 8),
    refs=st.lists(refs, max_size=2).map(tuple),
    style=st.none() | text,
    options=json_objects,
)
generations = st.builds(
    Generation,
    request=requests,
    backend=text,
    backend_type=text,
    model=text,
    seed=st.none() | st.integers(0, 2**63),
    path=text,
    output_dir=text,
    sha256=text,
    media_type=text,
    width=st.integers(1, 8192),
    height=st.integers(1, 8192),
    size_bytes=st.integers(0, 2**40),
    latency=st.floats(0, 1e6, allow_nan=False),
    created_at=moments,
    take=st.integers(1, 64),
    takes=st.integers(1, 64),
    sidecar_path=st.none() | text,
    cost_estimate=costs,
    cost_actual=costs,
    caller=st.none() | text,
    cache_hit=st.booleans(),
    metadata=json_objects,
    warnings=st.lists(text, max_size=2).map(tuple),
    plugin_fields=st.dictionaries(text, json_objects, max_size=2),
    user_prompt=st.none() | text,
    style=st.none() | text,
)


@pytest.fixture(autouse=True)
def fresh_converter() -> Iterator[None]:
    # The converter is cached per process with its type dispatch; a test process forked from
    # one that used it (mutation testing does that) would never ask the code again.
    serialize._converter.cache_clear()
    yield
    serialize._converter.cache_clear()


def test_free_form_mappings_holding_values_json_lacks_come_out_as_json() -> None:
    metadata = {"thumb": b"\x00\x01", "day": dt.date(2026, 11, 23), "file": PurePosixPath("a/b"),
                "nested": {"cost": Decimal("0.10"), "tags": ("x", "y")}}  # fmt: skip
    generation = attrs.evolve(sample(), metadata=metadata, plugin_fields={"acme": {"raw": b"\xff"}})
    data = generation_to_dict(generation)
    assert data["metadata"] == {"thumb": "AAE=", "day": "2026-11-23", "file": "a/b",
                                "nested": {"cost": "0.10", "tags": ["x", "y"]}}  # fmt: skip
    assert data["plugin_fields"] == {"acme": {"raw": "/w=="}}
    assert generation_from_dict(json.loads(json.dumps(data))).metadata == data["metadata"]


def without_ref_bytes(generation: Generation) -> Generation:
    refs = tuple(attrs.evolve(ref, data=b"") for ref in generation.request.refs)
    return attrs.evolve(generation, request=attrs.evolve(generation.request, refs=refs))


@given(generations)
def test_round_trip_through_json_text_gives_an_equal_generation_without_ref_bytes(
    generation: Generation,
) -> None:
    data = json.loads(json.dumps(generation_to_dict(generation)))
    assert generation_from_dict(data) == without_ref_bytes(generation)


@given(generations)
def test_webhook_body_is_valid_json_of_the_dict(generation: Generation) -> None:
    body = generation_json(generation)
    assert json.loads(body) == json.loads(json.dumps(generation_to_dict(generation)))


def sample(**changes: Any) -> Generation:
    generation = Generation(
        request=Request("a cat", refs=(Ref("ref.png", b"\x89PNG", "image/png", "ab" * 32),)),
        backend="mock",
        backend_type="mock",
        model="placeholder",
        seed=7,
        path="2026-11-23/cat-7.png",
        output_dir="/pictures",
        sha256="cd" * 32,
        media_type="image/png",
        width=64,
        height=64,
        size_bytes=123,
        latency=0.25,
        created_at=dt.datetime(2026, 11, 23, 15, 30, tzinfo=dt.timezone(dt.timedelta(hours=1))),
        cost_estimate=Cost(Decimal("0.0030"), "list price"),
    )
    return attrs.evolve(generation, **changes)


def test_the_webhook_body_is_compact_utf8() -> None:
    body = generation_json(sample(request=Request("un café, s'il vous plaît: 猫")))
    assert "un café, s'il vous plaît: 猫".encode() in body
    assert b'"backend":"mock","backend_type":"mock"' in body
    assert b", " not in body.replace("café, s".encode(), b"")
    assert b'": ' not in body


def test_a_webhook_body_with_text_utf8_cannot_hold_is_escaped_ascii_json() -> None:
    # A prompt from undecodable command-line bytes holds lone surrogates.
    body = generation_json(sample(request=Request("a cat \udcff here")))
    assert body.isascii()
    assert b'"backend":"mock","backend_type":"mock"' in body
    assert json.loads(body)["request"]["prompt"] == "a cat \udcff here"


def test_money_is_text_and_keeps_its_digits() -> None:
    data = generation_to_dict(sample())
    assert data["cost_estimate"] == {"amount": "0.0030", "basis": "list price", "currency": "USD"}


def test_created_at_is_iso_8601_with_its_offset() -> None:
    assert generation_to_dict(sample())["created_at"] == "2026-11-23T15:30:00+01:00"


def test_a_naive_created_at_is_written_with_the_local_offset() -> None:
    naive = dt.datetime(2026, 11, 23, 15, 30)
    written = generation_to_dict(sample(created_at=naive))["created_at"]
    assert dt.datetime.fromisoformat(written) == naive.astimezone()


def test_reference_images_keep_path_type_and_hash_but_not_bytes() -> None:
    data = generation_to_dict(sample())
    assert data["request"]["refs"] == [
        {"path": "ref.png", "media_type": "image/png", "sha256": "ab" * 32}
    ]
    assert generation_from_dict(data).request.refs[0].data == b""


def test_the_dict_says_which_format_it_is() -> None:
    assert generation_to_dict(sample())["format_version"] == 1


def test_something_else_is_refused_with_a_value_error() -> None:
    with pytest.raises(ValueError, match="not a serialized generation"):
        generation_from_dict({"prompt": "a cat"})
