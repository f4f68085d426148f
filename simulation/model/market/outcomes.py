"""Step 5 of the schedule: what the week's work was worth, and what firms, providers and brokers learn.

Quality and on-time delivery, per (firm-service, provider) pair, both worsen when the provider is overloaded (utilisation above a threshold) and improve with the
client-specific experience the provider has built (relationship-specific learning, Williamson 1985):
experience closes part of the gap to perfect quality and removes part of the base lateness, up to the
service's learning strength. Late work is as costly to the firm as faulty work, so what the firm
experiences (and learns from) is the effective quality = quality x on-time share.

Then firms update their preferences J (Weisbuch, Kirman & Herreiner 2000) with the surplus of the
work each provider did, and their estimates of quality, demand and fill rate; experience grows under
a dedicated (permanent) team, a little under on-call work, and fades otherwise (the hold-up mechanism);
brokers learn from their clients' outcomes; relationship spells are recorded, and a new on-call spell
costs the firm onboarding (knowledge transfer scaled by the hours handed over).

Legend: ``s`` slot rows, ``k`` consideration-set columns, ``j`` provider rows, ``v`` services,
``c`` the firm's own cost per hour of the work, ``E`` experience, ``q`` effective quality.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config
from simulation.model import kernels
from simulation.model.catalogue import Catalogue
from simulation.model.codes import Channel, Form, Kind, Mode, Region
from simulation.model.market.choice import loyalty, update_preferences
from simulation.model.market.fulfilment import EPS, Fills
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.contracts import ContractBook
from simulation.model.state.providers import ProviderTable
from simulation.model.state.slots import FirmSlots
from simulation.model.state.spells import SpellTracker

QUALITY_ESTIMATE_WEIGHT = 0.2  # weight of this week's effective quality in a firm's running estimate


@dataclass(frozen=True)
class WorkDone:
    """The week's work per used (slot, column) pair: on-call plus permanent delivery, and what it was worth."""

    slot: NDArray[np.intp]
    column: NDArray[np.intp]
    provider: NDArray[np.int64]
    hours: NDArray[np.float64]
    paid: NDArray[np.float64]  # fees included
    quality: NDArray[np.float64]
    on_time: NDArray[np.float64]
    nonprice: NDArray[np.float64]  # friction and error cost per hour, at the effective quality delivered
    inhouse_cost: NDArray[np.float64]  # the firm's own cost per hour of the work
    onboarding: NDArray[np.float64]  # knowledge transfer the work cost the firm this week (cu)
    payoff: NDArray[np.float64]  # what the firm learns from it (preference units)
    nonprice_per_slot: NDArray[np.float64]  # nonprice x hours, added up per slot (over all slots)
    onboarding_per_slot: NDArray[np.float64]  # onboarding added up per slot (over all slots)


@dataclass(frozen=True)
class OutcomeTotals:
    """Step 5's contribution to the week's totals."""

    quality: float
    on_time: float
    offshore_volume: float
    broker_volume: float
    hours_bpo: float
    hours_kpo: float
    spend_bpo: float
    spend_kpo: float
    permanent_hours_paid: float
    loyalty_mean: float
    switch_rate: float
    loyalty_on_call: float  # mean y of the firm-services that bought on-call this week
    onboarding_costs: float
    management_costs: float  # the fixed cost of managing providers directly (cu)
    outsourced_cost: float  # what the bought work cost the firms: payments, non-price costs, onboarding, management
    outsourced_inhouse_cost: float  # what the same hours would have cost the firms in-house (cu)
    unmet_cost: float  # unmet demand at its shortage cost (cu)


def realise_outcomes(fills: Fills, slots: FirmSlots, book: ContractBook, table: ProviderTable, brokers: BrokerBook,
                     spells: SpellTracker, catalogue: Catalogue, cfg: Config, inhouse_cost: NDArray[np.float64],
                     rng: np.random.Generator, week: int) -> tuple[OutcomeTotals, SlotOutcomes]:
    """Step 5: quality, learning, estimates and spells.

    Args:
        inhouse_cost: the firm's own cost per hour of each slot's work (its payoff benchmark).

    Returns:
        The week's outcome totals, and each slot's week: what it really paid (own staff, payments,
        non-price costs, onboarding, shortage and management; the decision audit's data) and what
        providers delivered to it.
    """
    done = _work_done(fills, slots, book, table, catalogue, cfg, inhouse_cost, rng, week)
    update_preferences(slots.preference, done.payoff, cfg.choice.gamma, at=(done.slot, done.column))
    if len(brokers):
        via = slots.channel[done.slot] == Channel.BROKER
        brokers.learn(slots.broker[done.slot][via], done.provider[via], (done.quality * done.on_time)[via],
                      cfg.intermediaries.learning_rate, table.n)
    _record_spells(fills, slots, book, spells, week)
    slots.last_worked[done.slot, done.column] = week
    switch = _update_estimates(fills, slots, cfg)
    costs = slot_costs(done, fills, slots, book, cfg, inhouse_cost)
    return _totals(done, fills, slots, book, table, catalogue, costs, switch), SlotOutcomes(done, costs, table, len(slots))


