"""Sourcing policies: how a firm picks one option at a review from the expected weekly costs of all five.

A policy is a replaceable object. The model gives every due firm-service the costs of in-house work,
on-call work (direct or through its broker) and a permanent contract (direct or through the broker),
as priced by options.py, and asks the firm's policy to choose. The default, :class:`CostLogit`, is
bounded rationality: a logit over costs relative to the firm's weekly in-house cost of its demand.
Fixed strategies (:data:`ALWAYS_PERMANENT`, :data:`ON_CALL_ONLY`, :data:`NEVER_OUTSOURCE`,
:data:`PERMANENT_OFFSHORE`, :data:`VIA_BROKER`) take the cheapest of the options they allow, and fall
back to the cheapest available option when none of them is on the table (no deal, in-house not
allowed). A policy may also say in which region the provider of a new permanent contract must be
(``permanent_region``): the review then prices the permanent options with such providers only, so
:data:`PERMANENT_OFFSHORE` signs with offshore providers or not at all. :data:`POLICIES` names them
all. A user's own policy subclasses :class:`SourcingPolicy` and is given to one firm
(``firm.follow(policy)``) or a segment (``model.assign_policy``).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.model import kernels
from simulation.model.codes import ON_CALL_OPTIONS, PERMANENT_OPTIONS, Region, SourcingOption


@dataclass(frozen=True)
class ReviewMenu:
    """What a policy sees of the firm-services it decides for this week (one row each).

    Attributes:
        costs: (rows, 5) expected weekly cost of each :class:`SourcingOption` in cu/week; NaN where the
            option is not available. Holders in mid-term see their contract as it stands under the
            permanent option of its channel, and every other option includes the early-exit fee.
        scale: the firm's weekly cost of doing its expected demand in-house at its own hourly cost (cu/week),
            the yardstick costs are compared against.
        uniform: one uniform draw per row from the review's random stream.
        firm_id, service: who decides, for which service (catalogue index).
        mid_term: the row holds a contract that is not up for renewal.
        choice_intensity: the configured logit intensity (firms.sourcing_choice_intensity).
    """

    costs: NDArray[np.float64]
    scale: NDArray[np.float64]
    uniform: NDArray[np.float64]
    firm_id: NDArray[np.int64]
    service: NDArray[np.int64]
    mid_term: NDArray[np.bool_]
    choice_intensity: float

    def __len__(self) -> int:
        return len(self.costs)

    def rows(self, which: NDArray[np.bool_]) -> ReviewMenu:
        """The menu of a subset of rows."""
        return ReviewMenu(self.costs[which], self.scale[which], self.uniform[which], self.firm_id[which],
                          self.service[which], self.mid_term[which], self.choice_intensity)


class SourcingPolicy(ABC):
    """Chooses one :class:`SourcingOption` per row of a :class:`ReviewMenu` (never an unavailable one).

    Attributes:
        name: what reports call the policy.
        permanent_region: the region the provider of a new permanent contract must be in (a
            :class:`Region`); None (the default) for any region. A running contract is priced as it stands.
    """

    name: str = "policy"
    permanent_region: Region | None = None

    @abstractmethod
    def choose(self, menu: ReviewMenu) -> NDArray[np.intp]:
        """The option each row takes."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"


class CostLogit(SourcingPolicy):
    """Bounded rationality: P(option) proportional to exp(-intensity x (cost - cheapest) / scale).

    Args:
        intensity: logit intensity over relative cost; None uses the configured one, which scenario
            events may change during a run.
    """

    name = "adaptive"

    def __init__(self, intensity: float | None = None) -> None:
        self.intensity = intensity

    def choose(self, menu: ReviewMenu) -> NDArray[np.intp]:
        intensity = menu.choice_intensity if self.intensity is None else self.intensity
        pick = kernels.cost_logit(np.ascontiguousarray(menu.costs, np.float64),
                                  np.ascontiguousarray(menu.scale, np.float64), float(intensity),
                                  np.ascontiguousarray(menu.uniform, np.float64))
        return np.where(pick >= 0, pick, SourcingOption.ON_CALL)


class Cheapest(SourcingPolicy):
    """The cheapest of the allowed options; the cheapest available option when none of them is available.

    Args:
        permanent_region: see :class:`SourcingPolicy` (the permanent options are then priced with
            providers of that region only).
    """

    def __init__(self, name: str, allowed: tuple[SourcingOption, ...], permanent_region: Region | None = None) -> None:
        self.name = name
        self.permanent_region = permanent_region
        self.allowed = np.zeros(len(SourcingOption), bool)
        self.allowed[list(allowed)] = True

    def choose(self, menu: ReviewMenu) -> NDArray[np.intp]:
        costs = np.where(np.isnan(menu.costs), np.inf, menu.costs)
        preferred = np.where(self.allowed[None, :], costs, np.inf)
        own = np.isfinite(preferred).any(axis=1)
        pick = np.where(own, preferred.argmin(axis=1), costs.argmin(axis=1))
        return np.where(np.isfinite(costs).any(axis=1), pick, SourcingOption.ON_CALL)


ADAPTIVE = CostLogit()
ALWAYS_PERMANENT = Cheapest("permanent", PERMANENT_OPTIONS)
ON_CALL_ONLY = Cheapest("on-call", ON_CALL_OPTIONS)
NEVER_OUTSOURCE = Cheapest("in-house", (SourcingOption.IN_HOUSE,))
PERMANENT_OFFSHORE = Cheapest("permanent offshore", PERMANENT_OPTIONS, permanent_region=Region.OFFSHORE)
VIA_BROKER = Cheapest("via broker", (SourcingOption.ON_CALL_BROKER, SourcingOption.PERMANENT_BROKER))
POLICIES: dict[str, SourcingPolicy] = {p.name: p for p in (ADAPTIVE, ALWAYS_PERMANENT, ON_CALL_ONLY, NEVER_OUTSOURCE,
                                                           PERMANENT_OFFSHORE, VIA_BROKER)}
"""The built-in policies by name: "adaptive" (the model's default rule) and the fixed strategies."""


def permanent_regions(policies: list[SourcingPolicy], policy_of_row: NDArray[np.integer]) -> NDArray[np.int8] | None:
    """Per row, the region its policy requires of a new permanent contract's provider (-1: any); None when no
    policy in use restricts it (the review then prices the permanent options as always)."""
    required = np.array([-1 if p.permanent_region is None else int(p.permanent_region) for p in policies], np.int8)
    if (required < 0).all():
        return None
    return required[policy_of_row]


def choose(policies: list[SourcingPolicy], policy_of_row: NDArray[np.integer], menu: ReviewMenu) -> NDArray[np.intp]:
    """Each row's option, asked of the policy each row follows (``policies[policy_of_row]``)."""
    used = np.unique(policy_of_row)
    if len(used) == 1:
        return policies[int(used[0])].choose(menu)
    choice = np.empty(len(menu), np.intp)
    for index in used:
        rows = policy_of_row == index
        choice[rows] = policies[int(index)].choose(menu.rows(rows))
    return choice
