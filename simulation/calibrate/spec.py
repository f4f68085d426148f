"""Calibration files: which parameters to fit, within which bounds, to which targets, with which search.

A calibration file is TOML::

    name = "industry"
    base = "../baseline.toml"        # relative to this file
    steps = 520                      # optional: overrides run.steps
    replications = 4                 # seeds per evaluation, the same for every evaluation
    budget = 200                     # evaluations of the search
    sampler = "tpe"                  # or "cmaes", "random"
    [set]                            # fixed overrides, as in sweep files
    [parameters]                     # free parameters and their bounds
    "contracts.learning_multiplier" = [0.5, 2.0]
    "firms.sourcing_choice_intensity" = { low = 5.0, high = 80.0, log = true }
    [[targets]]
    moment = "renewal_rate_kpo"      # see outsim calibrate --list-moments
    range = [0.80, 0.90]             # or: value = 0.85 and sd = 0.03
    weight = 1.0
    window = [416, 520]              # weeks the moment is measured over (default: the last year)

Every problem is reported at once, like scenario problems: the file, the dotted key, the value and
the rule, with "did you mean" for misspelled keys and moment names. Checks that need the model's
schema (do the keys exist, does each bound give a valid scenario) are in :func:`plan`.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, model_validator

from analysis import moments
from simulation.config import Config, get_value
from simulation.executor import derive_seeds
from simulation.scenario import MISSING, Problem, ScenarioError, load_scenario, shown_path
from simulation.studyfiles import base_scenario, flatten, read_toml, relabel, schema_problems, unknown_parameter

SAMPLERS = ("tpe", "cmaes", "random")
YEAR = 52


def moment_names() -> list[str]:
    """Every moment a target can name: the named moments and every weekly metric."""
    return sorted(moments.MOMENTS)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class TargetSpec(_Strict):
    """One observed figure the model should reproduce."""

    moment: StrictStr
    range: tuple[float, float] | None = None
    value: float | None = None
    sd: float | None = Field(None, gt=0)
    weight: float = Field(1.0, ge=0)
    window: tuple[StrictInt, StrictInt] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> TargetSpec:
        if self.range is None and self.value is None:
            raise ValueError("give range = [low, high], or value and sd")
        if self.range is not None and (self.value is not None or self.sd is not None):
            raise ValueError("give either range or value and sd, not both")
        if self.value is not None and self.sd is None:
            raise ValueError("a value needs its sd (the tolerance the loss is scaled by)")
        if self.range is not None and not self.range[0] < self.range[1]:
            raise ValueError("range: low must be below high")
        if self.window is not None and not 1 <= self.window[0] <= self.window[1]:
            raise ValueError("window: expected [first, last] weeks with 1 <= first <= last")
        return self


class CalibrationFile(_Strict):
    name: StrictStr | None = None
    description: StrictStr = ""
    base: StrictStr
    steps: StrictInt | None = Field(None, ge=1, le=100_000)
    replications: StrictInt = Field(4, ge=1, le=100)
    budget: StrictInt = Field(200, ge=1, le=100_000)
    sampler: Literal["tpe", "cmaes", "random"] = "tpe"
    seed: StrictInt = Field(1, ge=0)
    parallel: StrictInt = Field(4, ge=1, le=256)
    profile_points: StrictInt = Field(7, ge=0, le=101)
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set")
    parameters: dict[str, Any] = Field(min_length=1)
    targets: list[TargetSpec] = Field(min_length=1)


@dataclass(frozen=True)
class Parameter:
    """A free parameter: its dotted key and bounds; integers are searched as integers."""

    key: str
    low: float
    high: float
    log: bool = False
    integer: bool = False


@dataclass(frozen=True)
class Target:
    """A target with its window resolved."""

    moment: str
    window: tuple[int, int]
    weight: float
    low: float | None = None  # range targets
    high: float | None = None
    value: float | None = None  # value targets
    sd: float | None = None

    @property
    def label(self) -> str:
        """The target's moment and window, e.g. ``renewal_rate_kpo@469-520``."""
        return f"{self.moment}@{self.window[0]}-{self.window[1]}"

    def as_dict(self) -> dict[str, Any]:
        return {"moment": self.moment, "window": list(self.window), "weight": self.weight, "low": self.low,
                "high": self.high, "value": self.value, "sd": self.sd}


@dataclass(frozen=True)
class Calibration:
    """A validated calibration file, with its base config resolved and its run seeds derived."""

    path: Path
    name: str
    description: str
    base: Path
    base_config: Config  # the base scenario with [set] and steps applied
    fixed: dict[str, Any]
    parameters: tuple[Parameter, ...]
    targets: tuple[Target, ...]
    replications: int
    budget: int
    sampler: str
    seed: int
    parallel: int
    profile_points: int
    seeds: tuple[int, ...]

    @property
    def source(self) -> str:
        return shown_path(self.path)

    @property
    def steps(self) -> int:
        return self.base_config.run.steps

    def config_for(self, values: dict[str, float]) -> Config:
        """The base config with the free parameters set to ``values``."""
        return load_scenario(None, values, base=self.base_config)

    def signature(self) -> dict[str, Any]:
        """What the stored evaluations and the search depend on (everything but the budget)."""
        return {"base_config": self.base_config.model_dump(mode="json"), "sampler": self.sampler, "seed": self.seed,
                "parallel": self.parallel, "seeds": list(self.seeds),
                "parameters": [vars(p) for p in self.parameters], "targets": [t.as_dict() for t in self.targets]}


