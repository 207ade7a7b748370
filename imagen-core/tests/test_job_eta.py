"""A job's ETA reads the instance's recent latencies from the history: once in a while, not per job.

Every submit and every job's start ask for it; reading the recent takes costs milliseconds of
each job's queue overhead, and an estimate needs no fresher figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import attrs
import pytest

from imagen.config.model import Config
from imagen.jobs import eta
from imagen.store.history import History
from imagen.testing.samples import sample_generation


@pytest.fixture
def config(tmp_path: Path) -> Config:
    base = Config()
    return attrs.evolve(base, history=attrs.evolve(base.history, path=str(tmp_path / "h.db")))


def queries(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    asked: list[str] = []
    real = History.query

    def counting(self: History, **options: Any) -> Any:
        asked.append(str(options.get("backend")))
        return real(self, **options)

    monkeypatch.setattr(History, "query", counting)
    return asked


def test_a_latency_found_is_used_again_without_reading_the_history(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    take = sample_generation(latency=2.5)
    History.shared(config.history.path).record(take)
    asked = queries(monkeypatch)
    assert eta.recent_latency(config, take.backend) == 2.5
    History.shared(config.history.path).record(sample_generation(latency=9.5, seed=2))
    assert eta.recent_latency(config, take.backend) == 2.5
    assert asked == [take.backend]
    # Once it is old, the history is read again.
    monkeypatch.setattr(eta, "LATENCY_REUSE", 0.0)
    assert eta.recent_latency(config, take.backend) == 6.0
    assert asked == [take.backend, take.backend]


def test_an_instance_without_takes_is_looked_for_again(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    take = sample_generation(latency=1.5)
    asked = queries(monkeypatch)
    assert eta.recent_latency(config, take.backend) is None
    History.shared(config.history.path).record(take)
    assert eta.recent_latency(config, take.backend) == 1.5
    assert asked == [take.backend, take.backend]
