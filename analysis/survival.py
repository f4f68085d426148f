"""Relationship spells: durations and Kaplan-Meier survival with right-censoring.

A spell (relationships.parquet) is one firm-provider-service run of work in one form; ``weeks`` is its
length and ``censored`` is true when it was still open at the horizon, so its true length is only known
to be at least ``weeks``. Plain means of ``weeks`` are biased low by censoring; the Kaplan-Meier
product-limit estimator (Kaplan & Meier 1958) is not. It is written here with numpy so that its
conventions are explicit:

- S(t) is the probability that a spell lasts more than t weeks; S(t) = prod over event times
  t_i <= t of (1 - d_i / n_i), with d_i spells ending at t_i and n_i spells at risk (length >= t_i);
- a spell censored at t counts as at risk at t (censoring is taken to happen just after the events
  of the same week), so ties between ends and censorings are handled the usual way;
- the variance is Greenwood's formula; :meth:`Survival.greenwood_band` turns it into the usual
  pointwise 95% band S(t) +- z * se(t) with z the standard normal quantile (about 1.96).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from analysis.stats import CONFIDENCE


@dataclass(frozen=True)
class Survival:
    """A Kaplan-Meier curve: S just after each distinct event time.

    Attributes:
        times: distinct event times (weeks), ascending.
        survival: S(t) at each of ``times`` (a right-continuous step function; S = 1 before the first).
        at_risk: spells at risk at each time (length >= t).
        events: spells ending (not censored) at each time.
        std_err: Greenwood standard error of S at each time.
        n: number of spells.
        n_censored: how many of them are right-censored.
    """

    times: NDArray[np.float64]
    survival: NDArray[np.float64]
    at_risk: NDArray[np.int64]
    events: NDArray[np.int64]
    std_err: NDArray[np.float64]
    n: int
    n_censored: int

    def at(self, t: float) -> float:
        """S(t): the probability that a spell lasts more than ``t`` weeks."""
        i = np.searchsorted(self.times, t, side="right")
        return 1.0 if i == 0 else float(self.survival[i - 1])

    def quantile(self, q: float) -> float:
        """Smallest t with S(t) <= 1 - q (NaN if the curve never gets there, e.g. heavy censoring)."""
        hit = np.flatnonzero(self.survival <= 1.0 - q + 1e-12)
        return float(self.times[hit[0]]) if len(hit) else float("nan")

    def median(self) -> float:
        """Median spell length in weeks (NaN if fewer than half of the spells are seen to end)."""
        return self.quantile(0.5)

    def steps(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """(x, y) for ``plt.step(x, y, where="post")``, starting at (0, 1)."""
        return np.r_[0.0, self.times], np.r_[1.0, self.survival]

    def greenwood_band(self, confidence: float = CONFIDENCE) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Pointwise confidence band of S from Greenwood's variance: S +- z * std_err, clipped to [0, 1].

        ``z`` is the standard normal quantile of ``(1 + confidence) / 2`` (scipy.stats.norm; 1.96 for
        95%). The band is the plain normal approximation on the S scale, pointwise (not simultaneous).

        Returns:
            (lower, upper), aligned with :meth:`steps`: one value at t = 0 (where S = 1 exactly and the
            band has no width), then one per event time.
        """
        z = stats.norm.ppf((1 + confidence) / 2)
        _, survival = self.steps()
        std_err = np.r_[0.0, self.std_err]
        return np.clip(survival - z * std_err, 0, 1), np.clip(survival + z * std_err, 0, 1)


def kaplan_meier(durations: ArrayLike, censored: ArrayLike) -> Survival:
    """Kaplan-Meier estimate of the survival function of spell lengths.

    Args:
        durations: spell lengths (weeks), one per spell.
        censored: true where the spell was still open at the horizon (its end was not observed).

    Returns:
        The curve; empty arrays if no spell ends (then S = 1 throughout).

    Raises:
        ValueError: the inputs differ in length or a duration is negative or missing.
    """
    d = np.asarray(durations, dtype=float)
    c = np.asarray(censored, dtype=bool)
    if d.shape != c.shape:
        raise ValueError(f"durations ({d.shape}) and censored ({c.shape}) differ in shape")
    if np.any(~np.isfinite(d)) or np.any(d < 0):
        raise ValueError("durations must be finite and non-negative")
    ends = np.sort(d[~c])
    times = np.unique(ends)
    everyone = np.sort(d)
    at_risk = len(d) - np.searchsorted(everyone, times, side="left")
    events = np.searchsorted(ends, times, side="right") - np.searchsorted(ends, times, side="left")
    surv = np.cumprod(1.0 - events / at_risk)
    with np.errstate(divide="ignore", invalid="ignore"):  # S = 0 after everyone at risk ends: variance 0
        terms = np.where(at_risk > events, events / (at_risk * (at_risk - events)), np.inf)
        var = np.where(surv > 0, surv ** 2 * np.cumsum(terms), 0.0)
    return Survival(times=times, survival=surv, at_risk=at_risk.astype(np.int64), events=events.astype(np.int64),
                    std_err=np.sqrt(var), n=len(d), n_censored=int(c.sum()))


def survival_by(spells: pd.DataFrame, by: tuple[str, ...] = ("form", "kind")) -> dict[tuple, Survival]:
    """One Kaplan-Meier curve per group of spells (e.g. per form and service kind).

    Args:
        spells: relationships with ``weeks`` and ``censored`` and the ``by`` columns.
        by: grouping columns.

    Returns:
        Group key (a tuple, in the order of ``by``) -> curve; groups without spells are left out.
    """
    out: dict[tuple, Survival] = {}
    for key, g in spells.groupby(list(by), observed=True, sort=True):
        if len(g):
            out[key if isinstance(key, tuple) else (key,)] = kaplan_meier(g["weeks"].to_numpy(), g["censored"].to_numpy())
    return out


def spell_summary(spells: pd.DataFrame, by: tuple[str, ...] = ("form", "kind")) -> pd.DataFrame:
    """Duration summary of relationship spells per group.

    Columns: ``spells``, ``censored_share``, ``mean_weeks`` (plain mean of observed lengths, biased low
    by censoring), ``km_median_weeks``, ``km_q25_weeks`` and ``km_q75_weeks`` (quantiles of the
    Kaplan-Meier curve: weeks by which 25/50/75% of spells have ended), ``survive_52`` (S(52): share
    lasting more than a year) and ``volume_hours``.
    """
    rows = []
    for key, g in spells.groupby(list(by), observed=True, sort=True):
        if not len(g):
            continue
        curve = kaplan_meier(g["weeks"].to_numpy(), g["censored"].to_numpy())
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "spells": curve.n, "censored_share": curve.n_censored / curve.n,
                     "mean_weeks": float(g["weeks"].mean()), "km_q25_weeks": curve.quantile(0.25),
                     "km_median_weeks": curve.median(), "km_q75_weeks": curve.quantile(0.75),
                     "survive_52": curve.at(52), "volume_hours": float(g["volume_hours"].sum())})
    cols = [*by, "spells", "censored_share", "mean_weeks", "km_q25_weeks", "km_median_weeks", "km_q75_weeks",
            "survive_52", "volume_hours"]
    return pd.DataFrame(rows, columns=cols)
