"""The shared backend contract (imagen.testing), run against the fake Replicate."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, ClassVar

import pytest

from imagen.backend import Backend
from imagen.errors import (
    AuthError,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    ContentBlocked,
    ImagenError,
    InvalidRequest,
    RateLimited,
)
from imagen.testing import BackendContract
from imagen.testing.servers import serve_app
from imagen_replicate.backend import ReplicateBackend
from imagen_replicate.fake_server import FakeReplicate, Scenario
from imagen_replicate.settings import ReplicateSettings

from .conftest import TOKEN

NSFW = "All generated images contained NSFW content. Try running it again with a different prompt."


async def _no_wait(seconds: float) -> None:
    return None


class TestReplicateContract(BackendContract):
    honours_size: ClassVar[bool] = False  # Replicate takes aspect ratios, not pixel sizes

    @pytest.fixture(autouse=True)
    def _servers(self, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
        monkeypatch.setenv("REPLICATE_API_TOKEN", TOKEN)
        with contextlib.ExitStack() as stack:
            self._stack = stack
            self._url = self._serve(Scenario())
            yield

    def _serve(self, scenario: Scenario, **fake: Any) -> str:
        server = FakeReplicate(token=fake.pop("token", TOKEN), scenario=scenario)
        server.expired = fake.pop("expired", False)
        return self._stack.enter_context(serve_app(server.app()))

    def _backend(self, url: str, **settings: Any) -> ReplicateBackend:
        settings.setdefault("model", "black-forest-labs/flux-schnell")
        return ReplicateBackend(
            "contract", ReplicateSettings(base_url=url, **settings), sleep=_no_wait
        )

    def make_backend(self) -> Backend:
        return self._backend(self._url)

    def make_backend_for(self, url: str) -> Backend | None:
        return self._backend(url)

    def make_slow_backend(self) -> Backend | None:
        return self._backend(self._serve(Scenario(predict_time=3.0)))

    def make_failing_backends(self) -> Iterable[tuple[str, Backend, type[ImagenError]]]:
        cases: list[tuple[str, Scenario, dict[str, Any], dict[str, Any], type[ImagenError]]] = [
            ("refused token", Scenario(), {"token": "r8_other"}, {}, AuthError),
            ("throttled", Scenario(create_faults=[429] * 4), {}, {}, RateLimited),
            ("server errors", Scenario(create_faults=[500, 500]), {}, {}, BackendUnavailable),
            ("dropped", Scenario(create_faults=["drop", "drop"]), {}, {}, BackendUnavailable),
            ("failed", Scenario(outcome="failed", error="boom"), {}, {}, BackendError),
            ("nsfw", Scenario(outcome="failed", error=NSFW), {}, {}, ContentBlocked),
            ("aborted", Scenario(outcome="aborted"), {}, {}, BackendUnavailable),
            ("expired output", Scenario(), {"expired": True}, {}, BackendError),
            ("too slow", Scenario(predict_time=30), {}, {"timeout": 0.3}, BackendTimeout),
            ("unknown model", Scenario(), {}, {"model": "nobody/nothing"}, InvalidRequest),
        ]
        for label, scenario, fake, settings, expected in cases:
            yield label, self._backend(self._serve(scenario, **fake), **settings), expected
