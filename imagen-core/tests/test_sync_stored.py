"""``imagen sync`` retries a delivery to a storage sink, which says where it stored the take.

A storage sink's ``deliver`` returns ``Stored`` (its object and URL) instead of None; for a sync
that is a success like any other, not a failure to count.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import attrs
import pytest

from imagen import hookimpl
from imagen.config.model import Config, SinkInstance
from imagen.models import Generation, Request
from imagen.plugins import loader as plugins
from imagen.plugins.registry import SinkRegister
from imagen.sinks.outbox import Outbox
from imagen.sinks.protocol import Delivery, Stored
from imagen.sinks.sync import SyncResult, SyncSummary, sync

DELIVERED: list[str] = []


@attrs.frozen
class StoreSettings:
    pass


class StoreSink:
    def __init__(self, name: str, settings: StoreSettings) -> None:
        self.name = name

    def enabled_auto(self) -> bool:
        return True

    async def deliver(self, delivery: Delivery) -> Stored:
        DELIVERED.append(delivery.generation.path)
        path = delivery.generation.path
        return Stored(f"bucket/{path}", f"https://store.example/bucket/{path}")

    async def aclose(self) -> None:
        return None


class StorePlugin:
    @hookimpl
    def register_sinks(self, register: SinkRegister) -> None:
        register("store", StoreSink, StoreSettings)


@pytest.fixture(autouse=True)
def store_plugin() -> Iterator[None]:
    DELIVERED.clear()
    plugins.manager().register(StorePlugin(), name="test-store-sink")
    plugins.registry.cache_clear()
    yield
    plugins.manager().unregister(name="test-store-sink")
    plugins.registry.cache_clear()


def test_a_sync_to_a_storage_sink_is_a_success_and_empties_the_outbox(tmp_path: Path) -> None:
    (tmp_path / "cat 1.png").write_bytes(b"\x89PNG not really")
    generation = Generation(
        request=Request("a cat", seed=1),
        backend="mock",
        backend_type="mock",
        model="placeholder",
        seed=1,
        path="cat 1.png",
        output_dir=str(tmp_path),
        sha256="ab" * 32,
        media_type="image/png",
        width=8,
        height=8,
        size_bytes=15,
        latency=0.1,
        created_at=dt.datetime(2026, 11, 23, 16, 0, tzinfo=dt.UTC),
    )
    config = Config(sinks={"bucket": SinkInstance("bucket", "store", StoreSettings())})
    results: list[SyncResult] = []
    with Outbox.open(str(tmp_path / "outbox.sqlite3")) as outbox:
        outbox.add("bucket", generation, error="offline")
        summary = asyncio.run(sync(config, outbox, report=results.append))
        assert outbox.pending() == []
    assert summary == SyncSummary(synced=1)
    assert [(result.outcome, result.message) for result in results] == [("synced", None)]
    assert DELIVERED == ["cat 1.png"]
