"""Read a prediction's ``output``: where the images are, and what the downloaded bytes are."""

from __future__ import annotations

import base64
import binascii
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import attrs

from imagen.pngmeta import image_size


def output_urls(output: Any) -> list[str]:
    """The image URLs in ``output``: a single string, or a list of them (other items skipped)."""
    if isinstance(output, str):
        return [output]
    if isinstance(output, list):
        return [item for item in output if isinstance(item, str)]
    return []


def is_data_url(url: str) -> bool:
    return url[:5].lower() == "data:"


def decode_data_url(url: str) -> bytes:
    """The bytes of a ``data:`` URL (base64 or percent-encoded); ValueError if malformed."""
    header, comma, payload = url.partition(",")
    if not comma:
        raise ValueError("data URL has no ',' before its payload")
    if header.lower().endswith(";base64"):
        try:
            return base64.b64decode(payload, validate=False)
        except binascii.Error as error:
            raise ValueError(f"data URL is not valid base64: {error}") from None
    return unquote_to_bytes(payload)


def describe_url(url: str) -> str:
    """A short, safe name for an output URL in messages (scheme, host and file name only)."""
    if is_data_url(url):
        return "data: URL"
    parts = urlsplit(url)
    name = parts.path.rsplit("/", 1)[-1]
    return (
        f"{parts.scheme}://{parts.netloc}/.../{name}"
        if name
        else f"{parts.scheme}://{parts.netloc}"
    )


_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


def sniff_media_type(data: bytes) -> str | None:
    """The media type the bytes themselves declare (servers' Content-Type is not trusted)."""
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "image/webp"
    return next((kind for magic, kind in _MAGIC if data.startswith(magic)), None)


@attrs.frozen
class Picture:
    media_type: str
    width: int
    height: int


def inspect_image(data: bytes) -> Picture:
    """Media type and real pixel size, read from the image header (no decode, no Pillow).

    ValueError when the bytes are not a PNG, JPEG, WebP or GIF with a readable header.
    """
    media_type = sniff_media_type(data)
    if media_type is None:
        raise ValueError("not a PNG, JPEG, WebP or GIF image")
    size = image_size(data, media_type)
    if size is None:
        raise ValueError(f"unreadable {media_type} header")
    return Picture(media_type, *size)
