"""The market for work within capacity: permanent commitments first, then on-call requests.

A plain object (no Mesa model): give it capacities and requests, it returns fills. Providers serve
permanent contracts from their reserved (dedicated) capacity and on-call work only from what is left
after those commitments. When on-call requests exceed a provider's spare capacity, every request to it
is served in the same proportion (pooled staff shared across clients).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.model import kernels


@dataclass
class SpotMarket:
    """On-call capacity of each provider for one week, drawn down round by round.

    Attributes:
        available: hours of spare capacity per provider (capacity minus permanent commitments).
        served: on-call hours each provider has served so far this week.
    """

    available: NDArray[np.float64]
    served: NDArray[np.float64] | None = None

    def __post_init__(self) -> None:
        if self.served is None:
            self.served = np.zeros_like(self.available)

    @classmethod
    def open(cls, capacity: NDArray[np.float64], committed: NDArray[np.float64], active: NDArray[np.bool_]) -> "SpotMarket":
        """Open the week's spot market: spare capacity after permanent commitments, zero for exited providers."""
        spare = np.where(active, np.maximum(capacity - committed, 0.0), 0.0)
        return cls(available=spare)

    def ration(self, provider: NDArray[np.intp], hours: NDArray[np.float64]) -> NDArray[np.float64]:
        """Serve one round of requests; returns hours served per request and draws capacity down (in place; a
        compiled kernel, :func:`kernels.ration`).

        Args:
            provider: provider row of each request.
            hours: hours asked by each request (>= 0).
        """
        return kernels.ration(np.ascontiguousarray(provider, np.int64), np.ascontiguousarray(hours, np.float64),
                              self.available, self.served)
