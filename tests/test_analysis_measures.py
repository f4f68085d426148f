"""Unit tests of analysis.measures, analysis.survival and analysis.structure on hand-made frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis import measures as M


def spells(rows):
    """Relationship spells from (firm, provider, service, kind, form, channel, start, end, volume, spend, censored)."""
    cols = ["firm_id", "provider_id", "service", "kind", "form", "channel", "start_week", "end_week", "volume_hours",
            "spend", "censored"]
    df = pd.DataFrame(rows, columns=cols)
    df["weeks"] = df["end_week"] - df["start_week"] + 1
    return df


def decisions(rows):
    """Decision log rows from (week, firm, service, mode_before, choice, outcome)."""
    return pd.DataFrame(rows, columns=["week", "firm_id", "service", "mode_before", "choice", "outcome"])


# ------------------------------------------------------------------ Kaplan-Meier

def test_kaplan_meier_matches_hand_computation_with_censoring_and_ties():
    """KM on 8 spells with ties between ends and censorings gives the hand-computed curve and Greenwood error."""
    d = [2, 3, 3, 3, 5, 6, 6, 8]
    c = [False, False, False, True, True, False, True, False]
    km = M.kaplan_meier(d, c)
    # event times 2, 3, 6, 8; at risk 8, 7 (3 counts the censored 3), 3 (6, 6, 8), 1
    np.testing.assert_array_equal(km.times, [2, 3, 6, 8])
    np.testing.assert_array_equal(km.at_risk, [8, 7, 3, 1])
    np.testing.assert_array_equal(km.events, [1, 2, 1, 1])
    np.testing.assert_allclose(km.survival, [7 / 8, 7 / 8 * 5 / 7, 7 / 8 * 5 / 7 * 2 / 3, 0.0], rtol=1e-12)
    assert km.at(4) == pytest.approx(0.625)  # the censoring at 5 does not lower S
    assert km.at(5.5) == pytest.approx(0.625)
    assert km.at(1) == 1.0
    assert km.median() == 6.0
    assert km.std_err[0] == pytest.approx(7 / 8 * math.sqrt(1 / (8 * 7)), rel=1e-12)
    assert (km.n, km.n_censored) == (8, 3)


def test_greenwood_band_is_the_curve_plus_minus_the_normal_quantile_times_the_standard_error():
    """The 95% band is S +- 1.96 se at each step of the curve (clipped to [0, 1]) and has no width at t = 0."""
    km = M.kaplan_meier([2, 3, 3, 3, 5, 6, 6, 8], [False, False, False, True, True, False, True, False])
    lo, hi = km.greenwood_band()
    x, y = km.steps()
    z = 1.959963984540054  # standard normal 97.5% quantile
    assert len(lo) == len(hi) == len(x) and lo[0] == hi[0] == 1.0
    np.testing.assert_allclose(lo[1:], np.clip(km.survival - z * km.std_err, 0, 1), rtol=1e-12)
    np.testing.assert_allclose(hi[1:], np.clip(km.survival + z * km.std_err, 0, 1), rtol=1e-12)
    se = 7 / 8 * math.sqrt(1 / (8 * 7))  # the first step: S = 7/8 with Greenwood se 0.117
    assert y[1] == 7 / 8 and lo[1] == pytest.approx(7 / 8 - z * se) and hi[1] == 1.0  # 7/8 + 0.229 is clipped
    assert km.greenwood_band(0.5)[0][1] > lo[1]  # a lower confidence gives a narrower band


def test_kaplan_meier_without_censoring_is_the_empirical_survival():
    """With no censoring KM equals the share of spells longer than t."""
    km = M.kaplan_meier(np.arange(1, 11), np.zeros(10, bool))
    for t in range(11):
        assert km.at(t) == pytest.approx(1 - t / 10, abs=1e-12)


def test_kaplan_meier_all_censored_never_drops():
    """When every spell is censored the curve stays at 1 and the median is undefined."""
    km = M.kaplan_meier([3, 5, 9], [True, True, True])
    assert len(km.times) == 0 and km.at(100) == 1.0 and math.isnan(km.median())


def test_kaplan_meier_rejects_bad_input():
    """Mismatched lengths and negative durations raise ValueError."""
    with pytest.raises(ValueError):
        M.kaplan_meier([1, 2], [False])
    with pytest.raises(ValueError):
        M.kaplan_meier([-1, 2], [False, False])


def test_spell_summary_groups_by_form_and_kind():
    """The spell summary counts spells and censoring per form and kind and uses the KM median."""
    s = spells([
        (0, 1, "a", "bpo", "permanent", "direct", 1, 10, 100, 1000, False),   # 10 weeks
        (1, 1, "a", "bpo", "permanent", "direct", 1, 20, 200, 2000, True),    # 20+ weeks
        (2, 1, "a", "bpo", "permanent", "direct", 5, 34, 300, 3000, False),   # 30 weeks
        (0, 2, "b", "kpo", "on_call", "broker", 3, 3, 5, 50, False),          # 1 week
    ])
    t = M.spell_summary(s).set_index(["form", "kind"])
    row = t.loc[("permanent", "bpo")]
    assert row["spells"] == 3 and row["censored_share"] == pytest.approx(1 / 3)
    assert row["km_median_weeks"] == 30  # S(10) = 2/3, the censored 20 leaves one at risk at 30
    assert t.loc[("on_call", "kpo"), "km_median_weeks"] == 1


# ------------------------------------------------------------------ transitions

def test_transition_matrix_counts_mode_before_and_after():
    """Outcomes map to modes after the review and are counted against the mode before."""
    d = decisions([
        (1, 0, "a", "in_house", "in_house", "in_house"),
        (1, 1, "a", "in_house", "permanent", "signed"),
        (2, 2, "a", "on_call", "on_call_broker", "on_call_broker"),
        (2, 3, "a", "on_call", "permanent", "signed"),
        (3, 4, "a", "on_call", "permanent", "no_deal"),
        (3, 5, "a", "permanent", "permanent", "kept"),
        (4, 6, "a", "permanent", "permanent_broker", "renewed"),
        (4, 7, "a", "permanent", "in_house", "in_house"),
        (5, 8, "a", "permanent", "permanent", "no_capacity"),
    ])
    tm = M.transition_matrix(d)
    expected = pd.DataFrame([[1, 0, 1], [0, 2, 1], [1, 1, 2]], index=list(M.MODES), columns=list(M.MODES))
    np.testing.assert_array_equal(tm.to_numpy(), expected.to_numpy())
    assert M.transition_matrix(d, include_kept=False).loc["permanent", "permanent"] == 1


def test_conversion_times_from_first_on_call_review_to_first_signing():
    """Waits run from the first on-call review to the first signing at or after it; earlier signings do not count."""
    d = decisions([
        (13, 0, "a", "on_call", "on_call", "on_call"),
        (26, 0, "a", "on_call", "on_call", "on_call"),
        (39, 0, "a", "on_call", "permanent", "signed"),         # 26 weeks
        (5, 1, "a", "on_call", "permanent", "signed"),          # 0 weeks: signed at that review
        (10, 2, "a", "on_call", "in_house", "in_house"),        # never converts
        (3, 3, "a", "in_house", "permanent", "signed"),         # signing before any on-call review
        (20, 3, "a", "on_call", "on_call", "on_call"),          # ... then on-call without signing
        (7, 4, "a", "in_house", "in_house", "in_house"),        # never on-call: not in the denominator
    ])
    c = M.conversion_times(d).set_index("firm_id")
    assert c.loc[0, "weeks_to_permanent"] == 26 and c.loc[1, "weeks_to_permanent"] == 0
    assert math.isnan(c.loc[2, "weeks_to_permanent"]) and math.isnan(c.loc[3, "weeks_to_permanent"])
    summary = M.conversion_summary(d)
    assert summary["firm_services"] == 4 and summary["rate"] == 0.5 and summary["median_weeks"] == 13


def test_renewal_rates_use_only_term_ends():
    """Renewal rate = renewals / (renewals + expiries); terminations and exits are ignored; a window keeps its weeks' events."""
    c = pd.DataFrame({"week": [10, 20, 30, 30, 40, 40],
                      "event": ["renewed", "renewed", "expired", "terminated", "expired", "provider_exit"],
                      "kind": ["bpo", "bpo", "bpo", "bpo", "kpo", "kpo"],
                      "firm_id": [1, 2, 3, 4, 5, 6], "service": "s", "provider_id": 9})
    r = M.renewal_rates(c).set_index("kind")
    assert r.at["bpo", "rate"] == pytest.approx(2 / 3) and r.at["kpo", "rate"] == 0.0
    late = M.renewal_rates(c, window=(20, 39)).set_index("kind")
    assert list(late.index) == ["bpo"] and late.at["bpo", "rate"] == 0.5


