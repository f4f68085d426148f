"""Scenario discovery on a finished sweep: which ranges of the swept parameters lead to an outcome of interest.

``outsim discover SWEEP_DIR --where "permanent_share < 0.18"`` calls a design point a *case* when the
condition holds for its outcome (the mean over its seeds), then runs PRIM, the patient rule induction
method of Friedman & Fisher (1999), as Bryant & Lempert (2010) use it for scenario discovery:

- Peeling: from the box that holds every point, cut off again and again the ``alpha`` share (0.05) of the
  box's points with the lowest, or the highest, values of one parameter. Of the 2 x D such slices, take the
  one that raises the box's *density* (the share of its points that are cases) the most per point removed,
  as long as the box keeps ``min_mass`` (0.05) of all points; stop when no slice raises the density. The boxes
  on the way are the peeling trajectory: from high *coverage* (the share of all cases inside the box) and low
  density to the reverse. A slice of tied values (a grid) is cut whole: the lowest or highest level.
- Box choice: of the boxes whose density reaches ``threshold`` (0.8), the one with the most coverage (and,
  among equals, the densest), or the box the user names; when none reaches the threshold, the densest.
- Pasting (on by default): the chosen box grows again, ``alpha`` of its points at a time, on a side of a
  restricted parameter where that adds cases and does not lower its density; this undoes what the greedy
  peeling cut off too eagerly.
- Quasi-p-values (Bryant & Lempert 2010): per restricted parameter, the one-sided binomial probability of at
  least the box's cases among its points, at the density of the box with that restriction dropped; a large
  value says the restriction may be noise.

Names in the PRIM kernels: ``x`` is the (points x parameters) matrix of values, ``y`` the boolean vector of
cases, ``j`` a parameter. Everything is read from the sweep folder (manifest.json, runs/, series/); figures
and the written files are in :mod:`analysis.discovery_figures`.
"""

from __future__ import annotations

import difflib
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.stats import last_window, window_rows
from analysis.sweep_results import load_results, load_series

ALPHA, MIN_MASS, THRESHOLD = 0.05, 0.05, 0.8
OPERATORS = {"<": np.less, "<=": np.less_equal, ">": np.greater, ">=": np.greater_equal}
_WHERE = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][-+]?[0-9]+)?)\s*")
MANIFEST_KEYS = {"runs", "outputs", "parameters", "base_config", "design"}  # what discovery reads from a sweep's manifest
_WINDOW = re.compile(r"\s*([0-9]+)\s*:\s*([0-9]+)\s*")


