"""One real generation against the OpenAI Images API; opt-in (IMAGEN_LIVE=1, OPENAI_API_KEY)."""

from __future__ import annotations

import asyncio
import os

import pytest

from imagen.models import Progress, Request, Result
from imagen_openai.backend import OpenAIBackend
from imagen_openai.settings import OpenAISettings

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("IMAGEN_LIVE") != "1" or not os.environ.get("OPENAI_API_KEY"),
        reason="live OpenAI test: set IMAGEN_LIVE=1 and OPENAI_API_KEY (spends about $0.01)",
    ),
]


def test_real_openai_returns_one_landscape_image_with_its_cost():
    backend = OpenAIBackend("openai-live", OpenAISettings(quality="low", partial_images=1))

    async def main() -> Result:
        try:
            return await backend.generate(
                Request("a small red kite in a blue sky", width=1536, height=1024), Progress()
            )
        finally:
            await backend.aclose()

    result = asyncio.run(main())
    (image,) = result.images
    assert image.media_type == "image/png"
    assert image.width > image.height
    assert image.seed is None
    assert result.cost is not None
    assert result.cost.amount > 0
