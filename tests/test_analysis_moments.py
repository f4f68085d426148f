"""Tests of analysis.moments (the calibration moments) on hand-made tables with known answers, of
analysis.load.run_data_from_tables against a saved and loaded run folder, and of the report's
calibration table against the moments on a short run of the model."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from analysis.calibration_table import TARGETS, calibration
from analysis.findings import run_numbers
from analysis.formatting import format_number
from analysis.load import TABLES, RunData, load_run, run_data_from_tables
from analysis.metric_units import METRIC_UNITS
from analysis.moments import MOMENTS, NAMED_MOMENTS, known, list_moments, moment, whole_run
from analysis.stats import window_mean
from conftest import BASELINE, market_size
from simulation import load_scenario, run, save_run
from simulation.model.metrics import REPORTERS

SERVICES = {"customer_service": {"kind": "bpo"}, "payroll": {"kind": "bpo"}, "research": {"kind": "kpo"}}
NAMED = ("renewal_rate_bpo", "renewal_rate_kpo", "renewal_rate_voice", "renewal_rate_other", "contract_term_years",
         "early_exit_share", "early_exit_insourced_share", "min_yearly_surplus_share", "utilisation_bpo", "utilisation_kpo",
         "offshore_price_ratio_posted_bpo", "offshore_price_ratio_posted_kpo", "offshore_price_ratio_all_in_bpo",
         "offshore_price_ratio_all_in_kpo")


def tiny_run(steps: int = 10, metrics: dict | None = None, contracts: list | None = None, decisions: list | None = None,
             spells: list | None = None, providers: list | None = None) -> RunData:
    """A RunData built from hand-made tables (through run_data_from_tables, as a calibration worker does).

    contracts: (week, contract_id, event, firm_id, service, end_week); decisions: (week, firm_id, service, choice);
    spells: (firm_id, provider_id, service, form, start_week, end_week, volume_hours, spend); providers:
    (provider_id, kind, region).
    """
    tables = {
        "metrics": pd.DataFrame({"step": np.arange(1, steps + 1), "permanent_share": 0.0, "on_call_share": 0.0,
                                 "in_house_share": 1.0, **(metrics or {})}),
        "contracts": pd.DataFrame([(w, c, e, f, 0, s, "direct", 10.0, 5.0, end, "") for w, c, e, f, s, end in contracts or []],
                                  columns=["week", "contract_id", "event", "firm_id", "provider_id", "service", "channel",
                                           "price_per_hour", "reserved_hours_per_week", "end_week", "reason"]),
        "relationships": pd.DataFrame([(f, p, s, form, "direct", a, b, b - a + 1, v, x, False)
                                       for f, p, s, form, a, b, v, x in spells or []],
                                      columns=["firm_id", "provider_id", "service", "form", "channel", "start_week",
                                               "end_week", "weeks", "volume_hours", "spend", "censored"]),
        "decisions": pd.DataFrame([(w, f, s, "permanent", c, c) for w, f, s, c in decisions or []],
                                  columns=["week", "firm_id", "service", "mode_before", "choice", "outcome"]),
        "firms": pd.DataFrame({"firm_id": range(6), "size_class": "small"}),
        "providers": pd.DataFrame(providers or [(0, "bpo", "domestic")], columns=["provider_id", "kind", "region"]),
    }
    return run_data_from_tables(tables, {"steps": steps, "config": {"services": SERVICES}})


# ------------------------------------------------------------------ named moments on hand-made tables

def test_renewal_rates_count_term_ends_in_the_window_by_kind_and_by_voice_work():
    """Renewal = renewed / (renewed + expired) events in the window, per kind and for customer_service vs the rest."""
    r = tiny_run(contracts=[
        (2, 0, "renewed", 0, "customer_service", 9), (3, 1, "expired", 1, "customer_service", 3),
        (4, 2, "renewed", 2, "payroll", 9), (5, 3, "renewed", 3, "payroll", 9), (5, 4, "terminated", 4, "payroll", 5),
        (6, 5, "expired", 5, "research", 6), (1, 6, "renewed", 5, "research", 9),  # week 1: outside (2, 10)
    ])
    window = (2, 10)
    assert moment(r, "renewal_rate_bpo", window) == pytest.approx(3 / 4)
    assert moment(r, "renewal_rate_kpo", window) == 0.0
    assert moment(r, "renewal_rate_voice", window) == 0.5
    assert moment(r, "renewal_rate_other", window) == pytest.approx(2 / 3)
    assert moment(r, "renewal_rate_kpo", (1, 10)) == 0.5
    assert math.isnan(moment(r, "renewal_rate_voice", (7, 10)))


def test_contract_term_years_is_the_mean_term_of_signings_and_renewals_in_the_window():
    """Each signed or renewed event in the window counts (end_week - week) / 52; endings and other weeks do not."""
    r = tiny_run(steps=300, contracts=[
        (10, 0, "signed", 0, "payroll", 114), (114, 0, "renewed", 0, "payroll", 218),
        (20, 1, "signed", 1, "research", 176), (30, 1, "terminated", 1, "research", 30),
        (5, 2, "signed", 2, "payroll", 109),  # before the window
    ])
    assert moment(r, "contract_term_years", (10, 200)) == pytest.approx((104 + 104 + 156) / 3 / 52)
    assert math.isnan(moment(r, "contract_term_years", (200, 300)))


def test_early_exit_share_counts_the_firms_that_held_a_contract_in_the_window():
    """Holders: signed by the window's end and not ended before its start; early exits: terminated in the window."""
    r = tiny_run(steps=100, contracts=[
        (1, 0, "signed", 0, "payroll", 53), (30, 0, "terminated", 0, "payroll", 30),        # early exit in window
        (1, 1, "signed", 1, "payroll", 53), (53, 1, "renewed", 1, "payroll", 105),          # held throughout
        (1, 2, "signed", 2, "payroll", 53), (15, 2, "terminated", 2, "payroll", 15),        # ended before the window
        (1, 3, "signed", 3, "research", 79), (40, 3, "provider_exit", 3, "research", 40),   # not an early exit
        (90, 4, "signed", 4, "payroll", 142),                                               # signed after the window
        (20, 5, "signed", 5, "payroll", 72),                                                # signed on the first week
    ])
    assert moment(r, "early_exit_share", (20, 60)) == pytest.approx(1 / 4)
    assert moment(r, "early_exit_share", whole_run(r)) == pytest.approx(2 / 6)
    assert math.isnan(moment(tiny_run(), "early_exit_share", (1, 10)))  # no contract at all


