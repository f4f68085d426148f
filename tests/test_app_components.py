"""Tests of the dashboard's data layer (simulation/app): panel data, settings, saving, and `outsim app` input checks.

Everything here runs without a browser on a small market; tests/test_app_browser.py drives the real page.
"""

from __future__ import annotations

import copy
import json
import math
import os
import socket

import numpy as np
import pandas as pd
import pytest
from conftest import BASELINE, WKH, market_size

from simulation import load_scenario, run
from simulation.app import (
    PARAMS,
    DashboardModel,
    Settings,
    recession_events,
    save_snapshot,
    shipped_scenarios,
)
from simulation.app import cli as app_cli
from simulation.app import components as C
from simulation.model.market.choice import loyalty
from simulation.model import OutsourcingModel
from simulation.model.codes import Mode

SMALL = market_size(100)
WEEKS = 20


@pytest.fixture(scope="module")
def model():
    """The baseline scaled to 100 firms, 10 BPO and 4 KPO providers, after 20 weeks."""
    m = OutsourcingModel(load_scenario(BASELINE, SMALL), seed=3)
    for _ in range(WEEKS):
        m.step()
    return m


def test_form_shares_add_up_to_one_and_match_the_metrics(model):
    """Shares by form of each kind's demand sum to 1 every week and equal the weekly metrics."""
    df = pd.DataFrame(C.form_shares(model))
    assert set(df["kind"]) == {"BPO", "KPO"} and set(df["form"]) == {"in-house", "on-call", "permanent", "unmet"}
    totals = df.groupby(["week", "kind"])["share"].sum()
    assert np.allclose(totals, 1.0) and sorted(df["week"].unique()) == list(range(1, WEEKS + 1))
    perm = df[(df["kind"] == "KPO") & (df["form"] == "permanent")]["share"].to_numpy()
    assert np.allclose(perm, model.datacollector.model_vars["permanent_share_kpo"])


def test_form_shares_thins_long_runs_but_keeps_the_last_week(model):
    """Thinning caps the points per series and always keeps the latest week."""
    df = pd.DataFrame(C.form_shares(model, max_points=7))
    weeks = sorted(df["week"].unique())
    assert len(weeks) <= 8 and weeks[-1] == WEEKS and weeks[0] == 1


def test_loyalty_histogram_counts_outsourced_firm_services(model):
    """The histogram counts the y of every firm-service that buys outside; groups follow the 0.5 and 0.8 cut-offs."""
    sl = model.slots
    y = loyalty(sl.preference, sl.known)
    expected = y[(sl.mode != Mode.IN_HOUSE) & np.isfinite(y)]
    hist, summary = pd.DataFrame(C.loyalty_histogram(model)), C.loyalty_summary(model)
    assert hist["count"].sum() == summary["n"] == len(expected) > 0
    assert summary["searchers"] + summary["mixed"] + summary["loyal"] == summary["n"]
    assert summary["loyal"] == int(np.sum(expected >= 0.8)) and summary["searchers"] == int(np.sum(expected < 0.5))
    assert math.isclose(summary["mean"], float(expected.mean()))
    assert set(hist.loc[hist["bin_end"] <= 0.5, "group"]) <= {"searcher"}
    assert set(hist.loc[hist["bin_start"] >= 0.8, "group"]) <= {"loyal"}
    known = sl.known.sum(axis=1)
    assert math.isclose(summary["uniform"], 1.0 / known[known > 0].mean())  # y of a firm spread evenly over all it knows


def test_week_snapshot_prices_bracket_the_overall_metrics(model):
    """On-call and permanent prices by kind bracket the overall weekly means; provider counts add up."""
    snap = C.week_snapshot(model)
    mv = model.datacollector.model_vars
    for form, metric in (("on_call", "mean_price_on_call"), ("permanent", "mean_price_permanent")):
        by_kind = [snap[f"price_{form}_bpo"], snap[f"price_{form}_kpo"]]
        assert all(math.isfinite(p) and p > 0 for p in by_kind)
        assert min(by_kind) - 1e-9 <= mv[metric][-1] <= max(by_kind) + 1e-9
    assert snap["providers_bpo"] + snap["providers_kpo"] == mv["active_providers"][-1]
    assert 0.0 < snap["utilization_bpo"] <= 1.2 and 0.0 < snap["utilization_kpo"] <= 1.2
    assert snap["week"] == WEEKS


