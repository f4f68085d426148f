"""The economics of the calibrated baseline: firms gain from outsourcing and pay what they expected, on-call
survives as a choice for the firms it suits, the transaction-cost directions hold near the baseline, and
the answer does not change with the size of the market.

Runs use the full 1,000-firm baseline (the shares of a smaller market are too noisy for the differences
tested here). Every tolerance says what was measured (commands in the comments reproduce it) and why it
is that wide.
"""

from __future__ import annotations

import functools

import numpy as np
import pandas as pd
import pytest

from analysis.decision_audit import audit
from analysis.load import run_data_from_tables
from analysis.measures import on_call_mode_by_segment
from analysis.moments import moment
from simulation import load_scenario, run
from simulation.config.keys import get_value
from simulation.model import OutsourcingModel
from simulation.model.codes import Mode
from simulation.runfolder import DATA_FILES

from conftest import BASELINE

pytestmark = pytest.mark.slow

SEEDS = (1, 2, 3)
TCE_SEEDS = (1, 2, 3, 4)
TCE_WEEKS = 312  # six years after the warm-up; the differences are measured over the last 200 weeks


@pytest.fixture(scope="module")
def baseline_runs():
    """The baseline, full size and length, seeds 1-3, with the tables analysis reads."""
    cfg = load_scenario(BASELINE)
    out = []
    for seed in SEEDS:
        r = run(cfg, seed=seed)
        data = run_data_from_tables({k: getattr(r, k) for k in DATA_FILES},
                                    {"config": cfg.model_dump(mode="json"), "steps": cfg.run.steps})
        out.append((r, data))
    return out


