"""Option pricing's compiled pass against the numpy it replaced, bit for bit.

The reference below is ``price_options`` as numpy wrote it before :func:`kernels.option_costs`: the on-call mix,
on-call through the broker, in-house staffing (``sourcing.costs``), the permanent deals priced by
``price_permanent`` and a mid-term holder's keep-or-leave. It runs on seeded markets in their 30th week, every
firm-service due, with some providers gone, preferences tied, rows without an active known provider, rows with
none worth their onboarding, renewals of direct and brokered contracts, holders in mid-term, rows whose policy
restricts a new contract to one region, demand without variance, and markets without brokers, without in-house
work or without permanent contracts. The normal CDF the kernels call is checked against scipy's.
"""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit
from scipy.special import ndtr, ndtri

from simulation import OutsourcingModel, load_scenario
from simulation.model.codes import Channel, Mode, SourcingOption
from simulation.model.kernels import options as option_kernels
from simulation.model.kernels import special
from simulation.model.market.choice import logit_probabilities
from simulation.model.market.negotiation import bargaining_power
from simulation.model.market.routing import broker_mixes, picks_for
from simulation.model.sourcing.costs import (average_experience, expected_shortfall, in_house_cost, nonprice_cost,
                                             pool_handover_cost)
from simulation.model.sourcing.options import (Due, MarketView, contract_overflow_hour, price_options, price_permanent,
                                              remaining_weeks)

from conftest import BASELINE, SMALL

O = SourcingOption


def on_call_mix_reference(view: MarketView, d: Due) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The on-call mix (hour, start-up, spill-over hour) as numpy priced it before the kernel."""
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


def brokered_on_call_reference(view: MarketView, d: Due):
    """On-call through the broker as numpy priced it: (all-in hour, best-rated provider, its quality, onboarding
    per hour of demand unless the broker keeps the client with a main provider the firm still knows)."""
    n, slots = len(d), view.slots
    top, top_quality, ob_hour = np.full(n, -1, np.int64), np.zeros(n), np.full(n, np.nan)
    last = slots.main_provider[d.s]
    stale = slots.known[d.s] & (view.week - slots.last_worked[d.s] > view.cfg.firms.knowledge_memory_weeks)
    known_last = ((slots.provider[d.s] == last[:, None]) & ~stale).any(axis=1) & (last >= 0)
    startup = np.where(known_last, 0.0, view.catalogue.onboarding_weeks[d.v] * d.c)
    if not len(view.brokers):
        return ob_hour, top, top_quality, startup
    group = ((slots.broker[d.s] * len(view.catalogue) + d.v) * 2 + slots.region[d.s]) * 2 + (slots.home_only[d.s] >= 0)
    _, first, of_group = np.unique(group, return_index=True, return_inverse=True)
    total, bare, cross, quality, best, best_quality = broker_mixes(
        slots, d.s[first], view.table, view.prices, view.brokers, view.catalogue, np.ones(view.table.n, bool),
        view.cfg.intermediaries.choice_intensity)
    rows = np.flatnonzero(total[of_group] > 0)
    g = of_group[rows]
    b = slots.broker[d.s[rows]]
    top[rows], top_quality[rows] = best[g], best_quality[g]
    weeks, c = view.catalogue.onboarding_weeks[d.v[rows]], d.c[rows]
    moves = view.brokers.churn[b] * weeks * c + pool_handover_cost(c, weeks, 0.0, view.cfg.contracts.pool_rotation)
    spot = bare[g] + cross[g] * slots.coordination[d.s[rows]]
    ob_hour[rows] = spot * (1 + view.brokers.fee_rate[b]) + moves + nonprice_cost(
        c, d.friction[rows], d.learning[rows], 0.0, d.error[rows], quality[g])
    return ob_hour, top, top_quality, startup


def direct_deals_reference(view: MarketView, d: Due, valid, renewal, alt_hour, power, mgmt):
    """The direct permanent options as numpy priced them (price_permanent, then the cheapest)."""
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


def permanent_reference(view: MarketView, d: Due, out: dict, alt_hour, top, top_quality, mgmt) -> None:
    """The permanent options as numpy priced them: direct with every known provider, through the broker with its
    best-rated provider or, at a brokered contract's term end, the incumbent where cheaper."""
    slots, book, costs, n = view.slots, view.book, out["costs"], len(d)
    power = bargaining_power(view.prices.market_utilization[d.v], view.catalogue.target_utilization[d.v],
                             view.catalogue.skill[d.v], view.cfg.negotiation)
    cand = slots.provider[d.s]
    valid = slots.known[d.s] & view.table.active[cand] & d.allows(np.arange(n), view.table.region[cand])
    renewal = np.zeros(cand.shape, bool)
    incumbent = np.flatnonzero(d.expiring & (book.channel[d.s] == Channel.DIRECT))
    renewal[incumbent, book.k[d.s[incumbent]]] = True
    best, weekly, out["price"][O.PERMANENT], out["reserved"][O.PERMANENT] = direct_deals_reference(
        view, d, valid, renewal, alt_hour, power, mgmt)
    out["best_k"] = best
    costs[best >= 0, O.PERMANENT] = weekly[best >= 0]
    if not len(view.brokers):
        return
    has = np.flatnonzero(top >= 0)
    has = has[d.allows(has, view.table.region[top[has]])]
    fee = view.brokers.fee_for(slots.broker[d.s])
    terms = price_permanent(view, d, has, top[has], np.zeros(len(has)), top_quality[has], fee[has], alt_hour, power)
    price, reserved = np.full(n, np.nan), np.zeros(n)
    costs[has, O.PERMANENT_BROKER], out["broker_provider"][has] = terms.weekly_cost, top[has]
    price[has], reserved[has] = terms.price, terms.reserved
    r = np.flatnonzero(d.expiring & (book.channel[d.s] == Channel.BROKER))
    r = r[d.allows(r, view.table.region[book.provider[d.s[r]]])]
    ss, kk = d.s[r], book.k[d.s[r]]
    terms = price_permanent(view, d, r, book.provider[ss], slots.experience[ss, kk], slots.quality_estimate[ss, kk],
                            fee[r], alt_hour, power, True)
    better = np.isfinite(terms.weekly_cost) & ~(terms.weekly_cost >= costs[r, O.PERMANENT_BROKER])
    rb = r[better]
    costs[rb, O.PERMANENT_BROKER], out["broker_provider"][rb] = terms.weekly_cost[better], book.provider[ss[better]]
    price[rb], reserved[rb] = terms.price[better], terms.reserved[better]
    out["price"][O.PERMANENT_BROKER], out["reserved"][O.PERMANENT_BROKER] = price, reserved


