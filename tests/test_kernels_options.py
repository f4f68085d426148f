"""Option pricing's compiled passes against the numpy they replaced, bit for bit.

The references below are ``OnCallMix.of`` as numpy wrote it before :func:`kernels.on_call_mix`, and the
direct permanent options as numpy priced them before :func:`kernels.best_direct_deals`; they run on seeded
markets in their 30th week, every firm-service due, with some providers gone, preferences tied, rows
without an active known provider, rows with none worth their onboarding, renewals and demand without
variance. The normal CDF the kernels call is checked against scipy's.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy.special import ndtr, ndtri

from simulation import OutsourcingModel, load_scenario
from simulation.model import kernels
from simulation.model.kernels import special
from simulation.model.market.choice import logit_probabilities
from simulation.model.market.routing import broker_mixes, picks_for
from simulation.model.sourcing.costs import average_experience, nonprice_cost, pool_handover_cost
from simulation.model.sourcing.options import (Due, MarketView, OnCallMix, _best_direct_deals, _deal_context,
                                              price_permanent)

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


def direct_deals_reference(view: MarketView, d: Due, valid, renewal, alt_hour, power, mgmt):
    """The direct permanent options as numpy priced them before the kernel (price_permanent, then the cheapest)."""
    n = len(d)
    terms = price_permanent(view, d, np.arange(n), view.slots.provider[d.s], view.slots.experience[d.s],
                            view.slots.quality_estimate[d.s], 0.0, alt_hour, power, renewal)
    weekly = np.where(valid, terms.weekly_cost + mgmt, np.nan)
    deal = np.isfinite(weekly).any(axis=1)
    best = np.where(deal, np.argmin(np.where(np.isfinite(weekly), weekly, np.inf), axis=1), -1)
    r = np.flatnonzero(deal)
    out_weekly, price, reserved = np.full(n, np.nan), np.full(n, np.nan), np.zeros(n)
    out_weekly[r], price[r], reserved[r] = weekly[r, best[r]], terms.price[r, best[r]], terms.reserved[r, best[r]]
    return best, out_weekly, price, reserved


@pytest.mark.parametrize("seed", [1, 2])
def test_the_best_direct_deals_equal_the_numpy_rule(seed):
    """Every firm-service due, some providers gone or out of region, incumbents renewing, demand without
    variance, firms with nothing to gain (alternative hour at zero) and providers at full use."""
    view, d = market_view(seed)
    slots, rng, n = view.slots, np.random.default_rng(seed), len(d)
    cand = slots.provider[d.s]
    valid = slots.known[d.s] & view.table.active[cand] & (rng.random(cand.shape) < 0.9)
    renewal = rng.random(cand.shape) < 0.1
    alt_hour = np.where(rng.random(n) < 0.1, 0.0, 60.0 * rng.random(n) + 20.0)
    power = rng.random(n)
    d.sigma[rng.random(n) < 0.05] = 0.0
    view.table.utilization[rng.choice(view.table.n, 20)] = 1.3
    twin = np.flatnonzero(rng.random(n) < 0.2)  # column 1 a copy of column 0: tied deals, the first one kept
    for a in (slots.provider, slots.experience, slots.quality_estimate):
        a[d.s[twin], 1] = a[d.s[twin], 0]
    valid[twin, 1], renewal[twin, 1] = valid[twin, 0], renewal[twin, 0]
    got = _best_direct_deals(view, d, valid, renewal, _deal_context(view, d, alt_hour, power), 15.0)
    expected = direct_deals_reference(view, d, valid, renewal, alt_hour, power, 15.0)
    for name, a, b in zip(("best", "weekly", "price", "reserved"), got, expected, strict=True):
        assert a.tobytes() == b.tobytes(), name
    assert (got[0] >= 0).any() and (got[0] < 0).any()


@pytest.mark.parametrize("renewal", [False, True], ids=["new-provider", "incumbent"])
def test_brokered_deals_equal_the_numpy_rule(renewal):
    """A deal through the broker for a random half of the due rows, each with one provider, its experience and
    quality and the broker's fee: the same price, reserved hours and weekly cost as price_permanent."""
    view, d = market_view(3)
    rng, n = np.random.default_rng(3), len(d)
    rows = np.flatnonzero(rng.random(n) < 0.5)
    provider = view.slots.provider[d.s[rows], rng.integers(0, view.slots.provider.shape[1], len(rows))]
    experience, quality = rng.random(len(rows)) * renewal, rng.random(len(rows))
    fee, alt_hour, power = rng.random(len(rows)) * 0.2, 60.0 * rng.random(n) + 10.0, rng.random(n)
    got = kernels.brokered_deals(rows, d.s, provider, experience, quality, renewal, fee,
                                 *_deal_context(view, d, alt_hour, power))
    expected = price_permanent(view, d, rows, provider, experience, quality, fee, alt_hour, power, renewal)
    for name, a, b in zip(("price", "reserved", "weekly"), got,
                          (expected.price, expected.reserved, expected.weekly_cost), strict=True):
        assert a.tobytes() == b.tobytes(), name
    assert np.isfinite(got[2]).any() and np.isnan(got[2]).any()