# ----------------------------------------------------------------------------- firms gain, and expected what they paid
def test_firms_gain_from_outsourcing_in_every_year_of_the_baseline(baseline_runs):
    """Firm surplus (saving against in-house, net of unmet demand at its shortage cost and exit fees) is positive in
    every year of every seed, and the realised saving sits in the industry's 10-40%."""
    for r, data in baseline_runs:
        yearly = r.metrics.groupby((r.metrics["step"] - 1) // 52)["firm_surplus"].sum()
        assert (yearly > 0).all()
        assert 0.10 <= moment(data, "realised_saving", (data.steps - 51, data.steps)) <= 0.40


def test_what_firms_expect_at_a_review_is_what_they_then_pay(baseline_runs):
    """Per option taken, the mean realised weekly cost over the next review period is within 12% of the mean
    expected one (every option with at least 300 audited reviews)."""
    for r, _ in baseline_runs:
        table = audit(r.decisions)
        big = table[table["reviews"] >= 300]
        assert {"in-house", "on-call", "permanent (new)", "permanent (kept)"} <= set(big["option taken"])
        assert (big["gap"].abs() < 0.12).all(), big.to_string()


# ----------------------------------------------------------------------------- on-call for the firms it suits
def test_on_call_survives_as_a_chosen_mode_and_small_firms_choose_it_more(baseline_runs):
    """In the last year at least 15% of outsourcing firm-services chose on-call; small firms more often than
    large ones (fixed contracting costs weigh more on small volumes, and small firms' demand swings more)."""
    for r, data in baseline_runs:
        assert r.metrics["on_call_mode_share"].tail(52).mean() >= 0.15
        by_size = on_call_mode_by_segment(r.decisions, r.firms, (data.steps - 51, data.steps)).set_index("segment")
        assert by_size.loc["small", "on_call_mode_share"] > by_size.loc["large", "on_call_mode_share"] + 0.1


def test_volatile_firm_services_choose_on_call_more_than_steady_ones():
    """Within each service, the outsourcing firm-services whose weekly demand swung most over weeks 101-200 (the top
    third by coefficient of variation) are in on-call mode more often than the steadiest third. Within a service,
    because services differ in more than volatility: KPO work is the lumpiest (projects) but also the most specific,
    and is bought under contracts."""
    for seed in SEEDS:
        model = OutsourcingModel(load_scenario(BASELINE, {"run.steps": 200}), seed=seed)
        demand = []
        for week in range(200):
            model.step()
            if week >= 100:
                demand.append(model.fills.demand.copy())
        demand = np.array(demand)
        cv = demand.std(axis=0) / np.maximum(demand.mean(axis=0), 1e-9)
        outsourcing = model.slots.mode != Mode.IN_HOUSE
        on_call = model.slots.mode == Mode.ON_CALL
        steady, volatile = np.zeros(len(cv), bool), np.zeros(len(cv), bool)
        for service in np.unique(model.slots.service):
            rows = outsourcing & (model.slots.service == service)
            low, high = np.quantile(cv[rows], [1 / 3, 2 / 3])
            steady |= rows & (cv <= low)
            volatile |= rows & (cv >= high)
        # Measured (seeds 1-3): 0.48, 0.43, 0.44 of the volatile third on-call vs 0.10, 0.12, 0.11 of the steady
        # third; each third holds about 550 firm-services (binomial sd about 0.02): a 0.15 margin is half the gap.
        assert on_call[volatile].mean() > on_call[steady].mean() + 0.15


# ----------------------------------------------------------------------------- transaction-cost directions
@functools.cache
def tce_measures(key: str, value: float, seed: int) -> dict[str, float]:
    """Last-200-week measures of a baseline run with ``key = value``: the permanent share of outsourced hours, the
    weekly switching rate, the permanent share of KPO hours, and early terminations (ledger events) in those weeks. Cached: the baseline runs serve
    every direction."""
    cfg = load_scenario(BASELINE, {"run.steps": TCE_WEEKS})
    if get_value(cfg, key) != value:
        cfg = load_scenario(BASELINE, {key: value, "run.steps": TCE_WEEKS})
    r = run(cfg, seed=seed)
    m = r.metrics.iloc[-200:]
    ended = r.contracts[(r.contracts["week"] > TCE_WEEKS - 200) & (r.contracts["event"] == "terminated")]
    permanent, on_call = m["permanent_hours"].sum(), m["on_call_hours"].sum()
    return {"permanent_of_outsourced": permanent / (permanent + on_call), "switch_rate": m["switch_rate"].mean(),
            "permanent_share_kpo": m["permanent_share_kpo"].mean(), "terminations": float(len(ended))}


def assert_direction(key: str, values: tuple[float, float, float], measure: str, sign: int, full_margin: float) -> None:
    """All else equal (same seeds), ``measure`` moves in the direction ``sign`` as ``key`` rises through ``values``
    (low, baseline, high): by more than ``full_margin`` from low to high in every seed, and on average over the
    seeds in each of the two steps."""
    rows = np.array([[tce_measures(key, v, s)[measure] for v in values] for s in TCE_SEEDS])
    full = sign * (rows[:, 2] - rows[:, 0])
    steps = sign * np.diff(rows, axis=1).mean(axis=0)
    assert (full > full_margin).all(), rows
    assert (steps > 0).all(), rows




def test_a_higher_onboarding_cost_raises_the_permanent_share_and_lowers_switching():
    """Asset specificity (Williamson; P2): onboarding x 0.7, 1, 1.3."""
    values = (0.7, 1.0, 1.3)
    # Measured (seeds 1-4), low to high: permanent share of outsourced hours +0.096, +0.068, +0.090, +0.069, each
    # step +0.03 to +0.07 on average; switching -0.010, -0.011, -0.015, -0.015. Seed noise of a 200-week mean is
    # about 0.01 (share) and 0.003 (switching): the margins are under half the smallest effect and above the noise.
    assert_direction("contracts.onboarding_multiplier", values, "permanent_of_outsourced", +1, 0.03)
    assert_direction("contracts.onboarding_multiplier", values, "switch_rate", -1, 0.004)


def test_stronger_relationship_learning_raises_the_permanent_share_of_kpo_work():
    """Learning only a dedicated team builds (P2): learning strength x 0.8, 1, 1.2 of the baseline's. Measured on KPO
    work, where learning is strong (BPO learning strength is a third of KPO's and moves its share by less than the
    seed noise)."""
    base = load_scenario(BASELINE).contracts.learning_multiplier
    values = tuple(round(base * f, 6) for f in (0.8, 1.0, 1.2))
    # Measured (seeds 1-4), low to high: +0.018, +0.026, +0.018, +0.010, every single step positive (+0.004 to
    # +0.017). The KPO share's seed noise is about 0.003 on a paired difference: margin 0.005.
    assert_direction("contracts.learning_multiplier", values, "permanent_share_kpo", +1, 0.005)


def test_more_demand_volatility_lowers_the_permanent_share():
    """Take-or-pay risk (P3): weekly demand sd 0.10, 0.15, 0.20."""
    # Measured (seeds 1-4), low to high: -0.064, -0.086, -0.086, -0.076, every single step negative: margin 0.03.
    assert_direction("firms.demand_volatility", (0.10, 0.15, 0.20), "permanent_of_outsourced", -1, 0.03)


def test_a_higher_exit_fee_means_fewer_early_terminations():
    """The baseline's exit fee x 0.7, 1, 1.3 (weeks of reserved fee paid in lieu of notice)."""
    base = load_scenario(BASELINE).contracts.early_exit_fee_weeks
    values = tuple(round(base * f, 6) for f in (0.7, 1.0, 1.3))
    # Measured (seeds 1-4), terminations in the last 200 weeks, low to high: -41, -57, -96, -61 (of about 200); the
    # steps -47 and -17 on average. Margin 20 terminations: half the smallest effect.
    assert_direction("contracts.early_exit_fee_weeks", values, "terminations", -1, 20.0)


# ----------------------------------------------------------------------------- scale
def test_ten_times_the_market_gives_the_same_shares():
    """``run.scale = 10`` (10,000 firms, providers, brokers, talent pools and entry scaled together): the last-year
    shares of hours by form and kind are within 0.05 of the 1,000-firm baseline's (same seed)."""
    columns = [f"{form}_share_{kind}" for form in ("permanent", "on_call", "in_house") for kind in ("bpo", "kpo")]
    small = run(load_scenario(BASELINE), seed=1).metrics[columns].tail(52).mean()
    big = run(load_scenario(BASELINE, {"run.scale": 10.0}), seed=1).metrics[columns].tail(52).mean()
    assert ((big - small).abs() < 0.05).all(), pd.DataFrame({"1x": small, "10x": big})
