"""Images by id: ``GET /v1/images/{id}`` serves only files a job or the history recorded.

An id is an image's sha256 (the take's ``generation_id``). The server learns which file an id
names when it shows a job or a history entry, never from the URL, so no request can name a
path; a file is served only while its bytes still hash to its id (checked once per change of
the file). Thumbnails are made once per size with Pillow and cached under the data dir.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import threading
from pathlib import Path

import attrs

from imagen_studio.problems import ApiProblem

ID_PATTERN = re.compile(r"^[0-9a-f]{64}$")
THUMB_MIN, THUMB_MAX = 16, 2048
#: a take's bytes never change under its id: a browser may keep them for a year
IMMUTABLE = "private, max-age=31536000, immutable"


@attrs.frozen
class KnownImage:
    path: str
    media_type: str


def _sha256_of(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _stamp(path: str) -> tuple[int, int, int]:
    stat = os.stat(path)
    return stat.st_size, stat.st_mtime_ns, stat.st_ino


class ImageIndex:
    """The images this server has shown, by id; thumbnails cached in ``thumbs_dir``."""

    def __init__(self, thumbs_dir: str) -> None:
        self.thumbs_dir = thumbs_dir
        self._known: dict[str, KnownImage] = {}
        self._verified: dict[str, tuple[int, int, int]] = {}
        self._lock = threading.Lock()

    def add(self, image_id: str, path: str, media_type: str) -> None:
        if ID_PATTERN.match(image_id):
            with self._lock:
                self._known[image_id] = KnownImage(path, media_type)

    def __contains__(self, image_id: str) -> bool:
        return image_id in self._known

    def _checked(self, image_id: str) -> KnownImage:
        """The image ``image_id`` names, if its file is still the one recorded (blocking)."""
        gone = ApiProblem(
            404,
            f"no image {image_id[:80]!r} here; ids come from a job's takes or GET /v1/history",
            field="id",
        )
        if not ID_PATTERN.match(image_id):
            raise gone
        known = self._known.get(image_id)
        if known is None:
            raise gone
        try:
            stamp = _stamp(known.path)
            if self._verified.get(image_id) != stamp:
                if _sha256_of(known.path) != image_id:
                    raise ApiProblem(
                        404,
                        f"image {image_id} was changed or replaced on disk since it was made",
                        field="id",
                    )
                self._verified[image_id] = stamp
        except OSError:
            raise ApiProblem(
                404, f"image {image_id} is no longer on disk (moved or deleted)", field="id"
            ) from None
        return known

    async def file(self, image_id: str) -> KnownImage:
        return await asyncio.to_thread(self._checked, image_id)

    async def thumbnail(self, image_id: str, size: int) -> str:
        """The path of a ``size``-pixel (longest side) WebP of the image, made once."""
        if not THUMB_MIN <= size <= THUMB_MAX:
            raise ApiProblem(
                422, f"thumb must be between {THUMB_MIN} and {THUMB_MAX} pixels", field="thumb"
            )
        known = await self.file(image_id)
        return await asyncio.to_thread(self._thumbnail, image_id, known.path, size)

    def _thumbnail(self, image_id: str, source: str, size: int) -> str:
        target = os.path.join(self.thumbs_dir, image_id[:2], f"{image_id}-{size}.webp")
        if os.path.exists(target):
            return target
        from PIL import Image

        os.makedirs(os.path.dirname(target), mode=0o700, exist_ok=True)
        with Image.open(source) as image:
            image.thumbnail((size, size))
            converted = image.convert("RGBA" if "A" in image.getbands() else "RGB")
            # Written aside and renamed: two requests for the same thumbnail never see half.
            partial = f"{target}.{os.getpid()}.{threading.get_ident()}.part"
            converted.save(partial, "WEBP", quality=82)
        Path(partial).replace(target)
        return target


__all__ = ["ID_PATTERN", "IMMUTABLE", "ImageIndex", "KnownImage"]
