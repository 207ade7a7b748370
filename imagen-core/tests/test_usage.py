"""``imagen usage``: reading --since, grouping takes, and the report's tables."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from imagen.errors import ConfigError
from imagen.sinks.protocol import UsageRow
from imagen.store.usage import (
    GROUP_BY_CHOICES,
    UsageGroup,
    format_usage,
    nothing_recorded,
    parse_since,
    summarize,
    unknown_cost_note,
    usd_places,
)

UTC = dt.UTC
NOW = dt.datetime(2026, 11, 23, 12, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def tokyo_time(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Run every test in UTC+9 (a POSIX TZ string, no tz database needed): local != UTC."""
    monkeypatch.setenv("TZ", "JST-9")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


# --- parse_since --------------------------------------------------------------------------


def test_a_date_means_local_midnight_of_that_day() -> None:
    assert parse_since("2026-11-01") == dt.datetime(2026, 10, 31, 15, 0, tzinfo=UTC)


def test_an_iso_datetime_with_an_offset_is_that_moment() -> None:
    assert parse_since("2026-11-01T09:30:00+01:00") == dt.datetime(2026, 11, 1, 8, 30, tzinfo=UTC)
    assert parse_since("2026-11-01T09:30Z") == dt.datetime(2026, 11, 1, 9, 30, tzinfo=UTC)


def test_an_iso_datetime_without_an_offset_is_local_time() -> None:
    assert parse_since("2026-11-01T09:30") == dt.datetime(2026, 11, 1, 0, 30, tzinfo=UTC)
    assert parse_since("2026-11-01 09:30:15") == dt.datetime(2026, 11, 1, 0, 30, 15, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "back"),
    [
        ("7d", dt.timedelta(days=7)),
        ("24h", dt.timedelta(hours=24)),
        ("30m", dt.timedelta(minutes=30)),
        (" 2D ", dt.timedelta(days=2)),
        ("0h", dt.timedelta(0)),
    ],
)
def test_an_age_counts_back_from_now(text: str, back: dt.timedelta) -> None:
    assert parse_since(text, now=NOW) == NOW - back


def test_an_age_without_now_counts_back_from_the_current_time() -> None:
    before = dt.datetime.now(UTC)
    since = parse_since("1h")
    after = dt.datetime.now(UTC)
    assert before - dt.timedelta(hours=1) <= since <= after - dt.timedelta(hours=1)


@settings(max_examples=100, deadline=None)
@given(
    moment=st.datetimes(
        min_value=dt.datetime(1900, 1, 2),
        max_value=dt.datetime(2200, 12, 30),
        timezones=st.sampled_from([UTC, dt.timezone(dt.timedelta(hours=-7, minutes=-30))]),
    )
)
def test_any_iso_datetime_with_an_offset_reads_back_as_the_same_moment(
    moment: dt.datetime,
) -> None:
    assert parse_since(moment.isoformat()) == moment


def test_every_result_is_timezone_aware() -> None:
    for text in ("2026-11-01", "2026-11-01T09:30", "7d"):
        assert parse_since(text).tzinfo is not None


@pytest.mark.parametrize(
    "text",
    ["", "yesterday", "7x", "7", "d7", "-3d", "7 days", "2026-13-01", "2026/11/01", "1.5h", "٣d"],
)
def test_anything_else_is_a_one_line_config_error_naming_the_accepted_forms(text: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_since(text)
    message = str(caught.value)
    assert "\n" not in message
    assert repr(text) in message
    assert "2026-11-01" in message
    assert "7d, 24h, 30m" in message


@pytest.mark.parametrize(
    "text", ["99999999d", "9999999999d", "0001-01-01", "9999-12-31T23:59+00:00"]
)
def test_a_moment_outside_the_calendar_is_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError, match="out of range"):
        parse_since(text, now=NOW)


# --- the grouped report -------------------------------------------------------------------

T0 = dt.datetime(2026, 11, 20, 10, 0, tzinfo=UTC)


