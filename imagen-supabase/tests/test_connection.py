"""Key headers and Storage object paths."""

from __future__ import annotations

from urllib.parse import unquote

from hypothesis import given
from hypothesis import strategies as st

from imagen_supabase.connection import auth_headers, object_path
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

    encoded = object_path(path)

    assert encoded.count("/") == path.count("/")
    assert unquote(encoded) == path
    assert all(ch not in encoded for ch in "?# ")
