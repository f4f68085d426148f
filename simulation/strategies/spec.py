"""Strategy files: which sourcing strategies to judge, for which firms, across which futures.

A strategy file is TOML::

    name = "kpo_sourcing"                      # optional; default: the file name
    description = "..."
    futures = ["../baseline.toml", "../recession.toml"]     # scenario files, relative to this file
    strategies = ["adaptive", "permanent offshore", "on-call", "in-house", "mypackage.rules:MyPolicy"]
    steps = 312                                # optional: run.steps of every future
    scale = 0.3                                # optional: run.scale of every future
    window = [1, 312]                          # optional: the weeks measured (default: the whole run)
    [segment]                                  # the focal firm-services (default: every firm, every service)
    size = ["medium"]                          # size classes: terciles of firm size (small, medium, large)
    region = ["domestic"]                      # home regions
    services = ["research"]                    # these services of those firms
    share = 0.5                                # a random share of the firms that pass the filters ...
    seed = 1                                   # ... drawn with this seed (default 1)
    [seeds]
    count = 5                                  # replications, common to every strategy and future
    base = 1
    [set]                                      # fixed overrides of every future, like --set
    "run.record_decisions" = false

A strategy is one of the built-in policies (:data:`simulation.model.sourcing.policies.POLICIES`) or a
class named by its import path ``package.module:Class`` that subclasses ``SourcingPolicy`` and can be
made without arguments. Every problem is reported at once, like scenario problems: the file, the dotted
key, the value and the rule, with "did you mean" for misspelled keys and strategy names.
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, StrictFloat, StrictInt, StrictStr, ValidationError

from simulation.config import Config
from simulation.executor import derive_seeds
from simulation.model.codes import REGIONS
from simulation.model.sourcing.policies import POLICIES, SourcingPolicy
from simulation.model.state.firms import SIZE_CLASSES
from simulation.scenario import Problem, ScenarioError, load_scenario, shown_path
from simulation.studyfiles import flatten, read_toml, relabel, schema_problems

YEAR = 52  # weeks: the yearly cost behind the risk measure needs at least one whole year in the window
MAX_RUNS = 100_000  # strategies x futures x seeds
IMPORT_PATH = re.compile(r"[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class SegmentSpec(_Strict):
    size: list[StrictStr] = Field(default_factory=list)
    region: list[StrictStr] = Field(default_factory=list)
    services: list[StrictStr] = Field(default_factory=list)
    share: StrictFloat | StrictInt = Field(1.0, gt=0, le=1)
    seed: StrictInt = Field(1, ge=0)


class SeedSpec(_Strict):
    count: StrictInt = Field(5, ge=1, le=10_000)
    base: StrictInt = Field(1, ge=0)


class StrategyFile(_Strict):
    name: StrictStr | None = None
    description: StrictStr = ""
    futures: list[StrictStr] = Field(min_length=1)
    strategies: list[StrictStr] = Field(min_length=1)
    segment: SegmentSpec = Field(default_factory=SegmentSpec)
    seeds: SeedSpec = Field(default_factory=SeedSpec)
    steps: StrictInt | None = Field(None, ge=1, le=100_000)
    scale: StrictFloat | StrictInt | None = Field(None, gt=0, le=1000)
    window: tuple[StrictInt, StrictInt] | None = None
    fixed: dict[str, Any] = Field(default_factory=dict, alias="set")


class _Readable(StrategyFile):
    """The sections of a strategy file that passed the schema (the others are left out, their problems reported)."""

    futures: list[StrictStr] = Field(default_factory=list)
    strategies: list[StrictStr] = Field(default_factory=list)


@dataclass(frozen=True)
class Segment:
    """The focal firm-services: the given services (all, if none) of the firms that pass the filters, or a
    random ``share`` of them drawn with ``seed``."""

    size: tuple[str, ...] = ()
    region: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    share: float = 1.0
    seed: int = 1

    def as_dict(self) -> dict[str, Any]:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    def describe(self) -> str:
        """In words, e.g. "medium domestic firms: research"."""
        firms = " ".join([*self.size, *self.region, "firms"])
        if self.share < 1:
            firms = f"{self.share:.0%} of the {firms} (drawn with seed {self.seed})"
        return f"{firms}: {', '.join(self.services) if self.services else 'every service they buy'}"


@dataclass(frozen=True)
class Future:
    """One future: a scenario as run (with the file's steps, scale and [set]) and the weeks measured."""

    name: str
    path: Path
    config: Config
    window: tuple[int, int]


@dataclass(frozen=True)
class Study:
    """A validated strategy file."""

    path: Path
    name: str
    description: str
    strategies: tuple[str, ...]
    futures: tuple[Future, ...]
    segment: Segment
    seeds: tuple[int, ...]
    seed_base: int
    fixed: dict[str, Any]

    @property
    def source(self) -> str:
        return shown_path(self.path)


def policy_of(strategy: str) -> SourcingPolicy:
    """The policy a strategy names: a built-in one, or an instance of the class at ``package.module:Class``.

    Raises:
        ValueError: with the rule the name broke (not built in, not importable, not a SourcingPolicy subclass, ...).
    """
    if strategy in POLICIES:
        return POLICIES[strategy]
    if not IMPORT_PATH.fullmatch(strategy):
        near = difflib.get_close_matches(strategy, list(POLICIES), n=1)
        raise ValueError(f"not a built-in strategy ({', '.join(POLICIES)}) nor a class named package.module:Class"
                         + (f"; did you mean '{near[0]}'?" if near else ""))
    module_name, _, attribute = strategy.partition(":")
    try:
        obj: Any = importlib.import_module(module_name)
    except (Exception, SystemExit) as exc:  # noqa: BLE001 - whatever the module does on import, report it
        raise ValueError(f"cannot import module '{module_name}' ({type(exc).__name__}: {exc})") from None
    for part in attribute.split("."):
        if not hasattr(obj, part):
            raise ValueError(f"module '{module_name}' has no attribute '{attribute}'")
        obj = getattr(obj, part)
    if not (isinstance(obj, type) and issubclass(obj, SourcingPolicy)):
        raise ValueError("is not a subclass of SourcingPolicy (simulation.model.sourcing.policies); "
                         "a strategy class must subclass it and define choose(menu)")
    if inspect.isabstract(obj):
        raise ValueError("is an abstract class: it does not define choose(menu)")
    try:
        return obj()
    except Exception as exc:  # noqa: BLE001 - a class that cannot be made without arguments
        raise ValueError(f"could not be made without arguments ({type(exc).__name__}: {exc})") from None


def load_study(path: str | Path) -> Study:
    """Read and check a strategy file and its futures; raises ScenarioError with every problem found."""
    p = Path(path)
    data, src = read_toml(p, "strategies")
    problems: list[Problem] = []
    try:
        spec, unread = StrategyFile.model_validate(data), set()
    except ValidationError as exc:
        problems += schema_problems(exc, src, StrategyFile)
        unread = {str(err["loc"][0]) for err in exc.errors()}
        spec = _Readable.model_validate({k: v for k, v in data.items() if k not in unread})
    fixed = flatten(spec.fixed)
    problems += _strategy_problems(spec.strategies, src)
    problems += _segment_problems(spec.segment, src)
    runs = len(spec.strategies) * len(spec.futures) * spec.seeds.count
    if runs > MAX_RUNS:
        problems.append(Problem(src, "seeds.count", spec.seeds.count, f"makes {len(spec.strategies)} strategies x "
                                f"{len(spec.futures)} futures x {spec.seeds.count:,} seeds = {runs:,} runs; "
                                f"the limit is {MAX_RUNS:,}"))
    if spec.window is not None and not 1 <= spec.window[0] <= spec.window[1]:
        problems.append(Problem(src, "window", list(spec.window), "expected [first, last] weeks with 1 <= first <= last"))
        unread.add("window")
    elif spec.window is not None and spec.window[1] - spec.window[0] + 1 < YEAR:
        problems.append(Problem(src, "window", list(spec.window), f"the weeks measured must hold at least one whole "
                                                                  f"year ({YEAR} weeks) for the yearly cost risk"))
        unread.add("window")
    futures = _futures(p, spec, fixed, src, problems, unread) if runs <= MAX_RUNS else []
    if problems:
        raise ScenarioError(problems)
    return Study(path=p.resolve(), name=spec.name or p.stem, description=spec.description,
                 strategies=tuple(spec.strategies), futures=tuple(futures),
                 segment=Segment(tuple(spec.segment.size), tuple(spec.segment.region), tuple(spec.segment.services),
                                 float(spec.segment.share), spec.segment.seed),
                 seeds=tuple(derive_seeds(spec.seeds.base, spec.seeds.count)), seed_base=spec.seeds.base, fixed=fixed)


def _strategy_problems(strategies: list[str], src: str) -> list[Problem]:
    out = []
    for i, name in enumerate(strategies):
        try:
            policy_of(name)
        except ValueError as exc:
            out.append(Problem(src, f"strategies.{i}", name, str(exc)))
        if name in strategies[:i]:
            out.append(Problem(src, f"strategies.{i}", name, f"is also strategies.{strategies.index(name)}; "
                                                             "name each strategy once"))
    return out


def _segment_problems(segment: SegmentSpec, src: str) -> list[Problem]:
    out = []
    for key, names, known in (("size", segment.size, SIZE_CLASSES), ("region", segment.region, REGIONS)):
        for i, name in enumerate(names):
            if name not in known:
                near = difflib.get_close_matches(name, known, n=1)
                out.append(Problem(src, f"segment.{key}.{i}", name, f"must be one of {', '.join(known)}"
                                   + (f"; did you mean '{near[0]}'?" if near else "")))
    for key, names in (("size", segment.size), ("region", segment.region), ("services", segment.services)):
        for i, name in enumerate(names):
            if name in names[:i]:
                out.append(Problem(src, f"segment.{key}.{i}", name, f"is also segment.{key}.{names.index(name)}"))
    return out


def _futures(path: Path, spec: StrategyFile, fixed: dict[str, Any], src: str, problems: list[Problem],
             unread: set[str]) -> list[Future]:
    """Each future as run: its scenario with the file's [set], steps and scale; problems are added."""
    overrides = dict(fixed)
    if spec.steps is not None and "steps" not in unread:
        overrides["run.steps"] = spec.steps
    if spec.scale is not None and "scale" not in unread:
        overrides["run.scale"] = spec.scale
    futures, seen = [], {}
    for i, name in enumerate(spec.futures):
        where = f"futures.{i}"
        file = (path.resolve().parent / name).resolve()
        if not file.is_file():
            problems.append(Problem(src, where, name, f"scenario file not found ({shown_path(file)})"
                                    if not file.exists() else f"not a regular file ({shown_path(file)})"))
            continue
        cfg = _future_config(file, overrides, fixed, spec.steps is not None, src, problems)
        if cfg is None:
            continue
        if cfg.name in seen:
            problems.append(Problem(src, where, name, f"its scenario name '{cfg.name}' is also that of "
                                                      f"futures.{seen[cfg.name]}; each future needs its own name"))
        seen.setdefault(cfg.name, i)
        window = _window(None if "window" in unread else spec.window, cfg.run.steps, src, problems)
        for j, service in enumerate(dict.fromkeys(spec.segment.services)):
            if service not in cfg.services:
                near = difflib.get_close_matches(service, list(cfg.services), n=1)
                problem = Problem(src, f"segment.services.{j}", service, f"not a service of the futures ("
                                  f"{', '.join(cfg.services)})" + (f"; did you mean '{near[0]}'?" if near else ""))
                if problem not in problems:
                    problems.append(problem)
        futures.append(Future(cfg.name, file, cfg, window))
    return futures


def _future_config(file: Path, overrides: dict[str, Any], fixed: dict[str, Any], steps_given: bool, src: str,
                   problems: list[Problem]) -> Config | None:
    """The future's config with the overrides; with problems in them, they are added and the scenario is read with
    only its steps and scale (if those are fine), so the window and the services can still be checked."""
    try:
        return load_scenario(shown_path(file), overrides)
    except ScenarioError as exc:
        for p in exc.problems:
            q = relabel(p, src, fixed, "set.", steps_given)
            if q not in problems:
                problems.append(q)
    steps_and_scale = {k: v for k, v in overrides.items() if k in ("run.steps", "run.scale")}
    for fallback in (steps_and_scale, {}):
        if fallback != overrides:  # (those failed)
            try:
                return load_scenario(shown_path(file), fallback)
            except ScenarioError:
                continue
    return None


def _window(window: tuple[int, int] | None, steps: int, src: str, problems: list[Problem]) -> tuple[int, int]:
    """The weeks measured: the given window (checked alone already), or the whole run, which must then hold a
    whole year; a window must end within the run."""
    if window is not None and window[1] > steps:
        problem = Problem(src, "window", list(window), f"ends after the last week run (run.steps = {steps})")
    elif window is None and steps < YEAR:
        problem = Problem(src, "steps", steps, f"the weeks measured (the whole run, as no window is given) must hold "
                                               f"at least one whole year ({YEAR} weeks) for the yearly cost risk")
    else:
        return window or (1, steps)
    if problem not in problems:
        problems.append(problem)
    return 1, steps