def test_history_frame_labels_series_and_drops_gaps():
    """Snapshot keys become readable series names; weeks without a price are left out."""
    rows = [{"week": 1, "price_on_call_bpo": 20.0, "price_permanent_kpo": float("nan"), "utilization_bpo": 0.8},
            {"week": 2, "price_on_call_bpo": 21.0, "price_permanent_kpo": 60.0, "utilization_bpo": 0.9}]
    prices = pd.DataFrame(C.history_frame(rows, "price_"))
    assert list(prices.itertuples(index=False, name=None)) == [(1, "on-call BPO", 20.0), (2, "on-call BPO", 21.0),
                                                                (2, "permanent KPO", 60.0)]
    assert C.history_frame(rows, "utilization_")["series"].tolist() == ["BPO", "BPO"]
    assert C.table_rows(C.history_frame([], "price_")) == 0


def test_network_sample_is_a_stable_readable_bipartite_graph(model):
    """About 30 firms spread over sizes, the same ones every call; every edge joins a shown firm and provider."""
    nodes, edges = map(pd.DataFrame, C.network_sample(model))
    firms, provs = nodes[nodes["side"] == "firm"], nodes[nodes["side"] == "provider"]
    assert len(firms) == 30 and firms["id"].is_unique
    sizes = model.firms.size[firms["id"].to_numpy()]
    assert np.all(np.diff(sizes) <= 0) and sizes[0] == model.firms.size.max() and sizes[-1] == model.firms.size.min()
    assert set(edges["firm_id"]) <= set(firms["id"]) and set(edges["provider_id"]) == set(provs["id"])
    assert (edges["hours"] > 0).all() and set(edges["form"]) == {"on-call", "permanent"}
    assert edges[["y_firm", "y_provider"]].notna().all().all()
    book, fills, sl = model.contracts, model.fills, model.slots
    shown = np.isin(sl.firm, firms["id"])
    assert math.isclose(edges.loc[edges["form"] == "on-call", "hours"].sum(), fills.served[shown].sum())
    perm = shown & book.active & (fills.permanent > 0)
    assert math.isclose(edges.loc[edges["form"] == "permanent", "hours"].sum(), fills.permanent[perm].sum())
    again = pd.DataFrame(C.network_sample(model)[0])
    assert again[again["side"] == "firm"]["id"].tolist() == firms["id"].tolist()
    rows = C.network_rows(len(firms), len(provs))
    assert nodes["y"].between(-0.5, rows - 0.5).all()


def test_network_groups_name_provider_groups(model):
    """Provider groups (kind and region) get one label each, counting their providers."""
    nodes, _ = C.network_sample(model)
    groups = C.network_groups(nodes)
    assert sum(groups["providers"]) == nodes["side"].count("provider") > 0
    assert all(g.split()[0] in ("BPO", "KPO") and g.split()[1] in ("domestic", "offshore") for g in groups["label"])


def test_event_feed_lists_the_latest_ledger_events_first(model):
    """The feed is the tail of the contract ledger, newest first."""
    feed = pd.DataFrame(C.event_feed(model, 5))
    tail = model.contracts.events[-5:][::-1]
    assert len(feed) == 5 and feed["week"].tolist() == [e.week for e in tail]
    assert feed["firm"].tolist() == [e.firm_id for e in tail] and feed["reason"].tolist() == [e.reason for e in tail]
    assert C.event_feed(model, 0) == {c: [] for c in feed.columns}


def test_decision_trail_shows_the_options_compared_and_the_choice(model):
    """A firm's trail lists only its reviews, newest first, with the cheapest option marked."""
    firm = int(model.decisions.to_frame()["firm_id"].iloc[-1])
    trail = pd.DataFrame(C.decision_trail(model, firm, n=50))
    own = model.decisions.to_frame().query("firm_id == @firm")
    assert len(trail) == len(own) > 0 and trail["week"].tolist() == sorted(trail["week"], reverse=True)
    options = list(C.OPTION_LABELS.values())
    for _, r in trail.iterrows():
        costs = r[options].astype(float)
        assert r["cheapest"] == costs.idxmin() and r["choice"] in options
    assert C.decision_trail(model, -1) == C.decision_trail(model, 10**6) == {c: [] for c in trail.columns}


def test_firm_summary_has_one_row_per_service(model):
    """Where a firm stands: one row per service it buys, with its mode and contract provider."""
    firm = model.firm_agents[7]
    summary = pd.DataFrame(C.firm_summary(model, 7))
    assert len(summary) == len(firm.slots)
    assert set(summary["mode"]) <= {"in-house", "on-call", "permanent"}
    assert (summary.loc[summary["mode"] == "permanent", "provider"] >= 0).all()


def test_headline_reads_the_latest_week(model):
    """The status line shows the latest week's metrics."""
    top = C.headline(model)
    assert top["week"] == WEEKS and top["firms"] == 100
    assert top["permanent_share_bpo"] == model.datacollector.model_vars["permanent_share_bpo"][-1]