def test_renewal_rates_count_a_new_contract_with_the_same_provider_at_term_end_as_a_renewal():
    """A brokered contract the firm signs again directly with its provider in the expiry week keeps the provider:
    a renewal. A new contract with another provider, or with the same one in another week or for another
    service, is not."""
    c = pd.DataFrame({"week": [30, 30, 30, 30, 30, 30, 30, 31],
                      "event": ["expired", "signed", "expired", "signed", "expired", "signed", "expired", "signed"],
                      "kind": "bpo",
                      "firm_id": [1, 1, 2, 2, 3, 3, 4, 4],
                      "service": ["s", "s", "s", "s", "s", "t", "s", "s"],
                      "provider_id": [7, 7, 7, 8, 7, 7, 7, 7]})
    r = M.renewal_rates(c).set_index("kind")
    assert r.at["bpo", "renewed"] == 1 and r.at["bpo", "expired"] == 3 and r.at["bpo", "rate"] == 0.25


# ------------------------------------------------------------------ form shares

def test_form_shares_reads_metrics_and_leaves_unmet_as_remainder():
    """Form shares come from the metric columns of the kind; unmet is one minus their sum."""
    m = pd.DataFrame({"step": [1, 2], "in_house_share_kpo": [0.5, 0.2], "on_call_share_kpo": [0.3, 0.3],
                      "permanent_share_kpo": [0.1, 0.5]})
    f = M.form_shares(m, "kpo")
    np.testing.assert_allclose(f["unmet"], [0.1, 0.0], atol=1e-12)
    assert list(f.columns) == ["step", "in_house", "on_call", "permanent", "unmet"]


