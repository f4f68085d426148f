"""Unit tests of the market's set-up: ``run.scale`` (firms, providers, brokers, talent pools and entry together),
size-dependent demand volatility, the in-house cost drift and the initial preference."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulation import OutsourcingModel, load_scenario
from simulation.config import Config, scaled
from simulation.model import kernels, population
from simulation.model.codes import REGIONS, Channel, Kind, Mode
from simulation.model.demand import DemandProcess
from simulation.model.environment import Environment
from simulation.model.market.providers import entry_services
from simulation.model.state.providers import ProviderTable

from conftest import BASELINE, SMALL
from markets import market


def small_model(seed: int = 1, **overrides) -> OutsourcingModel:
    return OutsourcingModel(load_scenario(BASELINE, {**SMALL, **overrides}), seed=seed)


def metric_bytes(model: OutsourcingModel) -> dict[str, bytes]:
    """Every weekly metric column as raw bytes (exact equality, NaN included)."""
    df = model.datacollector.get_model_vars_dataframe()
    return {c: df[c].to_numpy().tobytes() for c in df.columns}


# ------------------------------------------------------------------ run.scale

def test_scaled_rounds_to_the_nearest_count_and_never_to_zero():
    """scaled(count, scale) is count x scale to the nearest integer, at least 1 for a positive count, 0 otherwise."""
    assert scaled(0, 5.0) == 0 and scaled(-3, 2.0) == 0
    assert scaled(1, 0.01) == 1 and scaled(2, 0.2) == 1 and scaled(3, 2.0) == 6 and scaled(100, 0.333) == 33
    for count in range(1, 120):
        for scale in (0.01, 0.1, 0.37, 0.5, 1.0, 1.5, 2.0, 3.3):
            got = scaled(count, scale)
            assert got >= 1 and isinstance(got, int)
            assert abs(got - count * scale) <= 0.5 or got == 1 > count * scale


def test_scale_two_doubles_firms_providers_brokers_and_talent_pools():
    """Scale 2 builds twice the firms, BPO providers, KPO specialists and brokers, with twice the talent pools."""
    sizes = {"firms.count": 40, "providers.bpo_count": 5, "providers.kpo_count": 3, "intermediaries.count": 3,
             "run.warmup_weeks": 0}
    one = OutsourcingModel(load_scenario(BASELINE, sizes), seed=2)
    two = OutsourcingModel(load_scenario(BASELINE, {**sizes, "run.scale": 2.0}), seed=2)
    kinds = [np.bincount(m.providers.view("kind"), minlength=2)[[Kind.BPO, Kind.KPO]].tolist() for m in (one, two)]
    assert kinds == [[5, 3], [10, 6]]
    assert (len(one.firms), len(two.firms)) == (40, 80)
    assert (len(one.brokers), len(two.brokers)) == (3, 6) and len(two.broker_agents) == 6
    assert set(np.unique(two.slots.broker)) <= set(range(6))
    assert two.slots.broker.max() >= 3  # the brokers scale 2 adds have clients
    for r in REGIONS:
        pool = one.cfg.regions[r].talent_pool_hours
        assert two.environment.talent_pool[r] == 2 * one.environment.talent_pool[r] == 2 * pool
    refilled = Environment(two.cfg)
    refilled.talent_pool = {r: 0.0 for r in REGIONS}
    refilled.refill_talent_pools()  # refills toward the scaled size
    for r in REGIONS:
        rc = two.cfg.regions[r]
        assert refilled.talent_pool[r] == pytest.approx(rc.talent_pool_refill_per_week * 2 * rc.talent_pool_hours)


def entry_table(margins: list[float]) -> ProviderTable:
    """One provider per service with the given running margin (profit over revenue of 1000 cu/week)."""
    table = ProviderTable(len(margins))
    for v, margin in enumerate(margins):
        offers = np.zeros(len(margins), bool)
        offers[v] = True
        table.add(Kind.BPO, 0, 1, offers, 100.0, 0.3, 0.9, 0)
        table.revenue_ema[v], table.profit_ema[v] = 1000.0, 1000.0 * margin
    return table


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_entrants_arrive_in_proportion_to_the_scale_where_the_pooled_margin_is_high(scale):
    """A service above the entry margin gets Poisson(entry_probability x scale) entrants a week (mean 0.5 x scale over
    5000 weeks); one below it gets none."""
    cfg = Config.model_validate({"providers": {"entry_probability": 0.5, "entry_margin": 0.1}, "run": {"scale": scale}})
    table = entry_table([0.2, 0.05])
    rng = np.random.default_rng(11)
    weeks = 5000
    counts = np.zeros(2)
    for _ in range(weeks):
        for v, count in entry_services(table, cfg, rng):
            assert count >= 1
            counts[v] += count
    lam = 0.5 * scale
    # The mean of 5000 Poisson(lam) draws has standard error sqrt(lam / 5000) (0.010 at lam 0.5, 0.017 at 1.5);
    # 5 standard errors is far below the gap to another scale (lam x (scale - 1) / scale >= 0.5 for scale 1 vs 3).
    assert abs(counts[0] / weeks - lam) < 5 * math.sqrt(lam / weeks)
    assert counts[1] == 0


def test_entry_uses_the_margin_of_a_service_s_providers_pooled():
    """Pooled margin: one provider earning 30% and one losing 25% on equal revenue make 2.5% together, below a 10%
    entry margin, so no one enters though one provider alone is above it."""
    cfg = Config.model_validate({"providers": {"entry_probability": 5.0, "entry_margin": 0.1}})
    table = entry_table([0.3])
    offers = np.ones(1, bool)
    table.add(Kind.BPO, 0, 1, offers, 100.0, 0.3, 0.9, 0)
    table.revenue_ema[1], table.profit_ema[1] = 1000.0, -250.0
    rng = np.random.default_rng(0)
    assert all(entry_services(table, cfg, rng) == [] for _ in range(50))
    table.profit_ema[1] = 0.0  # pooled 15%: entrants come (P(no entrant in 50 weeks) = exp(-250))
    assert sum(c for _ in range(50) for _, c in entry_services(table, cfg, rng)) > 0


# ------------------------------------------------------------------ size-dependent volatility

def test_small_firms_are_more_volatile_and_the_median_firm_has_the_market_s_volatility():
    """factor = (size / median)^-0.3: a quarter-size firm swings 4^0.3 = 1.516 times the market, the median firm
    exactly 1, a four-times-larger one 4^-0.3 = 0.660; elasticity 0 gives every firm the market's volatility."""
    cfg = Config.model_validate({"firms": {"size_log_mean": 0.4, "volatility_size_elasticity": 0.3}})
    median = math.exp(0.4)
    factor = population.volatility_factor(np.array([0.25, 1.0, 4.0]) * median, cfg)
    assert factor[1] == 1.0
    assert factor.tolist() == pytest.approx([4**0.3, 1.0, 4**-0.3], rel=1e-12)
    flat = Config.model_validate({"firms": {"size_log_mean": 0.4}})
    assert population.volatility_factor(np.array([0.1, 1.0, 50.0]), flat).tolist() == [1.0, 1.0, 1.0]


