"""Intermediaries' state: each broker's fee rate, panel, estimate of every provider's quality, earnings.

A broker learns provider quality from the outcomes of all its clients' brokered work, an information
advantage over a single firm. It rates and routes to every provider of a service by default; with
``intermediaries.panel_size`` set, to a shortlist of at most that many per service and client group (all
of them in a market small enough, the ones it rates cheapest in a larger one), so that what a broker
weighs per pick does not grow with the market. The
Intermediary agents are handles onto the rows here.

Legend: ``b`` broker rows, ``v`` services, ``j`` provider rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config, scaled
from simulation.model.catalogue import Catalogue
from simulation.model.market.pricing import Prices
from simulation.model.sourcing.costs import nonprice_cost
from simulation.model.state.providers import ProviderTable

#: Above this many providers at the start (scaled), brokers keep shortlists unless intermediaries.panel_size is set.
PANEL_AUTO_PROVIDERS, PANEL_AUTO_SIZE = 1_000, 100


def broker_panel_size(cfg: Config) -> int:
    """The brokers' shortlist size in effect: ``intermediaries.panel_size``, or when unset 0 (every provider) in
    a market that starts with at most :data:`PANEL_AUTO_PROVIDERS` providers and :data:`PANEL_AUTO_SIZE` above."""
    if cfg.intermediaries.panel_size is not None:
        return cfg.intermediaries.panel_size
    p = cfg.providers
    providers = scaled(p.bpo_count, cfg.run.scale) + scaled(p.kpo_count, cfg.run.scale)
    return 0 if providers <= PANEL_AUTO_PROVIDERS else PANEL_AUTO_SIZE


#: The client groups of a shortlist: client region, and whether the client's work must stay in it.
GROUP_REGION = np.array([0, 0, 1, 1])
GROUP_HOME = np.array([False, True, False, True])


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
        self.seats = 0  # shortlist size; 0: every broker rates every provider
        self.churn = np.zeros(0)  # per broker: share of continuing clients' requests moved to a provider new to them
        self._routed = np.zeros(0)  # this week's requests of clients the broker already routed...
        self._moved = np.zeros(0)  # ...and those it sent to a provider the client did not know
        self._config_fee: float | None = None

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

    def refresh_panels(self, table: ProviderTable, prices: Prices, catalogue: Catalogue, seats: int, week: int,
                       every_weeks: int) -> None:
        """Keep each broker's shortlists: per service and client group (client region, and whether the work
        must stay in it), the ``seats`` providers it rates cheapest, sorted by provider row (-1: empty seat).

        Where no more providers than seats can serve a group, all of them are on the shortlist, at once (an
        entrant joins the same week): the broker then rates every provider, as without shortlists. Otherwise
        a broker re-rates a group every ``every_weeks`` weeks (brokers staggered), when a provider on it has
        left, and when it has none yet; no random number is drawn. ``seats`` 0: no shortlists."""
        self.seats = seats
        if seats == 0:
            return
        shape = (len(self), table.n_services, len(GROUP_REGION), seats)
        if self.panel.shape != shape:  # new brokers or a new size: rate everyone afresh
            self.panel = np.full(shape, -1, np.int64)
        panel = self.panel
        stale = ((panel >= 0) & ~table.active[np.maximum(panel, 0)]).any(axis=3) | (panel[..., 0] < 0)
        due = (week + np.arange(len(self))) % every_weeks == 0
        quality, provider_region = self.estimates(table.n), table.view("region")
        for v in range(table.n_services):
            offering = table.offering(v)
            for g, (region, home) in enumerate(zip(GROUP_REGION, GROUP_HOME, strict=True)):
                cand = offering[provider_region[offering] == region] if home else offering
                if len(cand) <= seats:
                    panel[:, v, g] = -1
                    panel[:, v, g, :len(cand)] = cand
                    continue
                rows = np.flatnonzero(due | stale[:, v, g])
                if len(rows):
                    cost = prices.for_client(cand, region) + nonprice_cost(
                        catalogue.inhouse_cost[v], catalogue.friction[v], catalogue.learning[v], 0.0,
                        catalogue.error_cost[v], quality[rows[:, None], cand])
                    best = np.argpartition(cost, seats - 1, axis=1)[:, :seats]
                    panel[rows, v, g] = np.sort(cand[best], axis=1)

    def panels(self, n_services: int, n_providers: int) -> NDArray[np.int64]:
        """(brokers, services, groups, seats) provider rows the brokers rate (-1: empty seat). With shortlists,
        groups are :data:`GROUP_REGION` x :data:`GROUP_HOME`; without, two groups (the client regions) of every
        provider row in order (a read-only view)."""
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
        est = self.estimates(n_providers)
        seen, pair = np.unique(broker * n_providers + provider, return_inverse=True)  # (broker, provider) pairs seen
        mean = np.bincount(pair, weights=observed_quality) / np.bincount(pair)
        b, j = np.divmod(seen, n_providers)
        est[b, j] += rate * (mean - est[b, j])

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
