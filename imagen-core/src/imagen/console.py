"""What imagen shows on a terminal: diagnostics on stderr, tables, and text made safe to show.

Prompts, file names, config values and providers' error messages are text imagen did not write.
Shown raw, a control character in them can move the cursor, clear the screen, retitle the
window (``ESC ]``), or, with a bidi override such as U+202E, make a line read differently from
what it holds. ``terminal_safe`` is the one rule for all of it: every table cell
(``align_columns``) and every diagnostic line (``warn``, ``note``, ``error``) passes through it,
JSON output passes through ``json_safe`` (the same rule, as JSON escapes), and adapters use it
for remote text they quote.
"""

from __future__ import annotations

import sys
import unicodedata
from collections.abc import Collection, Sequence

# Cc: C0 and C1 controls and DEL. Cf: invisible format characters, among them the bidi
# embeddings, overrides and isolates (U+202A-202E, U+2066-2069), the marks U+200E/200F/061C and
# the zero-width space, word joiner and BOM. Cs: lone surrogates (undecodable bytes of a file
# name), which cannot be written to a UTF-8 stream at all. Zl, Zp: U+2028, U+2029 break lines.
_UNSAFE_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Zl", "Zp"})

_ZWNJ = "\u200c"
_ZWJ = "\u200d"
_EMOJI_PRESENTATION = "\ufe0f"
_BLACK_FLAG = "\U0001f3f4"
_TAGS = range(0xE0020, 0xE007F)  # spell a subdivision flag after U+1F3F4 (🏴 + tags + cancel)
_SHORT_ESCAPES = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}


def _escape(char: str) -> str:
    short = _SHORT_ESCAPES.get(char)
    if short is not None:
        return short
    code = ord(char)
    if code <= 0xFF:
        return f"\\x{code:02x}"
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _is_emoji_part(char: str) -> bool:
    # Emoji are So (other symbols); skin tones are Sk; U+FE0F asks for emoji presentation.
    return char == _EMOJI_PRESENTATION or unicodedata.category(char) in ("So", "Sk")


def _joins(text: str, index: int) -> bool:
    """True for a zero-width joiner or non-joiner doing its ordinary job inside a word.

    ZWJ glues emoji into one (👩‍💻); ZWNJ and ZWJ shape letters in Persian and Indic scripts.
    Anywhere else they only hide things, so they are escaped.
    """
    if index == 0 or index == len(text) - 1:
        return False
    before, char, after = text[index - 1], text[index], text[index + 1]
    if char == _ZWJ and _is_emoji_part(before) and _is_emoji_part(after):
        return True
    return _script_letter(before) and _script_letter(after)


def _script_letter(char: str) -> bool:
    # ASCII words have no use for joiners; between two ASCII letters one only hides a split.
    return not char.isascii() and unicodedata.category(char)[0] in "LM"


def _in_flag(text: str, index: int) -> bool:
    """True for a tag character in a subdivision flag: U+1F3F4, tags, then U+E007F."""
    start = index
    while start > 0 and ord(text[start - 1]) in _TAGS:
        start -= 1
    if start == 0 or text[start - 1] != _BLACK_FLAG:
        return False
    end = index
    while end < len(text) and ord(text[end]) in _TAGS:
        end += 1
    return end < len(text) and text[end] == "\U000e007f"


def _kept(text: str, index: int) -> bool:
    char = text[index]
    if unicodedata.category(char) not in _UNSAFE_CATEGORIES:
        return True
    if char in (_ZWJ, _ZWNJ):
        return _joins(text, index)
    code = ord(char)
    if code in _TAGS:
        return _in_flag(text, index)
    if code == 0xE007F:  # the cancel tag that ends a subdivision flag
        return index > 0 and ord(text[index - 1]) in _TAGS and _in_flag(text, index - 1)
    return False


def terminal_safe(text: str) -> str:
    """``text`` with every character that could act on a terminal shown as an escape.

    Control characters (C0, DEL, C1: ``\\x1b``, ``\\n``, ``\\x9b``), invisible format
    characters (bidi overrides and isolates such as ``\\u202e``, zero-width spaces), line and
    paragraph separators and lone surrogates become backslash escapes; everything printable
    (accents, CJK, emoji, including ZWJ sequences and flags) is returned unchanged. The result is
    one line.
    """
    if text.isprintable():  # the common case, and a fast one
        return text
    return "".join(char if _kept(text, index) else _escape(char) for index, char in enumerate(text))


def _json_escape(char: str) -> str:
    code = ord(char)
    if code <= 0xFFFF:
        return f"\\u{code:04x}"
    high, low = divmod(code - 0x10000, 0x400)  # JSON spells astral characters as a UTF-16 pair
    return f"\\u{0xD800 + high:04x}\\u{0xDC00 + low:04x}"


def json_safe(document: str) -> str:
    """Serialized JSON with every character ``terminal_safe`` would escape written as a JSON
    ``\\u`` escape: the same data to any parser, nothing that acts on a terminal.

    ``json.dumps(..., ensure_ascii=False)`` already escapes C0 controls but leaves C1 controls,
    bidi overrides, U+2028 and lone surrogates raw. Outside strings JSON holds only ASCII, so
    every such character is inside a string, where an escape means the same character.
    """
    if document.isascii():
        return document
    return "".join(
        char if char == "\n" or _kept(document, index) else _json_escape(char)
        for index, char in enumerate(document)
    )


def align_columns(rows: Sequence[Sequence[str]], *, right: Collection[int] = ()) -> str:
    """Pad cells into columns two spaces apart; ``right`` lists right-aligned column indexes.

    Every cell is made ``terminal_safe`` first. Widths are terminal cells (wide characters count
    twice); trailing spaces are dropped.
    """
    from rich.cells import cell_len

    safe = [[terminal_safe(cell) for cell in row] for row in rows]
    count = max((len(row) for row in safe), default=0)
    widths = [
        max((cell_len(row[i]) for row in safe if i < len(row)), default=0) for i in range(count)
    ]
    lines = []
    for row in safe:
        cells = []
        for i, cell in enumerate(row):
            pad = " " * (widths[i] - cell_len(cell))
            cells.append(pad + cell if i in right else cell + pad)
        lines.append("  ".join(cells).rstrip())
    return "\n".join(lines)


def warn(message: str) -> None:
    """``imagen: warning: <message>`` on stderr."""
    print(f"imagen: warning: {terminal_safe(message)}", file=sys.stderr, flush=True)


def note(message: str, *, prefix: str = "imagen") -> None:
    """``imagen: <message>`` on stderr (hints, sink failures as ``imagen: <sink>: <error>``)."""
    print(f"{terminal_safe(prefix)}: {terminal_safe(message)}", file=sys.stderr, flush=True)


def error(message: str) -> None:
    """``imagen: error: <message>`` on stderr."""
    print(f"imagen: error: {terminal_safe(message)}", file=sys.stderr, flush=True)


__all__ = ["align_columns", "error", "json_safe", "note", "terminal_safe", "warn"]
