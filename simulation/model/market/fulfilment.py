"""Weekly fulfilment, vectorised over all firm-services: steps 3 and 4 of the schedule.

3. Permanent contracts deliver up to their reserved capacity; firms pay the take-or-pay fee.
4. Residual demand goes to in-house staff, then to on-call requests. Each request picks a provider by
   the logit rule over the firm's consideration set (Weisbuch, Kirman & Herreiner 2000), or its broker
   picks one (routing.py); providers serve on-call work only from capacity left after permanent
   commitments (spot.py); what no one serves is unmet.

Each phase returns what it produced (hours, payments and the sales providers and brokers book); the
model adds the week up in one place.

Legend: ``s`` slot rows, ``k`` consideration-set columns, ``j`` provider rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config
from simulation.model import kernels
from simulation.model.catalogue import Catalogue
from simulation.model.codes import Channel, Mode
from simulation.model.market import routing
from simulation.model.market.pricing import Prices
from simulation.model.market.spot import SpotMarket
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.contracts import ContractBook
from simulation.model.state.providers import ProviderTable
from simulation.model.state.slots import FirmSlots
from simulation.model.state.spells import SpellTracker

EPS = routing.EPS


@dataclass(frozen=True)
class Sales:
    """Work sold in one batch: each sale's provider row, its revenue, the client's broker and the broker's fee."""

    provider: NDArray[np.int64]
    revenue: NDArray[np.float64]
    broker: NDArray[np.int64]
    fee: NDArray[np.float64]


@dataclass(frozen=True)
class PermanentDelivery:
    """Step 3 per slot: hours delivered under contracts, the take-or-pay payment (fees included) and the fee part."""

    delivered: NDArray[np.float64]
    paid: NDArray[np.float64]
    fee: NDArray[np.float64]
    sales: Sales


@dataclass(frozen=True)
class OnCallWork:
    """Step 4 per (slot, column): on-call hours served and what the firm paid (fees included; the fees themselves
    are in the sales)."""

    served: NDArray[np.float64]
    spend: NDArray[np.float64]
    sales: list[Sales]  # one batch per round


@dataclass(frozen=True)
class Fills:
    """What each firm-service got this week, by source (hours) and what it paid (cu)."""

    demand: NDArray[np.float64]
    permanent: NDArray[np.float64]
    in_house: NDArray[np.float64]
    on_call: NDArray[np.float64]  # per slot
    unmet: NDArray[np.float64]
    served: NDArray[np.float64]  # on-call hours per (slot, column)
    spend: NDArray[np.float64]  # on-call payments per (slot, column), fees included
    permanent_paid: NDArray[np.float64]  # take-or-pay payment per slot, fees included
    reserved: NDArray[np.float64]  # reserved hours per slot at delivery time (zero without a contract)


def deliver_contracts(book: ContractBook, demand: NDArray[np.float64], slots: FirmSlots,
                      brokers: BrokerBook) -> tuple[PermanentDelivery, NDArray, NDArray, NDArray]:
    """Step 3, permanent delivery and take-or-pay payments, and the start of step 4: the residual goes to in-house
    staff first. One compiled pass (:func:`kernels.deliver_week`). Returns the delivery, the in-house hours, the
    on-call need and the reserved hours of running contracts, per slot.

    The firm side is priced on its own (price x (1 + fee)), not as the sum of the sales to the provider and the
    broker, so the weekly money invariant (payments = provider revenue + broker fees) is a real check."""
    delivered, paid, fee, inhouse, need, held, revenue, fee_paid = kernels.deliver_week(
        demand, book.contract_id, book.reserved, book.price, book.channel, slots.broker, brokers.fee_rate,
        int(Channel.BROKER), slots.mode, slots.inhouse_staff, int(Mode.IN_HOUSE))
    act = np.flatnonzero(book.active)
    return (PermanentDelivery(delivered, paid, fee, Sales(book.provider[act], revenue, slots.broker[act], fee_paid)),
            inhouse, need, held)


