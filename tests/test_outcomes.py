"""Quality and on-time delivery by load and client experience (the per-pair rules of the outcomes kernel,
simulation/model/kernels/, that simulation/model/market/outcomes.py runs)."""

from __future__ import annotations

import copy
import functools
from dataclasses import fields, replace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation import OutsourcingModel, load_scenario
from simulation.model import kernels
from simulation.model.codes import Channel, Kind
from simulation.model.kernels import clip01, max0
from simulation.model.kernels import delivered_quality as kernel_quality
from simulation.model.kernels import on_time_share as kernel_on_time
from simulation.model.market.choice import loyalty
from simulation.model.market.fulfilment import EPS
from simulation.model.market.outcomes import (QUALITY_ESTIMATE_WEIGHT, OutcomeTotals, WorkDone, _totals,
                                              _update_estimates, _work_done, slot_costs)
from simulation.model.sourcing.costs import nonprice_cost, pool_handover_cost

from conftest import BASELINE, SMALL

LOSS, LATE, LATENESS = 0.5, 0.05, 1.0  # overload quality loss, base late rate, overload lateness
unit = st.floats(0.0, 1.0)


def delivered_quality(reliability, load, experience, learning, noise=0.0):
    return kernel_quality(reliability, load, experience, learning, noise, LOSS)


def on_time_share(load, experience, learning):
    return kernel_on_time(load, experience, learning, LATE, LATENESS)


def test_quality_formula_on_a_worked_case():
    """Reliability 0.8, half experience, learning 0.6, 0.05 overload: 0.8 + 0.2*0.6*0.5 - 0.5*0.05 = 0.835."""
    assert delivered_quality(0.8, 0.05, 0.5, 0.6) == pytest.approx(0.835, abs=1e-12)


def test_on_time_formula_on_a_worked_case():
    """Base lateness 0.05 cut by 0.6 x 0.5 experience, plus 1.0 x 0.02 overload: 1 - 0.035 - 0.02 = 0.945."""
    assert on_time_share(0.02, 0.5, 0.6) == pytest.approx(0.945, abs=1e-12)


@given(rel=unit, load=st.floats(0.0, 0.5), e1=unit, e2=unit, learning=unit)
def test_experience_never_hurts_and_overload_never_helps(rel, load, e1, e2, learning):
    """More client experience never lowers quality or punctuality; more overload never raises them."""
    lo, hi = sorted((e1, e2))
    assert delivered_quality(rel, load, hi, learning) >= delivered_quality(rel, load, lo, learning)
    assert on_time_share(load, hi, learning) >= on_time_share(load, lo, learning)
    assert delivered_quality(rel, load + 0.1, lo, learning) <= delivered_quality(rel, load, lo, learning)
    assert on_time_share(load + 0.1, lo, learning) <= on_time_share(load, lo, learning)


def test_outcomes_stay_in_the_unit_interval():
    """Extreme noise and overload are clipped to [0, 1]."""
    assert [delivered_quality(0.9, 2.0, 0.0, 0.0, 0.0), delivered_quality(0.1, 0.0, 0.0, 0.0, 5.0)] == [0.0, 1.0]
    assert on_time_share(3.0, 0.0, 0.0) == 0.0


@pytest.mark.parametrize("repeat", [1, 40])  # one value, and arrays long enough for numpy's SIMD loops
def test_the_clip_and_the_floor_at_zero_are_numpys(repeat):
    """clip01 and max0 give np.clip's and np.maximum's bits: signed zeros, NaN and infinities included."""
    x = np.repeat([np.nan, -0.0, 0.0, 1.0, -1.0, 0.3, 1.5, np.inf, -np.inf, 5e-324, -5e-324, 1 - 2**-53], repeat)
    for ours, numpy in ((clip01, np.clip(x, 0.0, 1.0)), (max0, np.maximum(x, 0.0))):
        np.testing.assert_array_equal(np.array([ours(v) for v in x]).view(np.int64), numpy.view(np.int64))


