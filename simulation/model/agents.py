"""Mesa agents of outsim: client firms, BPO providers, KPO specialists and intermediaries.

Weekly hot paths run vectorised over all firm-services and providers (see fulfilment.py and
providers.py); agents are the named handles users and tests work with, and they carry the behaviour
that is their own: a firm's decision trail, an intermediary's learning of provider quality across
all its clients (its information advantage over a single firm) and its pick of provider.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import mesa
import numpy as np
from numpy.typing import NDArray

from simulation.model.market.choice import logit_probabilities
from simulation.model.records import Mode

if TYPE_CHECKING:
    from simulation.model import OutsourcingModel


class Firm(mesa.Agent):
    """A client firm: its size, home region and the services it buys (rows of the slot table)."""

    def __init__(self, model: "OutsourcingModel", firm_id: int, size: float, region: str) -> None:
        super().__init__(model)
        self.firm_id = firm_id
        self.size = size
        self.region = region
        self.slots: NDArray[np.int64] = np.empty(0, np.int64)

    @property
    def modes(self) -> dict[str, Mode]:
        """Current sourcing mode per service."""
        m = self.model
        return {m.catalogue.names[m.slots.service[s]]: Mode(int(m.slots.mode[s])) for s in self.slots}

    def decision_trail(self) -> list[dict]:
        """Every sourcing review of this firm so far: the options compared, their costs and the choice."""
        return self.model.decisions.for_firm(self.firm_id)


class Provider(mesa.Agent):
    """A provider of outsourced work; its state is row ``row`` of the provider table."""

    def __init__(self, model: "OutsourcingModel", row: int) -> None:
        super().__init__(model)
        self.row = row

    @property
    def provider_id(self) -> int:
        return self.row

    @property
    def capacity(self) -> float:
        return float(self.model.providers.capacity[self.row])

    @property
    def active(self) -> bool:
        return bool(self.model.providers.active[self.row])

    @property
    def region(self) -> str:
        return ("domestic", "offshore")[int(self.model.providers.region[self.row])]

    def exit_market(self, week: int) -> None:
        """Leave the market: mark the row exited and deregister from the model."""
        table = self.model.providers
        table.active[self.row] = False
        table.exit_week[self.row] = week
        self.remove()


class BPOProvider(Provider):
    """Broad, cheap, high-capacity task provider whose pooled staff serve many clients."""


class KPOSpecialist(Provider):
    """Narrow, skilled, scarce expertise provider that is slow to hire (talent pool)."""


class Intermediary(mesa.Agent):
    """A broker: learns provider quality from all its clients' outcomes and picks providers for a fee."""

    def __init__(self, model: "OutsourcingModel", broker_id: int, fee_rate: float, prior_quality: float) -> None:
        super().__init__(model)
        self.broker_id = broker_id
        self.fee_rate = fee_rate
        self.income = 0.0  # fees earned over the run
        self.quality = np.full(16, prior_quality)
        self._prior = prior_quality

    def estimates(self, n_providers: int) -> NDArray[np.float64]:
        """Quality estimate per provider row (prior for providers never observed)."""
        if len(self.quality) < n_providers:
            grown = np.full(max(n_providers, 2 * len(self.quality)), self._prior)
            grown[: len(self.quality)] = self.quality
            self.quality = grown
        return self.quality[:n_providers]

    def learn(self, provider: NDArray[np.int64], observed_quality: NDArray[np.float64], rate: float,
              n_providers: int) -> None:
        """Move estimates toward the mean quality each provider delivered to this broker's clients."""
        est = self.estimates(n_providers)
        counts = np.bincount(provider, minlength=n_providers)
        sums = np.bincount(provider, weights=observed_quality, minlength=n_providers)
        seen = counts > 0
        est[seen] += rate * (sums[seen] / counts[seen] - est[seen])

    @staticmethod
    def pick_distribution(cost_per_hour: NDArray[np.float64], eligible: NDArray[np.bool_],
                          intensity: float) -> NDArray[np.float64]:
        """Pick probabilities per row: a logit over cost relative to the cheapest eligible provider.

        Args:
            cost_per_hour: (rows, providers) expected all-in cost of each provider.
            eligible: (rows, providers) which providers can be picked.
            intensity: logit intensity over relative cost.
        """
        ref = np.where(eligible, cost_per_hour, np.inf).min(axis=1, keepdims=True)
        ref = np.where(np.isfinite(ref) & (ref > 0), ref, 1.0)
        return logit_probabilities(-(cost_per_hour / ref), intensity, eligible)
