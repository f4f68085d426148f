"""Design points of a sweep and the runs they make: one resolved config per point, times the seeds.

Designs: a full factorial ``grid``; a Latin hypercube (``lhs``, scipy.stats.qmc seeded from the seed
base); Saltelli's extension of the Sobol sequence for variance-based indices (``sobol``, SALib, first
and total order only: N (D + 2) points; Saltelli 2002); and Morris elementary-effect trajectories
(``morris``, SALib, 4 levels by default: N (D + 1) points; Morris 1991, Campolongo et al. 2007).
Integer parameters are rounded after sampling; the raw sample is kept for the sensitivity analysis.

Every design point's config is built with :func:`simulation.scenario.load_scenario` on top of the
base scenario (plus ``[set]`` and ``steps``), so values are checked by the model's own schema, and all
problems of all points are reported together (:func:`load_plan`: with those of the sweep file itself). Seeds are the same for every point (common random
numbers), derived from the seed base with :func:`simulation.executor.derive_seeds`.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulation.config import Config
from simulation.config import UnknownParameter, get_value
from simulation.executor import derive_seeds
from simulation.runfolder import run_key
from simulation.scenario import Problem, ScenarioError, load_scenario
from simulation.studyfiles import relabel, unknown_parameter
from simulation.sweeps.spec import Sweep, read_sweep


@dataclass(frozen=True)
class Run:
    """One (design point, seed) run: its key, resolved config and the parameter values it uses."""

    key: str
    point: int
    seed: int
    config: dict[str, Any]
    params: dict[str, Any]


@dataclass(frozen=True)
class Plan:
    """Everything a sweep will do: the base config, the raw sample, the seeds and the runs (point-major)."""

    sweep: Sweep
    base_config: Config
    sample: np.ndarray
    points: list[dict[str, Any]]
    seeds: list[int]
    runs: list[Run]


def is_integer(cfg: Config, key: str) -> bool:
    """Whether a parameter is an integer in the schema (judged by its base value)."""
    try:
        value = get_value(cfg, key)
    except UnknownParameter:
        return False
    return isinstance(value, int) and not isinstance(value, bool)


def sample_design(sweep: Sweep, integer: list[bool]) -> tuple[np.ndarray, list[dict[str, Any]]]:
    """The raw sample (points x parameters; object array for grids) and each point's values."""
    params, d = sweep.parameters, len(sweep.parameters)
    if sweep.design == "grid":
        rows = list(itertools.product(*(p.grid_values() for p in params)))
        raw = np.array(rows, dtype=object).reshape(len(rows), d)
    else:
        bounds = [[p.low, p.high] for p in params]
        problem = {"num_vars": d, "names": [p.key for p in params], "bounds": bounds}
        if sweep.design == "lhs":
            from scipy.stats import qmc

            unit = qmc.LatinHypercube(d=d, rng=np.random.default_rng(sweep.seed_base)).random(sweep.samples)
            raw = qmc.scale(unit, [b[0] for b in bounds], [b[1] for b in bounds])
        elif sweep.design == "sobol":
            from SALib.sample import sobol

            raw = sobol.sample(problem, sweep.samples, calc_second_order=False, seed=sweep.seed_base)
        else:
            from SALib.sample import morris

            raw = morris.sample(problem, sweep.samples, num_levels=sweep.levels, seed=sweep.seed_base)
    points = []
    for row in raw:
        values = {}
        for p, v, as_int in zip(params, row, integer):
            if isinstance(v, (float, np.floating)) and as_int and p.values is None:  # listed values are taken as given
                v = round(float(v))
            values[p.key] = v.item() if isinstance(v, np.generic) else v
        points.append(values)
    return raw, points


def load_plan(path: str | Path) -> Plan:
    """Read a sweep file and plan its runs; raises ScenarioError with every problem of the file and its points."""
    sweep, problems = read_sweep(path)
    if sweep is None:
        raise ScenarioError(problems)
    return plan_runs(sweep, problems)


def plan_runs(sweep: Sweep, earlier: Sequence[Problem] = ()) -> Plan:
    """Resolve and validate every design point; raises ScenarioError with every problem found.

    Args:
        sweep: from :func:`simulation.sweeps.spec.read_sweep` (or ``load_sweep``).
        earlier: the problems read_sweep found in the file, reported with these; checks that need a
            part of the file with problems (``sweep.unread``) are skipped.
    """
    src = sweep.source
    fixed = dict(sweep.fixed)
    if sweep.steps is not None:
        fixed["run.steps"] = sweep.steps
    problems = list(earlier)
    try:
        base = load_scenario(sweep.base, fixed)
    except ScenarioError as exc:
        problems += [relabel(p, src, sweep.fixed, "set.", sweep.steps is not None) for p in exc.problems]
        try:
            base = load_scenario(sweep.base)  # check the parameters against the base alone
        except ScenarioError:
            raise ScenarioError(problems) from None
    unknown = [q for p in sweep.parameters if (q := unknown_parameter(base, p.key, src)) is not None]
    problems += unknown
    unknown_keys = {q.key.removeprefix("parameters.") for q in unknown}
    steps = base.run.steps
    steps_known = "run.steps" not in {p.key for p in sweep.parameters} and not sweep.unread & {"outputs", "steps", "set"}
    for name, value in (("final_window", sweep.final_window), ("every", sweep.every)):
        if value > steps and steps_known:
            problems.append(Problem(src, f"outputs.{name}", value, f"longer than the run (run.steps = {steps})"))
    if "design" in sweep.unread or not sweep.parameters:  # no design to draw (or one too large to draw)
        raise ScenarioError(problems)
    raw, points = sample_design(sweep, [is_integer(base, p.key) for p in sweep.parameters])
    seeds = derive_seeds(sweep.seed_base, sweep.seed_count)
    found: dict[tuple[str, str, str], list[Any]] = {}
    runs: list[Run] = []
    for i, values in enumerate(points):
        try:
            cfg = load_scenario(None, {k: v for k, v in values.items() if k not in unknown_keys}, base=base)
        except ScenarioError as exc:
            for p in exc.problems:
                q = relabel(p, src, values, "parameters.")
                found.setdefault((q.source, q.key, q.rule), []).append(q.value)
            continue
        if problems:
            continue
        data = cfg.model_dump(mode="json")
        params = {p.key: get_value(cfg, p.key) for p in sweep.parameters}
        runs += [Run(run_key(data, s), i, s, data, params) for s in seeds]
    problems += [Problem(s, k, vals[0], rule + (f" ({len(vals)} design points)" if len(vals) > 1 else ""))
                 for (s, k, rule), vals in found.items()]
    if problems:
        raise ScenarioError(problems)
    return Plan(sweep, base, raw, points, seeds, runs)
