"""The student dashboard (issue 6): what a session runs, independent of the page that shows it.

The page (dashboard.py, Solara + Mesa's SolaraViz controller) and the command ``outsim app`` (cli.py)
sit on three things defined here, none of which imports a UI library:

- :class:`Settings`: the controls a student can move (scenario, seed, market size, volatility,
  learning, choice intensity and memory, offshore wage, broker fee, a recession), each held to the range
  controls.py declares (whatever the browser sends), turned into a validated config with
  :func:`simulation.scenario.load_scenario` (the same rules as ``outsim run``). The scenario is picked by
  label among :func:`scenario_choices`, never by a path the page sends.
- :class:`DashboardModel`: the OutsourcingModel built from Settings, plus a per-week record of prices
  by form and kind, utilisation and provider counts for the panels (drawn from no random stream, so a
  dashboard run is the same run ``outsim run`` gives with the same config and seed).
- :func:`save_snapshot`: saves the run so far as a normal run folder (``outsim report`` works on it)
  without ending the live run.
"""

from __future__ import annotations

import copy
import os
import sys
import threading
from dataclasses import dataclass, fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from simulation.api import collect, save_run
from simulation.app.components import week_snapshot
from simulation.app.controls import LABELS, PARAMS, SEED, ControlError, Limit, Param, checked, choice, shown, switch
from simulation.config import Config, scaled
from simulation.model import OutsourcingModel
from simulation.scenario import ScenarioError, list_scenarios, load_scenario

REPO_SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
SCENARIO_DIR = REPO_SCENARIOS if REPO_SCENARIOS.is_dir() else Path("scenarios")
ENV_SCENARIO, ENV_OUT = "OUTSIM_APP_SCENARIO", "OUTSIM_APP_OUT"
DEFAULT_FIRMS = 300  # small enough for a smooth page, large enough for the patterns to show
RECESSION_TARGET = "environment.demand_multiplier"