@dataclass(frozen=True)
class SlotCosts:
    """What each slot really paid this week, by component (cu)."""

    payments: NDArray[np.float64]  # on-call spend and take-or-pay, broker fees included
    nonprice: NDArray[np.float64]  # friction and the cost of faulty or late work
    onboarding: NDArray[np.float64]  # knowledge transfer to providers the firm had to onboard
    management: NDArray[np.float64]  # managing providers directly
    shortage: NDArray[np.float64]  # unmet hours at the shortage penalty
    staff: NDArray[np.float64]  # own staff of in-house slots

    @property
    def total(self) -> NDArray[np.float64]:
        return self.payments + self.nonprice + self.onboarding + self.management + self.shortage + self.staff


class SlotOutcomes:
    """Each slot's week: what it paid, by component, and the hours providers delivered to it, also weighted by
    their quality and by their on-time share, and the part delivered by offshore providers (arrays over slots).

    The delivered hours are summed per slot only when an observer asks (``outsim strategies`` does; a plain
    run never does), so the weekly step does not pay for them.
    """

    def __init__(self, done: WorkDone, costs: SlotCosts, table: ProviderTable, n: int) -> None:
        self.costs, self._done, self._region, self._n = costs, done, table.region, n

    def _per_slot(self, weights: NDArray) -> NDArray[np.float64]:
        return np.bincount(self._done.slot, weights=weights, minlength=self._n)

    @cached_property
    def hours(self) -> NDArray[np.float64]:
        return self._per_slot(self._done.hours)

    @cached_property
    def quality_hours(self) -> NDArray[np.float64]:
        return self._per_slot(self._done.hours * self._done.quality)

    @cached_property
    def on_time_hours(self) -> NDArray[np.float64]:
        return self._per_slot(self._done.hours * self._done.on_time)

    @cached_property
    def offshore_hours(self) -> NDArray[np.float64]:
        # a provider's region never changes, so the table read later gives this week's answer
        return self._per_slot(self._done.hours * (self._region[self._done.provider] == Region.OFFSHORE))


def slot_costs(done: WorkDone, fills: Fills, slots: FirmSlots, book: ContractBook, cfg: Config,
               c: NDArray) -> SlotCosts:
    """Each slot's realised cost of the week, by component (payments, management, shortage and own staff in one
    compiled pass, :func:`kernels.slot_costs`)."""
    payments, management, shortage, staff = kernels.slot_costs(
        fills.spend, fills.permanent_paid, book.active, book.channel, slots.channel, slots.mode, fills.unmet,
        slots.inhouse_staff, c, float(cfg.firms.direct_management_cost_per_week),
        float(cfg.firms.shortage_penalty_factor), int(Channel.DIRECT), int(Mode.ON_CALL), int(Mode.IN_HOUSE))
    return SlotCosts(payments=payments, nonprice=done.nonprice_per_slot, onboarding=done.onboarding_per_slot,
                     management=management, shortage=shortage, staff=staff)


