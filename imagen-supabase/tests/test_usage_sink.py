"""The supabase-usage sink and its usage source against a fake PostgREST over loopback."""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs
import pytest

from imagen.errors import SinkError
from imagen.models import Generation
from imagen.sinks.protocol import Delivery, Sink, UsageRow, UsageSource
from imagen_supabase import usage
from imagen_supabase.settings import UsageSettings
from imagen_supabase.testing import ANON_JWT, SECRET_KEY, RecordingSleep
from imagen_supabase.usage import SupabaseUsageSink

Served = Any  # the ``supabase`` fixture: .fake (FakeSupabase) and .url


def make_sink(
    url: str, sleeps: RecordingSleep | None = None, **overrides: Any
) -> SupabaseUsageSink:
    settings = attrs.evolve(UsageSettings(url=url, key_env="TEST_SUPABASE_KEY"), **overrides)
    return SupabaseUsageSink("usage", settings, sleep=sleeps or RecordingSleep())


def deliver(sink: SupabaseUsageSink, generation: Generation) -> SinkError | None:
    async def run() -> SinkError | None:
        try:
            await sink.deliver(Delivery(generation, sink.name))
        except SinkError as error:
            return error
        finally:
            await sink.aclose()
        return None

    return asyncio.run(run())


def read_rows(sink: SupabaseUsageSink, since: dt.datetime | None) -> Sequence[UsageRow]:
    async def run() -> Sequence[UsageRow]:
        try:
            return await sink.usage_rows(since)
        finally:
            await sink.aclose()

    return asyncio.run(run())


@pytest.fixture(autouse=True)
def service_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", SECRET_KEY)


def test_one_row_per_take_with_the_prompt_hash_and_never_the_prompt(
    supabase: Served, generation: Generation
) -> None:
    assert deliver(make_sink(supabase.url), generation) is None

    [row] = supabase.fake.rows("mai", "imagen_usage")
    expected_hash = hashlib.sha256(b"a cat in a fishbowl").hexdigest()
    assert row["prompt_hash"] == expected_hash
    assert row["backend"] == "flux-dev-replicate"
    assert row["model"] == "black-forest-labs/flux-dev"
    assert row["seed"] == 42
    assert row["latency_ms"] == 3250
    assert row["cost_usd_estimate"] == "0.025"
    assert row["caller"] == "tester"
    assert row["created_at"] == "2026-11-23T15:09:12+00:00"
    [insert] = supabase.fake.requests("insert")
    assert b"fishbowl" not in insert.body
    assert insert.headers["Content-Profile"] == "mai"


def test_insert_retried_after_a_lost_answer_is_counted_once(
    supabase: Served, generation: Generation
) -> None:
    supabase.fake.fail("insert", "store-then-503")

    assert deliver(make_sink(supabase.url), generation) is None

    assert len(supabase.fake.requests("insert")) == 2
    assert len(supabase.fake.rows("mai", "imagen_usage")) == 1


def test_two_takes_get_two_rows(supabase: Served, generation: Generation) -> None:
    second = attrs.evolve(generation, path="2026-11-23/150912-a-cat-in-a-fishbowl-43.png", seed=43)

    assert deliver(make_sink(supabase.url), generation) is None
    assert deliver(make_sink(supabase.url), second) is None

    assert len(supabase.fake.rows("mai", "imagen_usage")) == 2


def test_anon_key_is_refused_with_advice(
    supabase: Served, generation: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_SUPABASE_KEY", ANON_JWT)

    error = deliver(make_sink(supabase.url), generation)

    assert error is not None
    assert "401 42501" in str(error)
    assert "service key" in str(error)
    assert not error.retryable


def test_unexposed_usage_schema_says_how_to_expose_it(
    supabase: Served, generation: Generation
) -> None:
    supabase.fake.exposed.remove("mai")

    error = deliver(make_sink(supabase.url), generation)

    assert error is not None
    assert "PGRST106" in str(error)
    assert "expose schema 'mai'" in str(error)


def test_usage_rows_read_back_oldest_first(supabase: Served) -> None:
    rows = supabase.fake.rows("mai", "imagen_usage")
    for minute, cost in [(30, "0.003"), (10, "0.025"), (20, None)]:
        rows.append(
            {
                "id": f"00000000-0000-0000-0000-0000000000{minute}",
                "created_at": f"2026-11-23T15:{minute}:00+00:00",
                "backend": "b",
                "model": "m",
                "seed": minute,
                "prompt_hash": "h",
                "latency_ms": 1000 + minute,
                "cost_usd_estimate": cost,
                "caller": "me",
            }
        )

    read = read_rows(make_sink(supabase.url), None)

    assert [row.seed for row in read] == [10, 20, 30]
    assert read[0] == UsageRow(
        created_at=dt.datetime(2026, 11, 23, 15, 10, tzinfo=dt.UTC),
        backend="b",
        model="m",
        caller="me",
        seed=10,
        latency_ms=1010,
        cost_usd=Decimal("0.025"),
    )
    assert read[1].cost_usd is None
    [select] = supabase.fake.requests("select")
    assert select.headers["Accept-Profile"] == "mai"
    assert "prompt_hash" not in select.query["select"]


def test_usage_rows_since_a_time_and_across_pages(
    supabase: Served, generation: Generation, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(usage, "_PAGE", 2)
    for minute in range(5):
        take = attrs.evolve(
            generation,
            path=f"take-{minute}.png",
            created_at=dt.datetime(2026, 11, 23, 15, minute, tzinfo=dt.UTC),
        )
        assert deliver(make_sink(supabase.url), take) is None

    since = dt.datetime(2026, 11, 23, 15, 1, tzinfo=dt.UTC)
    read = read_rows(make_sink(supabase.url), since)

    assert [row.created_at.minute for row in read] == [1, 2, 3, 4]
    assert len(supabase.fake.requests("select")) == 3
    assert supabase.fake.requests("select")[0].query["created_at"] == f"gte.{since.isoformat()}"


def test_usage_rows_from_an_unexposed_schema_fail_with_advice(supabase: Served) -> None:
    supabase.fake.exposed.remove("mai")

    with pytest.raises(SinkError, match="PGRST106"):
        read_rows(make_sink(supabase.url), None)


def test_prompt_hash_falls_back_to_the_request_prompt(generation: Generation) -> None:
    row = make_sink("https://example.supabase.co").row(attrs.evolve(generation, user_prompt=None))

    assert row["prompt_hash"] == hashlib.sha256(b"a cat in a fishbowl, watercolor").hexdigest()


def test_usage_row_ids_are_stable_per_take(generation: Generation) -> None:
    assert usage.row_id(generation) == usage.row_id(attrs.evolve(generation))
    assert usage.row_id(generation) != usage.row_id(attrs.evolve(generation, path="other.png"))


def test_usage_sink_is_a_sink_and_a_usage_source(monkeypatch: pytest.MonkeyPatch) -> None:
    sink = make_sink("https://example.supabase.co")

    assert isinstance(sink, Sink)
    assert isinstance(sink, UsageSource)
    assert sink.enabled_auto()
    monkeypatch.delenv("TEST_SUPABASE_KEY")
    assert not sink.enabled_auto()


def test_row_is_plain_json(generation: Generation) -> None:
    row = make_sink("https://example.supabase.co").row(generation)

    assert json.loads(json.dumps(row)) == row