def test_segment_form_shares_by_size_class_region_and_window():
    """Outsourced volume splits by form within firm size classes and provider regions, pro-rated into a window."""
    s = spells([
        (0, 0, "a", "bpo", "on_call", "direct", 1, 10, 30, 300, False),
        (0, 1, "a", "bpo", "permanent", "direct", 1, 10, 70, 700, False),
        (1, 1, "a", "bpo", "on_call", "direct", 1, 10, 50, 500, False),
    ])
    firms = pd.DataFrame({"firm_id": [0, 1], "size_class": ["small", "large"]})
    providers = pd.DataFrame({"provider_id": [0, 1], "region": ["domestic", "offshore"]})
    by_size = M.segment_form_shares(s, firms, providers, "size_class").set_index("segment")
    assert by_size.at["small", "permanent"] == pytest.approx(0.7) and by_size.at["large", "on_call"] == 1.0
    by_region = M.segment_form_shares(s, firms, providers, "region").set_index("segment")
    assert by_region.at["offshore", "on_call"] == pytest.approx(50 / 120)
    half = M.segment_form_shares(s, firms, providers, "region", window=(6, 10)).set_index("segment")
    assert half.at["offshore", "volume_hours"] == pytest.approx(60.0)  # half of each 10-week spell


def test_first_week_above():
    """The first week one metric exceeds another, None when it never does."""
    m = pd.DataFrame({"step": [1, 2, 3], "a": [0.1, 0.3, 0.5], "b": [0.2, 0.3, 0.4]})
    assert M.first_week_above(m, "a", "b") == 3 and M.first_week_above(m, "b", "b") is None


