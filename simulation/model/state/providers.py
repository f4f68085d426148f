"""The provider table: BPO providers and KPO specialists as rows of growable numpy arrays.

One row per provider that ever existed; exited rows stay for the record. The weekly provider phase
(market/providers.py) updates every active row at once; the Mesa agents (agents.py) are handles onto
single rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class ProviderTable:
    """Growable arrays, one row per provider; ``view(name)`` gives the live rows of one field."""

    _fields = {  # name: (dtype, value of a new row before ``add`` sets it)
        "kind": (np.int8, 0), "region": (np.int8, 0), "skill": (np.int8, 0), "capacity": (np.float64, 0.0),
        "markup": (np.float64, 0.0), "reliability": (np.float64, 0.0), "active": (np.bool_, False),
        "profit_ema": (np.float64, 0.0), "revenue_ema": (np.float64, 0.0), "demand_ema": (np.float64, 0.0),
        "loss_weeks": (np.int32, 0), "utilization": (np.float64, 0.0), "entry_week": (np.int32, 0),
        "exit_week": (np.int32, -1),
        "price_factor": (np.float64, 1.0),  # the provider's own price hike (1 = none)
        "fees_due": (np.float64, 0.0),  # early-exit fees owed by clients this week, booked as next week's revenue
    }

    def __init__(self, n_services: int) -> None:
        self.n = 0
        self.n_services = n_services
        self.offers = np.zeros((16, n_services), bool)
        for name, (dtype, fill) in self._fields.items():
            setattr(self, name, np.full(16, fill, dtype))

    def add(self, kind: int, region: int, skill: int, offers: NDArray[np.bool_], capacity: float, markup: float,
            reliability: float, week: int) -> int:
        """Append one provider; returns its row."""
        if self.n == len(self.kind):
            self._grow()
        j = self.n
        self.kind[j], self.region[j], self.skill[j] = kind, region, skill
        self.offers[j] = offers
        self.capacity[j], self.markup[j], self.reliability[j] = capacity, markup, reliability
        self.active[j], self.entry_week[j] = True, week
        self.demand_ema[j] = capacity * 0.5
        self.n += 1
        return j

    def _grow(self) -> None:
        size = 2 * len(self.kind)
        grown = np.zeros((size, self.n_services), bool)
        grown[: self.n] = self.offers[: self.n]
        self.offers = grown
        for name, (dtype, fill) in self._fields.items():
            arr = np.full(size, fill, dtype)
            arr[: self.n] = getattr(self, name)[: self.n]
            setattr(self, name, arr)

    def view(self, name: str) -> NDArray:
        """The live rows of one field."""
        return getattr(self, name)[: self.n]

    def offering(self, service: int, region: int = -1) -> NDArray[np.intp]:
        """Rows of the active providers that offer ``service`` (in ``region`` only, unless it is -1)."""
        mine = self.offers[: self.n, service] & self.active[: self.n]
        return np.flatnonzero(mine if region < 0 else mine & (self.region[: self.n] == region))

    def offer_counts(self) -> NDArray[np.int64]:
        """Active providers per service."""
        return (self.offers[: self.n] & self.active[: self.n, None]).sum(axis=0)

    def largest(self, count: int) -> NDArray[np.int64]:
        """Rows of the ``count`` largest active providers by capacity, never the last one offering a service."""
        act = np.flatnonzero(self.view("active"))
        order = act[np.argsort(-self.capacity[act], kind="stable")]
        chosen, left = [], self.offer_counts()
        for row in order:
            if len(chosen) == count:
                break
            if np.all(left[self.offers[row]] > 1):
                left[self.offers[row]] -= 1
                chosen.append(row)
        return np.asarray(chosen, np.int64)
