"""The dashboard's live panels (simulation/app/panels.py), rendered in process without a browser.

A step sets the week's texts and chart data on the panels' widgets directly, without a render pass; these
tests check that the page then shows the model's week everywhere, that a render pass for another reason
(a slider moved) does not put back an older week, and that a reset, a firm picked and a run that records
no reviews each show what they should.
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
from conftest import BASELINE

from simulation.app import DashboardModel, Settings
from simulation.app import components as C

solara = pytest.importorskip("solara", reason="the dashboard needs mesa[viz] (solara, altair)")
v = pytest.importorskip("ipyvuetify")
dashboard = pytest.importorskip("simulation.app.dashboard")
panels = pytest.importorskip("simulation.app.panels")
Chart = pytest.importorskip("simulation.app.vega").Chart


@pytest.fixture
def page():
    """The run card, the sidebar and the panels of one page (the baseline at 300 firms), rendered in process."""
    first = Settings.for_scenario(BASELINE)
    state = {"model": solara.reactive(DashboardModel(first)), "settings": solara.reactive(first),
             "params": solara.reactive({"settings": first}), "firm": solara.reactive(0)}

    @solara.component
    def Harness():
        dashboard.RunCard(state["model"], state["settings"], state["params"], solara.reactive(150), solara.reactive(1))
        dashboard.Controls(**state)
        panels.Panels(state["model"], state["firm"])

    box, rc = solara.render(Harness(), handle_error=False)
    yield state, rc
    rc.close()


def html_of(rc, css_class: str) -> list[str]:
    return [w.unsafe_innerHTML for w in rc.find(solara.widgets.HTML).widgets
            if css_class in str(w.attributes.get("class", "")).split()]


def shown_weeks(rc) -> tuple[int, int]:
    """The week of the status line and of the run card's week counter."""
    (status,), (counter,) = html_of(rc, "outsim-status"), html_of(rc, "outsim-week")
    return (int(re.match(r"<b>Week (\d+)</b>", status).group(1)), int(re.match(r"Week <b>(\d+)</b>", counter).group(1)))


def step(rc, times: int = 1) -> None:
    for _ in range(times):
        rc.find(v.Btn, children=["Step"]).widget.click()


def test_each_step_shows_the_models_week_and_its_data(page):
    state, rc = page
    assert shown_weeks(rc) == (0, 0) and not rc.find(Chart).widgets  # week 0: no charts yet
    step(rc)
    charts = {id(c): c for c in rc.find(Chart).widgets}
    assert shown_weeks(rc) == (1, 1) and len(charts) == 5
    tables = {k: c.tables for k, c in charts.items()}
    feeds = html_of(rc, "outsim-feed")
    step(rc, 3)
    m = state["model"].value
    assert shown_weeks(rc) == (m.week, m.week) == (4, 4)
    assert {id(c) for c in rc.find(Chart).widgets} == set(charts), "a step should feed the drawn charts, not new ones"
    assert all(c.tables != tables[k] for k, c in charts.items()), "every chart should get the new week's data"
    assert html_of(rc, "outsim-feed") != feeds
    shares = json.loads(charts[next(iter(charts))].tables)["shares"]
    assert max(shares["week"]) == 4
    assert html_of(rc, "outsim-status")[0] == panels.week_view(m, 0).texts["status"]


def test_a_render_pass_for_another_reason_keeps_the_latest_week(page):
    """The renderer sets every prop it knows on each pass: a slider moved after some steps must not put back
    the week the panels were laid out at."""
    state, rc = page
    step(rc, 3)
    status = html_of(rc, "outsim-status")
    rc.find(v.Html, class_="outsim-param outsim-param-beta").find(v.Slider).widget.v_model = 2.0
    assert state["settings"].value.beta == 2.0  # the pass happened
    assert shown_weeks(rc) == (3, 3) and html_of(rc, "outsim-status") == status


def test_reset_shows_the_new_market_at_week_0(page):
    state, rc = page
    step(rc, 2)
    state["settings"].set(state["settings"].value.with_value("firms", 150))
    rc.find(v.Btn, children=["Reset"]).widget.click()
    assert shown_weeks(rc) == (0, 0) and "150 firms" in html_of(rc, "outsim-status")[0]
    assert not rc.find(Chart).widgets
    step(rc)
    assert shown_weeks(rc) == (1, 1) and "150 firms" in html_of(rc, "outsim-status")[0]


def test_picking_a_firm_shows_its_trail(page):
    state, rc = page
    step(rc, 12)
    state["firm"].set(7)
    assert html_of(rc, "outsim-caption").count("<b>Firm 7 now</b>, per service:") == 1
    m = state["model"].value
    assert html_of(rc, "outsim-trail") == [panels.week_view(m, 7).texts["trail"]]
    step(rc)
    assert "<b>Firm 7 now</b>, per service:" in html_of(rc, "outsim-caption")