def test_early_exit_insourced_share_matches_the_review_of_the_same_firm_service_and_week():
    """A firm took work back when its review at a termination (same firm, service, week) chose in-house."""
    contracts = [(1, 0, "signed", 0, "payroll", 53), (30, 0, "terminated", 0, "payroll", 30),
                 (1, 1, "signed", 1, "payroll", 53), (31, 1, "terminated", 1, "payroll", 31),
                 (1, 2, "signed", 2, "payroll", 53), (1, 3, "signed", 2, "research", 79),
                 (32, 2, "terminated", 2, "payroll", 32), (33, 3, "terminated", 2, "research", 33)]
    decisions = [(30, 0, "payroll", "in_house"),         # firm 0: back in-house
                 (31, 1, "payroll", "on_call"),          # firm 1: to on-call
                 (32, 1, "payroll", "in_house"),         # another week: does not count for firm 1
                 (32, 2, "payroll", "permanent"), (33, 2, "research", "in_house")]  # firm 2: one of two terminations
    r = tiny_run(steps=100, contracts=contracts, decisions=decisions)
    assert moment(r, "early_exit_insourced_share", (1, 100)) == pytest.approx(2 / 3)
    assert moment(r, "early_exit_insourced_share", (31, 32)) == 0.0
    assert math.isnan(moment(r, "early_exit_insourced_share", (40, 100)))
    assert math.isnan(moment(tiny_run(steps=100, contracts=contracts), "early_exit_insourced_share", (1, 100)))