def test_stays_above_from_finds_the_last_crossing():
    """The week from which one metric stays above another to the end; None when it ends below."""
    m = pd.DataFrame({"step": [1, 2, 3, 4, 5], "a": [0.5, 0.1, 0.5, 0.6, 0.7], "b": [0.2, 0.3, 0.4, 0.4, 0.4]})
    assert M.stays_above_from(m, "a", "b") == 3
    assert M.stays_above_from(m.assign(b=0.0), "a", "b") == 1
    assert M.stays_above_from(m.iloc[:2], "a", "b") is None


# ------------------------------------------------------------------ market structure

def test_hhi_of_known_shares_and_by_service_in_a_window():
    """HHI of 50/30/20 is 3,800; by service it uses volume pro-rated into the window."""
    assert M.hhi([50, 30, 20]) == pytest.approx(3800)
    assert math.isnan(M.hhi([0, 0]))
    s = spells([
        (0, 0, "a", "bpo", "on_call", "direct", 1, 4, 40, 400, False),   # weeks 3-4 in window: 20 h
        (1, 1, "a", "bpo", "permanent", "direct", 3, 4, 20, 200, False),  # all 20 h in window
        (2, 2, "b", "kpo", "on_call", "direct", 1, 2, 10, 100, False),   # outside the window
        (3, 3, "b", "kpo", "on_call", "direct", 3, 3, 10, 100, False),
    ])
    h = M.hhi_by_service(s, window=(3, 4)).set_index("service")
    assert h.at["a", "hhi"] == pytest.approx(5000) and h.at["b", "hhi"] == pytest.approx(10000)
    assert h.at["a", "providers"] == 2 and h.at["b", "equivalent_providers"] == pytest.approx(1.0)


def test_prices_level_dispersion_over_time_and_offshore_ratio():
    """Mean price is spend over hours; periods pro-rate spells; offshore ratio compares regions."""
    s = spells([
        (0, 0, "a", "bpo", "on_call", "direct", 1, 26, 26, 260, False),   # 10 cu/h over two quarters
        (1, 1, "a", "bpo", "on_call", "direct", 1, 13, 30, 600, False),   # 20 cu/h, first quarter
    ])
    p = M.price_summary(s).iloc[0]
    assert p["mean_price"] == pytest.approx(860 / 56) and p["median_price"] == pytest.approx(15)
    t = M.prices_over_time(s, steps=26, bin_weeks=13)
    np.testing.assert_allclose(t["volume_hours"], [43, 13])
    np.testing.assert_allclose(t["price"], [(130 + 600) / 43, 10.0])
    providers = pd.DataFrame({"provider_id": [0, 1], "region": ["offshore", "domestic"]})
    assert M.offshore_price_ratio(s, providers, "bpo") == pytest.approx(0.5)
    assert math.isnan(M.offshore_price_ratio(s, providers, "kpo"))


def test_entry_exit_by_year_counts_entrants_and_exits():
    """Initial providers are not entries; exits and entries fall in the year of their week."""
    p = pd.DataFrame({"provider_id": [0, 1, 2, 3], "kind": ["bpo", "bpo", "kpo", "kpo"],
                      "entry_week": [0, 60, 0, 10], "exit_week": [52, -1, 104, -1]})
    t = M.entry_exit_by_year(p, steps=104).set_index(["year", "kind"])
    assert t.at[(1, "kpo"), "entries"] == 1 and t.at[(2, "bpo"), "entries"] == 1
    assert t.at[(1, "bpo"), "exits"] == 1 and t.at[(2, "kpo"), "exits"] == 1 and t["exits"].sum() == 2