def serve_on_call(need: NDArray[np.float64], market: SpotMarket, slots: FirmSlots, table: ProviderTable,
                  prices: Prices, brokers: BrokerBook, book: ContractBook, spells: SpellTracker,
                  catalogue: Catalogue, cfg: Config, inhouse_cost: NDArray[np.float64], week: int,
                  rng: np.random.Generator) -> OnCallWork:
    """Step 4: contract holders' overflow to their contract's provider, then rounds of on-call requests, direct
    (the firm's logit over J) or through the firm's broker.

    Spill-over (a contract holder's or an in-house firm's overflow, and any request after the first
    round) never goes to a provider the firm would first have to onboard when that costs more than
    leaving the hours unmet; an on-call buyer's first request may, since it buys the relationship.
    """
    rows, K = slots.provider.shape
    served, spend = np.zeros((rows, K)), np.zeros((rows, K))
    tried = np.zeros((rows, K), bool)
    need = need.copy()
    sales = [_overflow_to_contract_providers(need, market, slots, book, prices, brokers, served, spend, tried)]
    for rnd in range(cfg.choice.spot_rounds):
        s = np.flatnonzero(need > EPS)
        if len(s) == 0:
            break
        via_broker = (slots.channel[s] == Channel.BROKER) & (len(brokers) > 0)
        direct, brokered = s[~via_broker], s[via_broker]
        spill = (slots.mode != Mode.ON_CALL) | book.active | (rnd > 0)
        k_direct = _direct_picks(direct, spill[direct], rnd > 0, market, slots, prices, brokers, catalogue, cfg,
                                 inhouse_cost, tried, week, rng.random(len(direct)))
        k_brokered = routing.route(brokered, slots, table, prices, brokers, book, spells, catalogue, market.available,
                                   tried, rng, cfg.intermediaries.reassign_probability,
                                   cfg.intermediaries.choice_intensity, spill[brokered], week,
                                   cfg.firms.knowledge_memory_weeks)
        stuck = spill[brokered] & (k_brokered >= 0)
        if stuck.any():  # a spill-over request the broker routed to a provider still to be onboarded: worth it?
            rows_b = brokered[stuck]
            costly = onboarding_beyond_shortage(rows_b, slots, prices, brokers, catalogue, cfg, inhouse_cost, week)
            k_brokered[np.flatnonzero(stuck)[costly[np.arange(len(rows_b)), k_brokered[stuck]]]] = -1
        ss, kk = np.concatenate([direct, brokered]), np.concatenate([k_direct, k_brokered])
        asked = kk >= 0
        ss, kk = ss[asked], kk[asked]
        if len(ss) == 0:
            break
        # a slot asks once a round, so the pairs are distinct
        sales.append(_settle(ss, kk, slots.provider[ss, kk], slots.channel, need, market, slots, prices, brokers,
                             served, spend, tried))
    return OnCallWork(served, spend, sales)


def _direct_picks(s: NDArray[np.int64], screened: NDArray[np.bool_], full_only: bool, market: SpotMarket,
                  slots: FirmSlots, prices: Prices, brokers: BrokerBook, catalogue: Catalogue, cfg: Config,
                  inhouse_cost: NDArray[np.float64], tried: NDArray[np.bool_], week: int,
                  u: NDArray[np.float64]) -> NDArray[np.int64]:
    """Column each direct request of slots ``s`` goes to this round (-1: none): the firm's logit over its known
    providers not tried yet this week (with capacity left, after the first round), drawn at ``u``; for spill-over
    (``screened``) not a provider the firm would first have to onboard at more than an unmet hour
    (:func:`onboarding_beyond_shortage`'s rule, in one compiled pass: :func:`kernels.direct_picks`)."""
    fee = np.zeros(len(s))
    fee[screened] = np.where(slots.channel[s[screened]] == Channel.BROKER, brokers.fee_for(slots.broker[s[screened]]),
                             0.0)
    return kernels.direct_picks(
        s, screened, full_only, slots.known, tried, slots.provider, market.available, EPS, slots.last_worked,
        slots.experience, slots.quality_estimate, slots.service, slots.region, slots.coordination, fee,
        inhouse_cost[s], prices.spot_price, prices.coordination, prices.provider_region, catalogue.friction,
        catalogue.learning, catalogue.error_cost, catalogue.onboarding_weeks, week, cfg.firms.knowledge_memory_weeks,
        cfg.firms.shortage_penalty_factor, slots.preference, float(cfg.choice.beta), u)