def test_components_leave_the_run_unchanged():
    """Reading every panel every week changes nothing: the run equals one nobody looked at."""
    cfg = load_scenario(BASELINE, SMALL)
    watched, plain = OutsourcingModel(cfg, seed=5), OutsourcingModel(cfg, seed=5)
    for _ in range(12):
        watched.step()
        plain.step()
        C.form_shares(watched), C.loyalty_histogram(watched), C.week_snapshot(watched), C.network_sample(watched)
        C.event_feed(watched), C.decision_trail(watched, 3), C.firm_summary(watched, 3), C.headline(watched)
    pd.testing.assert_frame_equal(watched.datacollector.get_model_vars_dataframe(),
                                  plain.datacollector.get_model_vars_dataframe())


def test_settings_start_from_the_scenario_and_scale_the_market():
    """Settings take the scenario's values (at most 300 firms) and resize the market through run.scale, as
    ``outsim run --scale`` does: providers, brokers and talent pools follow the firms."""
    s = Settings.for_scenario(BASELINE)
    base = load_scenario(BASELINE)
    cfg = s.config()
    assert s.firms == 300 and s.beta == base.choice.beta and not s.recession
    assert s.offshore_wage == base.regions["offshore"].wage_per_hour
    assert cfg.run.scale == pytest.approx(0.3) and cfg.firms.count == base.firms.count  # counts stay, the scale resizes
    model = OutsourcingModel(load_scenario(BASELINE, {**s.overrides(), "run.warmup_weeks": 0}), seed=1)
    assert len(model.firm_agents) == 300 and len(model.broker_agents) == 1  # 3 brokers x 0.3, at least one
    assert len(model.provider_agents) == 30 + 12  # 100 BPO and 40 KPO x 0.3, before any entry or exit
    assert model.environment.talent_pool["domestic"] <= 12000 * 0.3 + 1e-9
    wkh = Settings.for_scenario(WKH)
    assert wkh.firms == 200 and wkh.demand_volatility == 0.0 and wkh.config().providers.bpo_count == 3
    changed = s.with_value("gamma", 0.2).with_value("firms", 500)
    assert changed.changed(s) == ["firms", "gamma"] and changed.config().choice.gamma == 0.2
    for p in PARAMS:
        lo, hi = p.min, p.max
        assert lo <= getattr(s, p.field) <= hi, p.field


def test_recession_switch_adds_the_shifted_recession_events():
    """The recession switch adds scenarios/recession.toml's events, moved to start at the chosen week."""
    s = Settings.for_scenario(BASELINE).with_value("recession", True).with_value("recession_week", 20)
    events = s.config().events
    assert [e.at for e in events] == [20, 20, 124, 124]
    assert {e.target for e in events} == {"environment.demand_multiplier", "environment.shock_volatility_multiplier"}
    assert recession_events(104) == [e.model_dump(mode="json") for e in load_scenario(BASELINE.parent / "recession.toml").events]


def test_shipped_scenarios_lists_the_library():
    """The picker lists every shipped scenario, baseline first, and no sweep files."""
    names = list(shipped_scenarios())
    assert names[0] == "baseline" and "recession" in names and "validation/wkh" in names
    assert not any("sweep" in n for n in names)


def test_dashboard_model_stops_at_the_horizon():
    """The dashboard model records a snapshot each week and stops running at run.steps."""
    s = Settings.for_scenario(BASELINE).with_value("firms", 100)
    m = DashboardModel(s)
    m.cfg.run.steps = 3
    for _ in range(3):
        m.step()
    assert [h["week"] for h in m.history] == [1, 2, 3] and m.running is False


def test_save_snapshot_writes_a_run_folder_and_the_run_goes_on(tmp_path):
    """Saving mid-run writes a normal run folder equal to `run` for those weeks; the live run continues."""
    from analysis.report import write_report

    m = DashboardModel(Settings.for_scenario(BASELINE).with_value("firms", 100).with_value("seed", 4))
    with pytest.raises(ValueError, match="nothing to save"):
        save_snapshot(m, tmp_path)
    for _ in range(15):
        m.step()
    before = copy.deepcopy(m.spells.open)
    folder = save_snapshot(m, tmp_path)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["kind"] == "run" and manifest["steps"] == 15 and manifest["seed"] == 4
    assert folder.name.endswith("-s4") and manifest["origin"]["app"]["weeks_run"] == 15
    repeat = run(m.start_cfg, seed=4, steps=15)
    pd.testing.assert_frame_equal(pd.read_parquet(folder / "metrics.parquet"), repeat.metrics)
    assert np.array_equal(m.spells.open, before), "saving must not close the live run's spells"
    m.step()
    assert m.week == 16
    assert save_snapshot(m, tmp_path) != folder
    assert write_report(folder).is_file()


