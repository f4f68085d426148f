"""Sweep files: which parameters to vary, how to sample them, how many seeds, and what to keep.

A sweep file is TOML. It names a base scenario and lists parameters as dotted config keys::

    base = "../validation/wkh.toml"      # relative to the sweep file
    steps = 400                          # optional: overrides run.steps
    [set]                                # optional fixed overrides, like --set
    providers.bpo_count = 3
    [parameters]
    "choice.beta" = [0.1, 0.5, 1.0]      # a list of values, or a range table:
    "firms.demand_volatility" = { low = 0.0, high = 0.6, num = 5 }   # num: grid designs only
    [design]
    kind = "grid"                        # grid, lhs, sobol or morris; samples = N for the last three
    [seeds]
    count = 4                            # seeds per design point, derived from base
    base = 1
    [outputs]
    final = ["loyalty_mean"]             # means over the last final_window weeks (default 52)
    every = 10                           # keep these metrics every 10 weeks too (0: no series)

Problems are reported like scenario problems (:class:`simulation.scenario.Problem`): the file, the
dotted key, the value and the rule, with "did you mean" for misspelled keys, all at once. A section
the schema rejects is left out and the other sections are still checked. Checks that need the model's
schema (do the keys exist, do the values validate in every design point) are in
:func:`simulation.sweeps.design.plan_runs`; :func:`simulation.sweeps.design.load_plan` reports the
problems of both together.

A sweep's size is counted from the file alone (list lengths, ``num``, ``samples``, seeds), before any
design point is built: more than ``MAX_RUNS`` runs (design points x seeds) are refused.
"""

from __future__ import annotations

import difflib
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError

from simulation.model.metrics import REPORTERS
from simulation.scenario import MISSING, Problem, ScenarioError, shown_path
from simulation.studyfiles import base_scenario, flatten, read_toml, schema_problems

DESIGNS = ("grid", "lhs", "sobol", "morris")
METRICS = sorted(k for k in REPORTERS if k != "step")
MAX_RUNS = 200_000  # design points x seeds
RANGE_KEYS = ("low", "high", "num")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DesignSpec(_Strict):
    kind: Literal["grid", "lhs", "sobol", "morris"] = "grid"
    samples: StrictInt | None = Field(None, ge=1)
    levels: StrictInt | None = Field(None, ge=2, le=20)


class SeedSpec(_Strict):
    count: StrictInt = Field(1, ge=1, le=100_000)
    base: StrictInt = Field(1, ge=0)


class OutputSpec(_Strict):
    final: list[StrictStr] = Field(min_length=1)
    final_window: StrictInt = Field(52, ge=1)
    every: StrictInt = Field(0, ge=0)
    series: list[StrictStr] | None = None


class SweepFile(_Strict):
    name: StrictStr | None = None
    description: StrictStr = ""
    base: StrictStr
    steps: StrictInt | None = Field(None, ge=1, le=100_000)
    parameters: dict[str, Any] = Field(min_length=1)
    design: DesignSpec = Field(default_factory=DesignSpec)
    seeds: SeedSpec = Field(default_factory=SeedSpec)
    outputs: OutputSpec
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set")


class _Readable(SweepFile):
    """The sections of a sweep file that passed the schema (the others are left out, their problems reported)."""

    base: StrictStr | None = None
    parameters: dict[str, Any] = Field(default_factory=dict)
    outputs: OutputSpec | None = None


@dataclass(frozen=True)
class Parameter:
    """One varied parameter: a list of values, or a range [low, high] (with num points for a grid)."""

    key: str
    values: tuple[Any, ...] | None = None
    low: float | None = None
    high: float | None = None
    num: int | None = None

    def grid_values(self) -> list[Any]:
        """The values a grid takes: the list, or num evenly spaced points from low to high."""
        if self.values is not None:
            return list(self.values)
        step = (self.high - self.low) / (self.num - 1)
        return [float(f"{self.low + i * step:.10g}") for i in range(self.num)]


