"""What each sourcing option would cost the firm-services under review this week.

For every due firm-service this prices the five :class:`~simulation.model.codes.SourcingOption`:
in-house staff, on-call work direct (the firm's own logit mix over its consideration set) or through
its broker, and a permanent contract direct (negotiated with every known provider, the cheapest deal
kept) or through the broker (its best-rated provider, or the incumbent at a brokered contract's term
end). Holders in mid-term can keep their contract as it is, or leave it and pay the early-exit fee.
The cost formulas live in costs.py and market/negotiation.py; review.py acts on the choice.

Legend: ``s`` slot rows, ``v`` services, ``c`` the firm's own cost per hour of the work, ``mu`` and
``sigma`` its demand estimates (hours/week), ``r`` rows of the due batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config
from simulation.model import kernels
from simulation.model.catalogue import Catalogue
from simulation.model.codes import Channel, Mode, SourcingOption
from simulation.model.market.negotiation import bargaining_power, nash_price, provider_reservation
from simulation.model.market.pricing import Prices
from simulation.model.market.routing import broker_mixes
from simulation.model.sourcing.costs import (PermanentTerms, average_experience, expected_shortfall, in_house_cost,
                                             nonprice_cost, permanent_terms, pool_handover_cost)
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.contracts import ContractBook
from simulation.model.state.providers import ProviderTable
from simulation.model.state.slots import FirmSlots

O = SourcingOption


@dataclass(frozen=True)
class MarketView:
    """What option pricing reads (and never changes): the state of firms, providers, contracts and brokers,
    this week's prices, the catalogue, the config and the week."""

    slots: FirmSlots
    table: ProviderTable
    book: ContractBook
    brokers: BrokerBook
    prices: Prices
    catalogue: Catalogue
    cfg: Config
    week: int


@dataclass(frozen=True)
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
    permanent_region: NDArray[np.int8] | None = None  # region a new contract's provider must be in (-1: any)

    @classmethod
    def gather(cls, view: MarketView, s: NDArray[np.int64], expiring: NDArray[np.bool_],
               inhouse_cost: NDArray[np.float64], permanent_region: NDArray[np.int8] | None = None) -> Due:
        """The due rows ``s`` (``expiring``: their contract ends this week); ``inhouse_cost`` per slot;
        ``permanent_region`` per row, where its policy restricts a new permanent contract to one region."""
        slots, cat = view.slots, view.catalogue
        v = slots.service[s]
        c = inhouse_cost[s]
        mu = np.maximum(slots.demand_mean[s], 1e-6)
        holder = view.book.active[s]
        return cls(s=s, v=v, c=c, mu=mu, sigma=np.sqrt(np.maximum(slots.demand_var[s], 0.0)),
                   term=cat.term_weeks[v].astype(float), onboard=cat.onboarding_weeks[v] * mu * c,
                   friction=cat.friction[v], error=cat.error_cost[v], learning=cat.learning[v],
                   expiring=expiring, mid_term=holder & ~expiring, permanent_region=permanent_region)

    def __len__(self) -> int:
        return len(self.s)

    def allows(self, rows: NDArray, region: NDArray) -> NDArray[np.bool_]:
        """Whether providers of ``region`` may take a new permanent contract of due ``rows`` (same shapes, or
        ``region`` with one column per candidate)."""
        if self.permanent_region is None:
            return np.ones(np.shape(region), bool)
        required = self.permanent_region[rows]
        required = required[:, None] if np.ndim(region) == 2 else required
        return (required < 0) | (region == required)


@dataclass
class Options:
    """Expected weekly cost of every option per due row, and the terms behind the permanent ones."""

    costs: NDArray[np.float64]  # (rows, 5) cu/week, NaN where unavailable
    staff: NDArray[np.float64]  # in-house staff if in-house is chosen
    best_k: NDArray[np.int64]  # consideration-set column of the best direct permanent deal
    broker_provider: NDArray[np.int64]  # the broker's provider for a brokered permanent contract
    broker_top: NDArray[np.int64]  # the broker's best-rated provider (decision log)
    price: dict[int, NDArray[np.float64]] = field(default_factory=dict)  # by option: negotiated price/hour
    reserved: dict[int, NDArray[np.float64]] = field(default_factory=dict)  # by option: reserved hours/week


