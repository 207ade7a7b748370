"""``imagen usage``: what was generated, by whom, at what cost, from any ``UsageRow`` source.

Rows come from the local history (``History.usage_rows``) or from a sink that keeps its own
table (``UsageSource``). This module only reads them: ``summarize`` groups them, and
``format_usage`` renders the grouped table (or one line per take with ``raw``) in the
column style of the original Go prototype: upper-case headers, columns padded by two spaces,
a TOTAL line at the bottom. Money is ``Decimal`` throughout, never float.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Literal, get_args

import attrs

from imagen.console import align_columns
from imagen.errors import ConfigError
from imagen.models import Cost
from imagen.sinks.protocol import UsageRow

GroupBy = Literal["backend", "model", "caller", "day"]
GROUP_BY_CHOICES: tuple[str, ...] = get_args(GroupBy)
UNKNOWN_CALLER = "(unknown)"

_AGE = re.compile(r"(\d+)([dhm])", re.IGNORECASE | re.ASCII)
_AGE_UNITS = {"d": "days", "h": "hours", "m": "minutes"}
_SINCE_FORMS = "a date (2026-11-01), an ISO datetime (2026-11-01T09:30) or an age (7d, 24h, 30m)"


def parse_since(text: str, *, now: dt.datetime | None = None) -> dt.datetime:
    """Read a ``--since`` value into an aware datetime.

    ``YYYY-MM-DD`` is local midnight of that day; an ISO datetime without an offset is local
    time; ``7d``, ``24h``, ``30m`` count back from ``now`` (default: the current time).
    """
    value = text.strip()
    age = _AGE.fullmatch(value)
    try:
        if age:
            amount, unit = int(age.group(1)), age.group(2).lower()
            start = now if now is not None else dt.datetime.now(dt.UTC)
            back = dt.timedelta(**{_AGE_UNITS[unit]: amount})
        else:
            start, back = dt.datetime.fromisoformat(value), dt.timedelta(0)
    except ValueError:
        raise ConfigError(f"cannot read --since {text!r}: use {_SINCE_FORMS}") from None
    except OverflowError:
        raise ConfigError(f"--since {text!r} is out of range; use {_SINCE_FORMS}") from None
    try:
        moment = start.astimezone() - back
        moment.astimezone(dt.UTC)  # history compares in UTC: the moment must exist there too
    except (OverflowError, ValueError):
        raise ConfigError(f"--since {text!r} is out of range; use {_SINCE_FORMS}") from None
    return moment


@attrs.frozen
class UsageGroup:
    """Takes that share one key (a backend, model, caller or local day), added up.

    ``latency_ms_total`` and ``latency_count`` cover generated takes only: a cache hit took no
    generation time and would pull the mean down. ``unknown_cost`` counts takes without a cost,
    which add nothing to ``cost_usd``.
    """

    key: str
    takes: int = 0
    cache_hits: int = 0
    cost_usd: Decimal = Decimal(0)
    unknown_cost: int = 0
    latency_ms_total: int = 0
    latency_count: int = 0

    @property
    def mean_latency_ms(self) -> float | None:
        return self.latency_ms_total / self.latency_count if self.latency_count else None

    def add(self, row: UsageRow) -> UsageGroup:
        timed = row.latency_ms is not None and not row.cache_hit
        return attrs.evolve(
            self,
            takes=self.takes + 1,
            cache_hits=self.cache_hits + int(row.cache_hit),
            cost_usd=self.cost_usd + (row.cost_usd or Decimal(0)),
            unknown_cost=self.unknown_cost + int(row.cost_usd is None),
            latency_ms_total=self.latency_ms_total + ((row.latency_ms or 0) if timed else 0),
            latency_count=self.latency_count + int(timed),
        )


@attrs.frozen
class UsageSummary:
    groups: tuple[UsageGroup, ...]
    total: UsageGroup


def _check_group_by(by: str) -> None:
    if by not in GROUP_BY_CHOICES:
        choices = ", ".join(GROUP_BY_CHOICES)
        raise ConfigError(f"cannot group usage by {by!r}: use one of {choices}")


def group_key(row: UsageRow, by: str) -> str:
    """The key a row is grouped under; ``day`` is the local calendar day."""
    _check_group_by(by)
    if by == "backend":
        return row.backend
    if by == "model":
        return row.model
    if by == "caller":
        return row.caller or UNKNOWN_CALLER
    return row.created_at.astimezone().strftime("%Y-%m-%d")


def summarize(rows: Iterable[UsageRow], *, by: str = "backend") -> UsageSummary:
    """Group rows by ``by`` (sorted by key) and add everything up into a total."""
    _check_group_by(by)
    groups: dict[str, UsageGroup] = {}
    total = UsageGroup("TOTAL")
    for row in rows:
        key = group_key(row, by)
        groups[key] = groups.get(key, UsageGroup(key)).add(row)
        total = total.add(row)
    return UsageSummary(tuple(groups[key] for key in sorted(groups)), total)


def format_usd(amount: Decimal) -> str:
    """``$0.012`` style, as ``Cost.format`` shows a price."""
    return Cost(amount, "").format()


def usd_places(amounts: Iterable[Decimal | None]) -> int:
    """Decimal places that show every amount exactly: at least four, more if an amount needs it.

    Showing amounts exactly keeps a column honest: the TOTAL line is then the visible sum.
    """
    places = 4
    for amount in amounts:
        if amount is not None:
            exponent = amount.normalize().as_tuple().exponent
            if isinstance(exponent, int):
                places = max(places, -exponent)
    return places


def usd_column(amount: Decimal, places: int = 4) -> str:
    """A fixed-places amount (``0.0120``), so a column of costs lines up on the point."""
    return f"{amount.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):f}"


def _seconds(latency_ms: float | None) -> str:
    return "-" if latency_ms is None else f"{latency_ms / 1000:.2f}s"


def _group_line(group: UsageGroup, places: int) -> list[str]:
    return [
        group.key,
        str(group.takes),
        str(group.cache_hits),
        usd_column(group.cost_usd, places),
        _seconds(group.mean_latency_ms),
    ]


def unknown_cost_note(rows: Iterable[UsageRow]) -> str | None:
    """The note ``imagen usage`` prints on stderr when some takes have no known cost."""
    count = sum(1 for row in rows if row.cost_usd is None)
    if not count:
        return None
    takes = "take has" if count == 1 else "takes have"
    return f"{count} {takes} no known cost, counted as 0 in COST USD"


def _raw_table(rows: Sequence[UsageRow], total: UsageGroup, places: int) -> list[list[str]]:
    lines = [
        ["CREATED AT", "BACKEND", "MODEL", "CALLER", "SEED", "LATENCY MS", "COST USD", "CACHE"]
    ]
    for row in rows:
        lines.append(
            [
                row.created_at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
                row.backend,
                row.model,
                row.caller or "-",
                "-" if row.seed is None else str(row.seed),
                "-" if row.latency_ms is None else str(row.latency_ms),
                "-" if row.cost_usd is None else usd_column(row.cost_usd, places),
                "hit" if row.cache_hit else "",
            ]
        )
    lines.append(
        ["TOTAL", f"{total.takes} takes", "", "", "", "", usd_column(total.cost_usd, places), ""]
    )
    return lines


def nothing_recorded(since: dt.datetime | None = None, *, filtered: bool = False) -> str:
    """What ``log`` and ``usage`` say on stderr when no take is found.

    Both commands print data on stdout and notes for the person watching on stderr. An empty
    result is still a result: stdout gets nothing (``[]`` with ``--json``), so a script reads
    an empty list instead of a sentence, and this note goes to stderr.
    """
    when = f" since {since.astimezone().strftime('%Y-%m-%d %H:%M')}" if since else ""
    if filtered:
        return f"no recorded takes{when} match the filters"
    return f"no generations recorded{when}"


def format_usage(
    rows: Sequence[UsageRow],
    *,
    by: str = "backend",
    raw: bool = False,
) -> str:
    """The ``imagen usage`` report (no trailing newline).

    Grouped: one line per ``by`` key with takes, cache hits, cost in USD and mean latency of
    generated takes, then TOTAL. ``raw``: one line per take, then TOTAL. Only the table: the
    notes (``nothing_recorded``, ``unknown_cost_note``) go to stderr. No rows is "".
    """
    summary = summarize(rows, by=by)
    if not rows:
        return ""
    places = usd_places(row.cost_usd for row in rows)
    if raw:
        table = align_columns(_raw_table(rows, summary.total, places), right={4, 5, 6})
    else:
        header = [by.upper(), "TAKES", "CACHE HITS", "COST USD", "MEAN LATENCY"]
        lines = [header, *(_group_line(group, places) for group in summary.groups)]
        lines.append(_group_line(summary.total, places))
        table = align_columns(lines, right={1, 2, 3, 4})
    return table


__all__ = [
    "GROUP_BY_CHOICES",
    "GroupBy",
    "UsageGroup",
    "UsageSummary",
    "align_columns",
    "format_usage",
    "format_usd",
    "group_key",
    "nothing_recorded",
    "parse_since",
    "summarize",
    "unknown_cost_note",
    "usd_column",
    "usd_places",
]