class DiscoveryError(ValueError):
    """The input cannot be analysed; ``problems`` holds one line per problem."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("; ".join(problems))
        self.problems = problems


@dataclass(frozen=True)
class Condition:
    """``metric op value``: which outcomes make a design point a case (e.g. permanent_share < 0.3)."""

    metric: str
    op: str
    value: float

    def holds(self, outcome: np.ndarray) -> np.ndarray:
        """Whether each outcome meets the condition (NaN never does)."""
        return OPERATORS[self.op](np.asarray(outcome, float), self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


def parse_where(text: str) -> Condition:
    """Read ``METRIC OP NUMBER`` (OP one of <, <=, >, >=) without evaluating anything; raises ValueError."""
    m = _WHERE.fullmatch(text)
    if m is None or not math.isfinite(float(m.group(3))):
        raise ValueError(f"--where: {text!r}: expected METRIC OP NUMBER with OP one of <, <=, >, >= "
                         "(e.g. \"permanent_share < 0.3\")")
    return Condition(m.group(1), m.group(2), float(m.group(3)))


def parse_window(text: str) -> tuple[int, int]:
    """Read ``A:B``, an inclusive window of weeks with 1 <= A <= B; raises ValueError."""
    m = _WINDOW.fullmatch(text)
    if m is None or not 1 <= int(m.group(1)) <= int(m.group(2)):
        raise ValueError(f"--metric-window: {text!r}: expected A:B with 1 <= A <= B (weeks)")
    return int(m.group(1)), int(m.group(2))


@dataclass(frozen=True)
class Box:
    """A box of parameter ranges (inclusive limits per parameter) and what it holds."""

    index: int  # its place in the peeling trajectory (0: every point)
    lower: np.ndarray
    upper: np.ndarray
    n_points: int
    n_cases: int
    coverage: float
    density: float
    mass: float
    pasted: bool = False

    def restricted(self, full_lower: np.ndarray, full_upper: np.ndarray) -> np.ndarray:
        """Which parameters the box restricts (a limit inside the full range)."""
        return (self.lower > full_lower) | (self.upper < full_upper)


def _inside(x: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    return np.all((x >= lower) & (x <= upper), axis=1)


def _box(index: int, lower: np.ndarray, upper: np.ndarray, x: np.ndarray, y: np.ndarray, pasted: bool = False) -> Box:
    inside = _inside(x, lower, upper)
    n_points, n_cases = int(inside.sum()), int(y[inside].sum())
    return Box(index, lower.copy(), upper.copy(), n_points, n_cases, n_cases / max(int(y.sum()), 1),
               n_cases / n_points if n_points else 0.0, n_points / len(y), pasted)


def _lowest_cut(values: np.ndarray, alpha: float) -> float | None:
    """The value below which the lowest ``alpha`` share of ``values`` lies (the lowest level when tied), or None."""
    v = np.sort(values)
    cut = v[min(max(1, int(alpha * len(v))), len(v) - 1)]
    if cut == v[0]:
        above = v[v > v[0]]
        if not above.size:
            return None
        cut = above[0]
    return float(cut)


def peel(x: np.ndarray, y: np.ndarray, lower: np.ndarray, upper: np.ndarray, alpha: float = ALPHA,
         min_mass: float = MIN_MASS) -> list[Box]:
    """The peeling trajectory, from the full box [lower, upper] to the last box that raised the density."""
    lower, upper = np.array(lower, float), np.array(upper, float)
    boxes = [_box(0, lower, upper, x, y)]
    inside = _inside(x, lower, upper)
    fewest = max(1, math.ceil(min_mass * len(y)))
    while (step := _best_peel(x, y, inside, alpha, fewest)) is not None:
        j, side, cut, inside = step
        (lower if side == "low" else upper)[j] = cut
        boxes.append(_box(len(boxes), lower, upper, x, y))
    return boxes


def _best_peel(x: np.ndarray, y: np.ndarray, inside: np.ndarray, alpha: float, fewest: int) -> tuple | None:
    """(parameter, side, cut, points kept) of the slice whose removal raises the density most per point, or None."""
    n_in, density = int(inside.sum()), y[inside].mean()
    best, best_gain = None, 0.0
    for j in range(x.shape[1]):
        for side, sign in (("low", 1.0), ("high", -1.0)):
            cut = _lowest_cut(sign * x[inside, j], alpha)
            if cut is None:
                continue
            keep = inside & (sign * x[:, j] >= cut)
            kept = int(keep.sum())
            if kept < fewest or kept == n_in:
                continue
            gain = (y[keep].mean() - density) / (n_in - kept)
            if gain > best_gain:
                best, best_gain = (j, side, sign * cut, keep), gain
    return best


def paste(box: Box, x: np.ndarray, y: np.ndarray, full_lower: np.ndarray, full_upper: np.ndarray,
          alpha: float = ALPHA) -> Box:
    """Widen a box while some side of a restricted parameter adds cases without lowering its density."""
    lower, upper = box.lower.copy(), box.upper.copy()
    grown = False
    while (step := _best_paste(x, y, lower, upper, full_lower, full_upper, alpha)) is not None:
        j, side, limit = step
        (lower if side == "low" else upper)[j] = limit
        grown = True
    return _box(box.index, lower, upper, x, y, pasted=True) if grown else box


def _best_paste(x: np.ndarray, y: np.ndarray, lower: np.ndarray, upper: np.ndarray, full_lower: np.ndarray,
                full_upper: np.ndarray, alpha: float) -> tuple | None:
    """(parameter, side, new limit) of the best pasting step (highest density, then most cases), or None."""
    within = (x >= lower) & (x <= upper)
    inside = within.all(axis=1)
    n_in, c_in = int(inside.sum()), int(y[inside].sum())
    take = max(1, int(alpha * n_in))
    best, best_key = None, (c_in / n_in, c_in)
    for j in np.flatnonzero((lower > full_lower) | (upper < full_upper)):
        others = np.delete(within, j, axis=1).all(axis=1)
        for side, sign, full in (("low", -1.0, full_lower[j]), ("high", 1.0, full_upper[j])):
            limit = upper[j] if side == "high" else lower[j]
            beyond = others & (sign * x[:, j] > sign * limit)
            if not beyond.any():
                continue
            nearest = np.sort(sign * x[beyond, j])  # nearest the box first
            new = sign * nearest[min(take, nearest.size) - 1]
            if sign * new >= nearest[-1]:
                new = full  # every point beyond joins: the limit goes
            added = beyond & (sign * x[:, j] <= sign * new)
            n_new, c_new = n_in + int(added.sum()), c_in + int(y[added].sum())
            if c_new > c_in and (c_new / n_new, c_new) > best_key:
                best, best_key = (j, side, new), (c_new / n_new, c_new)
    return best


def quasi_p(box: Box, x: np.ndarray, y: np.ndarray, full_lower: np.ndarray, full_upper: np.ndarray) -> np.ndarray:
    """Per parameter, the quasi-p-value of its restriction (NaN where the box does not restrict it)."""
    qp = np.full(x.shape[1], np.nan)
    for j in np.flatnonzero(box.restricted(full_lower, full_upper)):
        lower, upper = box.lower.copy(), box.upper.copy()
        lower[j], upper[j] = full_lower[j], full_upper[j]
        relaxed = _inside(x, lower, upper)
        qp[j] = float(stats.binom.sf(box.n_cases - 1, box.n_points, y[relaxed].mean()))
    return qp


def choose_box(trajectory: list[Box], threshold: float = THRESHOLD, index: int | None = None) -> tuple[Box, str]:
    """The box to report and why: ``index`` if given, else the box with the most coverage (then density) among
    those whose density reaches ``threshold``, else the densest."""
    if index is not None:
        return trajectory[index], "chosen with --box"
    dense = [b for b in trajectory if b.density >= threshold]
    if dense:
        return max(dense, key=lambda b: (b.coverage, b.density)), f"the most coverage at density >= {threshold:g}"
    densest = max(trajectory, key=lambda b: (b.density, b.coverage))
    return densest, f"no box reaches density {threshold:g}; this is the densest"


@dataclass(frozen=True)
class Cases:
    """PRIM's input from a sweep: one row per design point (its parameter values, its outcome)."""

    parameters: list[str]
    full_lower: np.ndarray
    full_upper: np.ndarray
    x: np.ndarray
    outcome: np.ndarray  # the metric per design point: the mean over its seeds
    seeds: int
    source: str  # what the outcome is, in words
    notes: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class Discovery:
    """A finished scenario discovery: the cases, the peeling trajectory and the chosen (pasted) box."""

    condition: Condition
    cases: Cases
    y: np.ndarray
    trajectory: list[Box]
    peeled: Box  # the box of the trajectory that was chosen
    box: Box  # the same after pasting
    why: str
    qp: np.ndarray
    settings: dict[str, Any]  # threshold, alpha, min_mass, pasting


