"""The decision log: every sourcing review with the options compared, their expected costs and the choice.

Reviews are made in vectorised batches; the log keeps each batch's columns as integer codes and turns
them into one table (categorical labels) at the end, so runs with millions of reviews stay cheap. A
run that writes its folder as it goes hands the log's settled rows out week by week (:meth:`DecisionLog.take`)
instead, so the log holds only the reviews whose realised cost is still to come.

The log may keep the reviews of some firms only (``run.decision_sample``, ``run.decision_firms``): a
review of another firm gets no row (row -1, as when the log is off). A random sample is drawn from a
random stream of its own (:func:`sample_firms`), so the sample changes no draw of the model.
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
INTEGERS = ("week", "firm_id", "candidate_provider", "broker_provider", "provider_id", "realised_weeks")
#: Spawn key of the decision sample's random stream under the run seed: far past the model's own streams
#: (spawn keys 0 to 6, simulation/model/model.py STREAMS), so a new model stream never takes it.
SAMPLE_SPAWN_KEY = 1_000


def sample_firms(n_firms: int, count: int | None, named: list[int] | None, seed: int) -> NDArray[np.bool_] | None:
    """Which firms' reviews the log keeps: None for every firm's, else a mask over the firms.

    Args:
        n_firms: firms in the market.
        count: how many firms to keep (None: all).
        named: the firm ids to keep, if named; else ``count`` firms are drawn at random, without
            replacement, from ``SeedSequence(seed, spawn_key=(SAMPLE_SPAWN_KEY,))``, a stream no other
            part of the model draws from.
        seed: the run seed.
    """
    if count is None:
        return None
    keep = np.zeros(n_firms, bool)
    if named is not None:
        keep[np.asarray(named, np.int64)] = True
        return keep
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(SAMPLE_SPAWN_KEY,)))
    keep[rng.choice(n_firms, size=count, replace=False)] = True
    return keep


class DecisionLog:
    """The reviews of a run, batch by batch; ``to_frame()`` gives decisions.parquet.

    Attributes:
        rows: rows logged so far (row numbers run on across :meth:`take`).
        first: the first row still held; the rows before it were handed out by :meth:`take`.
    """

    def __init__(self, enabled: bool, service_names: tuple[str, ...], keep_firms: NDArray[np.bool_] | None = None) -> None:
        self.enabled = enabled
        self.keep_firms = keep_firms
        self.categories = {"service": tuple(service_names), "mode_before": labels(Mode), "choice": OPTIONS,
                           "channel": labels(Channel), "outcome": labels(ReviewOutcome)}
        self._batches: list[dict[str, np.ndarray]] = []
        self.rows = 0
        self.first = 0
        self._realised = np.full(64, np.nan)
        self._realised_weeks = np.zeros(64, np.int64)

    def add(self, **columns: np.ndarray) -> NDArray[np.int64]:
        """Append one week's batch (categorical columns as integer codes); returns the rows it got (-1: not kept)."""
        n = len(columns["week"])
        if not self.enabled or n == 0:
            return np.full(n, -1, np.int64)
        missing = set(COLUMNS) - set(columns)
        if missing:
            raise KeyError(f"decision batch lacks {sorted(missing)}")
        batch = {c: np.asarray(columns[c], np.int64 if c in INTEGERS else None) for c in COLUMNS}
        kept = None if self.keep_firms is None else self.keep_firms[batch["firm_id"]]
        if kept is not None:
            batch = {c: v[kept] for c, v in batch.items()}
        m = len(batch["week"])
        rows = np.arange(self.rows, self.rows + m)
        if kept is not None:
            rows = np.where(kept, np.cumsum(kept) - 1 + self.rows, -1)
        if m == 0:
            return rows
        self._batches.append(batch)
        self.rows += m
        held = self.rows - self.first
        if held > len(self._realised):
            size = max(held, 2 * len(self._realised))
            self._realised = np.r_[self._realised, np.full(size - len(self._realised), np.nan)]
            self._realised_weeks = np.r_[self._realised_weeks, np.zeros(size - len(self._realised_weeks), np.int64)]
        return rows

    def set_realised(self, rows: NDArray[np.int64], weekly_cost: NDArray[np.float64], weeks: NDArray[np.int64]) -> None:
        """Record what the decisions of ``rows`` cost per week on average over the ``weeks`` that followed."""
        held = np.asarray(rows, np.int64) - self.first
        if len(held) and held.min() < 0:
            raise RuntimeError("a realised cost for a decision row already handed out by take()")
        self._realised[held] = weekly_cost
        self._realised_weeks[held] = weeks

    def take(self, upto: int) -> dict[str, np.ndarray] | None:
        """Hand out the rows held below row ``upto``, with their realised columns, and forget them.

        Only rows whose realised cost is final may be taken (no open review period refers to them), so
        a run can write them out while it goes. Returns None when there is no such row.
        """
        count = min(upto, self.rows) - self.first
        if count <= 0:
            return None
        taken, have = [], 0
        while have < count:
            batch = self._batches[0]
            n = len(batch["week"])
            if have + n <= count:
                taken.append(self._batches.pop(0))
                have += n
            else:
                cut = count - have
                taken.append({c: v[:cut] for c, v in batch.items()})
                self._batches[0] = {c: v[cut:].copy() for c, v in batch.items()}
                have = count
        cols = {c: np.concatenate([b[c] for b in taken]) for c in COLUMNS}
        cols["realised_weekly_cost"] = self._realised[:count].copy()
        cols["realised_weeks"] = self._realised_weeks[:count].copy()
        self._realised, self._realised_weeks = self._realised[count:].copy(), self._realised_weeks[count:].copy()
        self.first += count
        return cols

    def frame(self, cols: dict[str, np.ndarray] | None) -> pd.DataFrame:
        """decisions.parquet's table of some rows' columns (codes become categorical labels); None: no rows."""
        if cols is None:
            cols = {c: np.empty(0, np.int64 if c in self.categories or c in INTEGERS else float)
                    for c in (*COLUMNS, *REALISED)}
        return pd.DataFrame({c: (pd.Categorical.from_codes(cols[c], categories=self.categories[c])
                                 if c in self.categories else cols[c]) for c in (*COLUMNS, *REALISED)})

    def _held(self) -> dict[str, np.ndarray] | None:
        """Every row held, as columns with the realised ones (the batches merged into one); None: no rows."""
        if not self._batches:
            return None
        self._batches = [{c: np.concatenate([b[c] for b in self._batches]) for c in COLUMNS}]  # keep one batch
        held = self.rows - self.first
        return {**self._batches[0], "realised_weekly_cost": self._realised[:held],
                "realised_weeks": self._realised_weeks[:held]}

    def to_frame(self) -> pd.DataFrame:
        """The rows held (every row, unless :meth:`take` handed some out) as decisions.parquet's table."""
        cols = self._held()
        return self.frame(None if cols is None else {c: v.copy() if c in REALISED else v for c, v in cols.items()})

    def for_firm(self, firm_id: int, last: int | None = None) -> list[dict]:
        """Every review of one firm so far (still held), oldest first, as one dict per review; only the ``last``
        latest, if given. Reads the batches newest first and stops once it has them, building no table."""
        found: list[tuple[dict[str, np.ndarray], NDArray[np.intp], int]] = []
        end, count = self.rows - self.first, 0
        for batch in reversed(self._batches):
            if last is not None and count >= last:
                break
            start = end - len(batch["week"])
            mine = np.flatnonzero(batch["firm_id"] == firm_id)
            if len(mine):
                found.append((batch, mine, start))
                count += len(mine)
            end = start
        if not found:
            return []
        realised = {"realised_weekly_cost": self._realised, "realised_weeks": self._realised_weeks}
        columns = {}
        for c in (*COLUMNS, *REALISED):
            values = np.concatenate([realised[c][start + mine] if c in realised else batch[c][mine]
                                     for batch, mine, start in reversed(found)])
            if c in self.categories:  # a label, as decisions.parquet's categorical column gives it
                values = np.array([*self.categories[c], np.nan], dtype=object)[np.where(values < 0, -1, values)]
            columns[c] = values.tolist()
        rows = [dict(zip(columns, row)) for row in zip(*columns.values())]
        return rows if last is None else rows[max(len(rows) - last, 0):]  # the newest batch may give more