@dataclass(frozen=True)
class Sweep:
    """A validated sweep file (its schema checks done; see design.plan_runs for the rest)."""

    path: Path
    name: str
    description: str
    base: Path
    steps: int | None
    fixed: dict[str, Any]
    parameters: tuple[Parameter, ...]
    design: str
    samples: int | None
    levels: int
    seed_count: int
    seed_base: int
    final: tuple[str, ...]
    final_window: int
    every: int
    series: tuple[str, ...] = field(default=())
    unread: frozenset[str] = frozenset()  # parts with problems ("design", "outputs", ...): checks that need them wait

    @property
    def source(self) -> str:
        return shown_path(self.path)

    def outputs(self) -> dict[str, Any]:
        """What each run keeps (also sent to the workers)."""
        return {"final": list(self.final), "final_window": self.final_window, "every": self.every,
                "series": list(self.series)}


def _is_parameter(value: Any) -> bool:
    return not isinstance(value, dict) or any(k in value for k in RANGE_KEYS)


def load_sweep(path: str | Path) -> Sweep:
    """Read and check a sweep file; raises ScenarioError with every problem found."""
    sweep, problems = read_sweep(path)
    if problems:
        raise ScenarioError(problems)
    return sweep


def read_sweep(path: str | Path) -> tuple[Sweep | None, list[Problem]]:
    """The sweep as far as it can be read, and every problem of the file (None when its base is unknown).

    Sections with problems are named in ``Sweep.unread``, so later checks can skip what depends on them.
    Raises ScenarioError only when the file is missing or not TOML.
    """
    p = Path(path)
    data, src = read_toml(p, "sweep")
    problems: list[Problem] = []
    try:
        spec, unread = SweepFile.model_validate(data), set()
    except ValidationError as exc:
        problems += schema_problems(exc, src, SweepFile, {"kind": f"must be one of {', '.join(DESIGNS)}"})
        unread = {str(err["loc"][0]) for err in exc.errors()}
        spec = _Readable.model_validate({k: v for k, v in data.items() if k not in unread})
    kind = None if "design" in unread else spec.design.kind
    params = flatten(spec.parameters, is_leaf=_is_parameter)
    parameters = [x for key, value in params.items() if (x := _parameter(key, value, kind, src, problems))]
    if len(parameters) < len(params):
        unread.add("parameters")
    fixed = flatten(spec.fixed)
    for key in sorted(set(params) & set(fixed)):
        problems.append(Problem(src, f"set.{key}", fixed[key], "also listed under [parameters]; keep it in one place"))
    if kind is not None:
        design = _design_problems(spec, len(parameters), src)
        if not design and parameters:
            design = _size_problems(spec, parameters, src)
        problems += design
        if design:
            unread.add("design")
    out = spec.outputs or OutputSpec.model_construct(final=[])  # its problems are reported; defaults stand in
    series = out.series if out.series is not None else (out.final if out.every else [])
    for where, names in (("outputs.final", out.final), ("outputs.series", out.series or [])):  # series given
        for i, name in enumerate(names):
            if name not in REPORTERS or name == "step":
                near = difflib.get_close_matches(name, METRICS, n=1)
                problems.append(Problem(src, f"{where}.{i}", name, "not a metric (see simulation/model/metrics.py)"
                                        + (f"; did you mean '{near[0]}'?" if near else "")))
        if len(set(names)) < len(names):
            problems.append(Problem(src, where, list(names), "lists a metric twice"))
    if spec.base is None:
        return None, problems
    base = base_scenario(p, spec.base, src, problems)
    if not base.is_file():
        return None, problems
    sweep = Sweep(path=p.resolve(), name=spec.name or p.stem, description=spec.description, base=base, steps=spec.steps,
                  fixed=fixed, parameters=tuple(parameters), design=kind or "grid", samples=spec.design.samples,
                  levels=spec.design.levels or 4, seed_count=spec.seeds.count, seed_base=spec.seeds.base,
                  final=tuple(out.final), final_window=out.final_window, every=out.every, series=tuple(series),
                  unread=frozenset(unread))
    return sweep, problems