def discover(folder: str | Path, where: str, window: str | None = None, threshold: float = THRESHOLD,
             box: int | None = None, alpha: float = ALPHA, min_mass: float = MIN_MASS,
             pasting: bool = True) -> Discovery:
    """Run PRIM over a finished sweep's design points; raises DiscoveryError listing every problem of the input.

    Args:
        folder: a sweep folder written by ``outsim sweep``, every run done.
        where: the condition that makes a point a case, e.g. ``"permanent_share < 0.18"``.
        window: ``"A:B"``: average the metric's kept series over weeks A to B; None: the sweep's final outcome.
        threshold: the density the chosen box must reach (unless ``box`` names one).
        box: the index of a box of the peeling trajectory to report instead.
        alpha, min_mass: the share of points one peel removes, and the least share of points a box keeps.
        pasting: widen the chosen box again where that adds cases without lowering its density.
    """
    folder, problems = Path(folder), _option_problems(threshold, box, alpha, min_mass)
    condition = _parsed(parse_where, where, problems)
    weeks = None if window is None else _parsed(parse_window, window, problems)
    if (manifest := _manifest(folder, problems)) is not None:
        problems += _sweep_problems(folder, manifest, condition, weeks, window)
    if problems:
        raise DiscoveryError(problems)
    cases = read_cases(folder, manifest, condition.metric, weeks)
    y = condition.holds(cases.outcome)
    if y.all() or not y.any():
        raise DiscoveryError([f"--where: {condition} holds at {int(y.sum())} of {len(y)} design points; "
                              "scenario discovery needs points of both kinds"])
    trajectory = peel(cases.x, y, cases.full_lower, cases.full_upper, alpha, min_mass)
    if box is not None and box >= len(trajectory):
        raise DiscoveryError([f"--box: --box = {box}: the peeling trajectory has boxes 0 to {len(trajectory) - 1}"])
    peeled, why = choose_box(trajectory, threshold, box)
    final = paste(peeled, cases.x, y, cases.full_lower, cases.full_upper, alpha) if pasting else peeled
    return Discovery(condition, cases, y, trajectory, peeled, final, why,
                     quasi_p(final, cases.x, y, cases.full_lower, cases.full_upper),
                     {"threshold": threshold, "alpha": alpha, "min_mass": min_mass, "pasting": pasting})