# ------------------------------------------------------------------ loyalty, brokers, surplus

def test_on_call_concentration_and_loyalty_counts():
    """Top-provider shares of on-call spend classify firm-services as loyal, searchers or between."""
    s = spells([
        (0, 1, "a", "bpo", "on_call", "direct", 1, 1, 8, 80, False),
        (0, 2, "a", "bpo", "on_call", "direct", 1, 1, 2, 20, False),
        (0, 3, "a", "bpo", "permanent", "direct", 1, 1, 50, 500, False),  # permanent work is left out
        (1, 1, "a", "bpo", "on_call", "direct", 1, 1, 4, 40, False),
        (1, 2, "a", "bpo", "on_call", "direct", 1, 1, 3, 30, False),
        (1, 3, "a", "bpo", "on_call", "direct", 1, 1, 3, 30, False),
        (2, 1, "b", "kpo", "on_call", "direct", 1, 1, 6, 60, False),
        (2, 1, "b", "kpo", "on_call", "broker", 2, 2, 0, 0, False),       # no spend: ignored
        (2, 2, "b", "kpo", "on_call", "direct", 1, 1, 4, 40, False),
    ])
    c = M.on_call_concentration(s).set_index("firm_id")
    np.testing.assert_allclose(c["top_share"], [0.8, 0.4, 0.6])
    assert c.at[0, "hhi_share"] == pytest.approx(0.68) and c.at[1, "providers"] == 3
    summary = M.loyalty_summary(c)
    assert summary["loyal_share"] == pytest.approx(1 / 3) and summary["searcher_share"] == pytest.approx(1 / 3)


def test_bimodality_coefficient_matches_sarle_formula_and_known_shapes():
    """Sarle's b equals the formula on scipy's bias-corrected moments; two-point data score near 1, normal near 1/3."""
    rng = np.random.default_rng(3)
    x = rng.gamma(2.0, size=200)
    n = len(x)
    g, k = stats.skew(x, bias=False), stats.kurtosis(x, bias=False)
    assert M.bimodality_coefficient(x) == pytest.approx((g ** 2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))),
                                                        rel=1e-10)
    assert M.bimodality_coefficient(np.r_[np.zeros(500), np.ones(500)]) > 0.95
    # normal: b -> 1/3; with n = 4000 the sd of b is about 0.01, so 0.05 cannot be missed by chance
    assert M.bimodality_coefficient(rng.normal(size=4000)) == pytest.approx(1 / 3, abs=0.05)
    assert math.isnan(M.bimodality_coefficient([0.1, 0.9, 0.5])) and math.isnan(M.bimodality_coefficient([1.0] * 5))


def test_broker_shares_of_matches_and_volume():
    """Broker share counts spells (matches) and hours through a broker per size class."""
    s = spells([
        (0, 1, "a", "bpo", "on_call", "broker", 1, 1, 10, 100, False),
        (0, 2, "a", "bpo", "on_call", "direct", 1, 1, 30, 300, False),
        (1, 2, "a", "kpo", "permanent", "direct", 1, 1, 60, 600, False),
    ])
    firms = pd.DataFrame({"firm_id": [0, 1], "size_class": ["small", "large"]})
    b = M.broker_shares(s, firms, "size_class").set_index("segment")
    assert b.at["small", "match_share"] == 0.5 and b.at["small", "volume_share"] == pytest.approx(0.25)
    assert b.at["large", "match_share"] == 0.0
    assert M.broker_shares(s, firms, "kind").set_index("segment").at["bpo", "volume_share"] == pytest.approx(0.25)


def test_surplus_by_year_sums_weeks():
    """Yearly surplus sums 52 weeks at a time."""
    m = pd.DataFrame({"step": np.arange(1, 105), "firm_surplus": np.ones(104), "provider_profit": np.full(104, 3.0)})
    t = M.surplus_by_year(m)
    assert list(t["firm_surplus"]) == [52, 52] and t["provider_share"].iloc[0] == pytest.approx(0.75)