def _parameter(key: str, value: Any, design: str | None, src: str, problems: list[Problem]) -> Parameter | None:
    """One parameter, or None with its problems added; ``design`` None (unknown) skips the rules that depend on it."""
    where = f"parameters.{key}"
    sampled, grid = design not in ("grid", None), design == "grid"
    if isinstance(value, list):
        if sampled:
            problems.append(Problem(src, where, value, f"{design} designs sample ranges: give {{ low = ..., high = ... }}"))
        elif not value:
            problems.append(Problem(src, where, value, "needs at least one value"))
        elif any(isinstance(v, (dict, list)) for v in value):
            problems.append(Problem(src, where, value, "values must be numbers, strings or booleans"))
        elif any(isinstance(v, float) and not math.isfinite(v) for v in value):
            problems.append(Problem(src, where, value, "must be finite numbers (NaN and infinity are not allowed)"))
        elif len({repr(v) for v in value}) < len(value):
            problems.append(Problem(src, where, value, "lists a value twice"))
        else:
            return Parameter(key, values=tuple(value))
        return None
    if not isinstance(value, dict):
        problems.append(Problem(src, where, value, "expected a list of values or a range table { low, high }"))
        return None
    bad = len(problems)
    for k in value:
        if k not in RANGE_KEYS:
            near = difflib.get_close_matches(str(k), RANGE_KEYS, n=1)
            problems.append(Problem(src, f"{where}.{k}", value[k], "unknown key" + (f"; did you mean '{near[0]}'?" if near else "")))
    for k in ("low", "high"):
        v = value.get(k, MISSING)
        if v is MISSING:
            problems.append(Problem(src, f"{where}.{k}", MISSING, "required in a range table"))
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            problems.append(Problem(src, f"{where}.{k}", v, "must be a finite number"))
    num = value.get("num", MISSING)
    if sampled and num is not MISSING:
        problems.append(Problem(src, f"{where}.num", num, f"num is for grid designs; {design} draws design.samples points"))
    elif grid and num is MISSING:
        problems.append(Problem(src, f"{where}.num", MISSING, "a grid range needs num (how many evenly spaced values)"))
    elif not sampled and num is not MISSING and (isinstance(num, bool) or not isinstance(num, int) or num < 2):
        problems.append(Problem(src, f"{where}.num", num, "must be an integer of at least 2"))
    if len(problems) > bad:
        return None
    if not value["low"] < value["high"]:
        problems.append(Problem(src, where, value, "low must be below high"))
        return None
    return Parameter(key, low=float(value["low"]), high=float(value["high"]), num=value.get("num"))


def _design_problems(spec: SweepFile, dims: int, src: str) -> list[Problem]:
    d, out = spec.design, []
    if d.kind == "grid" and d.samples is not None:
        out.append(Problem(src, "design.samples", d.samples, "a grid takes every combination; samples is for lhs, sobol and morris"))
    if d.kind != "grid" and d.samples is None:
        out.append(Problem(src, "design.samples", MISSING, f"required for a {d.kind} design"))
    if d.kind == "sobol" and d.samples is not None and d.samples & (d.samples - 1):
        out.append(Problem(src, "design.samples", d.samples, "must be a power of 2 for Sobol sampling (e.g. 64, 128)"))
    if d.kind != "morris" and d.levels is not None:
        out.append(Problem(src, "design.levels", d.levels, "levels is for morris designs only"))
    return out


def _size_problems(spec: SweepFile, parameters: list[Parameter], src: str) -> list[Problem]:
    """A problem when design points x seeds pass MAX_RUNS, counted from the sizes alone (nothing is built).

    The line names the largest factor: a grid parameter (its list or ``num``), ``design.samples`` or ``seeds.count``.
    """
    d, n = len(parameters), spec.design.samples
    if spec.design.kind == "grid":
        factors = [(f"parameters.{p.key}", list(p.values), len(p.values)) if p.values is not None
                   else (f"parameters.{p.key}.num", p.num, p.num) for p in parameters]
        points = math.prod(size for _, _, size in factors)
    else:
        factors = [("design.samples", n, n)]
        points = n * {"lhs": 1, "sobol": d + 2, "morris": d + 1}[spec.design.kind]
    seeds = spec.seeds.count
    runs = points * seeds
    if runs <= MAX_RUNS:
        return []
    key, value, _ = max([*factors, ("seeds.count", seeds, seeds)], key=lambda factor: factor[2])
    return [Problem(src, key, value, f"makes {points:,} design points x {seeds:,} seed(s) = {runs:,} runs; "
                                     f"the limit is {MAX_RUNS:,}")]
