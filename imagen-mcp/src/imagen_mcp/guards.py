"""Spend guards: a per-call cap, a per-day cap from the history, and the caller's own limit.

The estimate checked is the plan's (``pipeline.prepare``: the one estimator the CLI's
``--dry-run`` and the studio use). Today's spend is every take the history recorded since
local midnight, whoever ran it (CLI, studio, worker or this server), plus what this server has
started and not yet recorded. Each refusal says the estimate, the cap and how to raise it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
from collections.abc import Iterator
from decimal import Decimal

from imagen.config.model import Config
from imagen.errors import ImagenError
from imagen.models import Cost
from imagen_mcp.settings import McpSettings


def usd(amount: Decimal) -> str:
    """``$0.06``: money as the CLI shows it (``Cost.format``)."""
    return Cost(amount, "").format()


class SpendRefused(ImagenError):
    """A paid call over a cap: nothing was spent."""

    exit_code = 2


def spent_today(config: Config, *, now: dt.datetime | None = None) -> Decimal:
    """What the takes recorded since local midnight cost (cache hits: nothing)."""
    from imagen.store.history import History

    if not config.history.enabled:
        return Decimal(0)
    moment = (now or dt.datetime.now()).astimezone()
    midnight = moment.replace(hour=0, minute=0, second=0, microsecond=0)
    rows = History.shared(config.history.path).usage_rows(midnight, on_damage=lambda _: None)
    return sum((row.cost_usd for row in rows if row.cost_usd is not None), Decimal(0))


class SpendGuard:
    """Checks a paid call against the caps and holds its estimate until it is recorded."""

    def __init__(self, config: Config, settings: McpSettings) -> None:
        self.config = config
        self.settings = settings
        #: estimates of calls this server has started whose takes are not all recorded yet
        self._pending: dict[int, Decimal] = {}
        self._keys = itertools.count()

    def check(
        self,
        estimate: Cost | None,
        *,
        takes: int,
        backend: str,
        max_cost_usd: Decimal | None = None,
        pending: Decimal = Decimal(0),
    ) -> None:
        """Refuse (SpendRefused) a call over ``max_cost_usd``, the per-call or the per-day cap.

        A call that will spend nothing (cache hits, a free backend) always passes. A price the
        estimator does not know is refused while a cap is set: a cap that cannot be checked
        does not protect anything. ``pending`` is what queued jobs may still spend today.
        """
        if takes == 0:
            return
        what = f"{takes} take{'s' if takes != 1 else ''} on {backend}"
        if estimate is None:
            raise SpendRefused(
                f"refused: the price of {backend} is unknown, so the spend caps cannot be "
                f"checked; set cost_per_image for backends.{backend} in the imagen config"
            )
        amount = estimate.amount
        if amount == 0:
            return
        if max_cost_usd is not None and amount > max_cost_usd:
            raise SpendRefused(
                f"refused: estimated {usd(amount)} for {what} is over max_cost_usd "
                f"{usd(max_cost_usd)}; ask for fewer takes or raise max_cost_usd. "
                "Nothing was spent."
            )
        per_call = self.settings.per_call_usd
        if amount > per_call:
            raise SpendRefused(
                f"refused: estimated {usd(amount)} for {what} is over the per-call cap of "
                f"{usd(per_call)}; ask for fewer takes, or raise the cap with: imagen config "
                f"set mcp.per_call_usd {_suggest(amount)} (then restart imagen mcp). "
                "Nothing was spent."
            )
        per_day = self.settings.per_day_usd
        spent = spent_today(self.config) + sum(self._pending.values(), pending)
        if spent + amount > per_day:
            raise SpendRefused(
                f"refused: estimated {usd(amount)} for {what} would bring today's spend "
                f"from {usd(spent)} to {usd(spent + amount)}, over the per-day cap of "
                f"{usd(per_day)}; wait until tomorrow, or raise the cap with: imagen config "
                f"set mcp.per_day_usd {_suggest(spent + amount)} (then restart imagen mcp). "
                "Nothing was spent."
            )

    @contextlib.contextmanager
    def holding(self, estimate: Cost | None) -> Iterator[None]:
        """Count ``estimate`` as spent today while the call runs (until its takes are in the
        history), so two calls at once cannot both pass under the per-day cap."""
        key = next(self._keys)
        self._pending[key] = estimate.amount if estimate is not None else Decimal(0)
        try:
            yield
        finally:
            del self._pending[key]


def _suggest(amount: Decimal) -> str:
    """A round cap just above ``amount``: the next whole dollar (at least 1.00)."""
    whole = max(Decimal(1), amount.to_integral_value(rounding="ROUND_CEILING"))
    return f"{whole:.2f}"


__all__ = ["SpendGuard", "SpendRefused", "spent_today"]