def row(
    backend: str,
    model: str,
    *,
    caller: str | None = None,
    at: dt.datetime = T0,
    latency_ms: int | None = 1000,
    cost: str | None = "0.025",
    cache_hit: bool = False,
    seed: int | None = 1,
) -> UsageRow:
    return UsageRow(
        created_at=at,
        backend=backend,
        model=model,
        caller=caller,
        seed=seed,
        latency_ms=latency_ms,
        cost_usd=None if cost is None else Decimal(cost),
        cache_hit=cache_hit,
    )


ROWS = [
    row("flux-dev", "flux-dev", caller="agent-1", latency_ms=2000, seed=11),
    row("flux-dev", "flux-dev", caller="agent-2", latency_ms=3000, at=T0 + dt.timedelta(hours=1)),
    row(
        "gemini",
        "gemini-2.5",
        at=T0 + dt.timedelta(hours=5),  # still the 20th in UTC, 00:00 local on the 21st
        latency_ms=5,
        cost="0",
        cache_hit=True,
        seed=None,
    ),
    row("gemini", "gemini-2.5", caller="agent-1", latency_ms=4000, cost="0.039", seed=3),
]


def test_grouped_by_backend_with_takes_cache_hits_cost_mean_latency_and_total() -> None:
    assert format_usage(ROWS, by="backend") == (
        "BACKEND   TAKES  CACHE HITS  COST USD  MEAN LATENCY\n"
        "flux-dev      2           0    0.0500         2.50s\n"
        "gemini        2           1    0.0390         4.00s\n"
        "TOTAL         4           1    0.0890         3.00s"
    )


def test_grouped_by_caller_puts_takes_without_one_under_unknown() -> None:
    assert format_usage(ROWS, by="caller").splitlines()[1:] == [
        "(unknown)      1           1    0.0000             -",
        "agent-1        2           0    0.0640         3.00s",
        "agent-2        1           0    0.0250         3.00s",
        "TOTAL          4           1    0.0890         3.00s",
    ]


def test_grouped_by_day_uses_the_local_calendar_day() -> None:
    lines = format_usage(ROWS, by="day").splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["DAY", "TAKES"],
        ["2026-11-20", "3"],
        ["2026-11-21", "1"],
        ["TOTAL", "4"],
    ]


def test_grouped_by_model_sorts_groups_by_name() -> None:
    lines = format_usage(ROWS, by="model").splitlines()
    assert [line.split()[0] for line in lines] == ["MODEL", "flux-dev", "gemini-2.5", "TOTAL"]


def test_raw_prints_one_line_per_take_then_the_total() -> None:
    assert format_usage(ROWS, by="backend", raw=True) == (
        "CREATED AT           BACKEND   MODEL       CALLER   SEED  LATENCY MS  COST USD  CACHE\n"
        "2026-11-20 19:00:00  flux-dev  flux-dev    agent-1    11        2000    0.0250\n"
        "2026-11-20 20:00:00  flux-dev  flux-dev    agent-2     1        3000    0.0250\n"
        "2026-11-21 00:00:00  gemini    gemini-2.5  -           -           5    0.0000  hit\n"
        "2026-11-20 19:00:00  gemini    gemini-2.5  agent-1     3        4000    0.0390\n"
        "TOTAL                4 takes                                            0.0890"
    )


def test_amounts_finer_than_four_places_are_shown_exactly() -> None:
    rows = [row("a", "m", cost="0.00025"), row("a", "m", cost="0.00025")]
    assert format_usage(rows, by="backend").splitlines()[-1].split()[3] == "0.00050"


def test_takes_without_a_known_cost_are_counted_as_zero_and_noted_apart() -> None:
    rows = [row("a", "m", cost=None), row("a", "m")]
    assert format_usage(rows, by="backend").splitlines()[-1].split()[3] == "0.0250"
    assert unknown_cost_note(rows) == "1 take has no known cost, counted as 0 in COST USD"
    assert unknown_cost_note(ROWS) is None