def test_full_experience_with_full_learning_strength_removes_base_lateness_and_quality_gap():
    """A fully experienced team on work where learning is complete delivers quality 1, all on time, at normal load."""
    assert delivered_quality(0.7, 0.0, 1.0, 1.0) == 1.0
    assert on_time_share(0.0, 1.0, 1.0) == 1.0


# ------------------------------------------------------------------ the kernel against the numpy it replaced
def learn_reference(fills, slots, book, table, catalogue, cfg, c, rng, week):
    """outcomes._work_done, _onboarding and _learn (less the preferences) as numpy wrote them before the kernel:
    the pairs' provider, quality, on-time share, non-price cost, onboarding and payoff, and per slot the
    non-price and onboarding costs; updates the quality estimates and experience in place."""
    s, k, hours, paid = kernels.worked_pairs(fills.served, fills.spend, book.k, fills.permanent,
                                                         fills.permanent_paid, EPS)
    p, n = cfg.providers, len(slots)
    j = slots.provider[s, k]
    load = np.maximum(table.utilization[j] - p.overload_threshold, 0.0)
    noise = p.quality_noise_sd * rng.standard_normal(len(j))
    v, E, cs = slots.service[s], slots.experience[s, k], c[s]
    rel, learning = table.reliability[j], catalogue.learning[v]
    quality = np.clip(rel + (1.0 - rel) * learning * E - p.overload_quality_loss * load + noise, 0.0, 1.0)
    on_time = np.clip(1.0 - (p.late_base_rate * (1.0 - learning * E) + p.overload_lateness * load), 0.0, 1.0)
    nonprice = nonprice_cost(cs, catalogue.friction[v], learning, E, catalogue.error_cost[v], quality * on_time)
    opened = week - slots.last_worked[s, k] > cfg.firms.knowledge_memory_weeks
    weeks = catalogue.onboarding_weeks[v]
    handover = fills.served[s, k] * pool_handover_cost(cs, weeks, E, cfg.contracts.pool_rotation)
    onboarding = np.where(opened, weeks * hours * cs * (1.0 - E), handover)
    share = hours / np.maximum(fills.demand[s], EPS)
    payoff = share * (cfg.firms.shortage_penalty_factor - (paid / hours + nonprice + onboarding / hours) / cs)
    slots.quality_estimate[s, k] += QUALITY_ESTIMATE_WEIGHT * (quality * on_time - slots.quality_estimate[s, k])
    rate, team = cfg.contracts.learning_rate_per_week, np.flatnonzero(book.active)
    X = slots.experience
    worked, held = X[s, k], X[team, book.k[team]]
    X *= 1.0 - cfg.contracts.experience_decay_per_week
    X[s, k] += rate * cfg.contracts.on_call_learning_fraction * (1.0 - worked)
    X[team, book.k[team]] = held + rate * (1.0 - held)
    return (s, k, j, hours, paid, quality, on_time, nonprice, cs, onboarding, payoff,
            np.bincount(s, weights=nonprice * hours, minlength=n), np.bincount(s, weights=onboarding, minlength=n))


def assert_same_learning(m, seed, c=None):
    """_work_done and the reference, from the same state and random stream, agree bit for bit (outputs and the
    quality estimates and experience they leave)."""
    c = m.inhouse_cost_per_slot() if c is None else c
    args = (m.fills, m.slots, m.contracts, m.providers, m.catalogue, m.cfg, c)
    state = {name: getattr(m.slots, name).copy() for name in ("quality_estimate", "experience")}
    done = _work_done(*args, np.random.default_rng(seed), m.week)
    after = {name: getattr(m.slots, name).copy() for name in state}
    for name, before in state.items():
        getattr(m.slots, name)[:] = before
    expected = learn_reference(*args, np.random.default_rng(seed), m.week)
    got = [getattr(done, f.name) for f in fields(WorkDone)]
    for field, a, b in zip(fields(WorkDone), got, expected, strict=True):
        np.testing.assert_array_equal(a, b, err_msg=field.name)
    for name in state:
        np.testing.assert_array_equal(after[name], getattr(m.slots, name), err_msg=name)
    return expected