def test_demand_swings_with_the_volatility_factor():
    """Log demand of a firm with factor 1.516 has sd 1.516 x the market's 0.15; the median firm's has 0.15."""
    factor = np.array([4**0.3, 1.0])
    process = DemandProcess(np.array([10.0, 10.0]), np.zeros(2), np.ones(2), factor, np.random.default_rng(5))
    rng = np.random.default_rng(6)
    logs = np.log([process.realise(1.0, 0.15, 0.0, rng) for _ in range(20_000)])
    # Without persistence the weekly log demands are iid normal; the sample sd of 20,000 has relative standard
    # error 1 / sqrt(2 x 20,000) = 0.5%: 3% is six standard errors.
    assert logs.std(axis=0) == pytest.approx(0.15 * factor, rel=0.03)


def test_project_draws_only_where_projects_are_leave_the_stream_as_full_draws_do():
    """realise draws arrivals and ends for project services only. Drawing them for every firm-service (as it did
    before) gives the same numbers and leaves the generator in the same state, so the weeks after are the same too."""
    n = 600
    setup = np.random.default_rng(3)
    lumpy = setup.random(n) < 0.4
    rate, weeks = np.where(lumpy, setup.uniform(0.01, 0.5, n), 0.0), setup.choice([12.0, 16.0], n)
    process = DemandProcess(setup.uniform(1.0, 400.0, n), rate, weeks, setup.uniform(0.5, 2.0, n),
                            np.random.default_rng(4))
    shock, projects = process.shock.copy(), process.projects.copy()
    ours, full = np.random.default_rng(9), np.random.default_rng(9)
    for _ in range(30):
        got = process.realise(1.1, 0.15, 0.6, ours)
        eps, arrivals = full.standard_normal(n), full.poisson(rate)
        ended = full.binomial(projects, np.divide(1.0, weeks))
        want, shock, projects = kernels.advance_demand(process.base, 0.15 * process.volatility_factor, lumpy, rate,
                                                       weeks, shock, projects, eps, ended, arrivals, 1.1, 0.6,
                                                       float(np.sqrt(1.0 - 0.6**2)))
        np.testing.assert_array_equal(got, want)
        np.testing.assert_array_equal(process.projects, projects)
    assert (process.projects > 0).sum() > 50  # projects did arrive and end
    assert ours.bit_generator.state == full.bit_generator.state


def test_the_model_gives_each_firm_service_its_firm_s_volatility_factor():
    """The baseline's elasticity (0.3) reaches the demand process: each slot carries its firm's factor."""
    model = small_model(**{"run.warmup_weeks": 0})
    want = population.volatility_factor(model.firms.size, model.cfg)[model.slots.firm]
    np.testing.assert_array_equal(model.demand.volatility_factor, want)
    smallest, largest = model.firms.size.argmin(), model.firms.size.argmax()
    assert want[model.slots.firm == smallest][0] > 1.0 > want[model.slots.firm == largest][0]


