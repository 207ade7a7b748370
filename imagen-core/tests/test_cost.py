"""Cost: what one take is estimated at, how a reported cost is shared among a take's images, the
notice before paid work and the --max-cost cap (an estimate equal to the cap is allowed)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from imagen.config.model import Instance
from imagen.cost import actual_cost, check_budget, estimate_take, notice
from imagen.errors import ConfigError
from imagen.mock import MockBackend, MockSettings
from imagen.models import Cost, Image, Request, Result

PAID = "backends:\n  paid:\n    type: mock\n    cost_per_image: {price}\n"


def instance(price: str | None = None) -> Instance:
    return Instance("paid", "mock", MockSettings(), None, None if price is None else Decimal(price))


class PricedBySize(MockBackend):
    """Charges a tenth of a cent per 64 pixels of width, as a provider priced by size would."""

    def estimate_cost(self, request: Request) -> Cost:
        return Cost(Decimal(request.width or 64) / 64000, "by width")


def result(cost: Cost | None, images: int) -> Result:
    picture = Image(b"png", "image/png", 8, 8, 1)
    return Result(images=(picture,) * images, model="m", cost=cost)


def run_paid(imagen: Any, tmp_path: Path, price: str, *args: str) -> Any:
    config = tmp_path / "c.yaml"
    config.write_text(PAID.format(price=price))
    return imagen(
        "--config", str(config), "generate", "x", "-b", "paid", "-o", str(tmp_path / "o"), *args
    )


def test_an_estimate_equal_to_max_cost_is_allowed(imagen: Any, tmp_path: Path) -> None:
    ran = run_paid(imagen, tmp_path, "0.05", "-n", "2", "--max-cost", "0.10")
    assert ran.code == 0, ran.err
    assert len(ran.lines) == 2


def test_an_estimate_a_hundredth_of_a_cent_over_max_cost_is_refused(
    imagen: Any, tmp_path: Path
) -> None:
    ran = run_paid(imagen, tmp_path, "0.05", "-n", "2", "--max-cost", "0.0999")
    assert ran.code == 2
    assert not (tmp_path / "o").exists()


def test_a_single_take_over_max_cost_is_refused_in_the_singular(
    imagen: Any, tmp_path: Path
) -> None:
    ran = run_paid(imagen, tmp_path, "0.05", "--max-cost", "0.04")
    assert ran.code == 2
    assert "estimated $0.05 for 1 take on paid is over --max-cost $0.04" in ran.err


def test_an_unknown_cost_under_max_cost_says_how_to_make_it_known() -> None:
    with pytest.raises(
        ConfigError, match="set cost_per_image for it in config, or drop --max-cost"
    ):
        check_budget(None, 1, "flux", Decimal("1"))


def test_max_cost_does_not_need_a_known_cost_when_nothing_will_run() -> None:
    check_budget(None, 0, "flux", Decimal("1"))


def test_the_estimate_follows_the_request() -> None:
    backend = PricedBySize("sized", MockSettings())
    wide = estimate_take(instance(), backend, Request(prompt="x", width=1280, height=64))
    assert wide == Cost(Decimal("0.02"), "by width")


def test_a_configured_price_wins_and_says_where_it_came_from() -> None:
    backend = PricedBySize("sized", MockSettings())
    estimate = estimate_take(instance("0.5"), backend, Request(prompt="x", width=1280))
    assert estimate is not None
    assert estimate.amount == Decimal("0.5")
    assert "cost_per_image of paid in config" in estimate.basis


def test_a_reported_cost_is_shared_among_the_takes_images() -> None:
    reported = Cost(Decimal("0.09"), "prediction metrics", "EUR")
    share = actual_cost(instance(), result(reported, 3), 3)
    assert share == Cost(Decimal("0.03"), "prediction metrics", "EUR")


def test_a_single_image_carries_the_whole_reported_cost() -> None:
    reported = Cost(Decimal("0.04"), "prediction metrics")
    assert actual_cost(instance(), result(reported, 1), 1) == reported


def test_the_configured_price_is_each_images_actual_cost_whatever_was_reported() -> None:
    reported = Cost(Decimal("9"), "prediction metrics")
    share = actual_cost(instance("0.01"), result(reported, 3), 3)
    assert share is not None
    assert share.amount == Decimal("0.01")
    assert actual_cost(instance("0.01"), result(None, 1), 1) == share


def test_no_reported_cost_and_no_price_is_unknown() -> None:
    assert actual_cost(instance(), result(None, 2), 2) is None


def test_no_notice_for_free_unknown_or_empty_runs() -> None:
    paid = Cost(Decimal("0.04"), "table")
    assert notice(Cost.free("mock"), 3, "mock") is None
    assert notice(None, 3, "flux") is None
    assert notice(paid, 0, "flux") is None


def test_the_notice_counts_takes_in_words() -> None:
    dollar = Cost(Decimal("1"), "table")
    assert notice(dollar, 1, "flux") == "~$1.00 for 1 take on flux"
    assert notice(dollar * 2, 2, "flux") == "~$2.00 for 2 takes on flux"
