"""Key headers and Storage object paths."""

from __future__ import annotations

from urllib.parse import unquote

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from imagen.errors import SinkError
from imagen_supabase.connection import (
    auth_headers,
    key_problem,
    object_path,
    owner_key,
    with_digest,
)
from imagen_supabase.testing import SECRET_KEY, SERVICE_JWT


def test_jwt_key_is_sent_as_apikey_and_bearer() -> None:
    assert auth_headers(SERVICE_JWT) == {
        "apikey": SERVICE_JWT,
        "Authorization": f"Bearer {SERVICE_JWT}",
    }


def test_secret_key_is_sent_as_apikey_only() -> None:
    assert auth_headers(SECRET_KEY) == {"apikey": SECRET_KEY}


segment = st.text(
    st.characters(blacklist_categories=("Cs", "Cc"), blacklist_characters="/"), min_size=1
)


@given(st.lists(segment, min_size=1, max_size=4))
def test_object_path_keeps_every_segment_and_decodes_back(segments: list[str]) -> None:
    path = "/".join(segments)
    assume(key_problem(path) is None)

    encoded = object_path(path)

    assert encoded.count("/") == path.count("/")
    assert unquote(encoded) == path
    assert all(ch not in encoded for ch in "?# ")


def fully_decoded(text: str) -> str:
    while unquote(text) != text:
        text = unquote(text)
    return text


@given(st.text(st.sampled_from("./%2eEfF5cC\\a"), max_size=14))
def test_no_key_object_path_accepts_can_step_out_of_the_bucket(key: str) -> None:
    # Made of the pieces of ../ and its encodings: either refused, or every segment stays a
    # name however often a server decodes it.
    try:
        encoded = object_path(key)
    except SinkError:
        return
    segments = fully_decoded(encoded).replace("\\", "/").split("/")
    assert not {".", "..", ""} & set(segments)


@pytest.mark.parametrize(
    "key",
    [
        "../other-bucket/x.png",
        "a/../../b.png",
        "a/./b.png",
        "/etc/passwd",
        "%2e%2e/x.png",
        "%2E%2E%2Fx.png",
        "..%2fx.png",
        "%252e%252e/x.png",
        "a\\..\\b.png",
        "a//b.png",
        "a/b/",
        "a\nb.png",
        "",
    ],
)
def test_object_names_that_could_leave_the_bucket_are_refused_before_any_request(
    key: str,
) -> None:
    assert key_problem(key) is not None
    with pytest.raises(SinkError, match="refusing the object name"):
        object_path(key)


def test_an_owners_key_starts_with_the_owner_and_maps_the_path_by_the_storage_rule() -> None:
    owner = "ac6c9501-3757-4a6d-8b97-2cff4288382b"
    assert owner_key(owner, "2026-11-23/café.png") == f"{owner}/2026-11-23/caf(u00e9).png"


def test_the_digest_goes_before_the_extension() -> None:
    digest = "1f2e3d4c5b6a" + "0" * 52
    assert with_digest("o/2026/cat.png", digest) == "o/2026/cat-1f2e3d4c5b6a.png"
    assert with_digest("o/noext", digest) == "o/noext-1f2e3d4c5b6a"
