"""The studio page in a real browser: Playwright driving Debian's chromium (never a downloaded
one). Skipped, with the reason, where either is missing."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from imagen_studio.testing import UNSET_KEY, write_config

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip
#: a paid mock that draws slowly enough to be seen running
PAID = """\
  paid:
    type: mock
    latency: 0.6
    concurrency: 1
    cost_per_image: 0.04
"""

sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
if not os.path.exists(CHROMIUM):
    pytest.skip(
        "chromium is not installed (apt-get install chromium; .ci/run installs it)",
        allow_module_level=True,
    )
expect = sync_api.expect
# An expectation waits for its condition (it polls the page; nothing sleeps a fixed time); the
# bound is only how long a loaded 2-core CI box may take to get there, past Playwright's 5 s.
expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield launched
        launched.close()


@pytest.fixture
def studio(start_server: Any, tmp_path: Path) -> Any:
    return start_server(config=write_config(tmp_path, extra=PAID))


def screenshot(page: Any, tmp_path: Path, name: str) -> None:
    """Every test keeps a screenshot; STUDIO_SCREENSHOTS=dir copies them there (docs/)."""
    path = tmp_path / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    target = os.environ.get("STUDIO_SCREENSHOTS")
    if target:
        shutil.copy(path, Path(target) / f"{name}.png")


def test_generate_four_pick_one_and_the_pick_is_in_the_sidecar(
    browser: Any, studio: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 1100, "height": 900})
    page.goto(studio.url)
    page.select_option("#backend", "paid")
    page.fill("#prompt", "a red kite over the dunes")
    button = page.locator("#generate")
    expect(button).to_have_text("Generate 4 takes · ~$0.16")  # the estimate, before
    page.press("#prompt", "Control+Enter")
    expect(page.locator("#progress")).to_contain_text("estimate ~$0.16")  # and during
    expect(button).to_contain_text("~$0.16")
    expect(page.locator("#gallery figure img")).to_have_count(4, timeout=30_000)
    expect(page.locator("#progress")).to_contain_text("4 of 4 done")
    page.locator("#gallery figure[data-take='3'] button.pick").click()
    expect(page.locator("#gallery figure.picked")).to_have_attribute("data-take", "3")
    screenshot(page, tmp_path, "studio")
    job = studio.request("GET", "/v1/jobs").json()["jobs"][0]
    assert job["picked"] == 3
    sidecar = Path(job["takes"][2]["images"][0]["sidecar_path"])
    assert json.loads(sidecar.read_text())["picked"] is True
    page.close()


def test_a_reload_during_a_slow_job_re_attaches_at_375_px(
    browser: Any, studio: Any, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": 375, "height": 800})
    page.goto(studio.url)
    page.select_option("#backend", "paid")
    page.fill("#takes", "3")
    page.fill("#prompt", "a heron in the reeds")
    page.click("#generate")
    expect(page.locator("#gallery figure")).to_have_count(3)
    page.reload()
    expect(page.locator("#gallery figure img")).to_have_count(3, timeout=30_000)
    expect(page.locator("#progress")).to_contain_text("3 of 3 done")
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    screenshot(page, tmp_path, "studio-375")
    page.close()


def test_a_job_the_server_forgot_shows_its_takes_from_the_history(
    browser: Any, studio: Any
) -> None:
    page = browser.new_page()
    page.goto(studio.url)
    forgotten = {"id": "01900000-0000-7000-8000-000000000000", "prompt": "nothing here"}
    page.evaluate(
        f"localStorage.setItem('imagen.studio.jobs', JSON.stringify([{json.dumps(forgotten)}]))"
    )
    # The backends' list held unanswered: re-attaching must not wait for it.
    held: list[Any] = []
    page.route("**/v1/backends", lambda route: held.append(route))
    page.reload()
    expect(page.locator("#notice")).to_contain_text("ended while you were away")
    assert page.locator("#history-search").input_value() == "nothing here"
    assert len(held) == 1
    held[0].continue_()
    expect(page.locator("#backend option")).not_to_have_count(0)
    page.close()


def test_an_unconfigured_backend_shows_its_reason(browser: Any, studio: Any) -> None:
    page = browser.new_page()
    page.goto(studio.url)
    page.select_option("#backend", "gem")
    expect(page.locator("#backend-status")).to_contain_text(f"not configured (set {UNSET_KEY})")
    page.fill("#prompt", "a kite")
    page.click("#generate")
    expect(page.locator("#estimate-note")).to_contain_text(UNSET_KEY)
    page.close()


def test_every_control_has_a_label(browser: Any, studio: Any) -> None:
    page = browser.new_page()
    page.goto(studio.url)
    unlabeled = page.evaluate(
        """[...document.querySelectorAll('input, select, textarea')]
             .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
             .map((el) => el.id)"""
    )
    assert unlabeled == []
    page.close()
