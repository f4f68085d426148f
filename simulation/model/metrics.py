"""Weekly metrics: the week's totals, added up in one place, and the declared reporters over them.

Each phase of the week returns what it produced (fills, sales, outcome, provider and review totals);
:func:`week_flows` adds them up into one :class:`WeekFlows` at the end of the step. Each reporter
below is a named module-level function of the model (picklable, no lambdas) for Mesa's
DataCollector, reading only that record, the contract book and the environment. Column names are the
ones the run-folder documentation promises.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulation.model import kernels
from simulation.model.codes import Kind, Mode
from simulation.model.market.fulfilment import Fills, Sales
from simulation.model.market.outcomes import OutcomeTotals
from simulation.model.sourcing.review import ReviewTotals


@dataclass(frozen=True)
class ProviderTotals:
    """Step 6's contribution to the week's totals."""

    capacity: float  # hours/week of the active providers before this week's hiring
    used: float
    capacity_bpo: float
    capacity_kpo: float
    used_bpo: float
    used_kpo: float
    posted_price_bpo_domestic: float  # capacity-weighted mean spot price of active providers (NaN: none)
    posted_price_bpo_offshore: float
    posted_price_kpo_domestic: float
    posted_price_kpo_offshore: float
    max_overuse: float  # largest excess of hours delivered over a provider's capacity (<= 0 when none)
    provider_profit: float
    active_providers: int
    entries: int
    exits: int
    ended: int  # contracts ended by exits


@dataclass(frozen=True)
class WeekFlows:
    """Totals of one week."""

    demand: float = 0.0
    in_house: float = 0.0
    permanent: float = 0.0
    on_call: float = 0.0
    unmet: float = 0.0
    demand_bpo: float = 0.0
    demand_kpo: float = 0.0
    permanent_bpo: float = 0.0
    permanent_kpo: float = 0.0
    on_call_bpo: float = 0.0
    on_call_kpo: float = 0.0
    in_house_bpo: float = 0.0
    in_house_kpo: float = 0.0
    offshore_volume: float = 0.0
    broker_volume: float = 0.0
    firm_payments: float = 0.0
    provider_revenue: float = 0.0
    broker_fees: float = 0.0
    hours_bpo: float = 0.0
    spend_bpo: float = 0.0
    hours_kpo: float = 0.0
    spend_kpo: float = 0.0
    on_call_hours: float = 0.0
    on_call_spend: float = 0.0
    permanent_hours_paid: float = 0.0
    permanent_spend: float = 0.0
    capacity: float = 0.0
    used: float = 0.0
    max_overuse: float = 0.0
    loyalty_mean: float = float("nan")
    switch_rate: float = float("nan")
    active_providers: int = 0
    entries: int = 0
    exits: int = 0
    signed: int = 0
    renewed: int = 0
    ended: int = 0
    onboarding_costs: float = 0.0
    switching_costs: float = 0.0
    quality: float = float("nan")
    on_time: float = float("nan")
    firm_surplus: float = 0.0
    provider_profit: float = 0.0
    outsourced_inhouse_cost: float = 0.0
    outsourced_cost: float = 0.0
    unmet_cost: float = 0.0
    management_costs: float = 0.0
    loyalty_on_call: float = float("nan")
    capacity_bpo: float = 0.0
    capacity_kpo: float = 0.0
    used_bpo: float = 0.0
    used_kpo: float = 0.0
    posted_price_bpo_domestic: float = float("nan")
    posted_price_bpo_offshore: float = float("nan")
    posted_price_kpo_domestic: float = float("nan")
    posted_price_kpo_offshore: float = float("nan")


def sales_totals(sales: list[Sales]) -> tuple[float, float]:
    """Total provider revenue and total broker fees of the week's sales, added in the order they were made."""
    revenue = fees = 0.0
    for batch in sales:
        revenue += float(batch.revenue.sum())
        fees += float(batch.fee.sum())
    return revenue, fees


@dataclass(frozen=True)
class KindSplit:
    """The slots' BPO rows then their KPO rows, each ascending: a slot's kind never changes, so the order is made
    once and each week's totals by kind are gathered by it (:func:`kernels.split_sums`)."""

    order: NDArray[np.int64]
    n_bpo: int

    @classmethod
    def of(cls, slot_kind: NDArray) -> KindSplit:
        kpo = slot_kind == Kind.KPO
        return cls(np.argsort(kpo, kind="stable"), int(np.count_nonzero(~kpo)))

    def sums(self, x: NDArray[np.float64]) -> tuple[np.float64, np.float64]:
        """``x[~kpo].sum()`` and ``x[kpo].sum()``, the same values bit for bit."""
        bpo, kpo = kernels.split_sums(self.order, self.n_bpo, x)
        return np.float64(bpo), np.float64(kpo)


