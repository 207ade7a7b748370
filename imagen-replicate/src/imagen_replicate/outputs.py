"""Read a prediction's ``output``: where the images are, and what the downloaded bytes are."""

from __future__ import annotations

import base64
import binascii
import io
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import attrs


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


@attrs.frozen
class Picture:
    media_type: str
    width: int
    height: int


def inspect_image(data: bytes) -> Picture:
    """Media type and real pixel size, read from the image header (no full decode).

    ValueError when the bytes are not an image Pillow can read.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            media_type = Image.MIME.get(image.format or "", "")
    except (UnidentifiedImageError, OSError) as error:
        raise ValueError(f"not a readable image ({error})") from None
    if not media_type:
        raise ValueError("not a known image type")
    return Picture(media_type, width, height)