def test_week_view_says_why_a_trail_stays_empty():
    s = Settings.for_scenario(BASELINE)
    m = DashboardModel(s)
    assert panels.week_view(m, 0).texts == {"status": panels.week_view(m, 0).texts["status"]}  # week 0: status only
    m.step()
    reviewed = [f for f in range(len(m.firm_agents)) if C.table_rows(C.decision_trail(m, f))]
    waiting = next(f for f in range(len(m.firm_agents)) if f not in reviewed)
    assert reviewed, "some firms review their sourcing in the first week"
    view = panels.week_view(m, waiting)
    assert "<table" in view.texts["summary"] and view.week == 1
    assert view.texts["trail"] == panels.note_html(
        f"Firm {waiting} has had no sourcing review yet: reviews come every few weeks, press Step.")
    assert panels.week_view(m, reviewed[0]).texts["trail"].startswith("<table class='outsim-table'>")
    m.decisions.enabled = False
    assert "does not record sourcing reviews" in panels.week_view(m, 3).texts["trail"]
    for spec, tables in view.charts.values():
        assert json.loads(spec)["$schema"].startswith("https://vega.github.io/schema/vega-lite")
        assert all(isinstance(cols, dict) for cols in json.loads(tables).values())


def test_chart_tables_are_plain_json_with_gaps_as_null():
    """Columns of numpy arrays or lists become plain JSON lists; NaN and infinities become null, which
    Vega-Lite skips, in float arrays and in lists alike."""
    vega = pytest.importorskip("simulation.app.vega")
    table = {"a": np.array([1.5, np.nan, np.inf]), "b": [np.int64(3), float("nan"), "x"],
             "c": np.array([True, False]), "d": np.array([2, 7]), "e": np.array(["on-call"], dtype=object)}
    assert vega.columns_json({"t": table, "empty": {"y": []}}) == (
        '{"t":{"a":[1.5,null,null],"b":[3,null,"x"],"c":[true,false],"d":[2,7],"e":["on-call"]},"empty":{"y":[]}}')


def test_table_html_formats_each_cell():
    """Floats to the digits asked (per column if exact), provider ids as P<id> (blank for -1), gaps (NaN)
    blank but an infinite cost shown as such, text escaped, and the cell named in ``bold`` set in bold."""
    table = {"provider": np.array([4, -1, 2]), "price (cu/h)": [12.345, float("nan"), 1.0],
             "cost": np.array([1234.5, 2.0, np.inf]), "choice": ["a<b", "in-house", "x"]}
    out = panels.table_html(table, bold={1: "choice"}, digits=0, exact={"price (cu/h)": 2})
    rows = re.findall(r"<tr>(.*?)</tr>", out)
    assert rows[0] == "<th>provider</th><th>price (cu/h)</th><th>cost</th><th>choice</th>"
    assert rows[1] == "<td>P4</td><td>12.35</td><td>1,234</td><td>a&lt;b</td>"
    assert rows[2] == "<td></td><td></td><td>2</td><td><b>in-house</b></td>"
    assert rows[3] == "<td>P2</td><td>1.00</td><td>inf</td><td>x</td>"


def test_week_view_charts_carry_the_components_tables():
    """Each chart's tables are the components' tables of the same week, with the chart's own columns added."""
    m = DashboardModel(Settings.for_scenario(BASELINE))
    for _ in range(5):
        m.step()
    tables = {name: json.loads(t) for name, (_, t) in panels.week_view(m, 3).charts.items()}
    shares = C.form_shares(m)
    assert tables["shares"]["shares"]["share"] == shares["share"].tolist()
    assert tables["shares"]["shares"]["order"] == [panels.FORM_ORDER[f] for f in shares["form"]]
    nodes, edges = C.network_sample(m)
    net = tables["network_chart"]
    assert net["nodes"]["id"] == nodes["id"].tolist() and net["edges"]["hours"] == edges["hours"].tolist()
    assert set(net["edges"]["x0"]) == {0.0} and set(net["edges"]["x1"]) == {1.0}
    assert len(net["edges"]["x0"]) == len(net["edges"]["firm_id"]) > 0
    assert net["groups"]["label"] == ([] if all(nodes["labelled"]) else C.network_groups(nodes)["label"])
    assert tables["loyalty_chart"]["uniform"]["label"] == [f"1/K = {C.loyalty_summary(m)['uniform']:.2f}"]
    assert tables["providers"]["targets"] == {"series": ["BPO", "KPO"], "value": [
        m.cfg.providers.target_utilization_bpo, m.cfg.providers.target_utilization_kpo]}