def test_utilisation_is_a_ratio_of_sums_and_realised_saving_the_mean_of_its_weekly_metric():
    """utilisation_<kind> divides window sums (not a mean of weekly ratios); realised_saving is the window mean of the
    weekly metric; weeks outside the window are left out."""
    r = tiny_run(steps=4, metrics={
        "realised_saving": [0.5, 0.1, 0.2, 0.3],
        "used_hours_bpo": [0.0, 80.0, 90.0, 10.0], "capacity_hours_bpo": [1.0, 100.0, 100.0, 100.0],
        "used_hours_kpo": [5.0, 0.0, 0.0, 0.0], "capacity_hours_kpo": [10.0, 0.0, 0.0, 0.0]})
    assert moment(r, "realised_saving", (2, 4)) == pytest.approx(0.2)
    assert moment(r, "utilisation_bpo", (2, 4)) == pytest.approx(180 / 300)
    assert moment(r, "utilisation_kpo", (1, 4)) == 0.5
    assert math.isnan(moment(r, "utilisation_kpo", (2, 4)))  # no KPO capacity in those weeks


def test_the_worst_year_s_surplus_share_is_the_minimum_over_whole_years():
    """min_yearly_surplus_share: per whole year of the window, sum(firm_surplus) / sum(outsourced_inhouse_cost); the
    lowest. A partial last year is left out; without a whole year it is NaN."""
    weeks = 110
    surplus = np.r_[np.full(52, 10.0), np.full(52, -2.0), np.full(6, -500.0)]
    r = tiny_run(steps=weeks, metrics={"firm_surplus": surplus, "outsourced_inhouse_cost": np.full(weeks, 100.0)})
    assert moment(r, "min_yearly_surplus_share", (1, weeks)) == pytest.approx(-0.02)
    assert moment(r, "min_yearly_surplus_share", (1, 52)) == pytest.approx(0.1)
    assert math.isnan(moment(r, "min_yearly_surplus_share", (1, 51)))


def test_posted_price_ratio_divides_window_means_and_skips_weeks_without_posters():
    """offshore_price_ratio_posted_<kind> = mean offshore posted price / mean domestic one over the window's weeks."""
    r = tiny_run(steps=3, metrics={"posted_price_bpo_offshore": [10.0, np.nan, 20.0],
                                   "posted_price_bpo_domestic": [40.0, 50.0, 60.0],
                                   "posted_price_kpo_offshore": [30.0, 30.0, 30.0],
                                   "posted_price_kpo_domestic": [np.nan, np.nan, np.nan]})
    assert moment(r, "offshore_price_ratio_posted_bpo", (1, 3)) == pytest.approx(15 / 50)
    assert moment(r, "offshore_price_ratio_posted_bpo", (2, 3)) == pytest.approx(20 / 55)
    assert math.isnan(moment(r, "offshore_price_ratio_posted_kpo", (1, 3)))


def test_all_in_price_ratio_is_spend_over_hours_by_provider_region_pro_rated_into_the_window():
    """offshore_price_ratio_all_in_<kind> compares what clients paid per hour offshore and domestic, spells cut to the window."""
    r = tiny_run(steps=20, providers=[(0, "bpo", "domestic"), (1, "bpo", "offshore"), (2, "kpo", "domestic")],
                 spells=[(0, 0, "payroll", "permanent", 1, 10, 100.0, 4000.0),        # 40 cu/h, half in window
                         (1, 1, "payroll", "on_call", 6, 15, 100.0, 1000.0),          # 10 cu/h
                         (2, 1, "customer_service", "permanent", 1, 5, 50.0, 5000.0),  # outside the window
                         (3, 2, "research", "on_call", 6, 10, 10.0, 900.0)])
    assert moment(r, "offshore_price_ratio_all_in_bpo", (6, 15)) == pytest.approx(10 / 40)
    assert moment(r, "offshore_price_ratio_all_in_bpo", (1, 20)) == pytest.approx((6000 / 150) / 40)
    assert math.isnan(moment(r, "offshore_price_ratio_all_in_kpo", (6, 15)))  # no offshore KPO work


def test_named_moments_are_nan_on_a_run_without_the_data():
    """Without contracts, spells or the calibration metrics (an older folder), every named moment is NaN, not an error."""
    r = tiny_run()
    assert all(math.isnan(moment(r, name, whole_run(r))) for name in NAMED)


# ------------------------------------------------------------------ the registry

