"""Intermediaries' state: each broker's fee rate, panel, estimate of every provider's quality, earnings.

A broker learns provider quality from the outcomes of all its clients' brokered work, an information
advantage over a single firm. It rates and routes to every provider of a service by default; in a
large market, to a shortlist per service and client group, kept by :mod:`simulation.model.market.shortlists`.
The Intermediary agents are handles onto the rows here.

Legend: ``b`` broker rows, ``v`` services, ``j`` provider rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulation.model import kernels

def prior_quality(reliability_mean_bpo: float, reliability_mean_kpo: float, late_base_rate: float) -> float:
    """What a broker expects of a provider it has never seen: mean base quality of both kinds, on time."""
    return 0.5 * (reliability_mean_bpo + reliability_mean_kpo) * (1.0 - late_base_rate)


class BrokerBook:
    """Rows of brokers; ``quality`` is (brokers, provider capacity), filled with the prior where unseen."""

    def __init__(self) -> None:
        self.prior = np.zeros(0)  # per broker: what it expects of a provider it has never seen
        self.fee_rate = np.zeros(0)
        self.income = np.zeros(0)
        self.quality = np.zeros((0, 16))
        self.panel = np.full((0, 0, 0, 0), -1, np.int64)  # (brokers, services, groups, seats): shortlists
        self.waiting = np.full((0, 0, 0, 0), -1, np.int64)  # (brokers, services, groups, places): next best, best first
        self.seats = 0  # shortlist size; 0: every broker rates every provider
        self.churn = np.zeros(0)  # per broker: share of continuing clients' requests moved to a provider new to them
        self._routed = np.zeros(0)  # this week's requests of clients the broker already routed...
        self._moved = np.zeros(0)  # ...and those it sent to a provider the client did not know
        self._config_fee: float | None = None
        self._pair_slot = np.zeros((0, 0), np.int32)  # see learn

    def __len__(self) -> int:
        return len(self.fee_rate)

    def add(self, count: int, fee_rate: float, prior: float) -> NDArray[np.int64]:
        """Admit ``count`` brokers charging ``fee_rate`` and expecting quality ``prior``; returns their rows."""
        rows = np.arange(len(self), len(self) + count)
        self.fee_rate = np.r_[self.fee_rate, np.full(count, fee_rate)]
        self.income = np.r_[self.income, np.zeros(count)]
        self.prior = np.r_[self.prior, np.full(count, prior)]
        self.churn = np.r_[self.churn, np.zeros(count)]  # no history yet
        self._routed = np.r_[self._routed, np.zeros(count)]
        self._moved = np.r_[self._moved, np.zeros(count)]
        self.quality = np.vstack([self.quality, np.full((count, self.quality.shape[1]), prior)])
        return rows

    def panels(self, n_services: int, n_providers: int) -> NDArray[np.int64]:
        """(brokers, services, groups, seats) provider rows the brokers rate (-1: empty seat). With shortlists
        (kept by :func:`simulation.model.market.shortlists.refresh_shortlists`), four client groups; without,
        two groups (the client regions) of every provider row in order (a read-only view)."""
        if self.seats == 0:
            return np.broadcast_to(np.arange(n_providers), (len(self), n_services, 2, n_providers))
        return self.panel

    def apply_config_fee(self, fee_rate: float) -> None:
        """Every broker charges the configured fee when it changes (a scenario event); a fee set on one
        broker through its agent stands until then."""
        if fee_rate != self._config_fee:
            self.fee_rate[:] = fee_rate
            self._config_fee = fee_rate

    def fee_for(self, broker: NDArray[np.int64]) -> NDArray[np.float64]:
        """Fee rate of each given broker row (zero when there are no brokers)."""
        return self.fee_rate[broker] if len(self) else np.zeros(len(broker))

    def estimates(self, n_providers: int) -> NDArray[np.float64]:
        """(brokers, n_providers) quality estimates; providers never observed keep the prior."""
        have = self.quality.shape[1]
        if have < n_providers:
            grown = np.repeat(self.prior[:, None], max(n_providers, 2 * have), axis=1)
            grown[:, :have] = self.quality
            self.quality = grown
        return self.quality[:, :n_providers]

    def learn(self, broker: NDArray[np.int64], provider: NDArray[np.int64], observed_quality: NDArray[np.float64],
              rate: float, n_providers: int) -> None:
        """Move each broker's estimates toward the mean quality each provider delivered to its clients this week."""
        if len(broker) == 0:
            return
        self.estimates(n_providers)  # grows ``quality`` to the providers first
        if self._pair_slot.shape != self.quality.shape:  # the kernel's index of the pairs seen, all -1 between weeks
            self._pair_slot = np.full(self.quality.shape, -1, np.int32)
        kernels.learn_estimates(self.quality, broker, provider, observed_quality, float(rate), self._pair_slot)

    def count_routing(self, broker: NDArray[np.int64], moved: NDArray[np.bool_]) -> None:
        """Count requests of continuing clients routed this week, and those moved to a provider new to the client."""
        if len(broker):
            self._routed += np.bincount(broker, minlength=len(self))
            self._moved += np.bincount(broker, weights=moved.astype(float), minlength=len(self))

    def close_week(self, memory_weeks: float, exploration: float) -> None:
        """Fold the week's routing into ``churn``, a running share with time constant ``memory_weeks``; a
        broker with no continuing clients this week drifts back to its rate of exploration."""
        seen = self._routed > 0
        share = np.divide(self._moved, self._routed, out=np.full(len(self), exploration), where=seen)
        self.churn += (share - self.churn) / memory_weeks
        self._routed[:] = 0.0
        self._moved[:] = 0.0

    def earn(self, broker: NDArray[np.int64], fee: NDArray[np.float64]) -> None:
        """Book fees earned by the given brokers."""
        if len(self):
            self.income += np.bincount(broker, weights=fee, minlength=len(self))