def test_the_outcomes_kernel_of_a_running_market_equals_the_numpy_rules():
    m = running_market()
    ref = assert_same_learning(m, seed=5)
    opened = ref[9] != m.fills.served[ref[0], ref[1]] * pool_handover_cost(
        ref[8], m.catalogue.onboarding_weeks[m.slots.service[ref[0]]], 0.0, 0.0)  # some pairs were (re)opened
    assert len(ref[0]) > 100 and m.contracts.active.any() and opened.any() and (ref[5] < 1.0).any()


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), week=st.integers(1, 400))
def test_the_outcomes_kernel_on_random_states_equals_the_numpy_rules(seed, week):
    """Random experience, estimates, histories, loads (over the threshold too) and tiny or zero demand; large
    noise so that quality is clipped at both ends."""
    m = running_market()
    rng = np.random.default_rng(seed)
    slots, table = m.slots, m.providers
    slots.experience[:] = rng.random(slots.experience.shape)
    slots.quality_estimate[:] = rng.random(slots.quality_estimate.shape)
    slots.last_worked[:] = rng.integers(week - 80, week + 1, slots.last_worked.shape)
    table.utilization[:] = rng.uniform(0.0, 1.6, len(table.utilization))
    m.fills = replace(m.fills, demand=np.where(rng.random(len(slots)) < 0.1, rng.choice([0.0, 1e-12], len(slots)),
                                               m.fills.demand))
    m.cfg.providers.quality_noise_sd = float(rng.choice([0.05, 0.5]))  # 0.5, the most allowed: clips often
    assert_same_learning(m, seed, rng.uniform(5.0, 150.0, len(slots)))


@functools.cache
def _market_state():
    m = OutsourcingModel(load_scenario(BASELINE, {**SMALL, "run.warmup_weeks": 0}), seed=3)
    for _ in range(25):
        m.step()
    return m


def running_market():
    """A small seeded market in its 25th week, with its arrays copied (each test may overwrite them)."""
    return copy.deepcopy(_market_state())


def totals_reference(done, fills, slots, book, table, catalogue, costs, switch):
    """outcomes._totals as numpy wrote it before the kernel."""
    hours, paid = done.hours, done.paid
    kpo = (catalogue.kind[slots.service] == Kind.KPO)[done.slot]
    cross = table.region[done.provider] != slots.region[done.slot]
    broker_hours = np.where(slots.channel == Channel.BROKER, fills.on_call, 0.0) + np.where(
        book.channel == Channel.BROKER, fills.permanent, 0.0)
    y = loyalty(slots.preference, slots.known)
    bought = fills.on_call > EPS
    outsourced = costs.payments.sum() + costs.nonprice.sum() + costs.onboarding.sum() + costs.management.sum()
    some = hours.sum() > 0
    return OutcomeTotals(
        quality=float(np.average(done.quality, weights=hours)) if some else float("nan"),
        on_time=float(np.average(done.on_time, weights=hours)) if some else float("nan"),
        offshore_volume=hours[cross].sum(), broker_volume=broker_hours.sum(),
        hours_bpo=hours[~kpo].sum(), hours_kpo=hours[kpo].sum(), spend_bpo=paid[~kpo].sum(), spend_kpo=paid[kpo].sum(),
        permanent_hours_paid=book.reserved[book.active].sum(),
        loyalty_mean=float(np.nanmean(y)) if np.isfinite(y).any() else float("nan"), switch_rate=switch,
        loyalty_on_call=float(np.nanmean(y[bought])) if np.isfinite(y[bought]).any() else float("nan"),
        onboarding_costs=float(costs.onboarding.sum()), management_costs=float(costs.management.sum()),
        outsourced_cost=float(outsourced), outsourced_inhouse_cost=float((done.inhouse_cost * hours).sum()),
        unmet_cost=float(costs.shortage.sum()))