def test_the_named_moments_are_the_documented_ones():
    """The registry holds exactly the named moments the calibrate command uses, each with a unit and a description."""
    assert tuple(m.name for m in NAMED_MOMENTS) == NAMED
    assert all(m.unit and m.description and getattr(m.compute, "func", m.compute).__doc__ for m in NAMED_MOMENTS)


def test_every_weekly_metric_is_a_moment_with_a_unit():
    """Each model reporter but step is a moment (its window mean) with a unit, and there are no moments for absent metrics."""
    metrics = set(REPORTERS) - {"step"}
    assert set(METRIC_UNITS) == metrics and set(MOMENTS) == metrics | set(NAMED)
    steps = np.arange(1, 7)
    r = tiny_run(steps=6, metrics={name: steps * (i + 1.0) for i, name in enumerate(sorted(metrics))})
    means = window_mean(r.metrics, (3, 5))
    assert all(moment(r, name, (3, 5)) == pytest.approx(means[name]) for name in metrics)


def test_unknown_names_are_rejected_with_a_suggestion():
    """known() is False for a name that is no moment, and moment() refuses it naming a close one; a reversed window fails."""
    assert known("utilisation_bpo") and known("permanent_share") and not known("utilization_bpo")
    assert not known("step")
    with pytest.raises(KeyError, match="did you mean utilisation_bpo"):
        moment(tiny_run(), "utilization_bpo", (1, 10))
    with pytest.raises(ValueError, match="first week is after the last"):
        moment(tiny_run(), "utilisation_bpo", (10, 1))


def test_list_moments_shows_every_moment_and_each_named_unit():
    """The --list-moments table names every moment, and each named moment's line shows its unit."""
    text = list_moments()
    assert all(name in text for name in MOMENTS)
    lines = text.splitlines()
    assert all(any(line.startswith(m.name) and m.unit in line for line in lines) for m in NAMED_MOMENTS)


# ------------------------------------------------------------------ on a run of the model

@pytest.fixture(scope="module")
def short_run():
    """60 weeks of the baseline scaled to 300 firms (with fewer, few contact-centre contracts end), with short terms, monthly reviews, no exit fee and fast-changing
    in-house costs, so that contracts renew, expire and end early (some for in-house work) within the run."""
    cfg = load_scenario(BASELINE, {**market_size(300), "contracts.term_weeks_bpo": 13, "contracts.term_weeks_kpo": 26,
                                   "contracts.early_exit_fee_weeks": 0, "firms.review_interval_weeks": 4,
                                   "firms.inhouse_cost_drift": 0.6})
    return run(cfg, seed=3, steps=60)


def test_tables_in_memory_give_the_same_run_data_as_a_saved_folder(short_run, tmp_path):
    """run_data_from_tables on a run's tables equals load_run on the folder save_run wrote: every table, kinds included."""
    in_memory = run_data_from_tables({name: getattr(short_run, name) for name in TABLES}, short_run.manifest())
    loaded = load_run(save_run(short_run, tmp_path / "run"))
    for name in TABLES:
        pd.testing.assert_frame_equal(getattr(in_memory, name), getattr(loaded, name), check_categorical=False,
                                      obj=name)
    assert "kind" in in_memory.contracts and in_memory.service_kind == loaded.service_kind
    assert in_memory.manifest["config"] == loaded.manifest["config"] and in_memory.steps == loaded.steps == 60


def test_the_calibration_table_shows_the_moments(short_run):
    """Each calibration row with moments shows their values over its window (last year; renewals: last five years;
    early exits and the worst year: whole run)."""
    data = run_data_from_tables({name: getattr(short_run, name) for name in TABLES}, short_run.manifest())
    rows = {row["measure"]: row for row in calibration([run_numbers(data)])}
    shown = []
    for target in TARGETS:
        names = [key for key in target.keys if known(key)]
        if names:
            values = [moment(data, name, target.window(data.steps, whole_run(data))) for name in names]
            assert rows[target.measure]["model"] == " / ".join(format_number(v, target.format) for v in values)
            shown += values
    assert len(shown) == 12 and all(map(math.isfinite, shown))  # every moment row, each with a number to compare
