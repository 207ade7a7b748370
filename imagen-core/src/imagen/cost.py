"""The one cost estimator: what the CLI (``--dry-run``, the notice before paid work), the server
(a job's ``cost_estimate``) and the MCP tool all show, so the three always agree.

Per take: the instance's ``cost_per_image`` override if set, else the backend's own dated price
table (``Backend.estimate_cost``). A plan's estimate is that times the takes that will really
run (cache hits cost nothing).
"""

from __future__ import annotations

from decimal import Decimal

from imagen.backend import Backend
from imagen.config.model import Instance
from imagen.errors import ConfigError
from imagen.models import Cost, Request, Result


def override(instance: Instance) -> Cost | None:
    if instance.cost_per_image is None:
        return None
    return Cost(instance.cost_per_image, f"cost_per_image of {instance.name} in config")


def estimate_take(instance: Instance, backend: Backend, request: Request) -> Cost | None:
    """The cost of one take: the config override, else the backend's estimate (None: unknown)."""
    return override(instance) or backend.estimate_cost(request)


def actual_cost(instance: Instance, result: Result, images: int) -> Cost | None:
    """The actual cost of one image of ``result``, where the backend reported one."""
    fixed = override(instance)
    if fixed is not None:
        return fixed
    if result.cost is None:
        return None
    share = (result.cost.amount / Decimal(max(images, 1))).quantize(Decimal("0.000001"))
    return Cost(share.normalize(), result.cost.basis, result.cost.currency)


def notice(estimate: Cost | None, takes: int, instance: str) -> str | None:
    """``~$0.012 for 4 takes on flux-dev-replicate`` for a paid run; None when free or unknown."""
    if estimate is None or estimate.amount == 0 or takes == 0:
        return None
    return f"~{estimate.format()} for {takes} take{'s' if takes != 1 else ''} on {instance}"


def check_budget(
    estimate: Cost | None, takes: int, instance: str, max_cost: Decimal | None
) -> None:
    """Refuse (ConfigError, exit 2) a run whose estimate is over ``max_cost``."""
    if max_cost is None or takes == 0:
        return
    if estimate is None:
        raise ConfigError(
            f"the cost of {instance} is unknown, so --max-cost cannot be checked; set "
            f"cost_per_image for it in config, or drop --max-cost"
        )
    if estimate.amount > max_cost:
        raise ConfigError(
            f"estimated {estimate.format()} for {takes} take{'s' if takes != 1 else ''} on "
            f"{instance} is over --max-cost ${max_cost}; lower -n or raise --max-cost"
        )
