"""A fake Replicate on a real loopback socket per test, and backends pointed at it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import attrs
import pytest

from imagen.models import Progress, Request, Result
from imagen.testing.servers import serve_app
from imagen_replicate.backend import ReplicateBackend
from imagen_replicate.fake_server import FakeReplicate, Scenario
from imagen_replicate.settings import ReplicateSettings

TOKEN = "r8_test_Zx81kQp7token"


@attrs.define
class Replicate:
    """The running fake and helpers to build and run backends against it."""

    fake: FakeReplicate
    url: str
    sleeps: list[float] = attrs.field(factory=list)

    def backend(self, **settings: Any) -> ReplicateBackend:
        settings.setdefault("model", "black-forest-labs/flux-schnell")

        async def record_sleep(seconds: float) -> None:
            self.sleeps.append(seconds)

        return ReplicateBackend(
            "replicate-test", ReplicateSettings(base_url=self.url, **settings), sleep=record_sleep
        )

    def generate(
        self, request: Request | None = None, progress: Progress | None = None, **settings: Any
    ) -> Result:
        backend = self.backend(**settings)

        async def main() -> Result:
            try:
                return await backend.generate(
                    request or Request("a cat in a fishbowl", seed=7), progress or Progress()
                )
            finally:
                await backend.aclose()

        return asyncio.run(main())

    def play(self, **scenario: Any) -> None:
        self.fake.scenario = Scenario(**scenario)


@pytest.fixture
def replicate(monkeypatch: pytest.MonkeyPatch) -> Iterator[Replicate]:
    monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
    fake = FakeReplicate(token=TOKEN)
    with serve_app(fake.app()) as url:
        yield Replicate(fake, url)
