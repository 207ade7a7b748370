"""The framework's backend contract, run against the fake Images API."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from imagen.errors import (
    AuthError,
    ContentBlocked,
    InvalidRequest,
    NotConfigured,
    QuotaExceeded,
    RateLimited,
)
from imagen.testing import BackendContract
from imagen_openai.backend import OpenAIBackend
from imagen_openai.fake_server import FakeOpenAI
from imagen_openai.settings import OpenAISettings
from imagen_openai.testing import MakeBackend, no_wait


class TestOpenAIContract(BackendContract):
    honours_size = False  # sizes snap to the model's table or to its pixel range
    reports_seed = False  # the Images API has no seed

    @pytest.fixture(autouse=True)
    def _server(
        self, fake: FakeOpenAI, make_backend: MakeBackend, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("WRONG_OPENAI_KEY", "sk-proj-wrongKey0123456789abcdefghijkl")
        monkeypatch.delenv("UNSET_OPENAI_KEY", raising=False)
        self.fake = fake
        self.new_backend = make_backend

    def make_backend(self) -> Any:
        return self.new_backend()

    def make_backend_for(self, url: str) -> Any:
        return OpenAIBackend("openai-test", OpenAISettings(base_url=url), sleep=no_wait)

    def make_slow_backend(self) -> Any:
        self.fake.delay = 5.0
        return self.new_backend()

    def make_failing_backends(self) -> Iterator[tuple[str, Any, type[Exception]]]:
        fake = self.fake
        yield "key not set", self.new_backend(api_key_env="UNSET_OPENAI_KEY"), NotConfigured
        yield "wrong key", self.new_backend(api_key_env="WRONG_OPENAI_KEY"), AuthError
        fake.then(*(fake.rate_limited() for _ in range(4)))
        yield "rate limited", self.new_backend(), RateLimited
        fake.then(fake.out_of_quota())
        yield "no quota", self.new_backend(), QuotaExceeded
        yield "unknown quality", self.new_backend(quality="ultra"), InvalidRequest
        yield (
            "transparent on gpt-image-2",
            self.new_backend(background="transparent"),
            (InvalidRequest),
        )
        fake.then(fake.stream_failure("moderation_blocked", "no", "image_generation_user_error"))
        yield "blocked mid-stream", self.new_backend(partial_images=1), ContentBlocked
