"""Tests of analysis.load, the figures and the report on small synthetic run folders built in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from analysis.figure_registry import figure_specs
from analysis.load import (
    Comparison,
    NotEnoughData,
    Replications,
    RunData,
    RunFolderError,
    folder_kind,
    load,
    load_run,
)
from analysis.report import write_report

SERVICES = {"a": {"kind": "bpo"}, "b": {"kind": "kpo"}}


def _metrics(steps: int, permanent: float) -> pd.DataFrame:
    week = np.arange(1, steps + 1)
    ramp = permanent * week / steps
    m = {"step": week, "unmet_share": np.zeros(steps), "loyalty_mean": np.full(steps, 0.7),
         "switch_rate": np.full(steps, 0.2), "provider_utilization": np.full(steps, 0.8),
         "offshore_share": np.full(steps, 0.4), "broker_share": np.full(steps, 0.3), "active_providers": np.full(steps, 3),
         "firm_payments": np.full(steps, 110.0), "provider_revenue": np.full(steps, 100.0),
         "broker_fees": np.full(steps, 10.0), "demand_hours": np.full(steps, 100.0), "onboarding_costs": np.full(steps, 1.0),
         "firm_surplus": np.full(steps, 5.0), "provider_profit": np.full(steps, 2.0),
         "wage_index_domestic": 1.0 + 0.001 * week, "wage_index_offshore": 1.0 + 0.002 * week}
    for suffix in ("", "_bpo", "_kpo"):
        m[f"permanent_share{suffix}"] = ramp
        m[f"on_call_share{suffix}"] = 0.4 - ramp / 2
        m[f"in_house_share{suffix}"] = 0.6 - ramp / 2
    m["permanent_hours"] = 100 * ramp
    m["on_call_hours"] = 100 * (0.4 - ramp / 2)
    m["in_house_hours"] = 100 * (0.6 - ramp / 2)
    m["unmet_hours"] = np.zeros(steps)
    return pd.DataFrame(m)


def write_run(path: Path, steps: int = 8, permanent: bool = True, empty: bool = False, kind: str | None = "run",
              seed: int = 1, permanent_level: float = 0.5) -> Path:
    """A tiny run folder: 4 firms, 3 providers, services a (BPO) and b (KPO); known spells, contracts, reviews."""
    path.mkdir(parents=True, exist_ok=True)
    manifest = {"scenario": "tiny", "description": "synthetic", "seed": seed, "steps": steps, "git_revision": "abc",
                "versions": {"outsim": "0"}, "config": {"services": SERVICES, "contracts": {"term_weeks_bpo": 4,
                                                                                             "term_weeks_kpo": 6}}}
    if kind:
        manifest["kind"] = kind
    (path / "manifest.json").write_text(json.dumps(manifest))
    _metrics(steps, permanent_level if permanent else 0.0).to_parquet(path / "metrics.parquet")
    pd.DataFrame({"firm_id": [0, 1, 2, 3], "size": [0.3, 1.0, 2.0, 3.0],
                  "size_class": ["small", "medium", "large", "large"], "region": ["domestic"] * 4,
                  "services": ["a", "a,b", "b", "a"]}).to_parquet(path / "firms.parquet")
    pd.DataFrame({"provider_id": [0, 1, 2], "kind": ["bpo", "bpo", "kpo"], "region": ["domestic", "offshore", "offshore"],
                  "skill_level": [1, 2, 4], "services": ["a", "a", "b"], "reliability": [0.9] * 3,
                  "capacity_hours_final": [100.0, 100.0, 50.0], "entry_week": [0, 0, 2],
                  "exit_week": [-1, 6, -1]}).to_parquet(path / "providers.parquet")
    rel = [(0, 0, "a", "on_call", "direct", 1, 3, 30.0, 300.0, False), (0, 1, "a", "on_call", "broker", 2, steps, 20.0, 180.0, True),
           (1, 0, "a", "on_call", "direct", 1, 2, 10.0, 100.0, False), (1, 2, "b", "on_call", "broker", 3, steps, 15.0, 450.0, True),
           (2, 2, "b", "on_call", "direct", 2, 5, 12.0, 360.0, False), (3, 1, "a", "on_call", "direct", 1, steps, 40.0, 360.0, True)]
    if permanent:
        rel += [(1, 0, "a", "permanent", "direct", 2, steps, 70.0, 560.0, True),
                (2, 2, "b", "permanent", "broker", 3, 5, 20.0, 500.0, False)]
    if empty:
        rel = []
    r = pd.DataFrame(rel, columns=["firm_id", "provider_id", "service", "form", "channel", "start_week", "end_week",
                                   "volume_hours", "spend", "censored"])
    r["weeks"] = r["end_week"] - r["start_week"] + 1
    r.astype({"firm_id": "int64", "provider_id": "int64", "start_week": "int64", "end_week": "int64",
              "weeks": "int64", "censored": bool}).to_parquet(path / "relationships.parquet")
    ev = [(1, 0, "signed", 1, 0, "a", "direct", 8.0, 10.0, 5, "committed on-call work"),
          (5, 0, "renewed", 1, 0, "a", "direct", 8.5, 10.0, 9, "renewed at term end"),
          (2, 1, "signed", 2, 2, "b", "broker", 25.0, 5.0, 8, "outsourced in-house work"),
          (5, 1, "terminated", 2, 2, "b", "broker", 25.0, 5.0, 5, "ended early for a cheaper option")]
    if not permanent or empty:
        ev = []
    pd.DataFrame(ev, columns=["week", "contract_id", "event", "firm_id", "provider_id", "service", "channel",
                              "price_per_hour", "reserved_hours_per_week", "end_week", "reason"]
                 ).astype({"week": "int64", "contract_id": "int64", "firm_id": "int64", "provider_id": "int64",
                           "end_week": "int64"}).to_parquet(path / "contracts.parquet")
    dec = [(1, 1, "a", "on_call", 100.0, 90.0, 95.0, 80.0, np.nan, 0, 1, "permanent", "direct", 0, 8.0, 10.0, "signed"),
           (2, 2, "b", "in_house", 300.0, 350.0, 340.0, 310.0, 290.0, 2, 2, "permanent_broker", "broker", 2, 25.0, 5.0, "signed"),
           (3, 0, "a", "on_call", 100.0, 90.0, 95.0, np.nan, np.nan, -1, 1, "on_call", "direct", -1, np.nan, 0.0, "on_call"),
           (5, 1, "a", "permanent", 100.0, 95.0, 96.0, 85.0, np.nan, 0, 1, "permanent", "direct", 0, 8.5, 10.0, "renewed"),
           (5, 2, "b", "permanent", 280.0, 350.0, 340.0, 310.0, 300.0, 2, 2, "in_house", "direct", -1, np.nan, 0.0, "in_house")]
    if not permanent:
        dec = [d[:11] + ("on_call", "direct", -1, np.nan, 0.0, "on_call") for d in dec]
    if empty:
        dec = []
    pd.DataFrame(dec, columns=["week", "firm_id", "service", "mode_before", "cost_in_house", "cost_on_call",
                               "cost_on_call_broker", "cost_permanent", "cost_permanent_broker", "candidate_provider",
                               "broker_provider", "choice", "channel", "provider_id", "price_per_hour",
                               "reserved_hours_per_week", "outcome"]).to_parquet(path / "decisions.parquet")
    return path


def write_replications(path: Path, n: int = 2, listed: bool = True, spread: float = 0.0, **kw) -> Path:
    """A replications folder with ``n`` tiny runs; run i has its permanent level raised by ``i * spread``."""
    path.mkdir(parents=True, exist_ok=True)
    names = [f"rep-{i:03d}" for i in range(n)]
    base = kw.pop("permanent_level", 0.5)
    for i, name in enumerate(names):
        write_run(path / name, seed=i + 1, permanent_level=base + i * spread, **kw)
    manifest = {"kind": "replications", "scenario": "tiny", "seeds": list(range(1, n + 1))}
    if listed:
        manifest["replications"] = names
    (path / "manifest.json").write_text(json.dumps(manifest))
    return path


def test_load_run_reads_every_table_and_adds_the_service_kind(tmp_path):
    """load_run returns the six tables and maps services to kinds from the manifest config."""
    run = load_run(write_run(tmp_path / "r"))
    assert isinstance(run, RunData) and run.steps == 8 and run.service_kind == {"a": "bpo", "b": "kpo"}
    assert set(run.relationships["kind"]) == {"bpo", "kpo"} and len(run.decisions) == 5
    assert (run.relationships.loc[run.relationships["service"] == "b", "kind"] == "kpo").all()


def test_folder_kind_treats_a_missing_kind_as_run(tmp_path):
    """A manifest without 'kind' is a run; other kinds are read as written."""
    assert folder_kind(write_run(tmp_path / "old", kind=None)) == "run"
    assert folder_kind(write_replications(tmp_path / "reps")) == "replications"


def test_clear_errors_for_folders_that_are_not_run_folders(tmp_path):
    """Missing folder, manifest, table or column each raise RunFolderError naming the path and what is missing."""
    with pytest.raises(RunFolderError, match="no such folder"):
        load_run(tmp_path / "nowhere")
    (tmp_path / "plain").mkdir()
    with pytest.raises(RunFolderError, match=r"plain: not a run folder: manifest.json is missing"):
        load_run(tmp_path / "plain")
    run = write_run(tmp_path / "r")
    (run / "decisions.parquet").unlink()
    with pytest.raises(RunFolderError, match=r"missing decisions.parquet"):
        load_run(run)
    run = write_run(tmp_path / "c")
    pd.read_parquet(run / "firms.parquet").drop(columns="size_class").to_parquet(run / "firms.parquet")
    with pytest.raises(RunFolderError, match=r"firms.parquet: missing column\(s\) size_class"):
        load_run(run)
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "manifest.json").write_text(json.dumps({"kind": "sweep"}))
    with pytest.raises(RunFolderError, match="'sweep'"):
        folder_kind(tmp_path / "k")
    with pytest.raises(RunFolderError, match="not a single run"):
        load_run(write_replications(tmp_path / "reps"))


def test_replications_load_every_listed_rep(tmp_path):
    """A replications folder loads each listed rep; a listed but missing rep is an error."""
    reps = load(write_replications(tmp_path / "reps", n=3))
    assert isinstance(reps, Replications) and [r.manifest["seed"] for r in reps.runs] == [1, 2, 3]
    unlisted = load(write_replications(tmp_path / "glob", n=2, listed=False))
    assert len(unlisted.runs) == 2
    bad = write_replications(tmp_path / "bad", n=2)
    m = json.loads((bad / "manifest.json").read_text())
    m["replications"].append("rep-009")
    (bad / "manifest.json").write_text(json.dumps(m))
    with pytest.raises(RunFolderError, match="rep-009"):
        load(bad)


def _comparison(tmp_path: Path) -> Path:
    root = tmp_path / "cmp"
    write_replications(root / "base", n=2, permanent_level=0.5)
    write_replications(root / "whatif", n=2, permanent_level=0.3)
    (root / "manifest.json").write_text(json.dumps({"kind": "comparison", "base": "tiny", "whatif": "tiny-shock",
                                                    "event_weeks": [4], "window": [4, 8], "seeds": [1, 2]}))
    pd.DataFrame({"metric": ["permanent_share"], "base_mean": [0.5], "whatif_mean": [0.3], "diff_mean": [-0.2],
                  "diff_lo": [-0.25], "diff_hi": [-0.15], "significant": [True]}).to_parquet(root / "comparison.parquet")
    return root


def test_comparison_folder_gives_the_whatif_figure_and_report(tmp_path):
    """A comparison folder loads both sides and its event weeks; the what-if figure and report are written."""
    root = _comparison(tmp_path)
    cmp = load(root)
    assert isinstance(cmp, Comparison) and cmp.event_weeks == [[4]] and len(cmp.whatif.runs) == 2
    spec = next(s for s in figure_specs() if s.name == "whatif")
    png = spec.draw(cmp, tmp_path / "figs")
    assert png.is_file() and png.with_suffix(".svg").is_file()
    html = write_report(root).read_text()
    assert "id='fig-whatif'" in html and "tiny-shock" in html and "permanent_share" in html
    assert "id='fig-base-emergence'" in html and "id='fig-whatif-emergence'" in html


def test_whatif_figure_on_a_single_run_says_it_needs_a_comparison(tmp_path):
    """The what-if figure refuses a single run with a NotEnoughData message naming what it needs."""
    spec = next(s for s in figure_specs() if s.name == "whatif")
    with pytest.raises(NotEnoughData, match="comparison folder"):
        spec.draw(load_run(write_run(tmp_path / "r")), tmp_path / "figs")


@pytest.mark.parametrize("variant", ["full", "no_permanent", "empty"])
def test_every_figure_draws_or_says_why_not_on_tiny_runs(tmp_path, variant):
    """On full, permanent-free and empty synthetic runs each figure is saved or raises NotEnoughData with a message."""
    run = load_run(write_run(tmp_path / "r", permanent=variant == "full", empty=variant == "empty"))
    drawn = 0
    for spec in figure_specs():
        try:
            png = spec.draw(run, tmp_path / "figs")
        except NotEnoughData as exc:
            assert str(exc), spec.name
        else:
            assert png.is_file() and png.with_suffix(".svg").is_file(), spec.name
            drawn += 1
    # emergence, transitions (not for the empty run), capacity and surplus need only metrics or reviews
    assert drawn >= (10 if variant == "full" else 3)


def test_report_on_an_empty_run_shows_what_could_not_be_drawn(tmp_path):
    """A run with no spells, contracts or reviews still gets a report that says which figures are missing and why."""
    html = write_report(write_run(tmp_path / "r", empty=True)).read_text()
    assert "Not drawn:" in html and "no relationship spells" in html
    assert "No permanent contract reached its term end" in html


def test_report_on_replications_states_ranges_over_runs(tmp_path):
    """A replications report gives means with their range over the runs."""
    html = write_report(write_replications(tmp_path / "reps", n=2, permanent_level=0.4, spread=0.2)).read_text()
    # permanent share ramps linearly to its level over 8 weeks: mean = level * 9/16 = 22.5% and 33.75%
    assert "28% (22%–34% over all 2 runs) of demand" in html and "id='fig-emergence'" in html