def _settle(s: NDArray[np.int64], k: NDArray[np.int64], j: NDArray[np.int64], channel: NDArray[np.int8], need: NDArray,
            market: SpotMarket, slots: FirmSlots, prices: Prices, brokers: BrokerBook, served: NDArray, spend: NDArray,
            tried: NDArray) -> Sales:
    """Serve a round of requests of distinct (slot, column) pairs to providers ``j`` from the spot market, each for
    its slot's whole need, at the provider's client price plus the broker's fee where the slot's ``channel``
    (per slot) is the broker; book them in place on the (slots, K) arrays and on ``need`` (one compiled pass,
    :func:`kernels.settle_requests`). Returns the round's sales."""
    return Sales(j, *kernels.settle_requests(s, k, j, need, market.available, market.served, channel, slots.broker,
                                             brokers.fee_rate, int(Channel.BROKER), slots.region, slots.coordination,
                                             prices.spot_price, prices.coordination, prices.provider_region, served,
                                             spend, tried))


def onboarding_beyond_shortage(s: NDArray[np.int64], slots: FirmSlots, prices: Prices, brokers: BrokerBook,
                               catalogue: Catalogue, cfg: Config, inhouse_cost: NDArray[np.float64],
                               week: int) -> NDArray[np.bool_]:
    """(len(s), K): known providers that would need onboarding and whose hour, onboarding included, costs the
    firm more than an unmet hour (the shortage penalty)."""
    fee = np.where(slots.channel[s] == Channel.BROKER, brokers.fee_for(slots.broker[s]), 0.0)
    return kernels.onboarding_beyond_shortage(
        s, slots.known, slots.last_worked, slots.provider, slots.experience, slots.quality_estimate, slots.service,
        slots.region, slots.coordination, fee, inhouse_cost[s], prices.spot_price, prices.coordination,
        prices.provider_region, catalogue.friction, catalogue.learning, catalogue.error_cost,
        catalogue.onboarding_weeks, week, cfg.firms.knowledge_memory_weeks, cfg.firms.shortage_penalty_factor)


def _overflow_to_contract_providers(need: NDArray, market: SpotMarket, slots: FirmSlots, book: ContractBook,
                                    prices: Prices, brokers: BrokerBook, served: NDArray, spend: NDArray,
                                    tried: NDArray) -> Sales:
    """A contract holder's demand beyond its reserved hours goes first to its contract's provider, at the
    provider's spot price, from the capacity the provider has left (in place on the arrays given)."""
    s = np.flatnonzero(book.active & (need > EPS))
    return _settle(s, book.k[s], book.provider[s], book.channel, need, market, slots, prices, brokers, served, spend,
                   tried)


def fulfil(demand: NDArray[np.float64], slots: FirmSlots, table: ProviderTable, prices: Prices, brokers: BrokerBook,
           book: ContractBook, spells: SpellTracker, catalogue: Catalogue, cfg: Config, inhouse_cost: NDArray[np.float64],
           week: int, rng: np.random.Generator) -> tuple[Fills, SpotMarket, list[Sales]]:
    """Steps 3 and 4 in order: contracts first, then in-house staff, then on-call requests.

    Returns the week's fills, the spot market as it closed (hours each provider served on call) and
    the sales in the order they were made.
    """
    permanent, inhouse, need, reserved = deliver_contracts(book, demand, slots, brokers)
    market = SpotMarket.open(table.view("capacity"), book.committed(table.n), table.view("active"))
    on_call = serve_on_call(need, market, slots, table, prices, brokers, book, spells, catalogue, cfg, inhouse_cost,
                            week, rng)
    served = kernels.row_sums(on_call.served)
    fills = Fills(demand=demand, permanent=permanent.delivered, in_house=inhouse, on_call=served, unmet=need - served,
                  served=on_call.served, spend=on_call.spend, permanent_paid=permanent.paid, reserved=reserved)
    return fills, market, [permanent.sales, *on_call.sales]