def keep_or_leave_reference(view: MarketView, d: Due, out: dict, mgmt) -> None:
    """Mid-term holders as numpy priced them: the contract as it stands, every other option with the exit fee."""
    slots, book, costs = view.slots, view.book, out["costs"]
    r = np.flatnonzero(d.mid_term)
    ss = d.s[r]
    chan, kk = book.channel[ss], book.k[ss]
    fee = np.where(chan == Channel.BROKER, view.brokers.fee_for(slots.broker[ss]), 0.0)
    ebar = average_experience(slots.experience[ss, kk], view.cfg.contracts.learning_rate_per_week,
                              (book.end[ss] - view.week).astype(float))
    nonprice = nonprice_cost(d.c[r], d.friction[r], d.learning[r], ebar, d.error[r], slots.quality_estimate[ss, kk])
    short = expected_shortfall(d.mu[r], d.sigma[r], book.reserved[ss])
    overflow_hour = contract_overflow_hour(view, d, r, book.provider[ss], fee, nonprice, slots.experience[ss, kk],
                                           lambda x: x[r])
    keep = (book.price[ss] * (1 + fee) * book.reserved[ss] + short * overflow_hour
            + (d.mu[r] - short) * nonprice + np.where(chan == Channel.DIRECT, mgmt, 0.0))
    costs[r] += (book.exit_fee[ss] / remaining_weeks(book, ss, view.week))[:, None]
    costs[r, O.PERMANENT] = np.where(chan == Channel.DIRECT, keep, np.nan)
    costs[r, O.PERMANENT_BROKER] = np.where(chan == Channel.BROKER, keep, np.nan)
    out["best_k"][r] = kk


