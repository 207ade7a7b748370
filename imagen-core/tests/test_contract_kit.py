"""The contract kit catches a backend whose recorded seed is not the one its image was made with.

A backend that claims seeds must report, on each image, a seed that remakes that image; a
seedless request included (the seed the provider chose). These backends break that promise in
small ways the kit must notice, seed 0 included (a seed like any other).
"""

from __future__ import annotations

import attrs
import pytest

from imagen.backend import Backend
from imagen.mock import MockBackend, MockSettings
from imagen.models import Progress, Request, Result
from imagen.testing import BackendContract


class _SeedlessDrawnWithAnother(MockBackend):
    """Draws a seedless take with seed 5 but reports the seed it would have used (0)."""

    async def generate(self, request: Request, progress: Progress) -> Result:
        if request.seed is not None:
            return await super().generate(request, progress)
        drawn = await super().generate(attrs.evolve(request, seed=5), progress)
        images = tuple(attrs.evolve(image, seed=index) for index, image in enumerate(drawn.images))
        return attrs.evolve(drawn, images=images)


class _ReportsTheAskedSeedOnEveryTake(MockBackend):
    """Each take of a batch is drawn with its own seed, yet every one reports the asked one."""

    async def generate(self, request: Request, progress: Progress) -> Result:
        drawn = await super().generate(request, progress)
        images = tuple(attrs.evolve(image, seed=request.seed) for image in drawn.images)
        return attrs.evolve(drawn, images=images)


class _Kit(BackendContract):
    backend_type: type[MockBackend] = MockBackend

    def make_backend(self) -> Backend:
        return self.backend_type("mock", MockSettings())


@pytest.mark.parametrize(
    "backend_type", [_SeedlessDrawnWithAnother, _ReportsTheAskedSeedOnEveryTake]
)
def test_a_reported_seed_that_does_not_remake_the_image_fails_the_kit(
    backend_type: type[MockBackend],
) -> None:
    kit = _Kit()
    kit.backend_type = backend_type
    with pytest.raises(AssertionError, match="made another image"):
        kit.test_each_image_comes_back_from_the_seed_it_reports()


def test_an_honest_backend_passes_the_same_check() -> None:
    _Kit().test_each_image_comes_back_from_the_seed_it_reports()
