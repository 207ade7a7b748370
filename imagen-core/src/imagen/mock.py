"""The mock backend: a deterministic placeholder image drawn locally from prompt and seed.

It is clearly labelled as a placeholder, costs nothing, needs no network, and gives identical
bytes for the same prompt, seed and size, so a fresh install works and tests are repeatable.
``fail`` makes every take fail with one kind of framework error, for trying error paths.
"""

from __future__ import annotations

import io
import time
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    # random and textwrap are imported where an image is drawn: this module loads for every
    # command that reads a config (MockSettings), and they cost it about 1.5 ms.
    import random

    from PIL import ImageFont

from imagen.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContentBlocked,
    InvalidRequest,
    RateLimited,
)
from imagen.models import Cost, Image, Progress, Request, Result, Status
from imagen.sizes import size_for_aspect

FailMode = Literal["auth", "rate_limit", "content", "invalid", "unavailable", "timeout", "error"]

MODEL = "imagen-mock-placeholder"


@attrs.frozen
class MockSettings:
    latency: float = attrs.field(default=0.0, validator=attrs.validators.ge(0))
    fail: FailMode | None = None
    model: str = MODEL
    width: int = attrs.field(default=1024, validator=attrs.validators.in_(range(1, 16385)))
    height: int = attrs.field(default=1024, validator=attrs.validators.in_(range(1, 16385)))
    format: Literal["png", "jpeg"] = "png"


class MockBackend:
    """Draws a gradient, shapes and the prompt text; honours size, count and seed."""

    def __init__(self, name: str, settings: MockSettings) -> None:
        self.name = name
        self.settings = settings

    def status(self) -> Status:
        return Status.ready("placeholder images, offline")

    def estimate_cost(self, request: Request) -> Cost:
        return Cost.free("mock backend: placeholder images are free")

    async def aclose(self) -> None:
        return None

    async def generate(self, request: Request, progress: Progress) -> Result:
        import asyncio

        started = time.monotonic()
        width, height = self._size(request)
        base_seed = request.seed if request.seed is not None else 0
        images = []
        for index in range(request.count):
            seed = base_seed + index
            await self._wait(progress, index, request.count)
            self._maybe_fail()
            data = await asyncio.to_thread(
                render, request.prompt, seed, width, height, self.settings.format
            )
            media_type = "image/png" if self.settings.format == "png" else "image/jpeg"
            images.append(Image(data, media_type, width, height, seed))
        progress.update(request.count, request.count, "done")
        return Result(
            images=tuple(images),
            model=self.settings.model,
            latency=time.monotonic() - started,
            cost=Cost.free("mock backend: placeholder images are free"),
            metadata={"placeholder": True},
        )

    def _size(self, request: Request) -> tuple[int, int]:
        if request.width and request.height:
            return request.width, request.height
        if request.aspect_ratio:
            return size_for_aspect(request.aspect_ratio, megapixels=1.0, multiple=16)
        return self.settings.width, self.settings.height

    async def _wait(self, progress: Progress, index: int, count: int) -> None:
        import asyncio

        steps = 4
        for step in range(steps):
            progress.update(index + step / steps, count, "drawing")
            if self.settings.latency:
                await asyncio.sleep(self.settings.latency / steps)

    def _maybe_fail(self) -> None:
        mode = self.settings.fail
        name = self.name
        if mode is None:
            return
        errors: dict[str, BackendError] = {
            "auth": AuthError("mock refused the credentials (fail: auth)", backend=name),
            "rate_limit": RateLimited("mock says slow down (fail: rate_limit)", backend=name),
            "content": ContentBlocked(
                "mock blocked the prompt (fail: content)", backend=name, reason="MOCK"
            ),
            "invalid": InvalidRequest(
                "mock rejected the request (fail: invalid)",
                backend=name,
                fields={"prompt": "rejected by the mock"},
            ),
            "unavailable": BackendUnavailable(
                "mock is unreachable (fail: unavailable)", backend=name
            ),
            "timeout": BackendTimeout("mock timed out (fail: timeout)", backend=name),
            "error": BackendError("mock failed (fail: error)", backend=name),
        }
        raise errors[mode]


def _rng(prompt: str, seed: int, width: int, height: int) -> random.Random:
    """Every random choice of the drawing comes from this, so its arguments alone decide the image.

    Seeded from a digest rather than ``hash()``, which Python salts per process."""
    import hashlib
    import random

    digest = hashlib.sha256(f"{prompt}\0{seed}\0{width}x{height}".encode()).digest()
    return random.Random(digest)


def _palette(rng: random.Random) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
    hue = rng.random()
    import colorsys

    def rgb(h: float, l: float, s: float) -> tuple[int, int, int]:  # noqa: E741
        r, g, b = colorsys.hls_to_rgb(h % 1.0, l, s)
        return int(r * 255), int(g * 255), int(b * 255)

    return rgb(hue, 0.25, 0.55), rgb(hue + 0.18, 0.72, 0.6)


def render(prompt: str, seed: int, width: int, height: int, fmt: str = "png") -> bytes:
    """The placeholder image as encoded bytes; identical for identical arguments."""
    import textwrap

    from PIL import Image as PILImage
    from PIL import ImageDraw, ImageOps

    rng = _rng(prompt, seed, width, height)
    dark, light = _palette(rng)
    gradient = PILImage.linear_gradient("L").rotate(rng.choice((0, 45, 90, 135)), expand=False)
    canvas = ImageOps.colorize(gradient.resize((width, height)), dark, light).convert("RGB")
    draw = ImageDraw.Draw(canvas)
    short = min(width, height)
    for _ in range(6):
        radius = rng.randint(max(2, short // 16), max(3, short // 4))
        x, y = rng.randint(0, width), rng.randint(0, height)
        color = (rng.randint(40, 230), rng.randint(40, 230), rng.randint(40, 230))
        box = (x - radius, y - radius, x + radius, y + radius)
        if rng.random() < 0.5:
            draw.ellipse(box, outline=color, width=max(1, short // 128))
        else:
            draw.rectangle(box, outline=color, width=max(1, short // 128))

    size = max(8, short // 24)
    font = _font(size)
    label_font = _font(max(8, short // 32))
    lines = textwrap.wrap(prompt, width=max(8, int(width / (size * 0.6)) - 2))[:6] or [""]
    text = "\n".join(lines)
    left_, top_, right_, bottom_ = draw.multiline_textbbox(
        (0, 0), text, font=font, spacing=size // 3
    )
    text_w, text_h = int(right_ - left_), int(bottom_ - top_)
    left, top = (width - text_w) // 2, (height - text_h) // 2
    pad = size // 2
    draw.rectangle((left - pad, top - pad, left + text_w + pad, top + text_h + pad), fill=(0, 0, 0))
    draw.multiline_text((left, top), text, font=font, fill=(255, 255, 255), spacing=size // 3)
    draw.text(
        (pad, pad),
        f"PLACEHOLDER - imagen mock - seed {seed}",
        font=label_font,
        fill=(255, 255, 255),
    )

    out = io.BytesIO()
    if fmt == "jpeg":
        canvas.save(out, format="JPEG", quality=90)
    else:
        canvas.save(out, format="PNG", compress_level=6)
    return out.getvalue()


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError, ImportError):
        return ImageFont.load_default()
