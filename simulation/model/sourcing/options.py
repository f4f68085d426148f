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
from simulation.model.codes import SourcingOption
from simulation.model.market.negotiation import bargaining_power, nash_price, provider_reservation
from simulation.model.market.pricing import Prices
from simulation.model.market.routing import broker_mixes
from simulation.model.sourcing.costs import (PermanentTerms, average_experience, nonprice_cost, permanent_terms,
                                             pool_handover_cost)
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
        holder = view.book.holds(s)
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
    """Expected weekly cost of the five options for every due firm-service (NaN where unavailable), in one
    compiled pass (:func:`kernels.option_costs`) after the brokers' pick mixes (one per client group).

    - On-call, direct: the firm's own logit mix over its consideration set (the all-in hour: the client's spot
      price, non-price cost and the pool's hand-over at the experience expected over the period, as pool staff
      learn a little while what a former dedicated team knew fades), plus the onboarding of the providers of
      the mix it would first have to onboard (a one-off, priced over the review period the choice holds for),
      the expected shortage and the cost of managing providers directly.
    - On-call through the broker: its pick mix, its quality estimates, its fee, and the onboarding of the
      providers it moves the work to, at the rate it has been moving its clients lately; onboarding up front
      unless it keeps the client with the provider it used last and the firm still knows it.
    - In-house: newsvendor staffing against the overflow's hour (which only goes to providers worth it, and never
      costs more than leaving the work unmet), plus rebuilding the staff if the firm has none.
    - Permanent, direct: negotiated with every known provider, the cheapest deal kept (the incumbent of an expiring
      direct contract priced as a renewal), as :func:`price_permanent` prices it; through the broker: its
      best-rated provider, or the incumbent at a brokered contract's term end where cheaper.
    - A mid-term holder's permanent option is its contract as it stands; every other option pays the early-exit
      fee, spread over the weeks the contract has left.
    """
    slots, book, table, prices, cat, cfg = view.slots, view.book, view.table, view.prices, view.catalogue, view.cfg
    n = len(d)
    required = np.full(n, -1, np.int8) if d.permanent_region is None else d.permanent_region
    power = bargaining_power(prices.market_utilization[d.v], cat.target_utilization[d.v], cat.skill[d.v],
                             cfg.negotiation)
    due = (d.s, d.v, d.c, d.mu, d.sigma, d.term, d.onboard, d.friction, d.learning, d.error, d.expiring, d.mid_term,
           required, power)
    slot = (slots.provider, slots.known, slots.experience, slots.quality_estimate, slots.preference, slots.last_worked,
            slots.main_provider, slots.region, slots.coordination, slots.fill_rate, slots.mode, slots.broker)
    contracts = (book.channel, book.k, book.provider, book.price, book.reserved, book.end, book.exit_fee)
    providers = (table.active, table.region, table.utilization, table.price_factor, prices.unit_cost, prices.spot_price,
                 prices.coordination, prices.provider_region)
    service = (cat.onboarding_weeks, cat.inhouse_switch_weeks, cat.target_utilization)
    c, f = cfg.contracts, cfg.firms
    pool_rate = c.learning_rate_per_week * c.on_call_learning_fraction
    params = (int(view.week), int(f.review_interval_weeks), int(f.knowledge_memory_weeks), float(cfg.choice.beta),
              float(f.shortage_penalty_factor), float(f.direct_management_cost_per_week), float(c.pool_rotation),
              float(pool_rate), float(pool_rate + c.experience_decay_per_week), float(c.learning_rate_per_week),
              1.0 + cfg.negotiation.min_margin, float(cfg.negotiation.guaranteed_load_value), float(c.tender_cost),
              bool(c.allow_in_house), bool(c.allow_permanent))
    costs, staff, best_k, broker_provider, top, price, reserved, price_b, reserved_b = kernels.option_costs(
        due, slot, contracts, providers, service, _broker_mixes(view, d), params)
    opt = Options(costs=costs, staff=staff, best_k=best_k, broker_provider=broker_provider, broker_top=top)
    if c.allow_permanent:
        opt.price[O.PERMANENT], opt.reserved[O.PERMANENT] = price, reserved
        if len(view.brokers):
            opt.price[O.PERMANENT_BROKER], opt.reserved[O.PERMANENT_BROKER] = price_b, reserved_b
    return opt


def _broker_mixes(view: MarketView, d: Due) -> tuple[NDArray, ...]:
    """What :func:`kernels.option_costs` reads of the brokers: their fee rates and churn, each due row's client
    group (-1 for every row without brokers) and, per group (broker, service, client region, home-only), the
    broker's pick mix (:func:`routing.broker_mixes`: the picks' total, mean spot price and extra coordination
    cost, mean expected quality, best-rated provider and its quality)."""
    slots, brokers, n = view.slots, view.brokers, len(d)
    if not len(brokers):
        none, empty = np.full(n, -1, np.int64), np.zeros(0)
        return empty, empty, none, empty, empty, empty, empty, np.zeros(0, np.int64), empty
    group = ((slots.broker[d.s] * len(view.catalogue) + d.v) * 2 + slots.region[d.s]) * 2 + (slots.home_only[d.s] >= 0)
    _, first, of_group = np.unique(group, return_index=True, return_inverse=True)
    mixes = broker_mixes(slots, d.s[first], view.table, view.prices, brokers, view.catalogue,
                         np.ones(view.table.n, bool), view.cfg.intermediaries.choice_intensity)
    return (brokers.fee_rate, brokers.churn, of_group.astype(np.int64), *mixes)


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


def remaining_weeks(book: ContractBook, s: NDArray, week: int) -> NDArray[np.float64]:
    """Weeks left on the contracts of slots ``s`` (at least 1): the horizon an exit fee is spread over."""
    return np.maximum(book.end[s] - week, 1).astype(float)
