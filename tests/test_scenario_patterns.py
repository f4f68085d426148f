"""Scenario-level pattern tests: P7 cycle, P8 reshoring and P9 brokers, on the shipped scenario files.

Each what-if runs with the same seeds as the baseline (common random numbers: demand shocks and
choices are drawn from the same streams), so before the first event the paired difference is exactly
zero and afterwards it is the effect of the scenario alone. Full-size runs, seeds 1-3; the numbers in
the comments were measured with these exact runs.
"""

from __future__ import annotations

from functools import cache

import numpy as np
import pytest

from simulation import load_scenario, run

from conftest import ROOT

SEEDS = (1, 2, 3)
pytestmark = pytest.mark.slow


@cache
def result(scenario: str, seed: int):
    """One full run of a shipped scenario (cached: several tests read the same runs)."""
    return run(load_scenario(ROOT / "scenarios" / f"{scenario}.toml"), seed=seed)


def series(scenario: str, seed: int, column: str):
    return result(scenario, seed).metrics.set_index("step")[column]


@pytest.mark.parametrize("seed", SEEDS)
def test_p7_recession_moves_volume_off_permanent_contracts_with_a_lag_then_recovers(seed):
    """recession.toml vs baseline: no change before week 104, no fall at first, a deep trough later, recovery by year 9."""
    diff = series("recession", seed, "permanent_share") - series("baseline", seed, "permanent_share")
    assert diff.loc[1:103].abs().max() == 0.0  # common random numbers: identical until the event
    # Lag: reserved hours are fixed until contracts expire, so the share first rises (measured +0.055 to +0.058).
    assert diff.loc[104:116].mean() > 0.0
    # Then permanent volume falls well below the baseline (measured troughs -0.18 to -0.19; seed noise < 0.02).
    assert diff.loc[117:260].rolling(26).mean().min() < -0.08
    # And comes back once demand does (measured -0.012 to -0.002 in the last 100 weeks).
    assert abs(diff.loc[420:520].mean()) < 0.04


@pytest.mark.parametrize("seed", SEEDS)
def test_p8_offshore_wage_convergence_lowers_the_offshore_share(seed):
    """offshore_wage_convergence.toml vs baseline: same offshore share before week 104, far lower in the last year."""
    base = series("baseline", seed, "offshore_share")
    conv = series("offshore_wage_convergence", seed, "offshore_share")
    assert (conv.loc[1:103] == base.loc[1:103]).all()
    # Measured last-year offshore shares: 0.57-0.59 baseline vs 0.26-0.29 with convergence. A 0.15 margin is
    # half the smallest measured effect and about ten times the seed-to-seed spread of the difference.
    assert conv.loc[420:520].mean() < base.loc[420:520].mean() - 0.15


def broker_volume_share(res, by: str) -> dict[str, float]:
    """Share of outsourced volume bought through brokers, by firm size class or by service kind."""
    rel = res.relationships.merge(res.firms[["firm_id", "size_class"]], on="firm_id")
    rel["kind"] = rel["service"].map(lambda s: res.config.services[s].kind.value)
    rel["brokered"] = rel["volume_hours"] * (rel["channel"] == "broker")
    sums = rel.groupby(by, observed=True)[["brokered", "volume_hours"]].sum()
    return (sums["brokered"] / sums["volume_hours"]).to_dict()


@pytest.mark.parametrize("seed", SEEDS)
def test_p9_small_firms_and_kpo_work_use_brokers_more(seed):
    """In the baseline, small firms buy a larger share through brokers than large ones, and KPO work more than BPO."""
    res = result("baseline", seed)
    size = broker_volume_share(res, "size_class")
    kind = broker_volume_share(res, "kind")
    # Measured (520 weeks): small 0.50-0.54 vs large 0.20-0.22; KPO 0.46-0.51 vs BPO 0.20-0.21. Requiring a
    # 0.1 gap leaves room for seed noise (< 0.03) while failing if the fixed cost of direct sourcing or the
    # brokers' information advantage stopped mattering.
    assert size["small"] > size["medium"] > size["large"]
    assert size["small"] - size["large"] > 0.1
    assert kind["kpo"] - kind["bpo"] > 0.1
