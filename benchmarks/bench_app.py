"""How long the dashboard takes to show a new week after a Step click, at 1,000 firms (issue 13).

Two measurements, in this order:

1. **In the browser** (the number the issue's target is about): ``python -m simulation.app.cli`` is
   started on a free loopback port exactly as tests/test_app_browser.py starts it, and headless
   Chromium (Debian's /usr/bin/chromium, driven by Playwright) opens the page, sets the market to
   ``--firms`` firms with the slider, presses RESET, then Step ``--warmup`` + ``--steps`` times. Each
   step is timed inside the page, from the click to the moment the status line shows the new week
   (``performance.now()`` and a MutationObserver, as the browser test does), both from just before
   Playwright's click (the browser test's number, which includes Playwright's own checks before it
   clicks, some 20-50 ms here) and from the page's click event. The next click follows at once, as in
   the browser test; ``--settle MS`` waits that long after each step instead, and then also reports the
   time from the click to the charts' last change (vega-embed redraws a chart 100 ms after its data
   changes, which otherwise overlaps the next step). The median and 90th percentile of the timed
   steps are printed, with PASS/FAIL against the target (median < 100 ms, the browser test's way).
2. **On the server, in this process** (where the time goes): the dashboard's run card and panels are
   rendered with ``solara.render`` against a market of the same size and Step is clicked the same
   number of times. Each click is split into the model's week (``DashboardModel.step``: the market's
   own step plus the dashboard's weekly snapshot) and the rest (the panels' tables, the charts' data,
   setting them on the widgets), and the bytes of widget state the click would send to the browser
   are counted (JSON of every changed widget trait).

A plain Mesa Boltzmann wealth model (benchmarks/boltzmann.py) is timed before and after, in this
process, and the median step is also given in Boltzmann agent-steps (median seconds x agent-steps/s):
the machine is shared and noisy, so compare that figure between commits. The target itself is the
absolute median in milliseconds, which is what the page feels like.

Usage (from the repository root)::

    python benchmarks/bench_app.py                 # what `make bench-app` runs: 30 steps at 1,000 firms
    python benchmarks/bench_app.py --steps 60 --screenshot /tmp/dashboard.png
    python benchmarks/bench_app.py --server-only   # no browser: the server-side split only
    python benchmarks/bench_app.py --profile       # server side under pyinstrument -> results/profile_app.*

The exit code is 0 even when the target is missed: this is a report, not a gate.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import socket
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
TARGET_MS = 100.0

sys.path.insert(0, str(ROOT / "tests"))
from dashboard_driver import CHROMIUM, open_page, serve_dashboard, set_firms, step_times  # noqa: E402 (after the path)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def browser_times(firms: int, warmup: int, steps: int, screenshot: Path | None, settle_ms: int = 0) -> list[tuple]:
    """:func:`dashboard_driver.step_times` of ``steps`` Step clicks after ``warmup`` untimed ones, in a fresh
    server and browser."""
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="outsim-bench-app-") as tmp, serve_dashboard(Path(tmp), free_port()) as url:
        with sync_playwright() as p, open_page(p, url) as (pg, errors):
            set_firms(pg, firms)
            pg.get_by_role("button", name="Reset").click()
            pg.locator(".outsim-status").get_by_text(re.compile(rf"^Week 0 of .* {firms} firms")).wait_for()
            times = [step_times(pg, week, settle_ms) for week in range(1, warmup + steps + 1)][warmup:]
            if screenshot is not None:
                pg.wait_for_timeout(1500)
                pg.screenshot(path=str(screenshot), full_page=True)
        if errors:
            print(f"WARNING: JavaScript errors on the page: {errors}")
    return times


def server_split(firms: int, warmup: int, steps: int, profile: bool = False) -> dict[str, list[float]]:
    """Click Step on the run card rendered in this process: per click, total ms, the model's week (ms) and the
    bytes of widget state sent. With ``profile``, the timed clicks run under pyinstrument."""
    sys.path.insert(0, str(ROOT))
    import ipyvuetify as v
    import ipywidgets
    import solara

    from simulation import app
    from simulation.app import dashboard

    model_ms: list[float] = []
    sent = [0]
    advance = app.DashboardModel.step

    def timed(self) -> None:
        t0 = time.perf_counter()
        advance(self)
        model_ms.append((time.perf_counter() - t0) * 1000)

    def counted(self, msg, buffers=None):  # every state message a widget sends to the browser
        sent[0] += len(json.dumps(msg, default=str)) + sum(len(b) for b in buffers or [])

    app.DashboardModel.step = timed
    ipywidgets.Widget._send = counted
    s = app.Settings.for_scenario(app.default_scenario()).with_value("firms", firms)
    model, settings = solara.reactive(app.DashboardModel(s)), solara.reactive(s)
    params, firm, pause, weeks = solara.reactive({"settings": s}), solara.reactive(0), solara.reactive(150), solara.reactive(1)

    @solara.component
    def Harness():
        dashboard.RunCard(model, settings, params, pause, weeks)
        dashboard.Panels(model, firm)

    _, rc = solara.render(Harness(), handle_error=False)
    button = rc.find(v.Btn, children=["Step"]).widget
    for _ in range(warmup):
        button.click()
    total, sizes = [], []
    del model_ms[:]
    profiler = None
    if profile:
        from pyinstrument import Profiler
        profiler = Profiler(interval=0.001)
        profiler.start()
    for _ in range(steps):
        sent[0] = 0
        t0 = time.perf_counter()
        button.click()
        total.append((time.perf_counter() - t0) * 1000)
        sizes.append(sent[0])
    if profiler is not None:
        profiler.stop()
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / "profile_app.html").write_text(profiler.output_html())
        (RESULTS / "profile_app.txt").write_text(profiler.output_text(unicode=False, color=False))
    return {"total_ms": total, "model_ms": model_ms, "bytes": sizes}


def p90(xs: list[float]) -> float:
    return statistics.quantiles(xs, n=10, method="inclusive")[-1] if len(xs) > 1 else xs[0]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--firms", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=30, help="timed Step clicks (default 30)")
    ap.add_argument("--warmup", type=int, default=3, help="untimed Step clicks first (default 3)")
    ap.add_argument("--settle", type=int, default=0, metavar="MS", help="wait after each step (default 0)")
    ap.add_argument("--server-only", action="store_true", help="skip the browser")
    ap.add_argument("--profile", action="store_true", help="server side under pyinstrument (implies --server-only)")
    ap.add_argument("--screenshot", type=Path, help="save a full-page PNG after the browser steps")
    a = ap.parse_args(argv)
    sys.path.insert(0, str(ROOT / "benchmarks"))
    from boltzmann import time_boltzmann

    before = time_boltzmann()
    browser = None
    if not (a.server_only or a.profile):
        if not CHROMIUM.exists():
            raise SystemExit("Debian's chromium is not installed at /usr/bin/chromium; try --server-only")
        browser = browser_times(a.firms, a.warmup, a.steps, a.screenshot, a.settle)
    server = server_split(a.firms, a.warmup, a.steps, a.profile)
    after = time_boltzmann()
    boltz = (before.agents * before.steps + after.agents * after.steps) / (before.seconds + after.seconds)
    report(a, browser, server, before, after, boltz)


def report(a, browser, server, before, after, boltz: float) -> None:
    """Print the table and write results/app_latest.json."""
    print(f"\noutsim dashboard benchmark: {a.firms:,} firms, {a.steps} timed steps after {a.warmup}, {date.today()}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs (a shared machine: expect noise)")
    out: dict[str, Any] = {"firms": a.firms, "steps": a.steps, "warmup": a.warmup, "boltzmann_agent_steps_per_s": boltz}
    if browser:
        test, click, charts = ([t[i] for t in browser] for i in range(3))
        med, hi = statistics.median(test), p90(test)
        verdict = "PASS" if med < TARGET_MS else "FAIL"
        print(f"browser: Step to new week on the page, as the browser test times it: median {med:.0f} ms, p90 {hi:.0f} ms, "
              f"min {min(test):.0f}, max {max(test):.0f}   {verdict} (target median < {TARGET_MS:.0f} ms)")
        print(f"         from the click event itself (without Playwright's click): median {statistics.median(click):.0f} ms, "
              f"p90 {p90(click):.0f} ms")
        if a.settle and all(c is not None for c in charts):
            print(f"         from the click event to the charts' last change: median {statistics.median(charts):.0f} ms, "
                  f"p90 {p90(charts):.0f} ms")
        print(f"         median = {med / 1000 * boltz / 1000:,.0f} k Boltzmann agent-steps")
        out["browser"] = {"median_ms": med, "p90_ms": hi, "pass": med < TARGET_MS, "all_ms": test, "click_ms": click,
                          "charts_ms": charts}
    total, model = server["total_ms"], server["model_ms"]
    rest = [t - m for t, m in zip(total, model)]
    print(f"server:  a Step click in process: median {statistics.median(total):.1f} ms (p90 {p90(total):.1f}) = "
          f"model's week {statistics.median(model):.1f} ms + dashboard {statistics.median(rest):.1f} ms; "
          f"widget state sent {statistics.median(server['bytes']) / 1024:,.0f} KiB (median)")
    print(f"Boltzmann reference in this process: {before.agent_steps_per_s:,.0f} / {after.agent_steps_per_s:,.0f} "
          "agent-steps/s (before / after)")
    out["server"] = {**server, "dashboard_ms": rest}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "app_latest.json").write_text(json.dumps(out, indent=1))


if __name__ == "__main__":
    main()