def test_cli_rejects_bad_input_with_exit_2(capsys, tmp_path):
    """`outsim app` with an unknown scenario or an out-of-range port exits 2 with one line each, no traceback."""
    assert app_cli.main(["--scenario", str(tmp_path / "nope.toml"), "--port", "70000"]) == 2
    err = capsys.readouterr().err
    assert "nope.toml: scenario: file not found" in err and "--port = 70000: must be between 1 and 65535" in err
    assert "Traceback" not in err and err.strip().splitlines()[-1].startswith("outsim: 2 problem(s)")
    with pytest.raises(SystemExit) as exc:
        app_cli.main(["--port", "eighty"])
    assert exc.value.code == 2 and "invalid int value" in capsys.readouterr().err


def test_cli_rejects_a_port_in_use(capsys):
    """A port another program listens on is reported before anything starts."""
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        assert app_cli.main(["--port", str(busy.getsockname()[1])]) == 2
    assert "cannot listen on 127.0.0.1" in capsys.readouterr().err


def test_cli_warns_on_all_interfaces_and_prints_the_address(monkeypatch, capsys, tmp_path, free_port):
    """Listening on 0.0.0.0 warns; the address to open is printed; the scenario and save folder reach the page."""
    served = {}
    monkeypatch.setattr(app_cli, "ensure_assets", list)
    monkeypatch.setattr(app_cli, "_serve", lambda host, port: served.update(host=host, port=port) or 0)
    for name in ("OUTSIM_APP_SCENARIO", "OUTSIM_APP_OUT", "SOLARA_TELEMETRY_MIXPANEL_ENABLE", "SOLARA_THEME_SHOW_BANNER"):
        monkeypatch.setenv(name, "")  # restored after the test, whatever cmd_app sets
    port = free_port()
    assert app_cli.main(["--host", "0.0.0.0", "--port", str(port), "--scenario", str(WKH),
                         "--out", str(tmp_path / "saved")]) == 0
    out, err = capsys.readouterr()
    assert "listening on all interfaces" in err and f"open http://127.0.0.1:{port}/" in out and "'wkh'" in out
    assert served == {"host": "0.0.0.0", "port": port}
    assert os.environ["OUTSIM_APP_SCENARIO"] == str(WKH) and os.environ["OUTSIM_APP_OUT"] == str(tmp_path / "saved")


def test_add_parser_registers_the_app_subcommand():
    """`add_parser` gives outsim an `app` subcommand with the documented defaults."""
    import argparse

    parser = argparse.ArgumentParser(prog="outsim")
    sub = parser.add_subparsers(dest="command")
    app_cli.add_parser(sub)
    args = parser.parse_args(["app"])
    assert (args.command, args.host, args.port, args.scenario) == ("app", "127.0.0.1", 8765, None)


def test_chart_specs_validate():
    """Every chart template is valid Vega-Lite (Altair validates it once when it is built)."""
    charts = pytest.importorskip("simulation.app.charts", reason="the dashboard needs mesa[viz] (solara, altair)")
    for name, args in (("shares", ()), ("loyalty", ()), ("series", ("prices", ("on-call BPO",), "cu/h", ",.1f")),
                       ("providers", (("BPO", "KPO"),)), ("network", (40,))):
        spec = charts.chart_spec(name, *args)
        assert spec["$schema"].startswith("https://vega.github.io/schema/vega-lite/")


def test_ensure_assets_unpacks_npm_packages_whole(tmp_path):
    """Missing browser libraries are fetched with `npm pack` and unpacked whole (only the kept folders);
    a folder Solara's proxy had filled file by file is replaced, and nothing is fetched twice."""
    import stat
    import sys

    fake = tmp_path / "npm"
    fake.write_text(f"""#!{sys.executable}
import io, sys, tarfile
dest, spec = sys.argv[4], sys.argv[5]
name = spec.replace('@', '').replace('/', '-') + '.tgz'
with tarfile.open(dest + '/' + name, 'w:gz') as tar:
    for path in ('package/package.json', 'package/build/x.js', 'package/dist/y.js', 'package/src/z.js'):
        data = spec.encode()
        info = tarfile.TarInfo(path); info.size = len(data); tar.addfile(info, io.BytesIO(data))
print(name)
""")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    cache = tmp_path / "cdn"
    (cache / "vega@5" / "build").mkdir(parents=True)
    (cache / "vega@5" / "build" / "vega.min.js").write_text("cached by the proxy")
    assert app_cli.ensure_assets(cache, npm=str(fake)) == []
    vega = cache / "vega@5"
    assert (vega / "package.json").read_text() == "vega@5.33.1" and (vega / "build" / "x.js").is_file()
    assert not (vega / "build" / "vega.min.js").exists() and not (vega / "src").exists()
    assert all((cache / a.folder / "package.json").is_file() for a in app_cli.assets())
    assert app_cli.ensure_assets(cache, npm=str(tmp_path / "no-such-npm")) == []  # all there: npm not needed
