"""The statistics every analysis of outsim results shares: week windows, window means, t intervals.

- A window is an inclusive pair of weeks ``(first, last)``: week ``w`` is in it when
  ``first <= w <= last``. :func:`last_window` gives the last ``weeks`` weeks of a run (the last year by
  default), :func:`window_rows` the rows of a table in a window, :func:`window_mean` the mean of weekly
  metrics over a window. Run summaries, replication
  comparisons, sweep outputs and the report's findings all average this one way.
- The 95% confidence interval of a mean of ``n`` values with sample standard deviation ``sd`` is
  ``mean +- t(0.975, n - 1) * sd / sqrt(n)`` (Student's t): :func:`t_half_width` gives its half-width
  for replication summaries, paired comparisons, sweep summaries and figure bands.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

YEAR = 52  # weeks
CONFIDENCE = 0.95


def t_half_width(sd: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    """Half-width of the 95% t interval of a mean; NaN with fewer than two observations.

    Args:
        sd: sample standard deviations (``ddof=1``) of the values behind each mean.
        n: how many values are behind each mean.

    Returns:
        ``t(0.975, n - 1) * sd / sqrt(n)``, element by element.
    """
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(n > 1, stats.t.ppf((1 + CONFIDENCE) / 2, np.maximum(n - 1, 1)), np.nan)
        return t * np.asarray(sd, float) / np.sqrt(n)


def last_window(steps: int, weeks: int = YEAR) -> tuple[int, int]:
    """The last ``weeks`` weeks of a run of ``steps`` weeks, as an inclusive (first, last) pair."""
    return max(1, steps - weeks + 1), steps


def window_rows(table: pd.DataFrame, window: tuple[int, int], week_column: str = "step") -> pd.DataFrame:
    """The rows of ``table`` whose week (``week_column``: ``step`` in metrics, ``week`` in the ledger) is in ``window``."""
    week = table[week_column]
    return table[(week >= window[0]) & (week <= window[1])]


def window_mean(metrics: pd.DataFrame, window: tuple[int, int], columns: Sequence[str] | None = None) -> pd.Series:
    """Mean of weekly metrics over the weeks of ``window`` (NaN weeks skipped; NaN if none is left).

    Args:
        metrics: a weekly table with a ``step`` column (metrics.parquet).
        window: inclusive (first, last) weeks.
        columns: the metrics to average (default: every column but ``step``).

    Returns:
        One value per metric, indexed by its name.
    """
    rows = window_rows(metrics, window)
    return rows[[c for c in metrics.columns if c != "step"] if columns is None else list(columns)].mean()