def test_no_rows_is_an_empty_table_and_a_note_naming_the_start() -> None:
    since = parse_since("2026-11-01")
    assert format_usage([], by="backend") == ""
    assert nothing_recorded(since) == "no generations recorded since 2026-11-01 00:00"
    assert nothing_recorded() == "no generations recorded"
    assert nothing_recorded(filtered=True) == "no recorded takes match the filters"


@pytest.mark.parametrize("raw", [False, True])
def test_an_unknown_grouping_is_a_config_error_listing_the_choices(raw: bool) -> None:
    with pytest.raises(ConfigError, match="backend, model, caller, day"):
        format_usage(ROWS, by="week", raw=raw)


def test_usd_places_is_four_unless_an_amount_needs_more() -> None:
    assert usd_places([Decimal("0.5"), None, Decimal("10")]) == 4
    assert usd_places([Decimal("0.000125"), Decimal("0.0250000")]) == 6


# --- totals are the sum of the groups, whatever the rows ------------------------------------

usage_rows = st.lists(
    st.builds(
        UsageRow,
        created_at=st.datetimes(
            min_value=dt.datetime(2000, 1, 2),
            max_value=dt.datetime(2099, 12, 30),
            timezones=st.just(UTC),
        ),
        backend=st.sampled_from(["flux", "gemini", "comfy-local"]),
        model=st.sampled_from(["m1", "m2"]),
        caller=st.none() | st.sampled_from(["agent-1", "agent-2"]),
        seed=st.none() | st.integers(0, 2**32),
        latency_ms=st.none() | st.integers(0, 600_000),
        cost_usd=st.none()
        | st.decimals(min_value=0, max_value=10, places=6, allow_nan=False, allow_infinity=False),
        cache_hit=st.booleans(),
    ),
    max_size=40,
)


def sum_groups(groups: tuple[UsageGroup, ...]) -> tuple[int, int, Decimal, int, int, int]:
    return (
        sum(group.takes for group in groups),
        sum(group.cache_hits for group in groups),
        sum((group.cost_usd for group in groups), Decimal(0)),
        sum(group.unknown_cost for group in groups),
        sum(group.latency_ms_total for group in groups),
        sum(group.latency_count for group in groups),
    )


@settings(max_examples=150, deadline=None)
@given(rows=usage_rows, by=st.sampled_from(GROUP_BY_CHOICES))
def test_the_total_is_the_sum_of_the_groups(rows: list[UsageRow], by: str) -> None:
    summary = summarize(rows, by=by)
    total = summary.total
    assert sum_groups(summary.groups) == (
        total.takes,
        total.cache_hits,
        total.cost_usd,
        total.unknown_cost,
        total.latency_ms_total,
        total.latency_count,
    )
    assert total.takes == len(rows)
    assert total.cost_usd == sum((r.cost_usd or Decimal(0) for r in rows), Decimal(0))
    timed = [r.latency_ms for r in rows if r.latency_ms is not None and not r.cache_hit]
    assert total.latency_count == len(timed)
    assert total.latency_ms_total == sum(timed)


@settings(max_examples=150, deadline=None)
@given(rows=usage_rows.filter(bool), by=st.sampled_from(GROUP_BY_CHOICES))
def test_the_printed_total_line_is_the_sum_of_the_printed_group_lines(
    rows: list[UsageRow], by: str
) -> None:
    lines = format_usage(rows, by=by).splitlines()
    if lines[-1].startswith("note:"):
        lines.pop()
    header, *groups, total = (line.split() for line in lines)
    assert header[0] == by.upper()
    assert total[0] == "TOTAL"
    assert int(total[1]) == sum(int(group[1]) for group in groups) == len(rows)
    assert int(total[2]) == sum(int(group[2]) for group in groups)
    assert Decimal(total[3]) == sum((Decimal(group[3]) for group in groups), Decimal(0))