def week_flows(fills: Fills, kinds: KindSplit, sales: list[Sales], outcomes: OutcomeTotals, providers: ProviderTotals,
               review: ReviewTotals) -> WeekFlows:
    """The week's totals from what its phases produced."""
    revenue, fees = sales_totals(sales)
    by_kind = {}
    for form in ("demand", "permanent", "on_call", "in_house"):
        by_kind[f"{form}_bpo"], by_kind[f"{form}_kpo"] = kinds.sums(getattr(fills, form))
    on_call, on_call_spend, permanent_spend = fills.on_call.sum(), fills.spend.sum(), fills.permanent_paid.sum()
    values: dict[str, Any] = dict(
        demand=fills.demand.sum(), in_house=fills.in_house.sum(), permanent=fills.permanent.sum(),
        on_call=on_call, unmet=fills.unmet.sum(), **by_kind,
        firm_payments=on_call_spend + permanent_spend + review.exit_fees_paid,
        provider_revenue=revenue + review.exit_fees_booked, broker_fees=fees,
        on_call_hours=on_call, on_call_spend=on_call_spend, permanent_spend=permanent_spend,
        ended=providers.ended + review.ended, renewed=review.renewed, signed=review.signed,
        switching_costs=review.switching_costs,
    )
    for part in (outcomes, providers):
        values.update({f.name: getattr(part, f.name) for f in fields(part) if f.name != "ended"})
    values["onboarding_costs"] = outcomes.onboarding_costs + review.contract_onboarding
    values["outsourced_cost"] = outcomes.outsourced_cost + review.contract_onboarding + review.tender_costs
    values["management_costs"] = outcomes.management_costs + review.tender_costs
    values["firm_surplus"] = (outcomes.outsourced_inhouse_cost - values["outsourced_cost"] - outcomes.unmet_cost
                              - review.exit_fees_paid)
    return WeekFlows(**values)


def _share(a: float, b: float) -> float:
    return a / b if b > 0 else 0.0


def step(model) -> int:
    return int(model.time)


def permanent_share(model) -> float: return _share(model.flows.permanent, model.flows.demand)
def permanent_share_bpo(model) -> float: return _share(model.flows.permanent_bpo, model.flows.demand_bpo)
def permanent_share_kpo(model) -> float: return _share(model.flows.permanent_kpo, model.flows.demand_kpo)
def on_call_share(model) -> float: return _share(model.flows.on_call, model.flows.demand)
def on_call_share_bpo(model) -> float: return _share(model.flows.on_call_bpo, model.flows.demand_bpo)
def on_call_share_kpo(model) -> float: return _share(model.flows.on_call_kpo, model.flows.demand_kpo)
def in_house_share(model) -> float: return _share(model.flows.in_house, model.flows.demand)
def in_house_share_bpo(model) -> float: return _share(model.flows.in_house_bpo, model.flows.demand_bpo)
def in_house_share_kpo(model) -> float: return _share(model.flows.in_house_kpo, model.flows.demand_kpo)
def unmet_share(model) -> float: return _share(model.flows.unmet, model.flows.demand)
def loyalty_mean(model) -> float: return model.flows.loyalty_mean
def switch_rate(model) -> float: return model.flows.switch_rate
def mean_price_bpo(model) -> float: return _share(model.flows.spend_bpo, model.flows.hours_bpo) if model.flows.hours_bpo > 0 else float("nan")
def mean_price_kpo(model) -> float: return _share(model.flows.spend_kpo, model.flows.hours_kpo) if model.flows.hours_kpo > 0 else float("nan")
def mean_price_on_call(model) -> float: return model.flows.on_call_spend / model.flows.on_call_hours if model.flows.on_call_hours > 0 else float("nan")
def mean_price_permanent(model) -> float: return model.flows.permanent_spend / model.flows.permanent_hours_paid if model.flows.permanent_hours_paid > 0 else float("nan")
def provider_utilization(model) -> float: return _share(model.flows.used, model.flows.capacity)
def offshore_share(model) -> float: return _share(model.flows.offshore_volume, model.flows.permanent + model.flows.on_call)
def broker_share(model) -> float: return _share(model.flows.broker_volume, model.flows.permanent + model.flows.on_call)
def active_providers(model) -> int: return model.flows.active_providers
def firm_payments(model) -> float: return model.flows.firm_payments
def provider_revenue(model) -> float: return model.flows.provider_revenue
def broker_fees(model) -> float: return model.flows.broker_fees
def demand_hours(model) -> float: return model.flows.demand
def in_house_hours(model) -> float: return model.flows.in_house
def permanent_hours(model) -> float: return model.flows.permanent
def on_call_hours(model) -> float: return model.flows.on_call
def unmet_hours(model) -> float: return model.flows.unmet
def capacity_hours(model) -> float: return model.flows.capacity
def used_hours(model) -> float: return model.flows.used
def max_capacity_overuse(model) -> float: return model.flows.max_overuse
def provider_entries(model) -> int: return model.flows.entries
def provider_exits(model) -> int: return model.flows.exits
def contracts_signed(model) -> int: return model.flows.signed
def contracts_renewed(model) -> int: return model.flows.renewed
def contracts_ended(model) -> int: return model.flows.ended
def active_contracts(model) -> int: return int(np.count_nonzero(model.contracts.active))
def onboarding_costs(model) -> float: return model.flows.onboarding_costs
def switching_costs(model) -> float: return model.flows.switching_costs
def quality_mean(model) -> float: return model.flows.quality
def on_time_rate(model) -> float: return model.flows.on_time
def firm_surplus(model) -> float: return model.flows.firm_surplus
def outsourced_cost(model) -> float: return model.flows.outsourced_cost
def unmet_cost(model) -> float: return model.flows.unmet_cost
def management_costs(model) -> float: return model.flows.management_costs
def loyalty_on_call(model) -> float: return model.flows.loyalty_on_call
def realised_saving(model) -> float:
    return 1.0 - model.flows.outsourced_cost / model.flows.outsourced_inhouse_cost if model.flows.outsourced_inhouse_cost > 0 \
        else float("nan")


