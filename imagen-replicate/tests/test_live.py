"""One real flux-schnell generation on Replicate; opt-in (IMAGEN_LIVE=1 and REPLICATE_API_TOKEN)."""

from __future__ import annotations

import asyncio
import os
from decimal import Decimal

import pytest

from imagen.models import Progress, Request, Result
from imagen_replicate.backend import ReplicateBackend
from imagen_replicate.settings import ReplicateSettings

pytestmark = [
    pytest.mark.live,
    pytest.mark.skipif(
        os.environ.get("IMAGEN_LIVE") != "1" or not os.environ.get("REPLICATE_API_TOKEN"),
        reason="live Replicate test: set IMAGEN_LIVE=1 and REPLICATE_API_TOKEN (spends $0.003)",
    ),
]


def test_real_flux_schnell_returns_one_landscape_image_with_its_seed() -> None:
    backend = ReplicateBackend(
        "replicate-live", ReplicateSettings(model="black-forest-labs/flux-schnell")
    )

    async def main() -> Result:
        try:
            return await backend.generate(
                Request("a small red kite in a blue sky", aspect_ratio="16:9", seed=1234),
                Progress(),
            )
        finally:
            await backend.aclose()

    result = asyncio.run(main())
    (image,) = result.images
    assert image.media_type == "image/png"
    assert image.width > image.height
    assert image.seed == 1234
    assert result.metadata["prediction_id"]
    assert result.cost is not None
    assert result.cost.amount == Decimal("0.003")
