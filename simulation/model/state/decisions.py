"""The decision log: every sourcing review with the options compared, their expected costs and the choice.

Reviews are made in vectorised batches; the log keeps each batch's columns as integer codes and turns
them into one table (categorical labels) at the end, so runs with millions of reviews stay cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulation.model.codes import OPTIONS, Channel, Mode, ReviewOutcome, labels

COLUMNS = ("week", "firm_id", "service", "mode_before", *(f"cost_{o}" for o in OPTIONS), "candidate_provider",
           "broker_provider", "choice", "channel", "provider_id", "price_per_hour", "reserved_hours_per_week",
           "outcome")


class DecisionLog:
    """The reviews of a run, batch by batch; ``to_frame()`` gives decisions.parquet."""

    def __init__(self, enabled: bool, service_names: tuple[str, ...]) -> None:
        self.enabled = enabled
        self.categories = {"service": tuple(service_names), "mode_before": labels(Mode), "choice": OPTIONS,
                           "channel": labels(Channel), "outcome": labels(ReviewOutcome)}
        self._batches: list[dict[str, np.ndarray]] = []

    def add(self, **columns: np.ndarray) -> None:
        """Append one week's batch; categorical columns are given as integer codes."""
        if not self.enabled or len(columns["week"]) == 0:
            return
        missing = set(COLUMNS) - set(columns)
        if missing:
            raise KeyError(f"decision batch lacks {sorted(missing)}")
        self._batches.append({c: np.asarray(columns[c]) for c in COLUMNS})

    def to_frame(self) -> pd.DataFrame:
        if self._batches:  # concatenate once and keep the result as the only batch
            self._batches = [{c: np.concatenate([b[c] for b in self._batches]) for c in COLUMNS}]
            cols = self._batches[0]
        else:
            cols = {c: np.empty(0, np.int64 if c in self.categories else float) for c in COLUMNS}
        data = {c: (pd.Categorical.from_codes(cols[c], categories=self.categories[c]) if c in self.categories
                    else cols[c]) for c in COLUMNS}
        return pd.DataFrame(data)

    def for_firm(self, firm_id: int) -> list[dict]:
        """Every review of one firm so far, oldest first, as one dict per review."""
        df = self.to_frame()
        return df[df["firm_id"] == firm_id].to_dict("records")
