"""The built-in mock backend keeps the backend contract and is deterministic."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from imagen import errors
from imagen.backend import Backend
from imagen.mock import MockBackend, MockSettings, render
from imagen.models import Progress, Request
from imagen.testing import BackendContract


class TestMockContract(BackendContract):
    def make_backend(self) -> Backend:
        return MockBackend("mock", MockSettings())

    def make_slow_backend(self) -> Backend:
        return MockBackend("mock", MockSettings(latency=10))

    def make_failing_backends(self) -> Iterable[tuple[str, Backend, type[errors.ImagenError]]]:
        expected: dict[str, type[errors.ImagenError]] = {
            "auth": errors.AuthError,
            "rate_limit": errors.RateLimited,
            "content": errors.ContentBlocked,
            "invalid": errors.InvalidRequest,
            "unavailable": errors.BackendUnavailable,
            "timeout": errors.BackendTimeout,
            "error": errors.BackendError,
        }
        for mode, kind in expected.items():
            yield mode, MockBackend("mock", MockSettings(fail=mode)), kind  # type: ignore[arg-type]


def test_same_prompt_and_seed_give_identical_bytes() -> None:
    assert render("a cat", 3, 200, 100) == render("a cat", 3, 200, 100)


def test_different_seed_or_prompt_give_different_images() -> None:
    base = render("a cat", 3, 200, 100)
    assert render("a cat", 4, 200, 100) != base
    assert render("a dog", 3, 200, 100) != base


def test_aspect_ratio_gives_a_matching_size() -> None:
    backend = MockBackend("mock", MockSettings())
    result = asyncio.run(backend.generate(Request(prompt="x", aspect_ratio="16:9"), Progress()))
    image = result.images[0]
    assert abs(image.width / image.height - 16 / 9) < 0.05


def test_jpeg_format_is_honoured() -> None:
    backend = MockBackend("mock", MockSettings(format="jpeg"))
    result = asyncio.run(backend.generate(Request(prompt="x", width=32, height=32), Progress()))
    assert result.images[0].media_type == "image/jpeg"
    assert result.images[0].data.startswith(b"\xff\xd8\xff")
