"""The outsim dashboard page for students (issue 6): ``outsim app``, or ``solara run simulation.app.dashboard``.

Built on Mesa's SolaraViz: its ModelController runs play, pause, step and reset (rebuilding the model
from the controls' current values) and its update counter tells the panels when a week has passed.
The panels (panels.py) are laid out here rather than in SolaraViz's draggable grid, which renders empty
with solara 1.64 (vuetify 3). Charts are Altair (Vega-Lite), drawn from components.py's plain tables.

The page trusts nothing the browser sends: every handler takes its control's range from controls.py and
holds the value to it there (or refuses it), and shows a refusal or failure as one plain line, never a
traceback (hardening issue). The scenario picker offers labels, never paths.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from pathlib import Path
from typing import Any

import solara
from mesa.visualization.solara_viz import ModelController
from mesa.visualization.utils import force_update

from simulation import app
from simulation.app.controls import PARAMS, PAUSE_MS, SEED, WEEKS_PER_STEP, Limit, Param, checked, guarded, one_line
from simulation.app.panels import Panels, live_text, use_weekly
from simulation.app.ui import CSS, ProblemLine, slider, use_problem
from simulation.config import Config


def setter(settings: solara.Reactive[app.Settings], name: str, base: Config, attempt: Callable[..., str]):
    """The handler of control ``name``: the value sent, held to its range by Settings.with_value, or refused."""
    return lambda value: attempt(lambda: settings.set(settings.value.with_value(name, value, base)))


@solara.component
def ParamSlider(param: Param, settings: solara.Reactive[app.Settings], base: Config):
    """One labelled slider showing its value, unit and range; the range always includes the scenario's value."""
    value, scenario = getattr(settings.value, param.field), app.scenario_value(base, param)
    limit = param.limit(scenario)
    shown = f"{value:,}" if isinstance(value, int) else f"{value:.2f}"
    problem, attempt = use_problem()
    with solara.Div(classes=["outsim-param", f"outsim-param-{param.field}"]):
        solara.HTML(tag="div", unsafe_innerHTML=f"<b>{html.escape(param.label)}</b>: {shown} {html.escape(param.unit)} "
                    f"<span style='color:#777'>(range {limit.low:g} to {limit.high:g}; scenario {scenario:g})</span>",
                    style="font-size: 13px; margin-top: 6px")
        slider(value, limit, param.step, setter(settings, param.field, base, attempt))
        ProblemLine(problem)


@solara.component
def Controls(model: solara.Reactive[app.DashboardModel], settings: solara.Reactive[app.Settings],
             params: solara.Reactive[dict], firm: solara.Reactive[int]):
    """Scenario picker, seed, sliders, recession switch and the save button (the sidebar).

    The picker offers the labels of :func:`simulation.app.scenario_choices` and loads only what a label
    stands for; every value the page sends passes through Settings.with_value before it is used.
    """
    scenarios = solara.use_memo(app.scenario_choices, [])
    s = settings.value
    base = solara.use_memo(s.base_config, [s.scenario])
    here = Path(s.scenario).resolve()
    label = next((name for name, path in scenarios.items() if Path(path).resolve() == here), "")
    seed_text, set_seed_text = solara.use_state(str(s.seed))
    problem, attempt = use_problem()

    def pick_scenario(new_label: Any) -> None:
        new = app.Settings.for_label(new_label, seed=settings.value.seed)
        built = app.DashboardModel(new)  # a new scenario loads at once; sliders show its own values
        settings.set(new)
        model.set(built)
        firm.set(0)
        force_update()

    def set_seed(text: str) -> None:
        set_seed_text(text)
        guarded(lambda: settings.set(settings.value.with_value("seed", text, base)))  # refused: the seed stays

    solara.use_effect(lambda: params.set({"settings": s}), [s])  # what RESET rebuilds the model from
    with solara.Card("Scenario", margin=0):
        solara.Select("Scenario", values=list(scenarios), value=label, on_value=lambda v: attempt(pick_scenario, v))
        ProblemLine(problem)
        solara.HTML(tag="div", unsafe_innerHTML=html.escape(base.description), classes=["outsim-caption"])
        solara.InputText("Seed (whole number)", value=seed_text, on_value=set_seed, continuous_update=True,
                         error=guarded(checked, "Seed", seed_text, SEED) or False)
    with solara.Card("Market and behaviour", margin=0):
        for p in PARAMS:
            ParamSlider(p, settings, base)
        wage = base.regions["domestic"].wage_per_hour
        solara.HTML(tag="div", classes=["outsim-caption"], unsafe_innerHTML=(
            f"Offshore wage is {s.offshore_wage / wage:.0%} of the domestic {wage:g} cu/hour. The number of firms sets "
            f"the market's scale (run.scale, as outsim run --scale): providers, brokers, KPO talent pools and entry "
            f"follow it."))
    RecessionCard(settings, base)
    SaveCard(model)