def price_options(view: MarketView, d: Due) -> Options:
    """Expected weekly cost of the five options for every due firm-service (NaN where unavailable)."""
    slots, cfg = view.slots, view.cfg
    n = len(d)
    costs = np.full((n, len(O)), np.nan)
    penalty = cfg.firms.shortage_penalty_factor * d.c
    mgmt = cfg.firms.direct_management_cost_per_week
    shortage = (1 - slots.fill_rate[d.s]) * penalty
    mix = OnCallMix.of(view, d)

    # On-call, direct: the firm's own logit mix over its consideration set, onboarding the providers of the mix
    # it would first have to onboard (a one-off, priced over the review period the choice holds for).
    oc_hour = mix.hour + shortage
    startup = d.mu * mix.startup / cfg.firms.review_interval_weeks
    costs[:, O.ON_CALL] = d.mu * oc_hour + startup + mgmt

    ob_hour, top, top_quality, ob_startup = _brokered_on_call(view, d)
    costs[:, O.ON_CALL_BROKER] = d.mu * (ob_hour + shortage + ob_startup / cfg.firms.review_interval_weeks)

    spill_hour = np.fmin(mix.spill_hour + shortage, penalty)  # overflow never costs more than leaving it unmet
    staff = np.zeros(n)
    if cfg.contracts.allow_in_house:
        staff, costs[:, O.IN_HOUSE] = in_house_cost(d.mu, d.sigma, d.c, spill_hour)
        rebuild = view.catalogue.inhouse_switch_weeks[d.v] * d.mu * d.c  # hiring and training staff again
        costs[:, O.IN_HOUSE] += np.where(slots.mode[d.s] == Mode.IN_HOUSE, 0.0, rebuild / d.term)
    alt_hour = np.nanmin(costs[:, :3], axis=1) / d.mu

    opt = Options(costs=costs, staff=staff, best_k=np.full(n, -1, np.int64), broker_provider=np.full(n, -1, np.int64),
                  broker_top=top)
    if cfg.contracts.allow_permanent:
        _permanent_options(view, d, opt, alt_hour, top, top_quality, mgmt)
    if d.mid_term.any():
        _keep_or_leave(view, d, opt, mgmt)
    return opt


@dataclass(frozen=True)
class OnCallMix:
    """What on-call work from its own consideration set costs a due firm-service, per hour.

    Attributes:
        hour: the all-in cost per hour (price and non-price cost) mixed over the providers by the firm's
            choice probabilities; NaN without an active known provider.
        startup: per hour of weekly demand, the onboarding of the providers of the mix it would first have to
            onboard (paid once, on the hours handed over in their first week).
        spill_hour: the all-in hour of overflow, which goes only to providers worth it (known, or whose
            onboarding costs less than leaving the work unmet); the shortage penalty where there is none.
    """

    hour: NDArray[np.float64]
    startup: NDArray[np.float64]
    spill_hour: NDArray[np.float64]

    @classmethod
    def of(cls, view: MarketView, d: Due) -> OnCallMix:
        """In one compiled pass (:func:`kernels.on_call_mix`): per known provider, the all-in hour (the client's
        spot price, non-price cost and the pool's hand-over at the experience expected over the period, as
        pool staff learn a little while what a former dedicated team knew fades), the onboarding if the firm
        has not worked with it lately or will not have by the time the period ends, then the firm's logit
        mixes over the active ones and over those worth it."""
        slots, cfg = view.slots, view.cfg
        ebar = average_experience(slots.experience[d.s], cfg.contracts.learning_rate_per_week
                                  * cfg.contracts.on_call_learning_fraction, cfg.firms.review_interval_weeks,
                                  cfg.contracts.experience_decay_per_week)
        horizon = cfg.firms.knowledge_memory_weeks - cfg.firms.review_interval_weeks
        prices = view.prices
        hour, startup, spill = kernels.on_call_mix(
            d.s, slots.provider, slots.known, view.table.active, np.ascontiguousarray(ebar, np.float64),
            slots.experience, slots.quality_estimate, slots.preference, slots.last_worked, slots.region,
            slots.coordination, d.c, d.friction, d.learning, d.error,
            view.catalogue.onboarding_weeks[d.v].astype(np.float64), prices.spot_price, prices.coordination,
            prices.provider_region, float(cfg.contracts.pool_rotation), int(view.week), int(max(horizon, 0)),
            float(cfg.choice.beta), float(cfg.firms.shortage_penalty_factor))
        return cls(hour, startup, spill)


