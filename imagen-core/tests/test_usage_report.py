"""The ``imagen usage`` report's edges: takes with nothing measured, amounts finer than a cent's
hundredth in the raw table, long latencies, the default grouping and the unknown-cost count."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from imagen.sinks.protocol import UsageRow
from imagen.store.usage import format_usage, summarize, unknown_cost_note

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=dt.UTC)


def take(
    backend: str = "a",
    *,
    latency_ms: int | None = 1000,
    cost: str | None = "0.025",
    cache_hit: bool = False,
) -> UsageRow:
    return UsageRow(
        created_at=T0,
        backend=backend,
        model="m",
        caller=None,
        seed=1,
        latency_ms=latency_ms,
        cost_usd=None if cost is None else Decimal(cost),
        cache_hit=cache_hit,
    )


def columns(table: str) -> list[list[str]]:
    return [line.split() for line in table.splitlines()]


def test_a_raw_take_without_latency_or_cost_shows_dashes_there() -> None:
    [_, line, total] = columns(format_usage([take(latency_ms=None, cost=None)], raw=True))
    assert line[-2:] == ["-", "-"]  # LATENCY MS and COST USD (CACHE is empty: not a hit)
    assert total[-1] == "0.0000"


def test_raw_amounts_finer_than_four_places_are_shown_exactly_as_is_their_total() -> None:
    table = columns(format_usage([take(cost="0.00125"), take(cost="0.0025")], raw=True))
    assert [line[-1] for line in table[1:]] == ["0.00125", "0.00250", "0.00375"]


def test_a_mean_latency_is_shown_in_seconds_with_two_decimals() -> None:
    table = columns(format_usage([take(latency_ms=9000), take(latency_ms=11000)]))
    assert table[1][-1] == "10.00s"


def test_the_report_and_the_summary_group_by_backend_unless_told() -> None:
    rows = [take("b"), take("a"), take("b")]
    assert columns(format_usage(rows))[0][0] == "BACKEND"
    assert [(g.key, g.takes) for g in summarize(rows).groups] == [("a", 1), ("b", 2)]


def test_several_takes_without_a_cost_are_noted_in_the_plural_and_counted_per_group() -> None:
    rows = [take("a", cost=None), take("b", cost=None), take("b", cost=None), take("b")]
    assert unknown_cost_note(rows) == "3 takes have no known cost, counted as 0 in COST USD"
    summary = summarize(rows)
    assert [(g.key, g.unknown_cost) for g in summary.groups] == [("a", 1), ("b", 2)]
    assert summary.total.unknown_cost == 3