# ------------------------------------------------------------------ in-house cost drift

def test_the_in_house_cost_drift_preserves_the_mean():
    """Ten years of the drift (sd 0.08 per year) over ~8,400 firm-services: the mean factor stays where it was,
    the median falls by the lognormal correction and the log spread grows as 0.08 x sqrt(10)."""
    model = OutsourcingModel(load_scenario(BASELINE, {"firms.count": 3000, "run.warmup_weeks": 0,
                                                      "firms.inhouse_cost_drift": 0.08}), seed=4)
    start = model.slots.inhouse_factor.copy()
    for _ in range(520):
        model.drift_capabilities()
    ratio = model.slots.inhouse_factor / start
    n, var = len(ratio), 0.08**2 * 10  # log variance after ten years: 0.064
    # E[ratio] = 1 and sd(ratio) = sqrt(exp(0.064) - 1) = 0.257, so the mean of n ratios has standard error
    # 0.257 / sqrt(n) ~ 0.0028; 4 standard errors (~0.011) against a missing lognormal correction (+0.033).
    assert abs(ratio.mean() - 1.0) < 4 * math.sqrt(math.expm1(var) / n)
    logs = np.log(ratio)
    # The mean log is -var / 2 = -0.032 with standard error 0.253 / sqrt(n) ~ 0.0028 (4 of them allowed); the
    # sample sd has relative standard error 1 / sqrt(2 n) ~ 0.8%, 4% allowed (a weekly sd of 0.08 would be 7x).
    assert abs(logs.mean() + var / 2) < 4 * math.sqrt(var / n)
    assert logs.std() == pytest.approx(math.sqrt(var), rel=0.04)


def test_zero_drift_is_no_drift_and_the_drift_shifts_no_other_random_stream(monkeypatch):
    """Drift 0 gives the same bytes of metrics as a model without the drift step; a positive drift changes the
    market but, drawing from its own stream, not the demand the firms face (warm-up weeks included)."""
    short = {"run.warmup_weeks": 26}
    zero = small_model(**short, **{"firms.inhouse_cost_drift": 0.0})
    drifting = small_model(**short, **{"firms.inhouse_cost_drift": 0.5})
    assert zero.fills.demand.tobytes() == drifting.fills.demand.tobytes()  # the warm-up's last week
    for _ in range(40):
        zero.step()
        drifting.step()
        assert zero.fills.demand.tobytes() == drifting.fills.demand.tobytes()
    assert not np.array_equal(zero.slots.inhouse_factor, drifting.slots.inhouse_factor)
    assert metric_bytes(drifting) != metric_bytes(zero)
    monkeypatch.setattr(OutsourcingModel, "drift_capabilities", lambda self: None)
    without = small_model(**short, **{"firms.inhouse_cost_drift": 0.0}).run(40)
    assert metric_bytes(without) == metric_bytes(zero)


# ------------------------------------------------------------------ initial preference

def test_the_initial_preference_goes_to_the_first_known_provider_only():
    """choice.initial_preference sets J of column 0 of every consideration set that has one (a domestic-only firm
    may find no provider in its region) and nothing else; 0 is no prior."""
    loyal = small_model(**{"run.warmup_weeks": 0, "choice.initial_preference": 5.0})
    plain = small_model(**{"run.warmup_weeks": 0})
    J, known = loyal.slots.preference, loyal.slots.known
    assert known[:, 0].mean() > 0.9 and (J[:, 0] == np.where(known[:, 0], 5.0, 0.0)).all() and (J[:, 1:] == 0.0).all()
    assert (plain.slots.preference == 0.0).all()


def test_an_initial_preference_makes_firms_start_with_their_first_provider():
    """With J = 5 (beta x J = 7.5) a firm picks column 0 with probability e^7.5 / (e^7.5 + 3) > 0.99 in its first
    week; without a prior, column 0 gets about a share 1 / K (K <= 4 known providers) of the first requests."""
    def first_column_share(preference: float) -> float:
        model = small_model(**{"run.warmup_weeks": 0, "choice.initial_preference": preference, "choice.spot_rounds": 1})
        model.step()
        slots = model.slots
        direct = (slots.mode == Mode.ON_CALL) & (slots.channel == Channel.DIRECT) & (model.fills.on_call > 0)
        served = model.fills.served[direct]
        return float((served[:, 0] > 0).mean())

    # Hundreds of direct on-call buyers: the share is a binomial mean with sd <= 0.5 / sqrt(200) ~ 0.035, so the
    # loyal share (expected > 0.99) is far above 0.9 and the plain one (expected ~0.25-0.35) far below 0.5.
    assert first_column_share(5.0) > 0.9
    assert first_column_share(0.0) < 0.5