def _parsed(parse: Any, text: str, problems: list[str]) -> Any:
    """``parse(text)``, or None with its problem added."""
    try:
        return parse(text)
    except ValueError as exc:
        problems.append(str(exc))
        return None


def _option_problems(threshold: float, box: int | None, alpha: float, min_mass: float) -> list[str]:
    checks = [("--threshold", threshold, 0 < threshold <= 1, "must be above 0 and at most 1"),
              ("--alpha", alpha, 0 < alpha < 0.5, "must be above 0 and below 0.5"),
              ("--min-mass", min_mass, 0 < min_mass < 1, "must be above 0 and below 1"),
              ("--box", box, box is None or box >= 0, "must be 0 or more")]
    return [f"{flag}: {flag} = {value}: {rule}" for flag, value, ok, rule in checks if not ok]


def _manifest(folder: Path, problems: list[str]) -> dict[str, Any] | None:
    """The sweep folder's manifest, or None with the problem added."""
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        manifest = None
    if not folder.is_dir():
        problems.append(f"SWEEP_DIR: {folder}: " + ("not a folder" if folder.exists() else "no such folder"))
    elif not isinstance(manifest, dict) or manifest.get("kind") != "sweep" or not MANIFEST_KEYS <= manifest.keys():
        problems.append(f"SWEEP_DIR: {folder}: not a sweep folder (no readable manifest.json of kind 'sweep'; "
                        "outsim sweep FILE --out FOLDER writes one)")
    else:
        return manifest
    return None