@solara.component
def RecessionCard(settings: solara.Reactive[app.Settings], base: Config):
    """The recession switch and its start week (a scenario with its own demand events cannot add one)."""
    s = settings.value
    problem, attempt = use_problem()
    built_in = app.has_own_demand_events(base)
    with solara.Card("Recession", margin=0):
        solara.Switch(label="Add the recession of scenarios/recession.toml", value=s.recession, disabled=built_in,
                      on_value=setter(settings, "recession", base, attempt))
        if built_in:
            solara.HTML(tag="div", classes=["outsim-caption"], unsafe_innerHTML="This scenario has its own demand events.")
        else:
            limit = s.limits(base)["recession_week"]
            solara.HTML(tag="div", style="font-size: 13px", unsafe_innerHTML=(
                f"<b>Recession starts</b>: week {s.recession_week} <span style='color:#777'>(range 1 to {limit.high:g}): "
                f"demand -30% and uncertainty x2 for two years, then recovery</span>"))
            slider(min(s.recession_week, limit.high), limit, 1, setter(settings, "recession_week", base, attempt))
        ProblemLine(problem)


@solara.component
def SaveCard(model: solara.Reactive[app.DashboardModel]):
    """The save button and what became of the last save."""
    message = solara.use_reactive("")
    problem, attempt = use_problem()

    def save() -> None:
        try:
            folder = app.save_snapshot(model.value)
            message.set(f"Saved to {folder}. For its report: outsim report {folder}")
        except (ValueError, OSError) as exc:
            message.set(f"Not saved: {exc}")

    with solara.Card("Save", margin=0):
        solara.Button("Save run folder", on_click=lambda: attempt(save), color="primary", outlined=True)
        if message.value:
            solara.HTML(tag="div", classes=["outsim-caption"], unsafe_innerHTML=html.escape(one_line(message.value)))
        ProblemLine(problem)


def week_text(m: app.DashboardModel) -> str:
    """The run card's week line."""
    return f"Week <b>{m.week}</b> of {m.cfg.run.steps}" + ("" if m.running else " (the end)")


@solara.component
def WeekCounter(model: solara.Reactive[app.DashboardModel]):
    """The current week, set after every step without a render pass (:func:`~simulation.app.panels.use_weekly`)."""
    model.get()  # a new model (RESET) lays it out again
    w = use_weekly(lambda: {"week": live_text(["outsim-week"], "font-size: 20px")}, lambda: week_text(model.value),
                   lambda widgets, text: setattr(widgets["week"], "unsafe_innerHTML", text))
    solara.Div(children=[w["week"]])


@solara.component
def RunCard(model: solara.Reactive[app.DashboardModel], settings: solara.Reactive[app.Settings],
            params: solara.Reactive[dict], play_interval: solara.Reactive[int], render_interval: solara.Reactive[int]):
    """Mesa's RESET, play and STEP buttons, the week, and how many weeks a step runs and how fast play goes."""
    use_threads = solara.use_reactive(False)  # mesa's ModelController needs it reactive
    problem, attempt = use_problem()

    def held(target: solara.Reactive[int], label: str, limit: Limit) -> Callable[[Any], str]:
        return lambda value: attempt(lambda: target.set(checked(label, value, limit)))

    with solara.Card("Run", margin=0):
        WeekCounter(model)
        ModelController(model, model_parameters=params, play_interval=play_interval,
                        render_interval=render_interval, use_threads=use_threads)
        with solara.Div(classes=["outsim-render-interval"]):
            slider(render_interval.value, WEEKS_PER_STEP, 1, held(render_interval, "Weeks per step", WEEKS_PER_STEP),
                   label=f"Weeks per step / screen update: {render_interval.value}")
        slider(play_interval.value, PAUSE_MS, 50, held(play_interval, "Pause between updates", PAUSE_MS),
               label=f"Pause between updates: {play_interval.value} ms")
        ProblemLine(problem)
        pending = settings.value.changed(model.value.settings)
        if pending:
            solara.Warning(f"Changed: {', '.join(p.replace('_', ' ') for p in pending)}. Press RESET to "
                           "rebuild the market with them.", dense=True)


@solara.component
def Page():
    """The dashboard: controls in the sidebar, live panels in the main area."""
    first = solara.use_memo(lambda: app.Settings.for_scenario(app.default_scenario()), [])
    model = solara.use_reactive(solara.use_memo(lambda: app.DashboardModel(first), []))
    settings = solara.use_reactive(first)
    params = solara.use_reactive({"settings": first})
    firm = solara.use_reactive(0)
    play_interval, render_interval = solara.use_reactive(150), solara.use_reactive(1)
    solara.Style(CSS)
    solara.Title("outsim dashboard")
    with solara.AppBar():
        solara.AppBarTitle("outsim: an outsourcing market, week by week")
    with solara.Sidebar():
        RunCard(model, settings, params, play_interval, render_interval)
        Controls(model, settings, params, firm)
    with solara.Div(classes=["outsim-main"]):
        Panels(model, firm)
