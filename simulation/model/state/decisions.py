"""The decision log: every sourcing review with the options compared, their expected costs and the choice.

Reviews are made in vectorised batches; the log keeps each batch's columns as integer codes and turns
them into one table (categorical labels) at the end, so runs with millions of reviews stay cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from simulation.model.codes import OPTIONS, Channel, Mode, ReviewOutcome, labels

COLUMNS = ("week", "firm_id", "service", "mode_before", *(f"cost_{o}" for o in OPTIONS), "candidate_provider",
           "broker_provider", "choice", "channel", "provider_id", "price_per_hour", "reserved_hours_per_week",
           "outcome")
REALISED = ("realised_weekly_cost", "realised_weeks")  # filled in when the slot's next review closes the period


class DecisionLog:
    """The reviews of a run, batch by batch; ``to_frame()`` gives decisions.parquet."""

    def __init__(self, enabled: bool, service_names: tuple[str, ...]) -> None:
        self.enabled = enabled
        self.categories = {"service": tuple(service_names), "mode_before": labels(Mode), "choice": OPTIONS,
                           "channel": labels(Channel), "outcome": labels(ReviewOutcome)}
        self._batches: list[dict[str, np.ndarray]] = []
        self.rows = 0
        self._realised = np.full(64, np.nan)
        self._realised_weeks = np.zeros(64, np.int64)

    def add(self, **columns: np.ndarray) -> NDArray[np.int64]:
        """Append one week's batch (categorical columns as integer codes); returns the rows it got."""
        n = len(columns["week"])
        if not self.enabled or n == 0:
            return np.full(n, -1, np.int64)
        missing = set(COLUMNS) - set(columns)
        if missing:
            raise KeyError(f"decision batch lacks {sorted(missing)}")
        self._batches.append({c: np.asarray(columns[c]) for c in COLUMNS})
        rows = np.arange(self.rows, self.rows + n)
        self.rows += n
        if self.rows > len(self._realised):
            size = max(self.rows, 2 * len(self._realised))
            self._realised = np.r_[self._realised, np.full(size - len(self._realised), np.nan)]
            self._realised_weeks = np.r_[self._realised_weeks, np.zeros(size - len(self._realised_weeks), np.int64)]
        return rows

    def set_realised(self, rows: NDArray[np.int64], weekly_cost: NDArray[np.float64], weeks: NDArray[np.int64]) -> None:
        """Record what the decisions of ``rows`` cost per week on average over the ``weeks`` that followed."""
        self._realised[rows] = weekly_cost
        self._realised_weeks[rows] = weeks

    def to_frame(self) -> pd.DataFrame:
        if self._batches:  # concatenate once and keep the result as the only batch
            self._batches = [{c: np.concatenate([b[c] for b in self._batches]) for c in COLUMNS}]
            cols = self._batches[0]
        else:
            cols = {c: np.empty(0, np.int64 if c in self.categories else float) for c in COLUMNS}
        data = {c: (pd.Categorical.from_codes(cols[c], categories=self.categories[c]) if c in self.categories
                    else cols[c]) for c in COLUMNS}
        data["realised_weekly_cost"] = self._realised[: self.rows].copy()
        data["realised_weeks"] = self._realised_weeks[: self.rows].copy()
        return pd.DataFrame(data)

    def for_firm(self, firm_id: int) -> list[dict]:
        """Every review of one firm so far, oldest first, as one dict per review."""
        df = self.to_frame()
        return df[df["firm_id"] == firm_id].to_dict("records")