def price_options_reference(view: MarketView, d: Due) -> dict:
    """price_options as numpy wrote it before kernels.option_costs."""
    slots, cfg, n = view.slots, view.cfg, len(d)
    costs = np.full((n, len(O)), np.nan)
    penalty, mgmt = cfg.firms.shortage_penalty_factor * d.c, cfg.firms.direct_management_cost_per_week
    interval = cfg.firms.review_interval_weeks
    shortage = (1 - slots.fill_rate[d.s]) * penalty
    hour, startup, spill = on_call_mix_reference(view, d)
    costs[:, O.ON_CALL] = d.mu * (hour + shortage) + d.mu * startup / interval + mgmt
    ob_hour, top, top_quality, ob_startup = brokered_on_call_reference(view, d)
    costs[:, O.ON_CALL_BROKER] = d.mu * (ob_hour + shortage + ob_startup / interval)
    spill_hour = np.fmin(spill + shortage, penalty)
    staff = np.zeros(n)
    if cfg.contracts.allow_in_house:
        staff, costs[:, O.IN_HOUSE] = in_house_cost(d.mu, d.sigma, d.c, spill_hour)
        rebuild = view.catalogue.inhouse_switch_weeks[d.v] * d.mu * d.c
        costs[:, O.IN_HOUSE] += np.where(slots.mode[d.s] == Mode.IN_HOUSE, 0.0, rebuild / d.term)
    alt_hour = np.nanmin(costs[:, :3], axis=1) / d.mu
    out = {"costs": costs, "staff": staff, "best_k": np.full(n, -1, np.int64),
           "broker_provider": np.full(n, -1, np.int64), "broker_top": top, "price": {}, "reserved": {}}
    if cfg.contracts.allow_permanent:
        permanent_reference(view, d, out, alt_hour, top, top_quality, mgmt)
    keep_or_leave_reference(view, d, out, mgmt)
    return out


def varied_due(view: MarketView, rng: np.random.Generator, regions: bool) -> Due:
    """Every slot due: about a third of the holders at their term's end (renewing), the rest in mid-term, and
    with ``regions`` a fifth of the rows whose policy allows a new contract only in region 0 or 1."""
    s = np.arange(len(view.slots))
    expiring = view.book.active & (rng.random(len(s)) < 0.35)
    required = np.where(rng.random(len(s)) < 0.2, rng.integers(0, 2, len(s)), -1).astype(np.int8) if regions else None
    inhouse = view.catalogue.inhouse_cost[view.slots.service] * view.slots.inhouse_factor * 20.0
    return Due.gather(view, s, expiring, inhouse, required)


OPTION_MARKETS = {"seed-1": (1, {}), "seed-2": (2, {}), "no-brokers": (3, {"intermediaries.count": 0}),
                  "no-in-house": (4, {"contracts.allow_in_house": False}),
                  "no-permanent": (5, {"contracts.allow_permanent": False})}