@dataclass(frozen=True)
class Settings:
    """Everything the controls set; ``Settings.for_label(label)`` starts from a scenario's own values.

    ``firms`` scales the whole market through ``run.scale`` (as ``outsim run --scale`` does): providers,
    brokers, KPO talent pools, entry and event sizes follow the number of firms, so a 300-firm market
    keeps the shape of the 1,000-firm baseline. What the page sends goes through :meth:`with_value`, which
    holds it to the control's range; :meth:`validated` does the same for a whole Settings.
    """

    scenario: str
    seed: int = 1
    firms: int = DEFAULT_FIRMS
    demand_volatility: float = 0.15
    learning_multiplier: float = 1.0
    beta: float = 1.5
    gamma: float = 0.1
    offshore_wage: float = 7.0
    fee_rate: float = 0.08
    recession: bool = False
    recession_week: int = 104

    @classmethod
    def for_scenario(cls, scenario: str | Path, seed: int = 1) -> Settings:
        """The scenario's own values (at most 300 firms, for speed). Raises ScenarioError if it does not load."""
        cfg = load_scenario(scenario)
        values = {p.field: scenario_value(cfg, p) for p in PARAMS}
        values["firms"] = min(values["firms"], DEFAULT_FIRMS)
        first, _ = _recession_span()
        return cls(scenario=str(scenario), seed=seed, recession_week=min(first, recession_latest(cfg)), **values)

    @classmethod
    def for_label(cls, label: Any, seed: int = 1) -> Settings:
        """The settings of the scenario the picker calls ``label`` (:func:`scenario_choices`).

        Raises:
            ControlError: ``label`` is not one of the labels offered (a path never is).
        """
        return cls.for_scenario(choice(LABELS["scenario"], label, scenario_choices()), seed)

    def base_config(self) -> Config:
        """The scenario as its file says, without the dashboard's overrides."""
        return load_scenario(self.scenario)

    def overrides(self, base: Config | None = None) -> dict[str, Any]:
        """Dotted-key overrides of the scenario (what ``--set`` would say), recession events included."""
        base = base or self.base_config()
        out: dict[str, Any] = {p.key: getattr(self, p.field) for p in PARAMS if p.field != "firms"}
        out["run.scale"] = self.firms / base.firms.count  # the scenario's counts stay; the market is resized
        if self.recession:
            events = [e.model_dump(mode="json") for e in base.events]
            out["events"] = events + recession_events(self.recession_week)
        return out

    def config(self) -> Config:
        """The validated config the model is built from. Raises ScenarioError like ``outsim run``."""
        return load_scenario(self.scenario, self.overrides())

    def changed(self, other: Settings) -> list[str]:
        """Names of the fields that differ from ``other``."""
        return [f.name for f in fields(self) if getattr(self, f.name) != getattr(other, f.name)]

    def limits(self, base: Config | None = None) -> dict[str, Limit]:
        """The range of each numeric control for this scenario (``base``: its config, if already loaded)."""
        base = base or self.base_config()
        out = {p.field: p.limit(scenario_value(base, p)) for p in PARAMS}
        return {**out, "seed": SEED, "recession_week": Limit(1, recession_latest(base))}

    def with_value(self, name: str, value: Any, base: Config | None = None) -> Settings:
        """A copy with control ``name`` set to ``value`` as the page sent it, held to the control's range.

        Numbers out of range are clamped (a seed is refused); see :func:`simulation.app.controls.checked`.
        ``base`` is the scenario's config, if already loaded.

        Raises:
            ControlError: one line, for a value that cannot be used; nothing changes.
        """
        base = base or self.base_config()
        if name == "recession":
            on = switch(LABELS[name], value)
            if on and has_own_demand_events(base):
                raise ControlError("Recession: this scenario has its own demand events, so none can be added.")
            return replace(self, recession=on)
        limits = self.limits(base)
        if name not in limits:
            raise ControlError(f"{shown(name)} is not a control of this page.")
        return replace(self, **{name: checked(LABELS[name], value, limits[name])})

    def validated(self) -> Settings:
        """These settings as the page's controls could have set them: the scenario one the picker offers,
        every number held to its range (what :class:`DashboardModel` builds a market from).

        Raises:
            ControlError: the scenario is not offered, or a value cannot be used.
        """
        offered = {Path(p).resolve() for p in scenario_choices().values()}
        if Path(self.scenario).resolve() not in offered:
            raise ControlError(f"{LABELS['scenario']}: {shown(self.scenario)} is not one the picker offers.")
        base, out = self.base_config(), self
        for name in (*self.limits(base), "recession"):
            out = out.with_value(name, getattr(self, name), base)
        return out


class DashboardModel(OutsourcingModel):
    """The market a dashboard session runs: built from :class:`Settings`, stopped at the scenario's horizon.

    ``history`` holds one :func:`~simulation.app.components.week_snapshot` per week. ``lock`` is held
    while a week runs, so the page and the save button never read a half-updated market.
    """

    def __init__(self, settings: Settings | None = None) -> None:
        self.settings = (settings or Settings.for_scenario(default_scenario())).validated()
        self.start_cfg = self.settings.config()
        super().__init__(self.start_cfg, seed=self.settings.seed)
        self.lock = threading.RLock()
        self.history: list[dict[str, float]] = []
        self._advance = self.step  # mesa's step: moves the clock, then runs the week (step below)
        self.step = self._step_within_horizon

    def step(self) -> None:
        with self.lock:
            super().step()
            self.history.append(week_snapshot(self))
            if self.week >= self.cfg.run.steps:
                self.running = False

    def _step_within_horizon(self) -> None:
        """One week, unless the run has reached its horizon: the page's Step button is only greyed out in the
        browser, and a click sent anyway must not move the clock past ``run.steps``."""
        if self.week >= self.cfg.run.steps:
            self.running = False
            return
        self._advance()


