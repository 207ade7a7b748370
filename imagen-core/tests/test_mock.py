"""The built-in mock backend keeps the backend contract and is deterministic."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Iterable
from typing import Any

import pytest
from PIL import Image as PILImage

from imagen import errors
from imagen.backend import Backend
from imagen.mock import MockBackend, MockSettings, render
from imagen.models import Cost, Progress, Request, Result, Status
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


# -- what a take of the mock gives back ---------------------------------------------------------


def generate(request: Request, **settings: Any) -> Result:
    return asyncio.run(MockBackend("draft", MockSettings(**settings)).generate(request, Progress()))


def test_each_image_is_made_with_the_next_seed_from_the_requests() -> None:
    result = generate(Request(prompt="a cat", seed=41, count=3, width=32, height=32))

    assert [image.seed for image in result.images] == [41, 42, 43]
    assert [image.data for image in result.images] == [
        render("a cat", seed, 32, 32) for seed in (41, 42, 43)
    ]


def test_without_a_seed_the_images_are_made_from_seed_0_on() -> None:
    result = generate(Request(prompt="a cat", count=2, width=32, height=32))

    assert [image.seed for image in result.images] == [0, 1]
    assert result.images[0].data == render("a cat", 0, 32, 32)


def test_a_take_reports_its_model_the_placeholder_and_that_it_is_free() -> None:
    before = time.monotonic()
    result = generate(Request(prompt="x", width=16, height=16), model="house-mock")
    took = time.monotonic() - before

    assert result.model == "house-mock"
    assert result.metadata == {"placeholder": True}
    assert result.cost == Cost.free("mock backend: placeholder images are free")
    assert result.images[0].media_type == "image/png"
    assert result.images[0].data.startswith(b"\x89PNG")
    assert 0 < result.latency <= took  # the time the take took, measured around the drawing


@pytest.mark.parametrize(
    ("request_size", "expected"),
    [
        ({"width": 48, "height": 32}, (48, 32)),
        ({"width": 48}, (80, 64)),  # one side alone is not a size: the configured one is used
        ({"height": 32}, (80, 64)),
        ({}, (80, 64)),
        ({"aspect_ratio": "1:1"}, (1024, 1024)),  # about a megapixel, in multiples of 16
        ({"aspect_ratio": "16:9"}, (1360, 768)),
    ],
)
def test_the_image_size_comes_from_the_request_else_the_settings(
    request_size: dict[str, Any], expected: tuple[int, int]
) -> None:
    result = generate(Request(prompt="x", **request_size), width=80, height=64)

    image = result.images[0]
    assert (image.width, image.height) == expected
    with PILImage.open(io.BytesIO(image.data)) as drawn:
        assert drawn.size == expected


def test_progress_climbs_through_each_images_steps_to_done() -> None:
    seen: list[tuple[float, float | None, str]] = []
    backend = MockBackend("draft", MockSettings())

    asyncio.run(
        backend.generate(
            Request(prompt="x", count=2, width=16, height=16),
            Progress(lambda done, total, message: seen.append((done, total, message))),
        )
    )

    drawing = [(done, total) for done, total, message in seen if message == "drawing"]
    assert drawing == [(0, 2), (0.25, 2), (0.5, 2), (0.75, 2), (1, 2), (1.25, 2), (1.5, 2),
                       (1.75, 2)]  # fmt: skip
    assert seen[-1] == (2, 2, "done")


def test_latency_is_spent_over_each_images_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    monkeypatch.setattr(asyncio, "sleep", sleep)
    generate(Request(prompt="x", count=2, width=16, height=16), latency=2.0)
    assert waits == [0.5] * 8

    waits.clear()
    generate(Request(prompt="x", width=16, height=16))
    assert waits == []


FAILURES = {
    "auth": (errors.AuthError, "mock refused the credentials (fail: auth)"),
    "rate_limit": (errors.RateLimited, "mock says slow down (fail: rate_limit)"),
    "content": (errors.ContentBlocked, "mock blocked the prompt (fail: content)"),
    "invalid": (errors.InvalidRequest, "mock rejected the request (fail: invalid)"),
    "unavailable": (errors.BackendUnavailable, "mock is unreachable (fail: unavailable)"),
    "timeout": (errors.BackendTimeout, "mock timed out (fail: timeout)"),
    "error": (errors.BackendError, "mock failed (fail: error)"),
}


@pytest.mark.parametrize("mode", sorted(FAILURES))
def test_each_failure_mode_names_itself_and_the_backend(mode: str) -> None:
    kind, message = FAILURES[mode]

    with pytest.raises(errors.BackendError) as raised:
        generate(Request(prompt="x", width=16, height=16), fail=mode)

    assert type(raised.value) is kind
    assert raised.value.message == message
    assert raised.value.backend == "draft"
    assert str(raised.value) == f"draft: {message}"


def test_a_blocked_prompt_gives_the_mocks_reason_and_a_rejected_one_the_field() -> None:
    with pytest.raises(errors.ContentBlocked) as blocked:
        generate(Request(prompt="x", width=16, height=16), fail="content")
    assert blocked.value.reason == "MOCK"

    with pytest.raises(errors.InvalidRequest) as rejected:
        generate(Request(prompt="x", width=16, height=16), fail="invalid")
    assert rejected.value.fields == {"prompt": "rejected by the mock"}


def test_the_mock_is_ready_offline_and_estimates_nothing() -> None:
    backend = MockBackend("draft", MockSettings())

    assert backend.status() == Status.ready("placeholder images, offline")
    assert str(backend.status()) == "ok (placeholder images, offline)"
    assert backend.estimate_cost(Request(prompt="x")) == Cost.free(
        "mock backend: placeholder images are free"
    )