def test_the_kernels_normal_cdf_and_its_inverse_are_scipys():
    x = np.r_[np.random.default_rng(0).normal(0.0, 4.0, 20_000), [np.nan, np.inf, -np.inf, 0.0, -0.0, 40.0, -40.0]]
    p = np.r_[np.random.default_rng(1).random(20_000), [0.0, 1.0, np.nan, 1e-300, 1.0 - 1e-16]]
    assert normal_cdfs(x, p)[0].tobytes() == ndtr(x).tobytes()
    assert normal_cdfs(x, p)[1].tobytes() == ndtri(p).tobytes()


@njit
def normal_cdfs(x, p):
    a, b = np.empty(len(x)), np.empty(len(p))
    for i in range(len(x)):
        a[i] = special.ndtr(x[i])
    for i in range(len(p)):
        b[i] = special.ndtri(p[i])
    return a, b


def broker_mix_reference(members, prob, b, region, view):
    """_brokered_on_call's mix per group as numpy wrote it before its kernel (kernels.brokered_mix now)."""
    total = prob.sum(axis=1)
    prob = np.divide(prob, total[:, None], out=np.zeros_like(prob), where=total[:, None] > 0)
    members = np.maximum(members, 0)
    region = region[:, None]
    bare = view.prices.for_client(members, region, 0.0)
    cross = view.prices.for_client(members, region) - bare
    q = view.brokers.estimates(view.table.n)[b[:, None], members]
    best = prob.argmax(axis=1)
    at = np.arange(len(members))
    return (total, (prob * bare).sum(axis=1), (prob * cross).sum(axis=1), (prob * q).sum(axis=1), members[at, best],
            q[at, best])


@pytest.mark.parametrize("panel_size", [None, 3, 40], ids=["every-provider", "shortlist-of-3", "shortlist-of-40"])
def test_the_broker_mix_equals_the_picks_then_the_numpy_mix(panel_size):
    """routing.broker_mixes (kernels.brokered_mix: rating, logit, home-only screen and mix per client in one pass)
    gives what picks_for then the numpy mix gave, bit for bit: clients of every broker, service and group, a
    third of them home-only, a third of the providers not eligible, some left the market, and nobody eligible
    for the first service (all its probabilities zero)."""
    view, d = market_view(5, **{"intermediaries.panel_size": panel_size})
    slots, table, rng = view.slots, view.table, np.random.default_rng(6)
    s = d.s[:: 3]
    home = rng.random(len(slots)) < 0.3
    slots.home_only[home] = slots.region[home]
    table.active[rng.choice(table.n, table.n // 10, replace=False)] = False
    eligible = (rng.random(table.n) < 0.7) & ~table.offers[: table.n, 0]
    args = (slots, s, table, view.prices, view.brokers, view.catalogue, eligible,
            view.cfg.intermediaries.choice_intensity)
    members, prob = picks_for(*args)
    got = broker_mixes(*args)
    expected = broker_mix_reference(members, prob, slots.broker[s], slots.region[s], view)
    for name, x, y in zip(("total", "bare", "cross", "quality", "top", "top quality"), got, expected, strict=True):
        assert x.tobytes() == y.tobytes(), name
    assert (got[0] == 0).any() and (got[0] > 0).any() and (got[2] > 0).any()
    # Without shortlists a home-only client's broker rates every provider and screens out the other region's;
    # with them, the client's group holds providers of its region only.
    away = (slots.home_only[s] >= 0)[:, None] & (table.region[np.maximum(members, 0)] != slots.region[s][:, None])
    assert away.any() == (panel_size is None) and (prob > 0).any()


@pytest.mark.parametrize("alt_hour, power, rotation, deal", [(10.0, 0.5, 0.5, True), (20.0, 0.0, 0.0, False)],
                         ids=["reservations-meet", "price-equals-saving"])
def test_a_deal_at_the_edges_of_the_nash_split_and_the_reservation(alt_hour, power, rotation, deal):
    """A renewal at spot price 10 with nothing else to pay but the pool's hand-over (4 x rotation an hour):
    when the firm's reservation meets the provider's exactly, there is a deal at 10; when the price equals
    what a reserved hour saves, reserving nothing is as good, and there is none."""
    one, zero = np.ones(1), np.zeros(1)
    region = np.zeros(1, np.int8)
    price, reserved, weekly = kernels.brokered_deals(
        np.array([0]), np.array([0]), np.array([0]), zero, one, True, zero, region, one, one, np.array([4.0]), zero,
        zero, zero, zero, np.array([100.0]), np.array([10.0]), np.array([52.0]), np.array([0.8]), one,
        np.array([alt_hour]), np.array([power]), np.array([100.0]), np.array([10.0]), zero, region, np.array([0.8]),
        one, 1.1, 0.0, 0.02, 0.02, rotation, 3.0, 0.0)
    assert (price[0] == 10.0 and reserved[0] > 0 and np.isfinite(weekly[0])) == deal
    assert deal or (np.isnan(price[0]) and reserved[0] == 0.0 and np.isnan(weekly[0]))