def load_calibration(path: str | Path, budget: int | None = None) -> Calibration:
    """Read and check a calibration file (``budget`` overrides its budget); raises ScenarioError with every problem."""
    p = Path(path)
    data, src = read_toml(p, "calibration")
    try:
        spec = CalibrationFile.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(schema_problems(exc, src, CalibrationFile, {"sampler": f"must be one of {', '.join(SAMPLERS)}"})) \
            from None
    problems: list[Problem] = []
    base_path = base_scenario(p, spec.base, src, problems)
    raw = flatten(spec.parameters, is_leaf=lambda v: not isinstance(v, dict) or "low" in v or "high" in v)
    fixed = flatten(spec.fixed)
    problems += [Problem(src, f"set.{key}", fixed[key], "also listed under [parameters]; keep it in one place")
                 for key in sorted(set(raw) & set(fixed))]
    if budget is not None and budget < 1:
        problems.append(Problem("--budget", "budget", budget, "must be at least 1"))
    problems += [q for i, t in enumerate(spec.targets) if (q := _unknown_moment(i, t.moment, src)) is not None]
    base = _base_config(base_path, fixed, spec.steps, src, problems) if base_path.is_file() else None
    if base is None:
        raise ScenarioError(problems)  # the parameters and windows need the base scenario to be checked
    parameters = [q for key, value in raw.items() if (q := _parameter(key, value, base, src, problems))]
    targets = [t for i, spec_t in enumerate(spec.targets) if (t := _target(i, spec_t, base.run.steps, src, problems))]
    if problems:
        raise ScenarioError(problems)
    return Calibration(path=p.resolve(), name=spec.name or p.stem, description=spec.description, base=base_path,
                       base_config=base, fixed=fixed, parameters=tuple(parameters), targets=tuple(targets),
                       replications=spec.replications, budget=budget or spec.budget, sampler=spec.sampler,
                       seed=spec.seed, parallel=spec.parallel, profile_points=spec.profile_points,
                       seeds=tuple(derive_seeds(spec.seed, spec.replications)))


def _base_config(base: Path, fixed: dict[str, Any], steps: int | None, src: str, problems: list[Problem]) -> Config | None:
    """The base scenario with [set] and steps applied (None, with the problems added, if it does not load)."""
    overrides = {**fixed, **({"run.steps": steps} if steps is not None else {})}
    try:
        return load_scenario(base, overrides)
    except ScenarioError as exc:
        problems += [relabel(q, src, fixed, "set.", steps is not None) for q in exc.problems]
        return None


def _parameter(key: str, value: Any, base: Config, src: str, problems: list[Problem]) -> Parameter | None:
    """A free parameter from ``[low, high]`` or ``{ low, high, log }``, checked against the schema at both bounds."""
    where = f"parameters.{key}"
    if (unknown := unknown_parameter(base, key, src)) is not None:
        problems.append(unknown)
        return None
    current = get_value(base, key)
    if isinstance(current, bool) or not isinstance(current, (int, float)):
        problems.append(Problem(src, where, value, "only numeric parameters can be calibrated"))
        return None
    low, high, log = _bounds(value, where, src, problems)
    if low is None:
        return None
    if log and low <= 0:
        problems.append(Problem(src, f"{where}.low", low, "a log-scaled range must start above 0"))
        return None
    integer = isinstance(current, int)
    for bound in (low, high):
        try:
            load_scenario(None, {key: round(bound) if integer else bound}, base=base)
        except ScenarioError as exc:
            problems += [Problem(src, where, bound, q.rule) for q in exc.problems]
            return None
    return Parameter(key, float(low), float(high), log, integer)


def _bounds(value: Any, where: str, src: str, problems: list[Problem]) -> tuple[float | None, float | None, bool]:
    if isinstance(value, list) and len(value) == 2:
        low, high, log = value[0], value[1], False
    elif isinstance(value, dict):
        for k in value:
            if k not in ("low", "high", "log"):
                near = difflib.get_close_matches(str(k), ["low", "high", "log"], n=1)
                problems.append(Problem(src, f"{where}.{k}", value[k], "unknown key" + (f"; did you mean '{near[0]}'?" if near else "")))
                return None, None, False
        low, high, log = value.get("low", MISSING), value.get("high", MISSING), value.get("log", False)
        if not isinstance(log, bool):
            problems.append(Problem(src, f"{where}.log", log, "must be true or false"))
            return None, None, False
    else:
        problems.append(Problem(src, where, value, "expected bounds [low, high] or a table { low, high, log }"))
        return None, None, False
    for name, bound in (("low", low), ("high", high)):
        if bound is MISSING or isinstance(bound, bool) or not isinstance(bound, (int, float)) or not math.isfinite(bound):
            problems.append(Problem(src, f"{where}.{name}" if isinstance(value, dict) else where,
                                    MISSING if bound is MISSING else bound, f"{name}: must be a finite number"))
            return None, None, False
    if not low < high:
        problems.append(Problem(src, where, value, "low must be below high"))
        return None, None, False
    return float(low), float(high), log


def _unknown_moment(i: int, name: str, src: str) -> Problem | None:
    if name in moment_names():
        return None
    near = difflib.get_close_matches(name, moment_names(), n=1)
    return Problem(src, f"targets.{i}.moment", name, "unknown moment (see outsim calibrate --list-moments)"
                   + (f"; did you mean '{near[0]}'?" if near else ""))


def _target(i: int, spec: TargetSpec, steps: int, src: str, problems: list[Problem]) -> Target | None:
    where = f"targets.{i}"
    if spec.moment not in moment_names():
        return None  # reported by _unknown_moment
    window = spec.window or (max(1, steps - YEAR + 1), steps)
    if window[1] > steps:
        problems.append(Problem(src, f"{where}.window", list(window), f"ends after the run (steps = {steps})"))
        return None
    low, high = spec.range if spec.range is not None else (None, None)
    return Target(spec.moment, (int(window[0]), int(window[1])), spec.weight, low, high, spec.value, spec.sd)
