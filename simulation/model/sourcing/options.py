"""What each sourcing option would cost the firm-services under review this week.

For every due firm-service this prices the five options of sourcing.OPTIONS: in-house staff, on-call
work direct (the firm's own logit mix over its consideration set) or through its broker, and a
permanent contract direct (negotiated with every known provider, the cheapest deal kept) or through
the broker (its best-rated provider, or the incumbent at a brokered contract's term end). Holders in
mid-term can keep their contract as it is, or leave it and pay the early-exit fee.

The cost formulas live in sourcing.py and negotiation.py; this module gathers their inputs from the
model. review.py turns the resulting choice into contract changes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from simulation.model.market.choice import logit_probabilities
from simulation.model.market.fulfilment import broker_groups, broker_pick_table, column_prices
from simulation.model.market.negotiation import bargaining_power, nash_price, provider_reservation
from simulation.model.records import Channel, Mode
from simulation.model.sourcing.costs import (IN_HOUSE, ON_CALL, ON_CALL_BROKER, OPTIONS, PERMANENT, PERMANENT_BROKER,
                                 PermanentTerms, average_experience, expected_shortfall, in_house_cost,
                                 nonprice_cost, permanent_terms)

if TYPE_CHECKING:
    from simulation.model import OutsourcingModel


@dataclass
class Due:
    """The firm-services under review, with every per-row input their option costs depend on."""

    s: NDArray[np.int64]
    v: NDArray[np.int64]
    c: NDArray[np.float64]  # the firm's own cost per hour of this work
    mu: NDArray[np.float64]
    sigma: NDArray[np.float64]
    term: NDArray[np.float64]
    onboard: NDArray[np.float64]  # knowledge transfer of the whole demand to a new provider
    friction: NDArray[np.float64]
    error: NDArray[np.float64]
    learning: NDArray[np.float64]
    expiring: NDArray[np.bool_]
    mid_term: NDArray[np.bool_]

    @classmethod
    def of(cls, m: "OutsourcingModel", s: NDArray[np.int64], expiring: NDArray[np.bool_]) -> "Due":
        sl, cat = m.slots, m.catalogue
        v = sl.service[s]
        c = m.inhouse_cost_per_slot()[s]
        mu = np.maximum(sl.mu[s], 1e-6)
        holder = m.contracts.active[s]
        return cls(s=s, v=v, c=c, mu=mu, sigma=np.sqrt(np.maximum(sl.var[s], 0.0)),
                   term=cat.term_weeks[v].astype(float), onboard=cat.onboarding_weeks[v] * mu * c,
                   friction=cat.friction[v], error=cat.error_cost[v], learning=cat.learning[v],
                   expiring=expiring, mid_term=holder & ~expiring)

    def __len__(self) -> int:
        return len(self.s)


@dataclass
class Options:
    """Expected weekly cost of every option per due row, and the terms behind the permanent ones."""

    costs: NDArray[np.float64]
    staff: NDArray[np.float64]  # in-house staff if in-house is chosen
    best_k: NDArray[np.int64]  # consideration-set column of the best direct permanent deal
    broker_provider: NDArray[np.int64]  # the broker's provider for a brokered permanent contract
    broker_top: NDArray[np.int64]  # the broker's best-rated provider (decision log)
    price: dict[int, NDArray[np.float64]] = field(default_factory=dict)  # by option: negotiated price/hour
    reserved: dict[int, NDArray[np.float64]] = field(default_factory=dict)  # by option: reserved hours/week


def price_options(m: "OutsourcingModel", d: Due) -> Options:
    """Expected weekly cost of the five options for every due firm-service (NaN where unavailable)."""
    sl, cfg, t = m.slots, m.cfg, m.providers
    n = len(d)
    costs = np.full((n, len(OPTIONS)), np.nan)
    penalty = cfg.firms.shortage_penalty_factor * d.c
    mgmt = cfg.firms.direct_management_cost_per_week
    shortage = (1 - sl.fill[d.s]) * penalty

    # On-call, direct: the firm's own logit mix over its consideration set.
    cand = sl.cand[d.s]
    valid = sl.cand_ok[d.s] & t.active[cand]
    allin = column_prices(m, d.s) + nonprice_cost(d.c[:, None], d.friction[:, None], d.learning[:, None], sl.E[d.s],
                                                  d.error[:, None], sl.Qf[d.s])
    P = logit_probabilities(sl.J[d.s], cfg.choice.beta, valid)
    oc_hour = np.where(P.sum(axis=1) > 0, (P * np.where(valid, allin, 0.0)).sum(axis=1), np.nan) + shortage
    onboard_on_call = m.catalogue.onboarding_weeks[d.v] * d.c * sl.new_spell_hours[d.s]
    costs[:, ON_CALL] = d.mu * oc_hour + onboard_on_call + mgmt

    # On-call through the firm's broker: its pick mix, its quality estimates, its fee.
    top = np.full(n, -1, np.int64)
    top_quality = np.zeros(n)
    ob_hour = np.full(n, np.nan)
    table = broker_pick_table(m, np.ones(t.n, bool)) if m.brokers else None
    for rows, b, v, region in broker_groups(m, d.s):
        prob = table[b, v, region]
        if prob.sum() == 0:
            continue
        q = m.brokers[b].estimates(t.n)
        price = m.spot_price + m.coordination * (t.region[: t.n] != region)
        top[rows] = int(prob.argmax())
        top_quality[rows] = q[top[rows]]
        ob_hour[rows] = (prob * price).sum() * (1 + m.fee_rate) + nonprice_cost(
            d.c[rows], d.friction[rows], d.learning[rows], 0.0, d.error[rows], (prob * q).sum())
    costs[:, ON_CALL_BROKER] = d.mu * (ob_hour + shortage) + onboard_on_call

    overflow_hour = np.fmin(oc_hour, ob_hour + shortage)
    staff = np.zeros(n)
    if cfg.contracts.allow_in_house:
        staff, costs[:, IN_HOUSE] = in_house_cost(d.mu, d.sigma, d.c, np.where(np.isfinite(overflow_hour), overflow_hour, penalty))
        rebuild = m.catalogue.inhouse_switch_weeks[d.v] * d.mu * d.c  # hiring and training staff again
        costs[:, IN_HOUSE] += np.where(sl.mode[d.s] == Mode.IN_HOUSE, 0.0, rebuild / d.term)
    alt_hour = np.nanmin(costs[:, :3], axis=1) / d.mu

    opt = Options(costs=costs, staff=staff, best_k=np.full(n, -1, np.int64), broker_provider=np.full(n, -1, np.int64),
                  broker_top=top)
    if cfg.contracts.allow_permanent:
        _permanent_options(m, d, opt, overflow_hour, alt_hour, top, top_quality, mgmt)
    if d.mid_term.any():
        _keep_or_leave(m, d, opt, overflow_hour, mgmt)
    return opt


def price_permanent(m: "OutsourcingModel", d: Due, rows: NDArray, provider: NDArray, experience: NDArray,
                    quality: NDArray, fee: float, overflow_hour: NDArray, alt_hour: NDArray,
                    power: NDArray) -> PermanentTerms:
    """Negotiate and size a permanent contract of due rows ``rows`` with ``provider``.

    ``provider``, ``experience`` and ``quality`` are per row, or per (row, candidate column) to price
    every known provider at once.
    """
    t, sl = m.providers, m.slots

    def per_row(x: NDArray) -> NDArray:
        x = x[rows]
        return x[:, None] if provider.ndim == 2 else x

    cross = t.region[provider] != per_row(sl.region[d.s])
    rp = provider_reservation(m.unit_cost[provider] + m.coordination[provider] * cross, t.utilization[provider],
                              m.cfg.negotiation) * t.price_factor[provider]
    ebar = average_experience(experience, m.cfg.contracts.learning_rate_per_week, per_row(d.term))
    nonprice = nonprice_cost(per_row(d.c), per_row(d.friction), per_row(d.learning), ebar, per_row(d.error), quality)
    return permanent_terms(per_row(d.mu), per_row(d.sigma), per_row(overflow_hour), per_row(alt_hour), nonprice,
                           per_row(d.onboard) * (1 - experience), per_row(d.term), rp, per_row(power), fee, nash_price)


def _permanent_options(m: "OutsourcingModel", d: Due, opt: Options, overflow_hour, alt_hour, top, top_quality,
                       mgmt: float) -> None:
    sl, book, cat = m.slots, m.contracts, m.catalogue
    n = len(d)
    power = bargaining_power(m.service_utilization[d.v], m.target_util_by_service[d.v], cat.skill[d.v], m.cfg.negotiation)
    every = np.arange(n)

    # Direct: negotiate with every known provider, keep the cheapest deal.
    cand = sl.cand[d.s]
    valid = sl.cand_ok[d.s] & m.providers.active[cand]
    terms = price_permanent(m, d, every, cand, sl.E[d.s], sl.Qf[d.s], 0.0, overflow_hour, alt_hour, power)
    weekly = np.where(valid, terms.weekly_cost + mgmt, np.nan)
    deal = np.isfinite(weekly).any(axis=1)
    best = np.where(deal, np.argmin(np.where(np.isfinite(weekly), weekly, np.inf), axis=1), -1)
    r = np.flatnonzero(deal)
    opt.best_k = best
    opt.costs[r, PERMANENT] = weekly[r, best[r]]
    opt.price[PERMANENT], opt.reserved[PERMANENT] = np.full(n, np.nan), np.zeros(n)
    opt.price[PERMANENT][r], opt.reserved[PERMANENT][r] = terms.price[r, best[r]], terms.reserved[r, best[r]]
    if not m.brokers:
        return

    # Through the broker: its best-rated provider, with no history with the firm...
    has = np.flatnonzero(top >= 0)
    tb = price_permanent(m, d, has, top[has], np.zeros(len(has)), top_quality[has], m.fee_rate, overflow_hour,
                         alt_hour, power)
    opt.costs[has, PERMANENT_BROKER] = tb.weekly_cost
    opt.broker_provider[has] = top[has]
    opt.price[PERMANENT_BROKER], opt.reserved[PERMANENT_BROKER] = np.full(n, np.nan), np.zeros(n)
    opt.price[PERMANENT_BROKER][has], opt.reserved[PERMANENT_BROKER][has] = tb.price, tb.reserved

    # ...or, at a brokered contract's term end, the incumbent, experience and all.
    r = np.flatnonzero(d.expiring & (book.channel[d.s] == Channel.BROKER))
    if len(r):
        ss, kk = d.s[r], book.k[d.s[r]]
        ti = price_permanent(m, d, r, book.provider[ss], sl.E[ss, kk], sl.Qf[ss, kk], m.fee_rate, overflow_hour,
                             alt_hour, power)
        better = np.isfinite(ti.weekly_cost) & ~(ti.weekly_cost >= opt.costs[r, PERMANENT_BROKER])
        rb = r[better]
        opt.costs[rb, PERMANENT_BROKER] = ti.weekly_cost[better]
        opt.broker_provider[rb] = book.provider[ss[better]]
        opt.price[PERMANENT_BROKER][rb], opt.reserved[PERMANENT_BROKER][rb] = ti.price[better], ti.reserved[better]


def _keep_or_leave(m: "OutsourcingModel", d: Due, opt: Options, overflow_hour, mgmt: float) -> None:
    """Mid-term holders: the permanent option is their contract as it stands; every other option pays the exit fee."""
    sl, book = m.slots, m.contracts
    r = np.flatnonzero(d.mid_term)
    ss = d.s[r]
    chan = book.channel[ss]
    fee = np.where(chan == Channel.BROKER, m.fee_rate, 0.0)
    kk = book.k[ss]
    ebar = average_experience(sl.E[ss, kk], m.cfg.contracts.learning_rate_per_week, (book.end[ss] - m.week).astype(float))
    nonprice = nonprice_cost(d.c[r], d.friction[r], d.learning[r], ebar, d.error[r], sl.Qf[ss, kk])
    short = expected_shortfall(d.mu[r], d.sigma[r], book.reserved[ss])
    keep = (book.price[ss] * (1 + fee) * book.reserved[ss] + short * overflow_hour[r]
            + (d.mu[r] - short) * nonprice + np.where(chan == Channel.DIRECT, mgmt, 0.0))
    opt.costs[r] += (book.exit_fee[ss] / m.cfg.firms.review_interval_weeks)[:, None]
    opt.costs[r, PERMANENT] = np.where(chan == Channel.DIRECT, keep, np.nan)
    opt.costs[r, PERMANENT_BROKER] = np.where(chan == Channel.BROKER, keep, np.nan)
    opt.best_k[r] = kk
