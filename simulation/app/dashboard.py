"""The outsim dashboard page for students (issue 6): ``outsim app``, or ``solara run simulation.app.dashboard``.

Built on Mesa's SolaraViz: its ModelController runs play, pause, step and reset (rebuilding the model
from the controls' current values) and its update counter tells the panels when a week has passed.
The panels are laid out here rather than in SolaraViz's draggable grid, which renders empty with
solara 1.64 (vuetify 3). Charts are Altair (Vega-Lite), drawn from components.py's plain tables.

The page trusts nothing the browser sends: every handler takes its control's range from controls.py and
holds the value to it there (or refuses it), and shows a refusal or failure as one plain line, never a
traceback (hardening issue). The scenario picker offers labels, never paths.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import solara
from mesa.visualization.solara_viz import ModelController
from mesa.visualization.utils import force_update, update_counter

from simulation import app
from simulation.app import components as C
from simulation.app.charts import figure
from simulation.app.controls import (PARAMS, PAUSE_MS, SEED, WEEKS_PER_STEP, Limit, Param, checked, firm_ids, guarded,
                                     one_line)
from simulation.config import Config


def _feed_view(feed: pd.DataFrame) -> pd.DataFrame:
    """The event feed as shown: the channel folded into the event; reserved hours left out to keep rows short."""
    event = [e + (" (broker)" if c == "broker" else "") for e, c in zip(feed["event"].tolist(), feed["channel"].tolist())]
    who = [f"{f} → P{p}" for f, p in zip(feed["firm"].tolist(), feed["provider"].tolist())]
    return pd.DataFrame({"week": feed["week"], "event": event, "firm → provider": who, "service": feed["service"],
                         "price (cu/h)": feed["price (cu/h)"], "reason": feed["reason"]})


def _num(x: float, spec: str) -> str:
    return "n/a" if not math.isfinite(x) else format(x, spec)


def _table(df: pd.DataFrame, bold: dict[int, str] | None = None, digits: int = 1,
           exact: dict[str, int] | None = None) -> str:
    """A small HTML table: floats with ``digits`` decimals (``exact`` overrides per column), provider ids as
    "P12" (blank for -1, none); ``bold`` maps a row number to the column whose cell is set in bold."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in df.columns)
    body = []
    for i, row in enumerate(zip(*(df[c].tolist() for c in df.columns))):  # plain Python values, no namedtuples
        cells = []
        for col, v in zip(df.columns, row):
            if col == "provider" and not isinstance(v, str):
                v = f"P{v}" if v >= 0 else None
            text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else (
                f"{v:,.{(exact or {}).get(col, digits)}f}" if isinstance(v, float) else str(v))
            strong = bold is not None and bold.get(i) == col
            cells.append(f"<td>{'<b>' if strong else ''}{html.escape(text)}{'</b>' if strong else ''}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table class='outsim-table'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


CSS = """
.outsim-table {border-collapse: collapse; font-size: 12px; width: 100%}
.outsim-table th, .outsim-table td {height: auto !important; line-height: 1.3; padding: 2px 6px; text-align: left}
.outsim-table th {border-bottom: 1px solid #999; white-space: nowrap} .outsim-table td {border-bottom: 1px solid #e3e3e3; white-space: nowrap}
.outsim-table td:last-child {white-space: normal; min-width: 130px}
.outsim-feed .outsim-table {font-size: 11.5px}
.outsim-scroll {max-height: 560px; overflow: auto}
.outsim-caption {font-size: 13px; color: #555; margin-bottom: 4px}
.outsim-grid {display: grid; grid-template-columns: repeat(auto-fit, minmax(460px, 1fr)); gap: 12px}
.outsim-grid > * {min-width: 0; overflow-x: auto}
.outsim-firm, .outsim-trail {max-width: 100%; overflow-x: auto} .outsim-trail th, .outsim-trail td {white-space: normal}
.outsim-main {min-width: 0; max-width: 100%}
.outsim-problem {font-size: 13px; color: #b00020; margin: 2px 0 4px}
"""


@solara.component
def Panel(title: str, caption: str, children=[]):  # noqa: B006 (solara passes children this way)
    """A titled card with a one-line "how to read it" caption."""
    with solara.Card(title, margin=0, style={"height": "100%"}) as card:
        solara.HTML(tag="div", unsafe_innerHTML=html.escape(caption), classes=["outsim-caption"])
        solara.Column(children=children)
    return card


def use_problem() -> tuple[str, Callable[..., str]]:
    """A component's one-line problem, and ``attempt(action, *args)``, which runs a handler with
    :func:`~simulation.app.controls.guarded` and shows why it did nothing, if it did nothing."""
    problem = solara.use_reactive("")

    def attempt(action: Callable[..., Any], *args: Any) -> str:
        problem.set(guarded(action, *args))
        return problem.value

    return problem.value, attempt


@solara.component
def ProblemLine(text: str):
    """One plain line saying why the last change was refused (nothing when it was not)."""
    if text:
        solara.HTML(tag="div", classes=["outsim-problem"], unsafe_innerHTML=html.escape(one_line(text)))


def slider(value: float, limit: Limit, step: float, on_value: Callable[[Any], None], label: str = ""):
    """A slider over ``limit`` that hands what the browser sends to ``on_value`` as it is.

    Solara's SliderInt and SliderFloat first convert it with int() or float(), which raises for anything
    that is not a number and sends the traceback to the page; here the handler checks it (controls.checked).
    """
    return solara.v.Slider(v_model=value, on_v_model=on_value, min=limit.low, max=limit.high, step=step,
                           label=label, thumb_label=False, hide_details=True)


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


@solara.component
def Panels(model: solara.Reactive[app.DashboardModel], firm: solara.Reactive[int]):
    """Every live panel; redrawn whenever the controller signals a new week."""
    update_counter.get()
    m = model.value
    with m.lock:  # one consistent week for every panel
        top = C.headline(m)
        shares, hist, loyal = C.form_shares(m), C.loyalty_histogram(m), C.loyalty_summary(m)
        prices = C.history_frame(m.history, "price_")
        util, count = C.history_frame(m.history, "utilization_"), C.history_frame(m.history, "providers_")
        nodes, edges = C.network_sample(m)
        feed = C.event_feed(m, 14)
        fid = min(max(firm.value, 0), top["firms"] - 1)
        summary, trail = C.firm_summary(m, fid), C.decision_trail(m, fid, 8)
    kinds = "  ·  ".join(f"{k.upper()} {top[f'permanent_share_{k}']:.0%}" for k in C.kinds_present(m)
                         if math.isfinite(top[f"permanent_share_{k}"]))
    status = (f"<b>Week {top['week']}</b> of {m.cfg.run.steps}  ·  {top['firms']} firms  ·  {top['active_providers']} "
              f"active providers  ·  {top['active_contracts']} permanent contracts  ·  permanent share {kinds or 'n/a'}"
              f"  ·  mean loyalty y {_num(top['loyalty_mean'], '.2f')} (all firm-services)  ·  demand level {_num(top['demand_level'], '.2f')}")
    solara.HTML(tag="div", unsafe_innerHTML=status, classes=["outsim-status"], style="font-size: 15px; margin: 4px 0 8px")
    if top["week"] == 0:
        solara.Info("Week 0: the market is set up but nothing has happened yet. Press STEP (one week) or the play "
                    "button to run it; RESET rebuilds it from the controls.")
        return
    kinds_upper = tuple(k.upper() for k in C.kinds_present(m))
    targets = pd.DataFrame({"series": ["BPO", "KPO"], "value": [m.cfg.providers.target_utilization_bpo,
                                                                m.cfg.providers.target_utilization_kpo]})
    uniform = pd.DataFrame({"y": [loyal["uniform"]], "label": [f"1/K = {loyal['uniform']:.2f}"]})
    order = {"permanent": 0, "on-call": 1, "in-house": 2, "unmet": 3}
    groups = C.network_groups(nodes).iloc[:0 if nodes["labelled"].all() else None]  # named one by one: no groups
    rows = C.network_rows(int((nodes["side"] == "firm").sum()), int((nodes["side"] == "provider").sum()))
    with solara.Div(classes=["outsim-grid"]):
        Panel("Share of demand by form", "Stacked: permanent contracts (blue), on-call (orange), in-house (grey), "
              "unmet (red), for BPO and KPO services.",
              children=[figure("shares", shares=shares.assign(order=shares["form"].map(order)))])
        Panel("Loyalty of firm-services (y)", f"{loyal['searchers']} searchers (y < 0.5), {loyal['mixed']} mixed, "
              f"{loyal['loyal']} loyal (y >= 0.8) of {loyal['n']} that buy outside; their mean y "
              f"{_num(loyal['mean'], '.2f')} (the status line's is over all firm-services, in-house ones too).",
              children=[figure("loyalty", hist=hist, uniform=uniform.dropna())])
        Panel("Prices paid by form and kind", "What firms pay per hour of work, fees included: on-call (light) "
              "and permanent (dark), BPO (green) and KPO (purple).",
              children=[figure("series", ("prices", tuple(sorted(prices["series"].unique())), "cu per hour", ",.1f"),
                               prices=prices)])
        Panel("Providers: utilisation and count", "Share of capacity in use (dashed: the target) and active "
              "providers, by kind.", children=[figure("providers", (kinds_upper,), util=util, count=count,
                                                       targets=targets[targets["series"].isin(kinds_upper)])])
        Panel("Who works with whom this week", f"{int((nodes['side'] == 'firm').sum())} firms spread over the size "
              f"ranking (left) and the {int((nodes['side'] == 'provider').sum())} providers they used this week "
              "(right). Hover over a dot or line for its ids and hours.",
              children=[figure("network", (rows,), nodes=nodes, edges=edges.assign(x0=0.0, x1=1.0),
                               groups=groups)])
        Panel("Contract events (latest first)", "Every permanent contract signed, renewed, expired or terminated, "
              "with its reason.", children=[solara.HTML(tag="div", classes=["outsim-scroll", "outsim-feed"],
                                                        unsafe_innerHTML=_table(_feed_view(feed), exact={"price (cu/h)": 2}))])
    FirmTrail(m, firm, fid, summary, trail, nodes.loc[nodes["side"] == "firm", "id"].tolist()[:8])


@solara.component
def FirmTrail(m: app.DashboardModel, firm: solara.Reactive[int], fid: int, summary: pd.DataFrame, trail: pd.DataFrame,
              examples: list[int]):
    """A firm picker and that firm's written trail: where it stands now and its latest sourcing reviews."""
    problem, attempt = use_problem()

    def pick(text: Any) -> None:
        firm.set(checked("Firm id", text, firm_ids(len(m.firm_agents))))

    with solara.Card("A firm's decision trail", margin=0, style={"margin-top": "12px"}):
        with solara.Row(style={"align-items": "center"}):
            with solara.Div(style={"min-width": "130px", "max-width": "130px"}):
                solara.InputText("Firm id", value=str(fid), on_value=lambda v: attempt(pick, v), continuous_update=False)
            solara.HTML(tag="div", classes=["outsim-caption"], unsafe_innerHTML=(
                f"0 to {len(m.firm_agents) - 1}; the network shows firms "
                + ", ".join(str(i) for i in examples)
                + ". At each review the firm compares the expected weekly cost (cu/week) of every option and picks by a "
                "logit over costs, so it does not always take the cheapest (in bold)."))
        ProblemLine(problem)
        solara.HTML(tag="div", classes=["outsim-caption"], unsafe_innerHTML=f"<b>Firm {fid} now</b>, per service:")
        solara.HTML(tag="div", unsafe_innerHTML=_table(summary, digits=2), classes=["outsim-firm"])
        solara.HTML(tag="div", classes=["outsim-caption"], style="margin-top: 8px", unsafe_innerHTML=(
            "<b>Its latest sourcing reviews</b>: the expected cost of each option in cu/week (blank: not available), "
            "the cheapest in bold, what it chose and what came of it."))
        if note := C.decisions_note(m, fid):
            solara.Info(note)
        elif trail.empty:
            solara.Info(f"Firm {fid} has had no sourcing review yet: reviews come every few weeks, press Step.")
        else:
            bold = {i: r for i, r in enumerate(trail["cheapest"])}
            solara.HTML(tag="div", classes=["outsim-trail"],
                        unsafe_innerHTML=_table(trail.drop(columns="cheapest"), bold=bold,
                                                digits=0, exact={"price (cu/h)": 2}))


@solara.component
def WeekCounter(m: app.DashboardModel):
    """The current week, redrawn after every step."""
    update_counter.get()
    solara.HTML(tag="div", classes=["outsim-week"], style="font-size: 20px",
                unsafe_innerHTML=f"Week <b>{m.week}</b> of {m.cfg.run.steps}" + ("" if m.running else " (the end)"))


@solara.component
def RunCard(model: solara.Reactive[app.DashboardModel], settings: solara.Reactive[app.Settings],
            params: solara.Reactive[dict], play_interval: solara.Reactive[int], render_interval: solara.Reactive[int]):
    """Mesa's RESET, play and STEP buttons, the week, and how many weeks a step runs and how fast play goes."""
    use_threads = solara.use_reactive(False)  # mesa's ModelController needs it reactive
    problem, attempt = use_problem()

    def held(target: solara.Reactive[int], label: str, limit: Limit) -> Callable[[Any], str]:
        return lambda value: attempt(lambda: target.set(checked(label, value, limit)))

    with solara.Card("Run", margin=0):
        WeekCounter(model.value)
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
