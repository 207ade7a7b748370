"""One real generation against the Gemini API; opt-in (IMAGEN_LIVE=1 and GEMINI_API_KEY set)."""

from __future__ import annotations

import asyncio
import os

import pytest

from imagen.models import Progress, Request, Result
from imagen_gemini.backend import GeminiBackend
from imagen_gemini.settings import GeminiSettings

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("IMAGEN_LIVE") != "1" or not os.environ.get("GEMINI_API_KEY"),
        reason="live Gemini test: set IMAGEN_LIVE=1 and GEMINI_API_KEY (spends about $0.04)",
    ),
]


def test_real_gemini_returns_one_image_of_the_requested_ratio():
    backend = GeminiBackend("gemini-live", GeminiSettings())

    async def main() -> Result:
        try:
            return await backend.generate(
                Request("a small red kite in a blue sky", aspect_ratio="16:9"), Progress()
            )
        finally:
            await backend.aclose()

    result = asyncio.run(main())
    (image,) = result.images
    assert image.media_type in ("image/png", "image/jpeg", "image/webp")
    assert image.width > image.height
    assert result.cost is not None
