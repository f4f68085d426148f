"""What each firm-service really pays, review period by review period: the decision audit's data.

At a review a firm compares the expected weekly cost of its options and takes one. The tracker adds up
what the firm-service then pays each week until its next review (staff, payments, non-price costs,
onboarding, shortage and management) and, at that review, hands back the mean realised weekly cost of
the decision, so the decision log can set what was expected beside what came. One-off costs a decision
causes (an exit fee, rebuilding in-house staff, onboarding a new contract's provider) are spread over
the horizon the decision priced them over, as the expectation did.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray


class CostTracker:
    """Per slot: the cost since its last review, the weeks it covers, and the decision-log row it belongs to."""

    def __init__(self, n_slots: int) -> None:
        self.total = np.zeros(n_slots)
        self.weeks = np.zeros(n_slots, np.int64)
        self.row = np.full(n_slots, -1, np.int64)  # decision-log row of the slot's last review (-1: none)
        self.one_off = np.zeros(n_slots)  # one-off costs of that decision, per week of their horizon

    def add_week(self, cost: NDArray[np.float64]) -> None:
        """Book one week's realised cost of every slot."""
        self.total += cost
        self.weeks += 1

    def close(self, s: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.float64], NDArray[np.int64]]:
        """End the review periods of slots ``s``: (decision rows, mean realised weekly cost, weeks covered)."""
        s = s[(self.row[s] >= 0) & (self.weeks[s] > 0)]
        mean = self.total[s] / self.weeks[s] + self.one_off[s]
        return self.row[s], mean, self.weeks[s]

    def open(self, s: NDArray[np.int64], rows: NDArray[np.int64], one_off_weekly: NDArray[np.float64]) -> None:
        """Start new review periods for slots ``s`` (their decisions are log rows ``rows``)."""
        self.total[s] = 0.0
        self.weeks[s] = 0
        self.row[s] = rows
        self.one_off[s] = one_off_weekly