@pytest.mark.parametrize("case", ["as run", "no work", "no on-call buyer", "no preference", "some NaN"])
def test_the_week_totals_are_the_numpy_sums(case):
    """The kernel's sums equal numpy's bit for bit, also without any work, buyer or learnt preference."""
    m = running_market()
    c = m.inhouse_cost_per_slot()
    done = _work_done(m.fills, m.slots, m.contracts, m.providers, m.catalogue, m.cfg, c, np.random.default_rng(1),
                      m.week)
    if case == "no work":
        done = WorkDone(*(x[:0] if x.shape == done.hours.shape else x for x in astuple_shallow(done)))
    elif case == "no on-call buyer":
        m.fills = replace(m.fills, on_call=np.zeros_like(m.fills.on_call))
    elif case == "no preference":
        m.slots.preference[:] = 0.0
    elif case == "some NaN":
        m.slots.preference[::7, 0] = np.nan
    costs = slot_costs(done, m.fills, m.slots, m.contracts, m.cfg, c)
    args = (done, m.fills, m.slots, m.contracts, m.providers, m.catalogue, costs, 0.25)
    got, expected = astuple_shallow(_totals(*args)), astuple_shallow(totals_reference(*args))
    np.testing.assert_array_equal(np.array(got, float).view(np.int64), np.array(expected, float).view(np.int64))
    assert (case in ("as run", "some NaN")) == all(np.isfinite(got)) and len(got) == len(fields(OutcomeTotals))


def astuple_shallow(record) -> tuple:
    """A dataclass's field values, not copied (dataclasses.astuple deep-copies arrays)."""
    return tuple(getattr(record, f.name) for f in fields(record))


def estimates_reference(fills, slots, cfg):
    """outcomes._update_estimates and _track_main_providers as numpy wrote them before the kernel."""
    alpha = 1.0 / cfg.firms.estimate_memory_weeks
    dev = fills.demand - slots.demand_mean
    slots.demand_mean += alpha * dev
    slots.demand_var += alpha * (dev * dev - slots.demand_var)
    asked = fills.on_call + fills.unmet
    req = asked > EPS
    slots.fill_rate[req] += alpha * (fills.on_call[req] / asked[req] - slots.fill_rate[req])
    bought = np.flatnonzero(fills.on_call > EPS)
    main = slots.provider[bought, fills.served[bought].argmax(axis=1)]
    prev = slots.main_provider[bought]
    seen = prev >= 0
    switch = float(np.mean(main[seen] != prev[seen])) if seen.any() else float("nan")
    slots.main_provider[bought] = main
    return switch


@pytest.mark.parametrize("case", ["as run", "ties and tiny requests", "nobody seen before"])
def test_the_estimates_and_main_providers_are_the_numpy_ones(case):
    m, rng = running_market(), np.random.default_rng(4)
    fills, slots = m.fills, m.slots
    if case == "ties and tiny requests":
        served = np.where(rng.random(fills.served.shape) < 0.5, 0.0, rng.choice([1.0, 2.0], fills.served.shape))
        fills = replace(fills, served=served, on_call=served.sum(axis=1),
                        unmet=np.where(rng.random(len(slots)) < 0.3, EPS, fills.unmet))
    elif case == "nobody seen before":
        slots.main_provider[:] = -1
    before = {name: getattr(slots, name).copy() for name in ("demand_mean", "demand_var", "fill_rate", "main_provider")}
    switch = _update_estimates(fills, slots, m.cfg)
    after = {name: getattr(slots, name).copy() for name in before}
    for name, values in before.items():
        getattr(slots, name)[:] = values
    expected = estimates_reference(fills, slots, m.cfg)
    np.testing.assert_array_equal(np.array([switch]), np.array([expected]))
    for name in before:
        np.testing.assert_array_equal(after[name], getattr(slots, name), err_msg=name)
    assert (case == "nobody seen before") == np.isnan(switch) and (fills.on_call > EPS).any()
    assert (switch > 0) == (case == "ties and tiny requests")  # the random hours move some buyers
