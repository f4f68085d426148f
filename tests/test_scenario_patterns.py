"""Scenario-level pattern tests: P6 lock-in, P7 cycle, P8 reshoring and P9 brokers, on shipped scenario files.

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

from conftest import ROOT, market_size

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
    """recession.toml vs baseline: no change before week 104, no fall at first, a deep trough later, recovery by year 9.

    The trough comes with a lag: contracts are resized to the smaller demand as they come up during the
    downturn, so when demand returns (week 208) the excess goes on-call until contracts are renegotiated.
    """
    diff = series("recession", seed, "permanent_share") - series("baseline", seed, "permanent_share")
    assert diff.loc[1:103].abs().max() == 0.0  # common random numbers: identical until the event
    # Lag: reserved hours are fixed until contracts expire, so the share first rises (measured +0.031 to +0.039).
    assert diff.loc[104:116].mean() > 0.0
    # Then permanent volume falls well below the baseline (measured troughs -0.092 to -0.120; seed noise < 0.02).
    trough = diff.loc[117:260].rolling(26).mean().min()
    assert trough < -0.06
    # And the gap closes once demand is back (measured -0.009 to -0.005 in the last 100 weeks: no lasting loss;
    # over 90% of the trough recovered). Required: within 0.04 of the baseline and over 60% of the trough back.
    last = diff.loc[420:520].mean()
    assert last > -0.04 and last - trough > 0.6 * abs(trough)


@pytest.mark.parametrize("seed", SEEDS)
def test_p8_offshore_wage_convergence_lowers_the_offshore_share(seed):
    """offshore_wage_convergence.toml vs baseline: same offshore share before week 104, far lower in the last year."""
    base = series("baseline", seed, "offshore_share")
    conv = series("offshore_wage_convergence", seed, "offshore_share")
    assert (conv.loc[1:103] == base.loc[1:103]).all()
    # Measured last-year offshore shares: 0.846, 0.847, 0.796 baseline vs 0.800, 0.803, 0.746 with convergence
    # (-0.044 to -0.050). The calibrated offshore BPO price is a third of the domestic one, on the flat top of the
    # offshoring S-curve (scenarios/sweeps/offshore_s_curve.toml), so a 30% wage rise moves the share a little,
    # the same amount in each seed (common random numbers): a 0.02 margin is under half the smallest effect.
    assert conv.loc[420:520].mean() < base.loc[420:520].mean() - 0.02


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
    # Measured (520 weeks, seeds 1-3): small 0.77-0.78 vs large 0.23-0.29; KPO 0.44-0.47 vs BPO 0.32-0.38 (gaps
    # +0.084, +0.084, +0.145). Requiring gaps of 0.1 (size) and 0.04 (kind, half the smallest measured) leaves
    # room for seed noise (< 0.03) while failing if the fixed cost of direct sourcing or the brokers'
    # information advantage stopped mattering.
    assert size["small"] > size["medium"] > size["large"]
    assert size["small"] - size["large"] > 0.1
    assert kind["kpo"] - kind["bpo"] > 0.04


# ----------------------------------------------------------------------------- P6: lock-in
HIKE_WEEK = 150
P6_SMALL = market_size(500)


def hiked_volume(hike: float, seed: int, weeks: int = 260) -> np.ndarray:
    """Weekly hours bought from the three hiking providers, from the hike week on (price_hike.toml)."""
    from simulation import OutsourcingModel

    hike_event = {"at": HIKE_WEEK, "action": "price_hike", "providers": 3, "rise": hike}
    cfg = load_scenario(ROOT / "scenarios" / "price_hike.toml",
                        {**P6_SMALL, "events": [hike_event], "run.steps": HIKE_WEEK + weeks})
    model = OutsourcingModel(cfg, seed=seed)
    for _ in range(HIKE_WEEK - 1):
        model.step()
    t = model.providers
    active = np.flatnonzero(t.view("active"))
    hiking = active[np.argsort(-t.capacity[active], kind="stable")][:3]  # the rule of ProviderTable.largest
    out = []
    for _ in range(weeks + 1):
        model.step()
        f, sl, book = model.fills, model.slots, model.contracts
        out.append(f.served[np.isin(sl.provider, hiking)].sum() + f.permanent[np.isin(book.provider, hiking) & book.active].sum())
    return np.array(out)


@pytest.mark.parametrize("seed", SEEDS)
def test_p6_clients_stay_with_a_provider_that_raises_its_price_up_to_a_threshold(seed):
    """Volume kept by hiking providers (vs the same seed without a hike) falls with the hike; small hikes keep clients."""
    base = hiked_volume(0.0, seed)

    def kept(v: np.ndarray, a: int, b: int) -> float:
        return float(v[a:b].sum() / base[a:b].sum())

    volumes = {h: hiked_volume(h, seed) for h in (0.05, 0.3, 1.2)}
    first_year = {h: kept(v, 13, 52) for h, v in volumes.items()}
    # Measured first-year shares kept (seeds 1-3): 5%: 0.97-1.03, 30%: 0.78-0.87, 120%: 0.71-0.77.
    assert first_year[0.05] > 0.85  # contracts, learning and loyalty hold clients through a small hike
    assert first_year[0.05] > first_year[0.3] > first_year[1.2]
    assert first_year[1.2] < 0.85  # past the threshold, a sixth or more leaves within the year
    # Lock-in is switching cost, not indifference: with the 120% hike, far less is kept in years 3-5 (measured
    # 0.62, 0.43, 0.31) than in the first year, once contracts (183-week BPO terms) have come up for renewal.
    # (A 30% hike is no test of this: the largest providers are often offshore, at a third of domestic prices,
    # and stay the cheapest; seed 1 keeps 0.87 of their volume in years 3-5.)
    later = kept(volumes[1.2], 156, 260)
    assert later < first_year[1.2] - 0.1
