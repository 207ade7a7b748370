"""The framework's backend contract, run against the fake Gemini server."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imagen.errors import AuthError, ContentBlocked, InvalidRequest, RateLimited
from imagen.testing import BackendContract


class TestGeminiContract(BackendContract):
    honours_size = False  # Gemini answers with the size of the nearest aspect ratio
    reports_seed = False  # Gemini has no seed

    @pytest.fixture(autouse=True)
    def _server(self, fake: Any, make_backend: Any) -> None:
        self.fake = fake
        self.new_backend = make_backend

    def make_backend(self) -> Any:
        return self.new_backend()

    def make_backend_for(self, url: str) -> Any:
        from imagen_gemini.backend import GeminiBackend
        from imagen_gemini.settings import GeminiSettings

        async def no_wait(seconds: float) -> None:
            return None

        return GeminiBackend("gemini-test", GeminiSettings(base_url=url), sleep=no_wait)

    def make_slow_backend(self) -> Any:
        self.fake.hold()  # answers wait until the server stops
        return self.new_backend()

    def make_failing_backends(self) -> Iterator[tuple[str, Any, type[Exception]]]:
        fake = self.fake
        fake.then(fake.prompt_blocked("SAFETY"))
        yield "blocked prompt", self.new_backend(), ContentBlocked
        fake.then(fake.error(403, "PERMISSION_DENIED", "Permission denied."))
        yield "refused key", self.new_backend(), AuthError
        yield "unknown model", self.new_backend(model="gemini-0-image"), InvalidRequest
        fake.then(*(fake.rate_limited() for _ in range(4)))
        yield "rate limited", self.new_backend(), RateLimited
