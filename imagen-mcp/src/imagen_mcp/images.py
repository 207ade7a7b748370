"""Images as MCP content: bounded in size, so a 4-megapixel take does not flood the context.

A take whose longest side is within ``max_px`` (and whose file is small) goes back as it is;
a larger one as a thumbnail of at most ``max_px`` on its longest side. The full image stays at
its path either way.
"""

from __future__ import annotations

import io

import attrs

#: files above this size are shrunk even when their pixel size is within the bound
MAX_INLINE_BYTES = 1_000_000


@attrs.frozen
class InlineImage:
    data: bytes = attrs.field(repr=False)
    media_type: str
    width: int
    height: int
    thumbnail: bool


def inline_image(path: str, media_type: str, *, max_px: int) -> InlineImage:
    """The image at ``path`` as it is, or as a thumbnail when it is larger than ``max_px``."""
    from PIL import Image

    with open(path, "rb") as handle:
        data = handle.read()
    with Image.open(io.BytesIO(data)) as image:
        width, height = image.size
        if max(width, height) <= max_px and len(data) <= MAX_INLINE_BYTES:
            return InlineImage(data, media_type, width, height, thumbnail=False)
        image.thumbnail((max_px, max_px))
        out = io.BytesIO()
        if image.mode in ("RGBA", "LA", "P"):
            # transparency survives only in PNG
            image.save(out, format="PNG", optimize=True)
            kind = "image/png"
        else:
            image.convert("RGB").save(out, format="JPEG", quality=85)
            kind = "image/jpeg"
        return InlineImage(out.getvalue(), kind, image.width, image.height, thumbnail=True)


__all__ = ["MAX_INLINE_BYTES", "InlineImage", "inline_image"]
