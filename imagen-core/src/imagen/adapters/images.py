"""Images in and out without Pillow: media type and size from the header, base64 and ``data:``
URIs decoded, image files read with a size limit.

Pillow costs ~100 ms to import and decodes the whole image; a header says the same in a few
bytes. Servers' ``Content-Type`` is not trusted: the bytes say what they are.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path
from urllib.parse import unquote_to_bytes

import attrs

from imagen.output.pngmeta import image_size

#: The largest reference image read when the backend sets no smaller limit.
MAX_REF_BYTES = 64 * 1024 * 1024

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_media_type(data: bytes) -> str | None:
    """``image/png``, ``image/jpeg``, ``image/webp`` or ``image/gif`` from the first bytes."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


@attrs.frozen
class ImageInfo:
    """What an image's header says: its media type and pixel size."""

    media_type: str
    width: int
    height: int


def inspect_image(data: bytes) -> ImageInfo:
    """Media type and pixel size from the header (no decode). ValueError saying why for bytes
    that are not a PNG, JPEG, WebP or GIF with a readable header."""
    media_type = sniff_media_type(data)
    if media_type is None:
        raise ValueError("not a PNG, JPEG, WebP or GIF image")
    size = image_size(data, media_type)
    if size is None:
        raise ValueError(f"unreadable {media_type} header")
    return ImageInfo(media_type, *size)


def decode_base64(text: str | bytes) -> bytes:
    """Standard or URL-safe base64, padding optional; ValueError for anything else."""
    try:
        # The usual case, clean padded standard base64, in one pass without copies: an image
        # answer is megabytes, and every pass over it is milliseconds of the take.
        return binascii.a2b_base64(text, strict_mode=True)
    except (binascii.Error, ValueError):
        pass  # whitespace, no padding, the URL-safe alphabet, or not base64 at all
    raw = text.encode("ascii", "replace") if isinstance(text, str) else text
    raw = b"".join(raw.split())
    raw += b"=" * (-len(raw) % 4)
    try:
        if b"-" in raw or b"_" in raw:
            return base64.urlsafe_b64decode(raw)
        return base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not valid base64") from None


def is_data_uri(text: str) -> bool:
    return text[:5].lower() == "data:"


def decode_data_uri(uri: str) -> tuple[bytes, str | None]:
    """The bytes of a ``data:`` URI (base64 or percent-encoded) and the media type it declares;
    ValueError if malformed."""
    if not is_data_uri(uri):
        raise ValueError("not a data: URI")
    header, comma, payload = uri[5:].partition(",")
    if not comma:
        raise ValueError("data: URI has no ',' before its payload")
    declared = header.split(";")[0].strip() or None
    if header.lower().endswith(";base64"):
        return decode_base64(payload), declared
    return unquote_to_bytes(payload), declared


def read_image_file(path: str | os.PathLike[str], *, max_bytes: int = MAX_REF_BYTES) -> bytes:
    """The bytes of a regular file of at most ``max_bytes``, checked before reading.

    OSError for a missing or unreadable file; ValueError (one line, saying what to do) for a
    device, FIFO or directory, or a file too large. Opened without blocking, so a FIFO cannot
    hang the read.
    """
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    descriptor = os.open(Path(path).expanduser(), flags)
    with os.fdopen(descriptor, "rb") as file:
        info = os.fstat(file.fileno())
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("is not a regular file; pass an image file")
        if info.st_size > max_bytes:
            raise ValueError(
                f"is {_mib(info.st_size)}, more than the {_mib(max_bytes)} allowed; "
                "pass a smaller image"
            )
        data = file.read(max_bytes + 1)
    if len(data) > max_bytes:  # it grew while we read it
        raise ValueError(f"is more than the {_mib(max_bytes)} allowed; pass a smaller image")
    return data


def _mib(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MiB"


__all__ = [
    "MAX_REF_BYTES",
    "ImageInfo",
    "decode_base64",
    "decode_data_uri",
    "inspect_image",
    "is_data_uri",
    "read_image_file",
    "sniff_media_type",
]
