"""Object keys: what Storage accepts, one key per local path, and plain names kept as they are."""

from __future__ import annotations

import re

from hypothesis import given
from hypothesis import strategies as st

from imagen_supabase.connection import storage_key

# Supabase Storage's isValidKey rule (src/storage/limits.ts).
VALID = re.compile(r"^(\w|/|!|-|\.|\*|'|\(|\)| |&|\$|@|=|;|:|\+|,|\?)*$", re.ASCII)


@given(st.text())
def test_every_key_is_one_storage_accepts(path: str) -> None:
    assert VALID.match(storage_key(path))


@given(st.text(), st.text())
def test_two_paths_never_share_a_key(first: str, second: str) -> None:
    if first.strip("/") != second.strip("/"):
        assert storage_key(first) != storage_key(second)


def test_plain_ascii_names_are_kept_as_they_are() -> None:
    assert storage_key("2026-11-23/153012-a-cat-7.png") == "2026-11-23/153012-a-cat-7.png"


def test_unicode_letters_and_the_escape_character_are_escaped() -> None:
    assert storage_key("café-猫 (1).png") == "caf(u00e9)-(u732b) (u0028)1).png"


def test_slashes_around_a_path_are_dropped_and_nothing_else_is() -> None:
    assert storage_key("/2026-11-23/cat.png/") == "2026-11-23/cat.png"
    assert storage_key("Xmas/X.png") == "Xmas/X.png"
    assert storage_key(" cat .png ") == " cat .png "