def save_snapshot(model: DashboardModel, out_root: str | Path | None = None) -> Path:
    """Save the weeks run so far as a run folder ``<out_root>/<YYYYmmdd-HHMMSS>-s<seed>/``; the live run goes on.

    The model is deep-copied under its lock and only the copy is finished (open spells become
    right-censored), so the page can keep stepping. The manifest's config is the one the run started
    from with ``run.steps`` set to the weeks run, so ``outsim run --from FOLDER`` repeats it exactly.

    Raises:
        ValueError: nothing to save yet (week 0).
    """
    with model.lock:
        if model.week < 1:
            raise ValueError("nothing to save yet: step the model at least once")
        twin = copy.deepcopy(model, {id(model.lock): threading.RLock()})
    twin.finish()
    week = twin.week
    cfg = model.start_cfg.model_copy(deep=True)
    cfg.run.steps = week
    cfg.events = [e for e in cfg.events if e.at <= week]  # not reached yet: not part of this run
    result = collect(twin, cfg)
    s = model.settings
    result.origin = {"scenario_file": s.scenario, "from_run": None, "steps_option": week,
                     "overrides": [f"{k}={v}" for k, v in s.overrides().items() if k != "events"],
                     "app": {"weeks_run": week, "recession": s.recession,
                             "recession_week": s.recession_week if s.recession else None}}
    root = Path(out_root if out_root is not None else os.environ.get(ENV_OUT, "outputs/app"))
    stem = f"{datetime.now():%Y%m%d-%H%M%S}-s{s.seed}"
    folder, n = root / stem, 1
    while folder.exists():
        n += 1
        folder = root / f"{stem}-{n}"
    return save_run(result, folder)


def default_scenario() -> str:
    """The scenario ``outsim app --scenario`` asked for (via the environment) if it loads, else the baseline."""
    asked = os.environ.get(ENV_SCENARIO)
    if asked:
        try:
            load_scenario(asked)
            return asked
        except ScenarioError:
            print(f"outsim app: {ENV_SCENARIO} names a scenario that does not load; starting from the baseline",
                  file=sys.stderr)
    return str(SCENARIO_DIR / "baseline.toml")


def shipped_scenarios() -> dict[str, str]:
    """Label -> path of every valid scenario under scenarios/ (sweeps and calibration excluded), baseline first."""
    rows = [r for r in list_scenarios(SCENARIO_DIR) if r.valid]
    rows.sort(key=lambda r: (r.name != "baseline", r.path))
    return {str(Path(r.path).relative_to(SCENARIO_DIR).with_suffix("")): r.path for r in rows}


def scenario_choices() -> dict[str, str]:
    """Label -> path of every scenario the page's picker offers: the shipped ones and, if it is not one of
    them, the one ``outsim app --scenario`` started the server with. The page sends a label, never a path."""
    choices = shipped_scenarios()
    started = default_scenario()
    if Path(started).resolve() not in {Path(p).resolve() for p in choices.values()}:
        choices[f"{Path(started).stem} (started with --scenario)"] = started
    return choices


def scenario_value(cfg: Config, param: Param) -> float:
    """The scenario's own value of a slider: its config value, or for ``firms`` the firms in its scaled market."""
    if param.field == "firms":
        return scaled(cfg.firms.count, cfg.run.scale)
    return config_value(cfg, param.key)


def has_own_demand_events(cfg: Config) -> bool:
    """Whether the scenario moves demand itself (then the recession switch cannot add another recession)."""
    return any(e.target == RECESSION_TARGET for e in cfg.events)


def recession_events(start_week: int) -> list[dict[str, Any]]:
    """The events of scenarios/recession.toml, shifted so that the recession starts at ``start_week``."""
    first, events = _recession_span()
    return [{**e, "at": e["at"] - first + start_week} for e in events]


def recession_latest(cfg: Config) -> int:
    """The latest start week whose whole recession (down and recovery) fits in the run."""
    first, events = _recession_span()
    return max(1, cfg.run.steps - (max(e["at"] for e in events) - first))


def _recession_span() -> tuple[int, list[dict[str, Any]]]:
    events = [e.model_dump(mode="json") for e in load_scenario(SCENARIO_DIR / "recession.toml").events]
    return min(e["at"] for e in events), events


def config_value(cfg: Config, dotted: str) -> Any:
    """A config value by dotted key, e.g. ``config_value(cfg, "regions.offshore.wage_per_hour")``."""
    node: Any = cfg
    for part in dotted.split("."):
        node = node[part] if isinstance(node, dict) else getattr(node, part)
    return node
