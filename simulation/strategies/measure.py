"""The focal firm-services of a strategy study, and what they paid and got, read from a running model.

:func:`focal_slots` picks the segment's firm-services in one model (size classes are terciles of that
market's firm sizes, so they are drawn anew with every population). :class:`FocalTally` reads, after
each week, what the model booked for those slots and adds up the weeks of the window:

- cost (cu), by component, as the model books it for the decision audit (``OutsourcingModel.slot_outcomes``):
  payments (on-call spend and take-or-pay, broker fees included), non-price costs (friction, faulty and
  late work), onboarding of on-call providers, management of direct providers, shortage (unmet hours at
  the shortage penalty) and staff (the firm's own staff of an in-house firm-service: the hours it keeps,
  at its own cost per hour, used or not); plus what a review paid at once (``OutsourcingModel.reviewed``):
  rebuilding in-house staff, a new contract's onboarding and tender, an early-exit fee, in full in the
  week paid;
- hours: demand, and how it was met (in-house, permanent, on-call, unmet);
- what providers delivered: hours, and those hours weighted by quality, by on-time share and by whether
  the provider is offshore;
- per focal firm and whole year of the window (52 weeks from its first week), its cost and demand hours:
  the yearly costs behind the risk measure.
"""

from __future__ import annotations

from dataclasses import fields

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.model import OutsourcingModel
from simulation.model.codes import REGIONS
from simulation.model.market.outcomes import SlotCosts
from simulation.strategies.spec import YEAR, Segment

COMPONENTS = tuple(f.name for f in fields(SlotCosts))  # payments, nonprice, onboarding, management, shortage, staff
HOURS = ("demand_hours", "in_house_hours", "permanent_hours", "on_call_hours", "unmet_hours")
DELIVERED = ("provider_hours", "quality_hours", "on_time_hours", "offshore_hours")
TOTALS = ("firms", "firm_services", "weeks", *HOURS, *DELIVERED, *(f"cost_{c}" for c in COMPONENTS), "cost_one_off",
          "cost_total")


class EmptySegment(ValueError):
    """The segment holds no firm-service in this market."""


def focal_slots(model: OutsourcingModel, segment: Segment) -> NDArray[np.bool_]:
    """A mask over the model's slots: the segment's services of the segment's firms."""
    firms = model.firms
    keep = np.ones(len(firms), bool)
    if segment.size:
        keep &= np.isin(firms.size_class(), segment.size)
    if segment.region:
        keep &= np.isin(np.asarray(REGIONS)[firms.region], segment.region)
    slots = model.slots
    offered = np.ones(len(slots), bool)
    if segment.services:
        offered = np.isin(np.asarray(model.catalogue.names)[slots.service], segment.services)
    eligible = np.flatnonzero(keep & (np.bincount(slots.firm[offered], minlength=len(firms)) > 0))
    if segment.share < 1 and len(eligible):
        count = max(1, round(segment.share * len(eligible)))
        chosen = np.random.default_rng(segment.seed).choice(eligible, count, replace=False)
        keep = np.isin(np.arange(len(firms)), chosen)
    else:
        keep = np.isin(np.arange(len(firms)), eligible)
    return keep[slots.firm] & offered


class FocalTally:
    """Adds up the focal slots' weeks in ``window`` (inclusive weeks); call :meth:`observe` after every step."""

    def __init__(self, model: OutsourcingModel, focal: NDArray[np.bool_], window: tuple[int, int]) -> None:
        self.slots = np.flatnonzero(focal)
        if not len(self.slots):
            raise EmptySegment("the segment holds no firm-service in this market")
        self.position = np.full(len(focal), -1, np.int64)
        self.position[self.slots] = np.arange(len(self.slots))
        self.firm = model.slots.firm[self.slots]
        self.first, self.last = window
        self.years = (self.last - self.first + 1) // YEAR
        self.sums = {name: np.zeros(len(self.slots)) for name in (*HOURS, *DELIVERED, *COMPONENTS, "one_off")}
        self.year_cost = np.zeros((self.years, len(self.slots)))
        self.year_hours = np.zeros((self.years, len(self.slots)))
        self.weeks = 0

    def observe(self, model: OutsourcingModel) -> None:
        """Book the week the model has just run, if it is in the window."""
        week = model.week
        if not self.first <= week <= self.last:
            return
        s, fills, got = self.slots, model.fills, model.slot_outcomes
        one_off = np.zeros(len(s))
        reviewed = model.reviewed
        where = self.position[reviewed.slots]
        np.add.at(one_off, where[where >= 0], reviewed.one_off[where >= 0])
        week_values = {
            "demand_hours": fills.demand[s], "in_house_hours": fills.in_house[s], "permanent_hours": fills.permanent[s],
            "on_call_hours": fills.on_call[s], "unmet_hours": fills.unmet[s], "provider_hours": got.hours[s],
            "quality_hours": got.quality_hours[s], "on_time_hours": got.on_time_hours[s],
            "offshore_hours": got.offshore_hours[s], "one_off": one_off,
            **{c: getattr(got.costs, c)[s] for c in COMPONENTS}}
        for name, values in week_values.items():
            self.sums[name] += values
        year = (week - self.first) // YEAR
        if year < self.years:
            self.year_cost[year] += got.costs.total[s] + one_off
            self.year_hours[year] += fills.demand[s]
        self.weeks += 1

    def totals(self) -> dict[str, float]:
        """The window's sums over the focal slots (hours, deliveries, cost by component, cu), and their counts."""
        out = {"firms": float(len(np.unique(self.firm))), "firm_services": float(len(self.slots)),
               "weeks": float(self.weeks)}
        out.update({name: float(self.sums[name].sum()) for name in (*HOURS, *DELIVERED)})
        out.update({f"cost_{c}": float(self.sums[c].sum()) for c in (*COMPONENTS, "one_off")})
        out["cost_total"] = float(sum(self.sums[c].sum() for c in (*COMPONENTS, "one_off")))
        return {name: out[name] for name in TOTALS}

    def firm_years(self) -> pd.DataFrame:
        """One row per focal firm and whole year of the window: ``firm_id``, ``year`` (1, 2, ...), ``cost`` (cu)
        and ``demand_hours`` over its focal services."""
        firms, index = np.unique(self.firm, return_inverse=True)
        cost = np.zeros((self.years, len(firms)))
        hours = np.zeros((self.years, len(firms)))
        for y in range(self.years):
            cost[y] = np.bincount(index, weights=self.year_cost[y], minlength=len(firms))
            hours[y] = np.bincount(index, weights=self.year_hours[y], minlength=len(firms))
        return pd.DataFrame({"firm_id": np.tile(firms, self.years).astype(np.int64),
                             "year": np.repeat(np.arange(1, self.years + 1), len(firms)).astype(np.int64),
                             "cost": cost.ravel(), "demand_hours": hours.ravel()})