def _work_done(fills: Fills, slots: FirmSlots, book: ContractBook, table: ProviderTable, catalogue: Catalogue,
               cfg: Config, c: NDArray, rng: np.random.Generator, week: int) -> WorkDone:
    """Work per used pair, its quality and cost, and what the firm learns from it, in one compiled pass
    (:func:`kernels.learn_from_work`): quality estimates and experience are updated in place.

    Quality and on-time delivery worsen with overload and improve with client experience. The onboarding a
    pair costs: the whole knowledge transfer when the provider works for the client for the first time, or
    after more than ``firms.knowledge_memory_weeks`` weeks without; else the share ``contracts.pool_rotation``
    of its on-call hours handed to pool staff new to the client. The payoff of a provider's work is the
    cost it saved the firm against leaving the work undone (the shortage penalty, the alternative at the
    moment of buying), net of price, non-price costs and onboarding: a provider that served well earns a
    positive preference and ranks above one never tried (J = 0); one the firm had to onboard starts lower.
    A dedicated team learns the client; without one, experience fades and the shared pool's on-call work
    adds only a little (a former team's knowledge fades even if on-call work goes on with its provider).
    """
    s, k, hours, paid = kernels.worked_pairs(fills.served, fills.spend, book.k, fills.permanent,
                                             fills.permanent_paid, EPS)  # book.k: -1 without a contract
    p, contracts = cfg.providers, cfg.contracts
    noise = p.quality_noise_sd * rng.standard_normal(len(s))
    team = np.flatnonzero(book.active)
    params = (p.overload_threshold, p.overload_quality_loss, p.late_base_rate, p.overload_lateness,
              contracts.pool_rotation, cfg.firms.shortage_penalty_factor, EPS, QUALITY_ESTIMATE_WEIGHT,
              contracts.learning_rate_per_week, contracts.on_call_learning_fraction, contracts.experience_decay_per_week)
    j, quality, on_time, nonprice, onboarding, payoff, nonprice_slot, onboarding_slot = kernels.learn_from_work(
        s, k, hours, paid, noise, slots.provider, table.utilization, table.reliability, slots.service, c, fills.demand,
        fills.served, slots.last_worked, slots.quality_estimate, slots.experience, team, book.k[team],
        catalogue.learning, catalogue.friction, catalogue.error_cost, catalogue.onboarding_weeks, week,
        cfg.firms.knowledge_memory_weeks, tuple(float(x) for x in params))
    return WorkDone(s, k, j, hours, paid, quality, on_time, nonprice, c[s], onboarding, payoff, nonprice_slot,
                    onboarding_slot)


def _record_spells(fills: Fills, slots: FirmSlots, book: ContractBook, spells: SpellTracker, week: int) -> None:
    """Record the week's on-call and permanent work in the relationship spells, and end idle on-call spells."""
    spells.record_on_call(week, fills.served, fills.spend, slots.provider, slots.channel, EPS)
    held = np.flatnonzero(book.active)
    spells.record(week, Form.PERMANENT, held, book.k[held], book.provider[held], fills.permanent[held],
                  fills.permanent_paid[held], book.channel[held].astype(np.int8))


def _update_estimates(fills: Fills, slots: FirmSlots, cfg: Config) -> float:
    """Running estimates of demand (mean, variance) and of the on-call fill rate, and each buyer's main on-call
    provider; returns the share of buyers that switched main provider (NaN if none had one before)."""
    return kernels.update_estimates(fills.demand, slots.demand_mean, slots.demand_var, fills.on_call, fills.unmet,
                                    slots.fill_rate, fills.served, slots.provider, slots.main_provider,
                                    1.0 / cfg.firms.estimate_memory_weeks, EPS)


def _totals(done: WorkDone, fills: Fills, slots: FirmSlots, book: ContractBook, table: ProviderTable,
            catalogue: Catalogue, costs: SlotCosts, switch: float) -> OutcomeTotals:
    (quality, on_time, offshore, broker, hours_bpo, hours_kpo, spend_bpo, spend_kpo, reserved, loyalty_mean,
     loyalty_on_call, inhouse) = kernels.outcome_sums(
        done.hours, done.paid, done.quality, done.on_time, done.inhouse_cost, done.slot, done.provider,
        catalogue.kind[slots.service] == Kind.KPO, table.region, slots.region, slots.channel, fills.on_call,
        book.channel, fills.permanent, book.reserved, book.contract_id, loyalty(slots.preference, slots.known), EPS,
        int(Channel.BROKER))
    outsourced = costs.payments.sum() + costs.nonprice.sum() + costs.onboarding.sum() + costs.management.sum()
    return OutcomeTotals(
        quality=quality, on_time=on_time, offshore_volume=offshore, broker_volume=broker, hours_bpo=hours_bpo,
        hours_kpo=hours_kpo, spend_bpo=spend_bpo, spend_kpo=spend_kpo, permanent_hours_paid=reserved,
        loyalty_mean=loyalty_mean, switch_rate=switch, loyalty_on_call=loyalty_on_call,
        onboarding_costs=float(costs.onboarding.sum()), management_costs=float(costs.management.sum()),
        outsourced_cost=float(outsourced), outsourced_inhouse_cost=inhouse, unmet_cost=float(costs.shortage.sum()),
    )
