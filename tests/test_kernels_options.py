"""Option pricing's compiled passes against the numpy they replaced, bit for bit.

The reference below is ``OnCallMix.of`` as numpy wrote it before :func:`kernels.on_call_mix`; it runs on
seeded markets in their 30th week, every firm-service due, with some providers gone, preferences tied,
rows without an active known provider and rows with none worth their onboarding.
"""

from __future__ import annotations

import numpy as np
import pytest

from simulation import OutsourcingModel, load_scenario
from simulation.model import kernels
from simulation.model.market.choice import logit_probabilities
from simulation.model.sourcing.costs import average_experience, nonprice_cost, pool_handover_cost
from simulation.model.sourcing.options import Due, MarketView, OnCallMix

from conftest import BASELINE, SMALL


def on_call_mix_reference(view: MarketView, d: Due) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """OnCallMix.of as numpy wrote it before the kernel."""
    slots, cfg = view.slots, view.cfg
    cand = slots.provider[d.s]
    valid = slots.known[d.s] & view.table.active[cand]
    E = slots.experience[d.s]
    ebar = average_experience(E, cfg.contracts.learning_rate_per_week * cfg.contracts.on_call_learning_fraction,
                              cfg.firms.review_interval_weeks, cfg.contracts.experience_decay_per_week)
    weeks = view.catalogue.onboarding_weeks[d.v][:, None]
    allin = (view.prices.for_client(cand, slots.region[d.s][:, None], slots.coordination[d.s][:, None])
             + nonprice_cost(d.c[:, None], d.friction[:, None], d.learning[:, None], ebar, d.error[:, None],
                             slots.quality_estimate[d.s])
             + pool_handover_cost(d.c[:, None], weeks, ebar, cfg.contracts.pool_rotation))
    horizon = cfg.firms.knowledge_memory_weeks - cfg.firms.review_interval_weeks
    need = slots.needs_onboarding(view.week, max(horizon, 0), d.s)
    onboard = np.where(need, weeks * d.c[:, None] * (1.0 - E), 0.0)
    P = logit_probabilities(slots.preference[d.s], cfg.choice.beta, valid)
    some = P.sum(axis=1) > 0
    hour = np.where(some, (P * np.where(valid, allin, 0.0)).sum(axis=1), np.nan)
    startup = (P * np.where(valid, onboard, 0.0)).sum(axis=1)
    penalty = cfg.firms.shortage_penalty_factor * d.c
    worth = valid & (allin + onboard <= penalty[:, None])
    spill_P = logit_probabilities(slots.preference[d.s], cfg.choice.beta, worth)
    spill = np.where(spill_P.sum(axis=1) > 0, (spill_P * np.where(worth, allin + onboard, 0.0)).sum(axis=1), penalty)
    return hour, startup, spill


def market_view(seed: int, **overrides) -> tuple[MarketView, Due]:
    m = OutsourcingModel(load_scenario(BASELINE, {**SMALL, "run.warmup_weeks": 0, **overrides}), seed=seed)
    for _ in range(30):
        m.step()
    view = MarketView(m.slots, m.providers, m.contracts, m.brokers, m.prices, m.catalogue, m.cfg, m.week)
    s = np.arange(len(m.slots))
    return view, Due.gather(view, s, np.zeros(len(s), bool), m.inhouse_cost_per_slot())


@pytest.mark.parametrize("seed", [1, 2])
def test_the_on_call_mix_equals_the_numpy_rule(seed):
    view, d = market_view(seed)
    slots, rng = view.slots, np.random.default_rng(seed)
    gone = rng.choice(view.table.n, view.table.n // 10, replace=False)
    view.table.active[gone] = False  # some providers of the sets have left
    tied = rng.random(len(slots)) < 0.1
    slots.preference[tied, 1] = slots.preference[tied, 0]  # tied preferences
    slots.known[: len(slots) // 20] = False  # firm-services that know no provider
    slots.quality_estimate[rng.random(slots.quality_estimate.shape) < 0.05] = 0.0  # some worth no onboarding
    got, expected = OnCallMix.of(view, d), on_call_mix_reference(view, d)
    for name, a, b in zip(("hour", "startup", "spill_hour"), (got.hour, got.startup, got.spill_hour), expected,
                          strict=True):
        assert a.tobytes() == b.tobytes(), name
    assert np.isnan(got.hour).any() and np.isfinite(got.hour).any()
    penalty = view.cfg.firms.shortage_penalty_factor * d.c
    assert (got.spill_hour == penalty).any() and (got.spill_hour < penalty).any()
    assert (got.startup > 0).any() and (got.startup == 0).any()


def test_a_provider_whose_hour_costs_exactly_the_shortage_penalty_is_still_worth_the_overflow():
    """Two known providers at 10 and 8 cu/h, nothing else to pay, penalty 2 x 5 = 10: both take overflow."""
    two = np.ones((1, 2), bool)
    hour, startup, spill = kernels.on_call_mix(
        np.array([0]), np.array([[0, 1]]), two, np.ones(2, bool), np.zeros((1, 2)), np.zeros((1, 2)), np.ones((1, 2)),
        np.full((1, 2), 0.5), np.full((1, 2), 10), np.zeros(1, np.int8), np.ones(1), np.array([5.0]), np.zeros(1),
        np.zeros(1), np.zeros(1), np.ones(1), np.array([10.0, 8.0]), np.zeros(2), np.zeros(2, np.int8), 0.0, 10, 0,
        1.0, 2.0)
    assert (hour[0], startup[0], spill[0]) == (9.0, 0.0, 9.0)