def on_call_mode_share(model) -> float:
    """Share of the outsourcing firm-services (on-call or permanent) whose chosen mode is on-call, after this week's reviews."""
    mode = model.slots.mode
    outsourcing = np.count_nonzero(mode != Mode.IN_HOUSE)
    return float(np.count_nonzero(mode == Mode.ON_CALL) / outsourcing) if outsourcing else float("nan")
def provider_profit(model) -> float: return model.flows.provider_profit
def demand_level(model) -> float: return model.environment.demand_level
def wage_index_offshore(model) -> float: return model.environment.wage_index["offshore"]
def wage_index_domestic(model) -> float: return model.environment.wage_index["domestic"]
def outsourced_inhouse_cost(model) -> float: return model.flows.outsourced_inhouse_cost
def capacity_hours_bpo(model) -> float: return model.flows.capacity_bpo
def capacity_hours_kpo(model) -> float: return model.flows.capacity_kpo
def used_hours_bpo(model) -> float: return model.flows.used_bpo
def used_hours_kpo(model) -> float: return model.flows.used_kpo
def posted_price_bpo_domestic(model) -> float: return model.flows.posted_price_bpo_domestic
def posted_price_bpo_offshore(model) -> float: return model.flows.posted_price_bpo_offshore
def posted_price_kpo_domestic(model) -> float: return model.flows.posted_price_kpo_domestic
def posted_price_kpo_offshore(model) -> float: return model.flows.posted_price_kpo_offshore


REPORTERS = {f.__name__: f for f in (
    step, permanent_share, permanent_share_bpo, permanent_share_kpo, on_call_share, on_call_share_bpo,
    on_call_share_kpo, in_house_share, in_house_share_bpo, in_house_share_kpo, unmet_share, loyalty_mean,
    switch_rate, mean_price_bpo, mean_price_kpo, mean_price_on_call, mean_price_permanent, provider_utilization,
    offshore_share, broker_share, active_providers, firm_payments, provider_revenue, broker_fees, demand_hours,
    in_house_hours, permanent_hours, on_call_hours, unmet_hours, capacity_hours, used_hours, max_capacity_overuse,
    provider_entries, provider_exits, contracts_signed, contracts_renewed, contracts_ended, active_contracts,
    onboarding_costs, switching_costs, quality_mean, on_time_rate, firm_surplus, provider_profit, demand_level,
    wage_index_domestic, wage_index_offshore, outsourced_inhouse_cost, capacity_hours_bpo, capacity_hours_kpo,
    used_hours_bpo, used_hours_kpo, posted_price_bpo_domestic, posted_price_bpo_offshore, posted_price_kpo_domestic,
    posted_price_kpo_offshore, outsourced_cost, unmet_cost, management_costs, realised_saving, loyalty_on_call,
    on_call_mode_share,
)}
