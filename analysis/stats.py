"""The statistics every analysis of outsim results shares: week windows, window means, t intervals.

- A window is an inclusive pair of weeks ``(first, last)``: week ``w`` is in it when
  ``first <= w <= last``. :func:`last_window` gives the last ``weeks`` weeks of a run (the last year by
  default), :func:`window_rows` the rows of a table in a window, :func:`window_mean` the mean of weekly
  metrics over a window. Run summaries, replication
  comparisons, sweep outputs and the report's findings all average this one way.
- The 95% confidence interval of a mean of ``n`` values with sample standard deviation ``sd`` is
  ``mean +- t(0.975, n - 1) * sd / sqrt(n)`` (Student's t): :func:`t_half_width` gives its half-width
  for replication summaries, paired comparisons, sweep summaries and figure bands. With fewer than
  three values it is so wide that it says little (:func:`few_runs_warning`).
- Many metrics compared at once: :func:`holm` adjusts their p-values so that the chance of any false
  "significant" among them stays at 5% (Holm's step-down method).
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


def few_runs_warning(n: int) -> str | None:
    """A warning when ``n`` runs are too few for a useful 95% interval (fewer than 3), else None."""
    if n >= 3:
        return None
    return (f"with {n} run{'s' if n != 1 else ''} per mean the 95% intervals are very wide (t = "
            f"{stats.t.ppf((1 + CONFIDENCE) / 2, max(n - 1, 1)):.1f}) or missing; use 3 or more replications")


def paired_p_values(mean: ArrayLike, sd: ArrayLike, n: ArrayLike) -> NDArray[np.float64]:
    """Two-sided p-values of the paired t test that a mean difference is 0 (NaN with fewer than two pairs)."""
    mean, sd, n = (np.asarray(x, float) for x in (mean, sd, n))
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.abs(mean) / (sd / np.sqrt(n))
        p = np.where(n > 1, 2 * stats.t.sf(t, np.maximum(n - 1, 1)), np.nan)
    return np.where((sd == 0) & (n > 1), np.where(mean == 0, 1.0, 0.0), p)


def holm(p: ArrayLike) -> NDArray[np.float64]:
    """Holm-adjusted p-values: the i-th smallest of m is multiplied by m - i, kept monotone, capped at 1;
    NaN stays NaN and does not count among the m tests."""
    p = np.asarray(p, float)
    out = np.full(p.shape, np.nan)
    finite = np.flatnonzero(np.isfinite(p))
    order = finite[np.argsort(p[finite], kind="stable")]
    m = len(order)
    out[order] = np.minimum(np.maximum.accumulate(p[order] * (m - np.arange(m))), 1.0)
    return out


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
