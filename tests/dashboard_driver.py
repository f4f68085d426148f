"""Drive the dashboard in a real browser: serve `outsim app` on loopback, open it in headless Chromium, move
its sliders and time a Step. Shared by tests/test_app_browser.py and benchmarks/bench_app.py, so that the
benchmark measures a step exactly as the browser test does.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHROMIUM = Path("/usr/bin/chromium")
FLAGS = ["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
START_TIMEOUT_S = 300  # the first start fetches the page's browser libraries with npm (about 25 MB)

#: Before a Step click: stamp the time, and record when the click event fires, when the status line shows
#: the new week, and when a chart last changes.
MEASURE_JS = """week => { window.__t0 = performance.now(); window.__t1 = null; window.__tc = null; window.__tv = null;
    document.addEventListener('click', () => { window.__tc = performance.now(); }, {capture: true, once: true});
    new MutationObserver((m, obs) => { const el = document.querySelector('.outsim-status');
        if (el && el.innerText.startsWith('Week ' + week + ' ')) { window.__t1 = performance.now(); obs.disconnect(); }
    }).observe(document.body, {subtree: true, childList: true, characterData: true});
    new MutationObserver(m => { if (m.some(r => r.target.closest && r.target.closest('svg, .vega-embed')))
        window.__tv = performance.now(); }).observe(document.body, {subtree: true, childList: true, attributes: true}); }"""
TIMES_JS = "() => [window.__t1 - window.__t0, window.__t1 - window.__tc, window.__tv === null ? null : window.__tv - window.__tc]"


@contextmanager
def serve_dashboard(folder: Path, port: int) -> Iterator[str]:
    """``python -m simulation.app.cli`` on ``port`` of loopback, saving into ``folder``/saved and logging to
    ``folder``/server.log; yields the page's URL once it answers, and always stops the server.

    Raises:
        RuntimeError: the server exited, or did not answer within :data:`START_TIMEOUT_S`, with its log.
    """
    log = open(folder / "server.log", "w")  # noqa: SIM115 (open for the server's whole life, closed below)
    proc = subprocess.Popen([sys.executable, "-m", "simulation.app.cli", "--port", str(port), "--out",
                             str(folder / "saved")], cwd=ROOT, stdout=log, stderr=subprocess.STDOUT,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"outsim app exited with {proc.returncode}:\n{(folder / 'server.log').read_text()}")
            try:
                with urllib.request.urlopen(url, timeout=5) as r:
                    if r.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"outsim app did not answer within {START_TIMEOUT_S} s:\n"
                                   f"{(folder / 'server.log').read_text()}")
            time.sleep(0.5)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=15)
        log.close()


@contextmanager
def open_page(playwright, url: str) -> Iterator[tuple]:
    """The dashboard at ``url`` in headless Chromium, once it shows week 0; yields (page, JavaScript errors seen)."""
    browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=FLAGS)
    try:
        pg = browser.new_page(viewport={"width": 1440, "height": 2300})
        pg.set_default_timeout(60_000)
        errors: list[str] = []
        pg.on("pageerror", lambda exc: errors.append(str(exc)))
        pg.goto(url)
        pg.locator(".outsim-status").get_by_text("Week 0").wait_for()
        yield pg, errors
    finally:
        browser.close()


def step_times(pg, week: int, settle_ms: int = 0) -> tuple[float, float, float | None]:
    """Click Step; milliseconds until the status line shows ``week``, measured in the page from just before
    Playwright's click (the browser test's measure) and from the click event itself, and, when waiting
    ``settle_ms`` after the step (0: return at once), until the charts' last change in that time."""
    pg.evaluate(MEASURE_JS, week)
    pg.get_by_role("button", name="Step").click()
    pg.locator(".outsim-status").get_by_text(re.compile(rf"^Week {week} of")).wait_for()
    pg.wait_for_function("() => window.__t1 !== null")
    if settle_ms:
        pg.wait_for_timeout(settle_ms)
    test, click, charts = pg.evaluate(TIMES_JS)
    return test, click, charts


def drive_slider(pg, box: str, pattern: str, target: int) -> None:
    """Move the slider inside ``box`` with the keyboard until its label (matched by ``pattern``) shows ``target``.

    Each key press is confirmed by the server's re-rendered label before the next, so no press is lost
    to a round trip in flight.

    Raises:
        AssertionError: the label did not reach ``target`` within a minute.
    """
    thumb, label = pg.locator(f"{box} [role=slider]"), pg.locator(box)

    def value() -> int:
        return int(re.search(pattern, label.inner_text()).group(1).replace(",", ""))

    thumb.focus()
    thumb.press("Home")
    deadline = time.monotonic() + 60
    while (now := value()) != target and time.monotonic() < deadline:
        thumb.press("ArrowRight" if now < target else "ArrowLeft")
        for _ in range(50):  # up to 5 s for the server to confirm the press
            pg.wait_for_timeout(100)
            if value() != now:
                break
    assert value() == target, f"could not set the slider in {box} to {target}"


def set_firms(pg, firms: int) -> None:
    drive_slider(pg, ".outsim-param-firms", r"Client firms: ([\d,]+) firms", firms)
