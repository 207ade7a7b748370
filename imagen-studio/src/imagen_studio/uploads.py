"""Reference images sent to ``POST /v1/uploads``: checked, stored, handed out by id.

The body is bounded while it is read (the route's limit: a larger ``Content-Length`` is
refused before a byte is read). What arrives must sniff as PNG, JPEG, WebP or GIF whatever
its declared type, open in Pillow, and stay under ``MAX_PIXELS`` (a small file that decodes
to gigabytes is refused from its header alone). It is stored under the data dir as
``<sha256>.<ext>``: the name is made here, never taken from the client.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import warnings

from imagen.cli.parsing import media_type_of
from imagen.models import Ref
from imagen_studio.problems import ApiProblem
from imagen_studio.schemas import Upload

#: the largest upload body accepted (bytes)
MAX_UPLOAD_BYTES = 20 * 1024 * 1024
#: the most pixels a reference image may decode to (Pillow's decompression-bomb guard)
MAX_PIXELS = 50_000_000
UPLOAD_ID = re.compile(r"^[0-9a-f]{64}$")
_EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}


class UploadStore:
    """Reference images in ``directory`` (created 0700)."""

    def __init__(self, directory: str) -> None:
        self.directory = directory

    def save(self, data: bytes, name: str = "upload") -> Upload:
        """Check ``data`` and store it; ApiProblem 415/422 when it is not a usable image."""
        shown = name[:80]
        media_type = media_type_of(data)
        if media_type is None:
            raise ApiProblem(415, f"{shown!r} is not a PNG, JPEG, WebP or GIF image", field="file")
        width, height = _checked_size(data, shown)
        digest = hashlib.sha256(data).hexdigest()
        os.makedirs(self.directory, mode=0o700, exist_ok=True)
        target = os.path.join(self.directory, f"{digest}.{_EXTENSIONS[media_type]}")
        if not os.path.exists(target):
            partial = f"{target}.{os.getpid()}.part"
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "wb") as file:
                file.write(data)
            os.replace(partial, target)
        return Upload(digest, media_type, width, height, len(data))

    def ref(self, upload_id: str) -> Ref:
        """The reference image stored as ``upload_id``; a 422 naming ``refs`` otherwise."""
        if UPLOAD_ID.match(upload_id):
            for media_type, extension in _EXTENSIONS.items():
                path = os.path.join(self.directory, f"{upload_id}.{extension}")
                try:
                    with open(path, "rb") as file:
                        data = file.read()
                except FileNotFoundError:
                    continue
                return Ref(path=path, data=data, media_type=media_type, sha256=upload_id)
        raise ApiProblem(
            422,
            f"no uploaded image {upload_id[:80]!r}; upload it with POST /v1/uploads first",
            field="refs",
        )


def _checked_size(data: bytes, shown: str) -> tuple[int, int]:
    from PIL import Image, UnidentifiedImageError

    with warnings.catch_warnings():
        # Pillow only warns between MAX_IMAGE_PIXELS and twice that: make it an error too.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > MAX_PIXELS:
                    raise Image.DecompressionBombError(f"{width}x{height}")
                image.verify()
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise ApiProblem(
                422,
                f"{shown!r} would decode to more than {MAX_PIXELS:,} pixels; send a smaller image",
                field="file",
            ) from None
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as error:
            raise ApiProblem(
                422, f"{shown!r} is not a readable image: {error}", field="file"
            ) from None
    return width, height


__all__ = ["MAX_PIXELS", "MAX_UPLOAD_BYTES", "UploadStore"]
