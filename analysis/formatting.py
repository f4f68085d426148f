"""Numbers of one or several runs as text: a value, or the mean with its range across runs.

The report's sentences (:mod:`analysis.findings`) and its calibration table
(:mod:`analysis.calibration_table`) format their numbers here, so both show a number the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


class Formatter:
    """Formats one named number over one or several runs: the value, or the mean with the range."""

    def __init__(self, numbers: Sequence[dict[str, float]]):
        self.numbers = list(numbers)

    def values(self, key: str) -> np.ndarray:
        """The number across runs, NaN where a run lacks it."""
        return np.array([float(n.get(key, float("nan"))) for n in self.numbers])

    def ok(self, *keys: str) -> bool:
        """True when every key has a finite value in at least one run."""
        return all(np.isfinite(self.values(k)).any() for k in keys)

    def mean(self, key: str) -> float:
        """Mean across runs (NaN-skipping)."""
        v = self.values(key)
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    def __call__(self, key: str, kind: str = "pct") -> str:
        v = self.values(key)
        v = v[np.isfinite(v)]
        if not len(v):
            return "n/a"
        one = format_number(float(v.mean()), kind)
        if len(self.numbers) == 1:
            return one
        have, total = len(v), len(self.numbers)
        if have == 1:
            return f"{one} (only 1 of {total} runs has it)"
        runs = f"all {total} runs" if have == total else f"the {have} of {total} runs that have it"
        lo, hi = format_number(float(v.min()), kind, bare=True), format_number(float(v.max()), kind, bare=True)
        if lo == hi:
            return f"{one} (same in {runs})"
        dash = " to " if v.min() < 0 else "–"
        return f"{one} ({lo}{dash}{hi} over {runs})"


def format_number(x: float, kind: str, bare: bool = False) -> str:
    """One number as text; ``bare`` drops the unit words (for ranges: "11–15")."""
    if not math.isfinite(x):
        return "n/a"
    if kind == "pct":
        return f"{x:.0%}" if abs(x) >= 0.1 or x == 0 else f"{x:.1%}"
    if kind in ("week", "weeks"):
        if bare:
            return f"{x:.0f}"
        return f"week {x:.0f}" if kind == "week" else f"{x:.0f} week{'s' if round(x) != 1 else ''}"
    if kind == "weeks_years":
        return f"{x:.0f}" if bare else f"{x:.0f} weeks ({x / 52:.1f} years)"
    if kind == "money":  # millions, with the decimals a small market needs (not "0 M cu" for 94,000 cu)
        m = x / 1e6
        decimals = 0 if abs(m) >= 10 or m == 0 else 1 if abs(m) >= 1 else 2 if abs(m) >= 0.01 else 3
        text = f"{m:,.{decimals}f}"
        return text if bare else f"{text} M cu"
    if kind == "price":
        return f"{x:.1f}" if bare else f"{x:.1f} cu/h"
    if kind == "ratio":
        return f"{x:.2f}"
    if kind == "years":
        return f"{x:.1f}" if bare else f"{x:.1f} years"
    return f"{x:,.0f}"