def _brokered_on_call(view: MarketView, d: Due) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """On-call through the firm's broker, per row: all-in cost per hour (its pick mix, its quality
    estimates, its fee, and the onboarding of the providers it moves the work to, at the rate it has been
    moving its clients lately), its best-rated provider, that provider's estimated quality, and the
    onboarding per hour of weekly demand when the broker must bring in a provider the firm has first to
    onboard (it keeps a client with the provider it used last, if the firm still knows it)."""
    n, table, slots = len(d), view.table, view.slots
    top = np.full(n, -1, np.int64)
    top_quality = np.zeros(n)
    ob_hour = np.full(n, np.nan)
    known_last = kernels.keeps_main_provider(d.s, slots.provider, slots.main_provider, slots.known, slots.last_worked,
                                             view.week, view.cfg.firms.knowledge_memory_weeks)
    startup = np.where(known_last, 0.0, view.catalogue.onboarding_weeks[d.v] * d.c)
    if not len(view.brokers):
        return ob_hour, top, top_quality, startup
    # One pick mix per (broker, service, client region, home-only): rows of a group share it.
    group = ((slots.broker[d.s] * len(view.catalogue) + d.v) * 2 + slots.region[d.s]) * 2 + (slots.home_only[d.s] >= 0)
    _, first, of_group = np.unique(group, return_index=True, return_inverse=True)
    head = d.s[first]  # one slot per group
    total, bare, cross, quality, best, best_quality = broker_mixes(slots, head, table, view.prices, view.brokers,
                                                                   view.catalogue, np.ones(table.n, bool),
                                                                   view.cfg.intermediaries.choice_intensity)
    group_broker = slots.broker[head]
    rows = np.flatnonzero(total[of_group] > 0)
    g = of_group[rows]
    b = group_broker[g]  # the group's broker is the row's
    top[rows], top_quality[rows] = best[g], best_quality[g]
    weeks = view.catalogue.onboarding_weeks[d.v[rows]]
    c = d.c[rows]
    moves = view.brokers.churn[b] * weeks * c + pool_handover_cost(c, weeks, 0.0, view.cfg.contracts.pool_rotation)
    spot = bare[g] + cross[g] * slots.coordination[d.s[rows]]
    ob_hour[rows] = spot * (1 + view.brokers.fee_rate[b]) + moves + nonprice_cost(
        c, d.friction[rows], d.learning[rows], 0.0, d.error[rows], quality[g])
    return ob_hour, top, top_quality, startup


def price_permanent(view: MarketView, d: Due, rows: NDArray, provider: NDArray, experience: NDArray,
                    quality: NDArray, fee: float | NDArray, alt_hour: NDArray, power: NDArray,
                    renewal: bool | NDArray = False) -> PermanentTerms:
    """Negotiate and size a permanent contract of due rows ``rows`` with ``provider``.

    ``provider``, ``experience``, ``quality`` and ``renewal`` are per row, or per (row, candidate column)
    to price every known provider at once. A new contract costs a set-up spread over its term: the
    knowledge transfer to a dedicated team (the demand's onboarding, less what the provider knows of
    the client) and the tender; renewing with the incumbent (``renewal``) keeps the team and needs
    neither. Demand beyond the reserved hours goes to the same provider at its spot price (as far as it
    has capacity: the rest at the shortage penalty, by the firm's fill rate).
    """
    table = view.table

    def per_row(x: NDArray) -> NDArray:
        x = x[rows]
        return x[:, None] if provider.ndim == 2 else x

    # A reserved hour is staffed with the slack of the provider's target utilisation: its full cost. A provider
    # never asks more for a guaranteed hour than the same hour would fetch on its spot market.
    region, coordination = per_row(view.slots.region[d.s]), per_row(view.slots.coordination[d.s])
    cost = view.prices.cost_for_client(provider, region, coordination) / per_row(view.catalogue.target_utilization[d.v])
    rp = np.minimum(provider_reservation(cost, table.utilization[provider], view.cfg.negotiation) * table.price_factor[provider],
                    view.prices.for_client(provider, region, coordination))
    ebar = average_experience(experience, view.cfg.contracts.learning_rate_per_week, per_row(d.term))
    nonprice = nonprice_cost(per_row(d.c), per_row(d.friction), per_row(d.learning), ebar, per_row(d.error), quality)
    overflow_hour = contract_overflow_hour(view, d, rows, provider, fee, nonprice, experience, per_row)
    setup = np.where(renewal, 0.0, per_row(d.onboard) * (1 - experience) + view.cfg.contracts.tender_cost)
    return permanent_terms(per_row(d.mu), per_row(d.sigma), overflow_hour, per_row(alt_hour), nonprice, setup,
                           per_row(d.term), rp, per_row(power), fee, nash_price)


