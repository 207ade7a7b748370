"""The ``solid`` backend: one solid-colour PNG per take, drawn locally with Pillow.

It has no provider to call, so it shows only the framework's side of the contract: sizes,
count and seeds, progress, cost, status, errors and cancellation. A real adapter adds an
HTTP client here (``imagen.adapters.http.make_client``), created on first use and closed in
``aclose``.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import time

from imagen.errors import InvalidRequest
from imagen.models import Cost, Image, Progress, Request, Result, Status
from imagen.sizes import size_for_aspect
from imagen_solid.settings import FROM_PROMPT, HEX_COLOR, SolidSettings

MODEL = "solid-color"
FREE = "solid: drawn locally, free"


class SolidBackend:
    """Draws ``request.count`` images, each reporting its seed (``seed``, ``seed + 1``, ...)."""

    def __init__(self, name: str, settings: SolidSettings) -> None:
        # No network and no failure here: `imagen backends` builds every instance to list it.
        self.name = name
        self.settings = settings

    def status(self) -> Status:
        return Status.ready(self.settings.color)

    def estimate_cost(self, request: Request) -> Cost:
        return Cost.free(FREE)

    async def aclose(self) -> None:
        return None

    async def generate(self, request: Request, progress: Progress) -> Result:
        started = time.monotonic()
        width, height = self.size_for(request)
        if width * height > self.settings.max_pixels:
            raise InvalidRequest(
                f"{width}x{height} is larger than max_pixels ({self.settings.max_pixels}); "
                "ask for a smaller --size",
                backend=self.name,
                fields={"size": f"{width}x{height}"},
            )
        first_seed = request.seed if request.seed is not None else 0
        images = []
        colors = []
        for index in range(request.count):
            seed = first_seed + index
            color = self.color_for(request, seed)
            progress.update(index, request.count, f"drawing {color}")
            if self.settings.delay:
                # A cancelled take stops here: asyncio.CancelledError propagates, nothing leaks.
                await asyncio.sleep(self.settings.delay)
            data = await asyncio.to_thread(draw_png, color, width, height)
            images.append(Image(data, "image/png", width, height, seed))
            colors.append(color)
        progress.update(request.count, request.count, "done")
        return Result(
            images=tuple(images),
            model=MODEL,
            latency=time.monotonic() - started,
            cost=Cost.free(FREE),
            metadata={"colors": colors},
        )

    def size_for(self, request: Request) -> tuple[int, int]:
        if request.width and request.height:
            return request.width, request.height
        if request.aspect_ratio:
            return size_for_aspect(request.aspect_ratio, megapixels=1.0, multiple=16)
        return self.settings.width, self.settings.height

    def color_for(self, request: Request, seed: int) -> str:
        """The colour of one take: ``--opt color=...`` if given, else the configured one."""
        chosen = request.options.get("color", self.settings.color)
        if not isinstance(chosen, str) or (chosen != FROM_PROMPT and not HEX_COLOR.match(chosen)):
            raise InvalidRequest(
                f"--opt color={chosen}: expected #rrggbb or prompt",
                backend=self.name,
                fields={"color": str(chosen)},
            )
        if chosen == FROM_PROMPT:
            return prompt_color(request.prompt, seed)
        return chosen.lower()


def prompt_color(prompt: str, seed: int) -> str:
    """A colour from the prompt and the seed: the same pair always gives the same colour."""
    digest = hashlib.sha256(f"{prompt}\0{seed}".encode()).hexdigest()
    return f"#{digest[:6]}"


def draw_png(color: str, width: int, height: int) -> bytes:
    """A ``width`` x ``height`` PNG filled with ``color`` (``#rrggbb``)."""
    from PIL import Image as PILImage  # imported here, not at the top: keeps startup fast

    buffer = io.BytesIO()
    PILImage.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()
