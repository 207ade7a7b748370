"""Text imagen did not write (prompts, names, providers' messages) is made safe for a terminal."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from imagen.console import align_columns, json_safe, terminal_safe

BIDI_CONTROLS = set("\u061c\u200e\u200f\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
INVISIBLE = set("\u200b\u2060\ufeff\u180e\u00ad")


def is_control(char: str) -> bool:
    """C0, DEL and C1."""
    return ord(char) < 0x20 or 0x7F <= ord(char) <= 0x9F


printable = st.text(st.characters(codec="utf-8").filter(str.isprintable))
hostile = st.text(
    st.one_of(
        st.characters(),
        st.sampled_from(sorted(BIDI_CONTROLS | INVISIBLE | {"\x1b", "\x9b", "\u200d", "\u200c"})),
    )
)


@given(hostile)
def test_the_result_holds_no_control_bidi_or_invisible_character(text: str) -> None:
    shown = terminal_safe(text)
    assert not any(is_control(char) for char in shown)
    assert not set(shown) & (BIDI_CONTROLS | INVISIBLE | {"\u2028", "\u2029"})
    assert not any(unicodedata.category(char) == "Cs" for char in shown)
    shown.encode("utf-8")  # writable to any UTF-8 terminal


@given(printable)
def test_printable_text_passes_through_unchanged(text: str) -> None:
    assert terminal_safe(text) == text


@given(hostile)
def test_making_text_safe_twice_changes_nothing_more(text: str) -> None:
    once = terminal_safe(text)
    assert terminal_safe(once) == once


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("title \x1b]0;pwned\x07", "title \\x1b]0;pwned\\x07"),
        ("red \x1b[31m", "red \\x1b[31m"),
        ("csi \x9b2J", "csi \\x9b2J"),
        ("two\nlines\tand tab\r", "two\\nlines\\tand tab\\r"),
        ("invoice\u202egnp.exe", "invoice\\u202egnp.exe"),
        ("\u2066isolate\u2069", "\\u2066isolate\\u2069"),
        ("p\u200bay", "p\\u200bay"),
        ("p\u200day", "p\\u200day"),
        ("bad byte \udcff", "bad byte \\udcff"),
    ],
)
def test_controls_are_shown_as_escapes(text: str, shown: str) -> None:
    assert terminal_safe(text) == shown


@pytest.mark.parametrize(
    "text",
    [
        "Müller über Café, 東京の夜, ",  # accents and CJK
        "a fox 🦊 with 👍🏽",
        "👩\u200d💻 and 👨\u200d👩\u200d👧",  # ZWJ sequences are one emoji each
        "🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",  # the flag of Scotland
        "می\u200cخواهم",  # Persian: the non-joiner belongs to the word
        "❤\ufe0f",
    ],
)
def test_ordinary_unicode_is_kept(text: str) -> None:
    assert terminal_safe(text) == text


def test_table_cells_are_made_safe_and_still_line_up() -> None:
    table = align_columns([["NAME", "N"], ["evil\x1b[2J", "1"], ["ok", "22"]], right={1})
    assert "\x1b" not in table
    assert table.splitlines() == [
        "NAME          N",
        "evil\\x1b[2J   1",
        "ok           22",
    ]


@given(st.recursive(st.text(), lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner)))
def test_json_made_safe_is_the_same_data_with_nothing_unsafe_in_it(data: object) -> None:
    document = json_safe(json.dumps(data, indent=2, ensure_ascii=False))
    assert json.loads(document) == data
    assert terminal_safe(document.replace("\n", "")) == document.replace("\n", "")


def test_log_and_usage_tables_show_hostile_prompts_and_callers_escaped(
    imagen_process, tmp_path: Path
) -> None:  # type: ignore[no-untyped-def]
    prompt = "evil \x1b]0;pwned\x07 \u202egnp.exe tab\there 🦊"
    made = imagen_process("generate", prompt, "--caller", "bob\u202e\x1b[31m", "-o", str(tmp_path))
    assert made.code == 0, made.err
    log = imagen_process("log")
    usage = imagen_process("usage", "--by", "caller")
    for shown in (log.out, usage.out):
        assert not set(shown) & ({"\x1b", "\x07"} | BIDI_CONTROLS)
    assert log.lines[1].endswith("evil \\x1b]0;pwned\\x07 \\u202egnp.exe tab here 🦊")
    assert usage.lines[1].split()[0] == "bob\\u202e\\x1b[31m"
    as_json = imagen_process("log", "--json")
    assert "\u202e" not in as_json.out
    assert json.loads(as_json.out)[0]["prompt"] == prompt