def contract_overflow_hour(view: MarketView, d: Due, rows: NDArray, provider: NDArray, fee: float | NDArray,
                           nonprice: NDArray, experience: NDArray, per_row) -> NDArray[np.float64]:
    """The expected all-in cost of an hour beyond a contract's reserved hours: the provider's spot price
    (fee included), non-price cost and the hand-over to its pool when it has the capacity, the shortage
    penalty when not."""
    fee = np.asarray(fee, float)
    fee = fee[:, None] if provider.ndim == 2 and fee.ndim == 1 else fee  # one fee per row, for every column
    fill = per_row(view.slots.fill_rate[d.s])
    spot = view.prices.for_client(provider, per_row(view.slots.region[d.s]), per_row(view.slots.coordination[d.s])) * (1.0 + fee)
    handover = pool_handover_cost(per_row(d.c), per_row(view.catalogue.onboarding_weeks[d.v]), experience,
                                  view.cfg.contracts.pool_rotation)
    penalty = view.cfg.firms.shortage_penalty_factor * per_row(d.c)
    return fill * (spot + nonprice + handover) + (1.0 - fill) * penalty


def _permanent_options(view: MarketView, d: Due, opt: Options, alt_hour: NDArray, top: NDArray, top_quality: NDArray,
                       mgmt: float) -> None:
    slots, book, cat = view.slots, view.book, view.catalogue
    n = len(d)
    power = bargaining_power(view.prices.market_utilization[d.v], cat.target_utilization[d.v], cat.skill[d.v],
                             view.cfg.negotiation)

    # Direct: negotiate with every known provider, keep the cheapest deal; the incumbent of an expiring direct
    # contract is priced as a renewal.
    cand = slots.provider[d.s]
    valid = slots.known[d.s] & view.table.active[cand] & d.allows(np.arange(n), view.table.region[cand])
    renewal = np.zeros(cand.shape, bool)
    incumbent = np.flatnonzero(d.expiring & (book.channel[d.s] == Channel.DIRECT))
    renewal[incumbent, book.k[d.s[incumbent]]] = True
    context = _deal_context(view, d, alt_hour, power)
    best, weekly, price, reserved = _best_direct_deals(view, d, valid, renewal, context, mgmt)
    opt.best_k = best
    opt.costs[best >= 0, O.PERMANENT] = weekly[best >= 0]
    opt.price[O.PERMANENT], opt.reserved[O.PERMANENT] = price, reserved
    if not len(view.brokers):
        return

    # Through the broker: its best-rated provider, with no history with the firm...
    has = np.flatnonzero(top >= 0)
    has = has[d.allows(has, view.table.region[top[has]])]
    fee = view.brokers.fee_for(slots.broker[d.s])
    price, reserved, weekly = kernels.brokered_deals(has, d.s, top[has], np.zeros(len(has)), top_quality[has], False,
                                                     fee[has], *context)
    opt.costs[has, O.PERMANENT_BROKER] = weekly
    opt.broker_provider[has] = top[has]
    opt.price[O.PERMANENT_BROKER], opt.reserved[O.PERMANENT_BROKER] = np.full(n, np.nan), np.zeros(n)
    opt.price[O.PERMANENT_BROKER][has], opt.reserved[O.PERMANENT_BROKER][has] = price, reserved

    # ...or, at a brokered contract's term end, the incumbent, experience and all.
    r = np.flatnonzero(d.expiring & (book.channel[d.s] == Channel.BROKER))
    r = r[d.allows(r, view.table.region[book.provider[d.s[r]]])]
    if len(r):
        ss, kk = d.s[r], book.k[d.s[r]]
        price, reserved, weekly = kernels.brokered_deals(r, d.s, book.provider[ss], slots.experience[ss, kk],
                                                         slots.quality_estimate[ss, kk], True, fee[r], *context)
        better = np.isfinite(weekly) & ~(weekly >= opt.costs[r, O.PERMANENT_BROKER])
        rb = r[better]
        opt.costs[rb, O.PERMANENT_BROKER] = weekly[better]
        opt.broker_provider[rb] = book.provider[ss[better]]
        opt.price[O.PERMANENT_BROKER][rb], opt.reserved[O.PERMANENT_BROKER][rb] = price[better], reserved[better]