def _sweep_problems(folder: Path, manifest: dict[str, Any], condition: Condition | None,
                    weeks: tuple[int, int] | None, window: str | None) -> list[str]:
    """An unfinished sweep, a metric it did not keep, a window it cannot answer."""
    problems = []
    status = pd.Series([r.get("status") for r in manifest.get("runs", [])], dtype=object).value_counts()
    total, done = int(status.sum()), int(status.get("done", 0))
    if not total or done < total:
        problems.append(f"SWEEP_DIR: {folder}: the sweep is not finished ({done} of {total} runs done, "
                        f"{int(status.get('failed', 0))} failed); finish it first: outsim sweep "
                        f"{manifest.get('sweep_file', 'FILE')} --out {folder}")
    outputs = manifest["outputs"]
    steps = int(manifest["base_config"]["run"]["steps"])
    final = last_window(steps, outputs["final_window"])
    series = list(outputs.get("series") or []) if outputs.get("every") else []
    if weeks is not None and weeks[1] > steps:
        return [*problems, f"--metric-window: {window!r}: ends after the last week run ({steps})"]
    if condition is None:
        return problems
    metric, kept = condition.metric, [*outputs["final"], *(s for s in series if s not in outputs["final"])]
    if metric not in kept:
        near = difflib.get_close_matches(metric, kept, n=1)
        return [*problems, f"--where: {metric!r} is not an outcome this sweep kept (it kept: {', '.join(kept)})"
                + (f"; did you mean '{near[0]}'?" if near else "")]
    uses_final = weeks is None or (weeks == final and metric in outputs["final"])
    if weeks is None and metric not in outputs["final"]:
        problems.append(f"--where: {metric!r} is kept only as a series (every {outputs['every']} weeks); "
                        "give --metric-window A:B")
    elif not uses_final and metric not in series:
        problems.append(f"--metric-window: {window!r}: this sweep kept no weekly series of {metric} (outputs.every = "
                        f"{outputs.get('every', 0)}); without --metric-window its final outcome, the mean of weeks "
                        f"{final[0]}-{final[1]}, is used")
    elif not uses_final and not any(weeks[0] <= w <= weeks[1] for w in range(outputs["every"], steps + 1, outputs["every"])):
        problems.append(f"--metric-window: {window!r}: holds none of the kept weeks (one every {outputs['every']} weeks)")
    return problems


def read_cases(folder: Path, manifest: dict[str, Any], metric: str, weeks: tuple[int, int] | None) -> Cases:
    """Each design point's parameter values and its ``metric``: the mean over seeds of each run's outcome.

    A run's outcome is its final value (the mean over the sweep's final window) or, with ``weeks``, the mean of
    its kept series over those weeks. Points, not runs, are the cases: seeds replicate one setting (the same
    seeds at every point), so runs as cases would give one setting both labels and count it once per seed.
    Non-numeric parameters and points whose outcome is NaN are left out.
    """
    outputs, steps = manifest["outputs"], int(manifest["base_config"]["run"]["steps"])
    final = last_window(steps, outputs["final_window"])
    results = load_results(folder)
    if (stored := results["point"].nunique() if metric in results else 0) < manifest["design"]["points"]:
        raise DiscoveryError([f"SWEEP_DIR: {folder}: runs/ holds results for {stored} of {manifest['design']['points']} "
                              "design points; run the sweep again to restore them"])
    if weeks is None or (weeks == final and metric in outputs["final"]):
        per_run, source = results[["point", metric]], f"mean of weeks {final[0]}-{final[1]} of {steps}"
    else:
        kept = window_rows(load_series(folder), weeks).groupby("key")[metric].mean()
        per_run = results[["point"]].assign(**{metric: results["key"].map(kept)})
        source = f"mean of weeks {weeks[0]}-{weeks[1]} of {steps} (one kept every {outputs['every']} weeks)"
    notes = []
    specs = {p["key"]: p for p in manifest["parameters"]}
    numeric = [k for k in specs if k in results and pd.api.types.is_numeric_dtype(results[k])
               and not pd.api.types.is_bool_dtype(results[k])]
    if dropped := [k for k in specs if k not in numeric]:
        notes.append(f"left out (not numeric): {', '.join(dropped)}")
    by_point = results.groupby("point", sort=True)
    values = by_point[numeric].first()
    outcome = per_run.groupby("point", sort=True)[metric].mean()
    if missing := int(outcome.isna().sum()):
        notes.append(f"{missing} design point(s) left out: {metric} is undefined (NaN) there in every seed")
    ok = outcome.notna().to_numpy()
    x = values.to_numpy(float)[ok]
    lows = [min(specs[k].get("low", min(specs[k].get("values", [np.inf]))), x[:, j].min()) for j, k in enumerate(numeric)]
    highs = [max(specs[k].get("high", max(specs[k].get("values", [-np.inf]))), x[:, j].max()) for j, k in enumerate(numeric)]
    seeds = int(by_point.size().max())
    return Cases(numeric, np.array(lows, float), np.array(highs, float), x, outcome.to_numpy(float)[ok], seeds,
                 f"{metric}: {source}, mean over {seeds} seed(s) per design point", notes)
