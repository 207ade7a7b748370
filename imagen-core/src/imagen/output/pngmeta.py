"""Metadata inside image files: PNG text chunks and image sizes, without decoding pixels.

:func:`embed` inserts ``iTXt``/``tEXt`` chunks right after ``IHDR`` and copies every other byte
unchanged, so the image data is never decoded or re-encoded. :func:`a1111_parameters` writes
the AUTOMATIC1111 ``parameters`` text that other tools read prompts from.
"""

from __future__ import annotations

import json
import struct
import zlib
from collections.abc import Iterator, Mapping

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# Compressed text chunks are inflated at most this far, so a hostile file cannot exhaust memory.
_MAX_INFLATED = 64 * 1024 * 1024


def _chunks(png: bytes) -> Iterator[tuple[bytes, memoryview, int]]:
    """Yield ``(type, data, end_offset)`` per chunk; ValueError if ``png`` is not a whole PNG."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG file (bad signature)")
    view = memoryview(png)
    offset = len(PNG_SIGNATURE)
    while offset + 12 <= len(png):
        length, kind = struct.unpack(">I4s", view[offset : offset + 8])
        end = offset + 12 + length
        if end > len(png):
            break
        if offset == len(PNG_SIGNATURE) and (kind != b"IHDR" or length != 13):
            raise ValueError("not a PNG file (IHDR is not the first chunk)")
        yield kind, view[offset + 8 : offset + 8 + length], end
        if kind == b"IEND":
            return
        offset = end
    raise ValueError("truncated PNG file (no IEND chunk)")


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _keyword(key: str) -> bytes:
    """A PNG keyword: 1-79 printable Latin-1 characters, no leading, trailing or double spaces."""
    try:
        encoded = key.encode("latin-1")
    except UnicodeEncodeError:
        raise ValueError(f"PNG keyword {key!r} is not Latin-1") from None
    printable = all(32 <= byte <= 126 or byte >= 161 for byte in encoded)
    if not 1 <= len(encoded) <= 79 or not printable or key != key.strip() or "  " in key:
        raise ValueError(f"invalid PNG keyword {key!r}: use 1-79 printable Latin-1 characters")
    return encoded


def _itxt(key: str, value: str) -> bytes:
    # Lone surrogates (from undecodable command-line bytes) cannot be UTF-8; show them as "?".
    text = value.encode("utf-8", errors="replace")
    return _chunk(b"iTXt", _keyword(key) + b"\0\0\0\0\0" + text)


def _text(key: str, value: str) -> bytes:
    try:
        encoded = value.encode("latin-1")
    except UnicodeEncodeError:
        return _itxt(key, value)
    if b"\0" in encoded:
        return _itxt(key, value)
    return _chunk(b"tEXt", _keyword(key) + b"\0" + encoded)


def embed(png: bytes, *, itxt: Mapping[str, str], text: Mapping[str, str]) -> bytes:
    """Return ``png`` with text chunks inserted after ``IHDR``; every other byte is unchanged.

    ``itxt`` values are written as uncompressed UTF-8 ``iTXt``; ``text`` values as Latin-1
    ``tEXt``, or as ``iTXt`` under the same keyword when they are not Latin-1.
    Raises ValueError for input that is not a PNG or for an invalid keyword.
    """
    ends = [end for _kind, _data, end in _chunks(png)]  # refuses a truncated file up front
    ihdr_end = ends[0]
    inserted = [_itxt(key, value) for key, value in itxt.items()]
    inserted += [_text(key, value) for key, value in text.items()]
    # One join of views: a single copy of a possibly large image, not one per "+".
    view = memoryview(png)
    return b"".join([view[:ihdr_end], *inserted, view[ihdr_end:]])


def _inflate(data: bytes) -> bytes:
    inflater = zlib.decompressobj()
    out = inflater.decompress(data, _MAX_INFLATED)
    if inflater.unconsumed_tail:
        raise ValueError("compressed PNG text chunk is too large")
    return out


def _read_text_chunk(kind: bytes, data: bytes) -> tuple[str, str]:
    key, _, rest = data.partition(b"\0")
    if kind == b"tEXt":
        return key.decode("latin-1"), rest.decode("latin-1")
    if kind == b"zTXt":
        return key.decode("latin-1"), _inflate(rest[1:]).decode("latin-1")
    compressed, _method, rest = rest[0], rest[1], rest[2:]
    _language, found_language, rest = rest.partition(b"\0")
    _translated, found_translated, body = rest.partition(b"\0")
    if not (found_language and found_translated):
        raise ValueError("iTXt chunk without its language and translated keyword")
    if compressed:
        body = _inflate(body)
    return key.decode("latin-1"), body.decode("utf-8", errors="replace")


def read_text_chunks(png: bytes) -> dict[str, str]:
    """Every ``tEXt``, ``zTXt`` and ``iTXt`` chunk as ``{keyword: text}``.

    A later chunk with the same keyword wins, as in Pillow. Malformed text chunks are skipped;
    input that is not a PNG raises ValueError.
    """
    found = {}
    for kind, data, _end in _chunks(png):
        if kind in (b"tEXt", b"zTXt", b"iTXt"):
            try:
                key, value = _read_text_chunk(kind, bytes(data))
            except (ValueError, IndexError, zlib.error):
                continue
            found[key] = value
    return found


def png_size(png: bytes) -> tuple[int, int]:
    """``(width, height)`` from the IHDR chunk; ValueError if ``png`` is not a PNG."""
    _kind, data, _end = next(_chunks(png))
    width, height = struct.unpack(">II", data[:8])
    return width, height


def image_size(data: bytes, media_type: str) -> tuple[int, int] | None:
    """``(width, height)`` read from the header of a PNG, JPEG, WebP or GIF; None if unknown."""
    reader = {
        "image/png": png_size,
        "image/jpeg": _jpeg_size,
        "image/jpg": _jpeg_size,
        "image/webp": _webp_size,
        "image/gif": _gif_size,
    }.get(media_type.lower())
    if reader is None:
        return None
    try:
        return reader(data)
    except (ValueError, IndexError, struct.error):
        return None


def _gif_size(data: bytes) -> tuple[int, int] | None:
    if data[:6] not in (b"GIF87a", b"GIF89a"):
        return None
    width, height = struct.unpack("<HH", data[6:10])
    return width, height


# Start-of-frame markers carry the size; C4 (DHT), C8 (JPG) and CC (DAC) share the range.
_JPEG_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if not data.startswith(b"\xff\xd8"):
        return None
    offset = 2
    while offset + 4 <= len(data):
        if data[offset] != 0xFF:
            return None
        marker = data[offset + 1]
        if marker == 0xFF:  # fill byte
            offset += 1
            continue
        # Markers without a length: TEM, RST0-7 and a stray SOI (Pillow skips them the same way).
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:
            offset += 2
            continue
        if marker in (0xD9, 0xDA):  # end of image / start of scan before any frame header
            return None
        (length,) = struct.unpack(">H", data[offset + 2 : offset + 4])
        if marker in _JPEG_SOF:
            height, width = struct.unpack(">HH", data[offset + 5 : offset + 9])
            return (width, height) if width and height else None
        offset += 2 + length
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP":
        return None
    kind = data[12:16]
    if kind == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack("<HH", data[26:30])
        return width & 0x3FFF, height & 0x3FFF
    if kind == b"VP8L" and data[20] == 0x2F:
        (bits,) = struct.unpack("<I", data[21:25])
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if kind == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def _a1111_quote(value: object) -> str:
    # Same rule as AUTOMATIC1111's infotext quote(): JSON-quote values that would break parsing.
    text = str(value)
    if "," in text or ":" in text or "\n" in text:
        return json.dumps(text, ensure_ascii=False)
    return text


def a1111_parameters(
    *,
    prompt: str,
    negative_prompt: str | None,
    steps: int | None,
    seed: int | None,
    width: int | None,
    height: int | None,
    model: str | None,
    extra: Mapping[str, object] | None = None,
) -> str:
    """The AUTOMATIC1111 ``parameters`` text; parts that are None or empty are left out.

    ``a cat\\nNegative prompt: blurry\\nSteps: 20, Seed: 1, Size: 512x512, Model: flux``
    """
    lines = [prompt]
    if negative_prompt:
        lines.append(f"Negative prompt: {negative_prompt}")
    params: dict[str, object | None] = {
        "Steps": steps,
        "Seed": seed,
        "Size": f"{width}x{height}" if width and height else None,
        "Model": model or None,
        **(extra or {}),
    }
    settings = ", ".join(
        f"{key}: {_a1111_quote(value)}" for key, value in params.items() if value is not None
    )
    if settings:
        lines.append(settings)
    return "\n".join(lines)


__all__ = ["a1111_parameters", "embed", "image_size", "png_size", "read_text_chunks"]
