"""End-to-end test of the dashboard in a real browser: `outsim app` served on loopback, driven by Playwright.

It drives Debian's Chromium (/usr/bin/chromium) headless; it is skipped, with the reason, only when that
browser or the playwright package is missing (CI installs both). Set OUTSIM_UPDATE_SCREENSHOT=1 to refresh
docs/img/dashboard.png from the run.
"""

from __future__ import annotations

import json
import os
import re
import statistics

import pytest

from dashboard_driver import CHROMIUM, ROOT, drive_slider, open_page, serve_dashboard, set_firms, step_times

if not CHROMIUM.exists():
    pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (apt-get install chromium)",
                allow_module_level=True)
sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")


@pytest.fixture(scope="module")
def server(tmp_path_factory, free_port):
    """`python -m simulation.app.cli` on a free loopback port; yields (url, save folder); always terminated."""
    tmp = tmp_path_factory.mktemp("app")
    try:
        with serve_dashboard(tmp, free_port()) as url:
            yield url, tmp / "saved"
    except RuntimeError as exc:
        pytest.fail(str(exc))


@pytest.fixture(scope="module")
def page(server):
    with sync_api.sync_playwright() as p, open_page(p, server[0]) as opened:
        yield opened


def _status(pg) -> str:
    return pg.locator(".outsim-status").inner_text()


def _step_and_time(pg, week: int) -> float:
    """Click Step and return the milliseconds, measured in the page, until the status line shows ``week``."""
    return step_times(pg, week)[0]


def test_step_slider_reset_and_save(page, server, tmp_path):
    """Step and play advance the week and change the plotted data; a slider + RESET rebuilds the market; Save saves."""
    pg, errors = page
    assert "300 firms" in _status(pg) and pg.locator(".outsim-week").inner_text().startswith("Week 0")
    seen = []
    for week in (1, 2, 3, 4):
        _step_and_time(pg, week)
        seen.append((_status(pg), pg.locator(".outsim-feed").inner_text()))
    assert pg.locator(".outsim-week").inner_text().startswith("Week 4")
    assert len({s for s, _ in seen}) == 4, "the status numbers should change from week to week"
    assert seen[-1][1] != seen[0][1], "the contract feed should show new events"
    assert pg.locator("canvas, svg.marks").count() >= 5, "the charts should be drawn"

    pg.get_by_role("button", name="▶").click()  # play, then pause: the week stops moving
    pg.locator(".outsim-status").get_by_text(re.compile(r"^Week ([7-9]|\d\d+) of")).wait_for()
    pg.get_by_role("button", name="❚❚").click()
    pg.wait_for_timeout(800)
    paused = _status(pg)
    pg.wait_for_timeout(1200)
    assert _status(pg) == paused, "the model should stop when paused"

    set_firms(pg, 500)
    pg.get_by_text("Changed: firms").wait_for()
    pg.get_by_role("button", name="Reset").click()
    pg.locator(".outsim-status").get_by_text(re.compile(r"^Week 0 of")).wait_for()
    assert "500 firms" in _status(pg)
    _step_and_time(pg, 1)
    _step_and_time(pg, 2)
    assert "500 firms" in _status(pg) and pg.get_by_text("Changed: firms").count() == 0

    pg.get_by_role("button", name="Save run folder").click()
    pg.get_by_text("Saved to").wait_for()
    saved = list(server[1].glob("*/manifest.json"))
    assert len(saved) == 1 and json.loads(saved[0].read_text())["steps"] == 2
    pg.screenshot(path=str(tmp_path / "dashboard.png"))
    assert not errors, f"JavaScript errors on the page: {errors}"


def test_page_update_time_at_baseline_size(page, tmp_path):
    """With the baseline's 1,000 firms, a Step click updates the whole page in well under a second (budget ~200 ms)."""
    pg, errors = page
    set_firms(pg, 1000)
    pg.get_by_role("button", name="Reset").click()
    pg.locator(".outsim-status").get_by_text(re.compile(r"^Week 0 of .* 1000 firms")).wait_for()
    times = [_step_and_time(pg, week) for week in range(1, 13)]
    median = statistics.median(times[2:])  # the first weeks also build the chart templates
    print(f"\npage update after Step at 1,000 firms: median {median:.0f} ms, max {max(times[2:]):.0f} ms "
          f"(first two {times[0]:.0f}, {times[1]:.0f} ms)")
    (tmp_path / "update_ms.json").write_text(json.dumps({"median": median, "all": times}))
    assert median < 1000, f"a page update took {median:.0f} ms (median); the budget is about 200 ms"
    drive_slider(pg, ".outsim-render-interval", r"screen update: (\d+)", 20)  # for a picture with some history
    pg.get_by_role("button", name="Step").click()
    pg.locator(".outsim-status").get_by_text(re.compile(r"^Week 32 of")).wait_for()
    pg.set_viewport_size({"width": 1440, "height": 2400})  # the whole page, decision trail included
    pg.wait_for_timeout(1500)  # let the last charts finish drawing
    pg.screenshot(path=str(tmp_path / "dashboard.png"))
    if os.environ.get("OUTSIM_UPDATE_SCREENSHOT") == "1":
        target = ROOT / "docs" / "img" / "dashboard.png"
        target.parent.mkdir(parents=True, exist_ok=True)
        pg.screenshot(path=str(target))
    assert not errors, f"JavaScript errors on the page: {errors}"