@pytest.mark.parametrize("case", list(OPTION_MARKETS))
def test_the_option_costs_equal_the_numpy_rule(case):
    """kernels.option_costs gives what the numpy gave, bit for bit, on a market perturbed to reach every branch."""
    seed, overrides = OPTION_MARKETS[case]
    view, _ = market_view(seed, **overrides)
    slots, rng = view.slots, np.random.default_rng(seed)
    view.table.active[rng.choice(view.table.n, view.table.n // 10, replace=False)] = False  # some have left
    tied = rng.random(len(slots)) < 0.1
    slots.preference[tied, 1] = slots.preference[tied, 0]  # tied preferences
    slots.known[: len(slots) // 20] = False  # firm-services that know no provider
    slots.quality_estimate[rng.random(slots.quality_estimate.shape) < 0.05] = 0.0  # some worth no onboarding
    slots.demand_var[rng.random(len(slots)) < 0.05] = 0.0  # demand without variance
    view.table.utilization[rng.choice(view.table.n, 20)] = 1.3  # providers at full use
    twin = np.flatnonzero(rng.random(len(slots)) < 0.2)  # column 1 a copy of column 0: tied deals, the first kept
    for a in (slots.provider, slots.known, slots.experience, slots.quality_estimate, slots.last_worked):
        a[twin, 1] = a[twin, 0]
    d = varied_due(view, rng, regions=seed != 2)
    got, want = price_options(view, d), price_options_reference(view, d)
    for name in ("costs", "staff", "best_k", "broker_provider", "broker_top"):
        assert getattr(got, name).tobytes() == want[name].tobytes(), name
    assert got.price.keys() == want["price"].keys() == got.reserved.keys()
    for o in want["price"]:
        assert got.price[o].tobytes() == want["price"][o].tobytes(), f"price {o}"
        assert got.reserved[o].tobytes() == want["reserved"][o].tobytes(), f"reserved {o}"
    costs = got.costs
    available = np.isfinite(costs).mean(axis=0)
    assert (0 < available[O.ON_CALL] < 1) and ((available[O.IN_HOUSE] > 0) == view.cfg.contracts.allow_in_house)
    assert (available[O.ON_CALL_BROKER] > 0) == (len(view.brokers) > 0)
    assert (d.mid_term.any() and d.expiring.any()) == view.cfg.contracts.allow_permanent
    if view.cfg.contracts.allow_permanent:
        assert 0 < available[O.PERMANENT] < 1 and ((got.best_k >= 0) & ~d.mid_term).any() and (got.best_k < 0).any()
    if view.cfg.contracts.allow_permanent and len(view.brokers):
        assert 0 < available[O.PERMANENT_BROKER] < 1  # brokered deals with and without a deal
    hour, startup, spill = on_call_mix_reference(view, d)  # the on-call mix reached each of its branches
    penalty = view.cfg.firms.shortage_penalty_factor * d.c
    assert np.isnan(hour).any() and np.isfinite(hour).any()
    assert (spill == penalty).any() and (spill < penalty).any()
    assert (startup > 0).any() and (startup == 0).any()


def test_the_kernel_s_constants_are_the_codes():
    k = option_kernels
    assert [k.IN_HOUSE, k.ON_CALL, k.ON_CALL_BROKER, k.PERMANENT, k.PERMANENT_BROKER] == list(O)
    assert (k.DIRECT, k.BROKER, k.MODE_IN_HOUSE) == (Channel.DIRECT, Channel.BROKER, Mode.IN_HOUSE)


def test_a_provider_whose_hour_costs_exactly_the_shortage_penalty_is_still_worth_the_overflow():
    """Two known providers at 10 and 8 cu/h, nothing else to pay, penalty 2 x 5 = 10: both take overflow."""
    two = np.ones((1, 2), bool)
    slot = (np.array([[0, 1]]), two, np.zeros((1, 2)), np.ones((1, 2)), np.full((1, 2), 0.5), np.full((1, 2), 10),
            np.full(1, -1), np.zeros(1, np.int8), np.ones(1))
    scratch = (np.empty(2, np.bool_), np.empty(2, np.bool_), np.empty(2), np.empty(2), np.empty(2), np.empty(2))
    hour, startup, spill = option_kernels._on_call_row(
        0, 5.0, 0.0, 0.0, 0.0, 1.0, slot, np.ones(2, bool), np.array([10.0, 8.0]), np.zeros(2), np.zeros(2, np.int8),
        (0.0, 0.0, 13.0, 1.0, 0.0, 10, 0, 1.0, 2.0), scratch)
    assert (hour, startup, spill) == (9.0, 0.0, 9.0)


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
    """The broker's on-call mix per group as numpy wrote it before its kernel (kernels.brokered_mix now)."""
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
    row = (4.0, 52.0, 1.0, 0.0, 0.0, 0.0, 0.0, 100.0, 10.0, 1.0, alt_hour, power, 1.1, 0.0, 0.02, 0.02, 0.98 ** 52,
           rotation, 3.0, 0.0)  # own cost 4, 52 weeks, full fill, demand 100 +- 10, one onboarding week, margin 10 %
    price, reserved, weekly = option_kernels._deal(125.0, 10.0, 0.8, 1.0, 0.0, 1.0, True, 0.0, row)  # cost 100 / 0.8
    assert (price == 10.0 and reserved > 0 and np.isfinite(weekly)) == deal
    assert deal or (np.isnan(price) and reserved == 0.0 and np.isnan(weekly))