def _deal_context(view: MarketView, d: Due, alt_hour: NDArray, power: NDArray) -> tuple:
    """What every permanent deal of the due rows ``d`` reads, in the order :func:`kernels.best_direct_deals` and
    :func:`kernels.brokered_deals` take it (they price as :func:`price_permanent` does, in one compiled pass)."""
    slots, table, prices, cfg, cat = view.slots, view.table, view.prices, view.cfg, view.catalogue
    rate = cfg.contracts.learning_rate_per_week
    return (slots.region, slots.coordination, slots.fill_rate, d.c, d.friction, d.learning, d.error, d.onboard, d.mu,
            d.sigma, d.term, cat.target_utilization[d.v].astype(np.float64), cat.onboarding_weeks[d.v].astype(np.float64),
            alt_hour, power, prices.unit_cost, prices.spot_price, prices.coordination, prices.provider_region,
            table.utilization, table.price_factor, 1.0 + cfg.negotiation.min_margin,
            float(cfg.negotiation.guaranteed_load_value), float(rate), rate + 0.0, float(cfg.contracts.pool_rotation),
            float(cfg.firms.shortage_penalty_factor), float(cfg.contracts.tender_cost))


def _best_direct_deals(view: MarketView, d: Due, valid: NDArray, renewal: NDArray, context: tuple,
                       mgmt: float) -> tuple[NDArray, NDArray, NDArray, NDArray]:
    """:func:`price_permanent` of every ``valid`` known provider of each due row (``renewal``: the incumbent of an
    expiring direct contract), the cheapest deal kept, in one compiled pass (:func:`kernels.best_direct_deals`):
    its column (-1: none), weekly cost with management, price and reserved hours."""
    slots = view.slots
    return kernels.best_direct_deals(d.s, slots.provider, np.ascontiguousarray(valid), np.ascontiguousarray(renewal),
                                     slots.experience, slots.quality_estimate, *context, float(mgmt))


def remaining_weeks(book: ContractBook, s: NDArray, week: int) -> NDArray[np.float64]:
    """Weeks left on the contracts of slots ``s`` (at least 1): the horizon an exit fee is spread over."""
    return np.maximum(book.end[s] - week, 1).astype(float)


def _keep_or_leave(view: MarketView, d: Due, opt: Options, mgmt: float) -> None:
    """Mid-term holders: the permanent option is their contract as it stands; every other option pays the exit
    fee, spread over the weeks the contract had left (the horizon over which keeping it is compared)."""
    slots, book = view.slots, view.book
    r = np.flatnonzero(d.mid_term)
    ss = d.s[r]
    chan = book.channel[ss]
    fee = np.where(chan == Channel.BROKER, view.brokers.fee_for(slots.broker[ss]), 0.0)
    kk = book.k[ss]
    ebar = average_experience(slots.experience[ss, kk], view.cfg.contracts.learning_rate_per_week,
                              (book.end[ss] - view.week).astype(float))
    nonprice = nonprice_cost(d.c[r], d.friction[r], d.learning[r], ebar, d.error[r], slots.quality_estimate[ss, kk])
    short = expected_shortfall(d.mu[r], d.sigma[r], book.reserved[ss])
    overflow_hour = contract_overflow_hour(view, d, r, book.provider[ss], fee, nonprice, slots.experience[ss, kk],
                                           lambda x: x[r])
    keep = (book.price[ss] * (1 + fee) * book.reserved[ss] + short * overflow_hour
            + (d.mu[r] - short) * nonprice + np.where(chan == Channel.DIRECT, mgmt, 0.0))
    opt.costs[r] += (book.exit_fee[ss] / remaining_weeks(book, ss, view.week))[:, None]
    opt.costs[r, O.PERMANENT] = np.where(chan == Channel.DIRECT, keep, np.nan)
    opt.costs[r, O.PERMANENT_BROKER] = np.where(chan == Channel.BROKER, keep, np.nan)
    opt.best_k[r] = kk
