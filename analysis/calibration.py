"""The statistics of a calibration: the loss of a set of moments against targets, and the fit table.

A target is either a **range** [low, high] of acceptable values or a **value** with a standard
deviation. The loss of a target is

- for a range: ``weight * (d / (high - low))**2``, where d is the distance from the moment to the
  nearest edge (zero inside the range): one range-width outside costs as much as one sd off a value;
- for a value: ``weight * ((moment - value) / sd)**2``, the squared z-score;

and the loss of an evaluation is the sum over targets, each moment averaged over the replications
first. A moment the run cannot compute (NaN: no renewals at all, say) costs ``weight * MISSING_PENALTY``,
as much as being ten range-widths or ten sd away, so the search learns to avoid such regions.

Targets are plain dicts here (keys ``moment``, ``window``, ``weight``, ``low``, ``high``, ``value``,
``sd``), so this module reads calibration folders without the simulation.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from analysis.stats import t_half_width

MISSING_PENALTY = 100.0


def label(target: Mapping[str, Any]) -> str:
    """The key a target's moment is stored under: ``name@first-last``."""
    first, last = target["window"]
    return f"{target['moment']}@{first}-{last}"


def target_loss(value: float, target: Mapping[str, Any]) -> float:
    """One target's weighted loss for a moment value (see the module docstring)."""
    weight = float(target.get("weight", 1.0))
    if value is None or not math.isfinite(value):
        return weight * MISSING_PENALTY
    if target.get("low") is not None:
        low, high = float(target["low"]), float(target["high"])
        distance = max(low - value, value - high, 0.0)
        return weight * (distance / (high - low)) ** 2
    return weight * ((value - float(target["value"])) / float(target["sd"])) ** 2


def loss(means: Mapping[str, float], targets: Sequence[Mapping[str, Any]]) -> float:
    """The loss of one evaluation: the sum of the target losses of its replication-mean moments."""
    return float(sum(target_loss(means.get(label(t), float("nan")), t) for t in targets))


def replication_means(replications: Sequence[Mapping[str, float]], targets: Sequence[Mapping[str, Any]]) -> dict[str, float]:
    """Each target moment averaged over the replications (NaN if any replication could not compute it)."""
    out = {}
    for t in targets:
        values = [r.get(label(t), float("nan")) for r in replications]
        out[label(t)] = float(np.mean(values)) if values and all(math.isfinite(v) for v in values) else float("nan")
    return out


def within(value: float, target: Mapping[str, Any]) -> bool:
    """Whether a moment meets its target: inside the range, or within one sd of the value."""
    if not math.isfinite(value):
        return False
    if target.get("low") is not None:
        return float(target["low"]) <= value <= float(target["high"])
    return abs(value - float(target["value"])) <= float(target["sd"])


def fit_table(replications: Sequence[Mapping[str, float]], targets: Sequence[Mapping[str, Any]]) -> pd.DataFrame:
    """Per target: its range or value, the achieved mean with a 95% t interval over the replications,
    whether it is within, and its share of the loss.

    Args:
        replications: the moments of each replication of one evaluation (``label -> value``).
        targets: the calibration's targets.
    """
    rows = []
    means = replication_means(replications, targets)
    for t in targets:
        values = np.array([r.get(label(t), float("nan")) for r in replications], float)
        mean = means[label(t)]
        half = float(t_half_width(np.array([np.std(values, ddof=1) if len(values) > 1 else np.nan]),
                                  np.array([len(values)]))[0])
        rows.append({"moment": t["moment"], "window_first": t["window"][0], "window_last": t["window"][1],
                     "low": t.get("low"), "high": t.get("high"), "value": t.get("value"), "sd": t.get("sd"),
                     "weight": t.get("weight", 1.0), "mean": mean, "ci_low": mean - half, "ci_high": mean + half,
                     "replications": len(values), "within": within(mean, t), "loss": target_loss(mean, t)})
    return pd.DataFrame(rows)
