"""The decision log: every sourcing review with the options compared, their expected costs and the choice.

Reviews are made in vectorised batches; the log keeps each batch's columns and concatenates them once at
the end, so a run with hundreds of thousands of reviews stays cheap.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from simulation.sourcing import OPTIONS

COLUMNS = ("week", "firm_id", "service", "mode_before", *(f"cost_{o}" for o in OPTIONS), "candidate_provider",
           "broker_provider", "choice", "channel", "provider_id", "price_per_hour", "reserved_hours_per_week",
           "outcome")


class DecisionLog:
    def __init__(self, enabled: bool, service_names: tuple[str, ...]) -> None:
        self.enabled = enabled
        self.names = np.array(service_names, dtype=object)
        self._batches: list[dict[str, np.ndarray]] = []

    def add(self, **columns: np.ndarray) -> None:
        """Append one week's batch; ``service`` is given as service indices."""
        if not self.enabled or len(columns["week"]) == 0:
            return
        missing = set(COLUMNS) - set(columns)
        if missing:
            raise KeyError(f"decision batch lacks {sorted(missing)}")
        self._batches.append({c: np.asarray(columns[c]) for c in COLUMNS})

    def to_frame(self) -> pd.DataFrame:
        if not self._batches:
            return pd.DataFrame({c: pd.Series(dtype="float64") for c in COLUMNS})
        cat = {c: np.concatenate([b[c] for b in self._batches]) for c in COLUMNS}
        cat["service"] = self.names[cat["service"]]
        return pd.DataFrame(cat)

    def for_firm(self, firm_id: int) -> list[dict]:
        df = self.to_frame()
        return df[df["firm_id"] == firm_id].to_dict("records")
