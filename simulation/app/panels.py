"""The dashboard's live panels: the status line, the charts, the contract feed and a firm's decision trail.

A week's content is built in one place, :func:`week_view`: every piece of text and every chart's spec and
data, as the plain strings the page's widgets hold. :func:`Panels` lays the widgets out once (again only
when the model, the firm shown or the page's layout changes: week 0 has no charts) and, after each step
Mesa's controller signals, sets the new strings on those widgets directly. A step thus sends only what
changed, without a render pass of the page (issue 13: that pass cost about as much as the week's content).
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import solara
from mesa.visualization.utils import update_counter

from simulation import app
from simulation.app import components as C
from simulation.app.charts import spec_json
from simulation.app.controls import checked, firm_ids
from simulation.app.ui import ProblemLine, use_problem
from simulation.app.vega import Chart, columns_json, plain_values

#: The order of the forms in the stacked shares chart.
FORM_ORDER = {"permanent": 0, "on-call": 1, "in-house": 2, "unmet": 3}


@dataclass(frozen=True)
class WeekView:
    """What the live panels show for one week, as the text their widgets hold.

    Attributes:
        week: the model's week.
        texts: HTML of each live text widget, by name (status line, captions, feed, firm summary, trail).
        charts: per chart, its Vega-Lite spec and its tables (JSON text, :class:`~simulation.app.vega.Chart`).
    """

    week: int
    texts: dict[str, str]
    charts: dict[str, tuple[str, str]]


def _num(x: float, spec: str) -> str:
    return "n/a" if not math.isfinite(x) else format(x, spec)


def table_html(table: C.Table, bold: dict[int, str] | None = None, digits: int = 1,
               exact: dict[str, int] | None = None) -> str:
    """A small HTML table: floats with ``digits`` decimals (``exact`` overrides per column), provider ids as
    "P12" (blank for -1, none); ``bold`` maps a row number to the column whose cell is set in bold."""
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in table)
    body = []
    for i, row in enumerate(zip(*(plain_values(values) for values in table.values()))):
        cells = []
        for col, v in zip(table, row):
            if col == "provider" and not isinstance(v, str):
                v = f"P{v}" if v >= 0 else None
            text = "" if v is None or (isinstance(v, float) and math.isnan(v)) else (
                f"{v:,.{(exact or {}).get(col, digits)}f}" if isinstance(v, float) else str(v))
            strong = bold is not None and bold.get(i) == col
            cells.append(f"<td>{'<b>' if strong else ''}{html.escape(text)}{'</b>' if strong else ''}</td>")
        body.append("<tr>" + "".join(cells) + "</tr>")
    return (f"<table class='outsim-table'><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>")


def note_html(text: str) -> str:
    """A short note in the style of an information box."""
    return f"<div class='outsim-note'>{html.escape(text)}</div>"


def _feed_view(feed: C.Table) -> C.Table:
    """The event feed as shown: the channel folded into the event; reserved hours left out to keep rows short."""
    event = [e + (" (broker)" if c == "broker" else "") for e, c in zip(feed["event"], feed["channel"])]
    who = [f"{f} → P{p}" for f, p in zip(feed["firm"], feed["provider"])]
    return {"week": feed["week"], "event": event, "firm → provider": who, "service": feed["service"],
            "price (cu/h)": feed["price (cu/h)"], "reason": feed["reason"]}


def status_html(m: app.DashboardModel, top: dict[str, Any]) -> str:
    """The status line: the week and the market's headline numbers (:func:`components.headline`)."""
    kinds = "  ·  ".join(f"{k.upper()} {top[f'permanent_share_{k}']:.0%}" for k in C.kinds_present(m)
                         if math.isfinite(top[f"permanent_share_{k}"]))
    return (f"<b>Week {top['week']}</b> of {m.cfg.run.steps}  ·  {top['firms']} firms  ·  {top['active_providers']} "
            f"active providers  ·  {top['active_contracts']} permanent contracts  ·  permanent share {kinds or 'n/a'}"
            f"  ·  mean loyalty y {_num(top['loyalty_mean'], '.2f')} (all firm-services)  ·  demand level {_num(top['demand_level'], '.2f')}")


def shown_firm(m: app.DashboardModel, firm: int) -> int:
    """The firm whose trail is shown: ``firm`` held to the market's firm ids."""
    return min(max(firm, 0), len(m.firm_agents) - 1)


def week_view(m: app.DashboardModel, fid: int) -> WeekView:
    """Everything the live panels show this week, firm ``fid``'s trail included, read under the model's lock
    (one consistent week)."""
    with m.lock:
        top = C.headline(m)
        if top["week"] == 0:
            return WeekView(0, {"status": status_html(m, top)}, {})
        shares, hist, loyal = C.form_shares(m), C.loyalty_histogram(m), C.loyalty_summary(m)
        prices = C.history_frame(m.history, "price_")
        util, count = C.history_frame(m.history, "utilization_"), C.history_frame(m.history, "providers_")
        nodes, edges = C.network_sample(m)
        feed = C.event_feed(m, 14)
        summary, trail, note = C.firm_summary(m, fid), C.decision_trail(m, fid, 8), C.decisions_note(m, fid)
        kinds_upper = tuple(k.upper() for k in C.kinds_present(m))
        target = {"BPO": m.cfg.providers.target_utilization_bpo, "KPO": m.cfg.providers.target_utilization_kpo}
        status = status_html(m, top)
    shown = [k for k in target if k in kinds_upper]
    targets = {"series": shown, "value": [target[k] for k in shown]}
    uniform = {"y": [loyal["uniform"]], "label": [f"1/K = {loyal['uniform']:.2f}"]} if math.isfinite(
        loyal["uniform"]) else {"y": [], "label": []}
    firms_shown, providers_shown = nodes["side"].count("firm"), nodes["side"].count("provider")
    groups = C.network_groups(nodes)
    if all(nodes["labelled"]):  # providers named one by one: no group labels
        groups = {c: [] for c in groups}
    rows = C.network_rows(firms_shown, providers_shown)
    n_edges = C.table_rows(edges)
    charts = {
        "shares": (spec_json("shares"),
                   columns_json({"shares": {**shares, "order": [FORM_ORDER[f] for f in shares["form"]]}})),
        "loyalty_chart": (spec_json("loyalty"), columns_json({"hist": hist, "uniform": uniform})),
        "prices": (spec_json("series", "prices", tuple(sorted(set(prices["series"].tolist()))), "cu per hour", ",.1f"),
                   columns_json({"prices": prices})),
        "providers": (spec_json("providers", kinds_upper),
                      columns_json({"util": util, "count": count, "targets": targets})),
        "network_chart": (spec_json("network", rows), columns_json(
            {"nodes": nodes, "edges": {**edges, "x0": [0.0] * n_edges, "x1": [1.0] * n_edges}, "groups": groups})),
    }
    if note:
        trail_html = note_html(note)
    elif not C.table_rows(trail):
        trail_html = note_html(f"Firm {fid} has had no sourcing review yet: reviews come every few weeks, press Step.")
    else:
        trail_html = table_html({c: v for c, v in trail.items() if c != "cheapest"},
                                bold=dict(enumerate(trail["cheapest"])), digits=0, exact={"price (cu/h)": 2})
    examples = ", ".join([str(i) for i, side in zip(nodes["id"].tolist(), nodes["side"]) if side == "firm"][:8])
    texts = {
        "status": status,
        "loyalty": html.escape(
            f"{loyal['searchers']} searchers (y < 0.5), {loyal['mixed']} mixed, {loyal['loyal']} loyal (y >= 0.8) of "
            f"{loyal['n']} that buy outside; their mean y {_num(loyal['mean'], '.2f')} (the status line's is over all "
            "firm-services, in-house ones too)."),
        "network": html.escape(
            f"{firms_shown} firms spread over the size ranking (left) and the {providers_shown} providers they used "
            "this week (right). Hover over a dot or line for its ids and hours."),
        "feed": table_html(_feed_view(feed), exact={"price (cu/h)": 2}),
        "picker": html.escape(
            f"0 to {len(m.firm_agents) - 1}; the network shows firms {examples}. At each review the firm compares the "
            "expected weekly cost (cu/week) of every option and picks by a logit over costs, so it does not always "
            "take the cheapest (in bold)."),
        "firm": f"<b>Firm {fid} now</b>, per service:",
        "summary": table_html(summary, digits=2),
        "trail": trail_html,
    }
    return WeekView(top["week"], texts, charts)


def show(widgets: dict[str, Any], view: WeekView) -> None:
    """Put ``view`` on the panels' widgets (by the names of :class:`WeekView`); unchanged values send nothing."""
    for name, text in view.texts.items():
        widgets[name].unsafe_innerHTML = text
    for name, (spec, tables) in view.charts.items():
        chart = widgets[name]
        with chart.hold_sync():  # a new shape arrives with its data
            chart.spec, chart.tables = spec, tables


def live_text(classes: list[str], style: str | None = None) -> solara.widgets.HTML:
    """An HTML widget for a text that :func:`show` sets each week.

    The page's live texts and charts are widgets made once per component (:func:`use_weekly`) and placed in
    the layout as they are: the renderer never sets their values, which it would do on each of its passes,
    putting back the text of the week the page was last laid out.
    """
    return solara.widgets.HTML(tag="div", attributes={"class": " ".join(classes), **({"style": style} if style else {})})


LIVE_TEXTS = {"status": (["outsim-status"], "font-size: 15px; margin: 4px 0 8px"), "loyalty": (["outsim-caption"], None),
              "network": (["outsim-caption"], None), "feed": (["outsim-scroll", "outsim-feed"], None),
              "picker": (["outsim-caption"], None), "firm": (["outsim-caption"], None),
              "summary": (["outsim-firm"], None), "trail": (["outsim-trail"], None)}
LIVE_CHARTS = ("shares", "loyalty_chart", "prices", "providers", "network_chart")


def panel_widgets() -> dict[str, Any]:
    """The live widgets of :func:`Panels`, by the names of :class:`WeekView` (a chart whose name is also a
    text's is named ``<name>_chart``)."""
    return {**{name: live_text(*spec) for name, spec in LIVE_TEXTS.items()},
            **{name: Chart() for name in LIVE_CHARTS}}


def use_weekly(make: Callable[[], dict[str, Any]], content: Callable[[], Any],
               put: Callable[[dict[str, Any], Any], None], relayout: Callable[[Any], bool] = lambda _: False,
               ) -> dict[str, Any]:
    """The widgets ``make()`` returns, made once for the component, showing ``content()`` (put there by
    ``put(widgets, content)``): at each layout, and after every week Mesa's controller signals without a
    render pass. A week for which ``relayout(content)`` is true is not put: the component is laid out again."""
    widgets = solara.use_memo(make, [])
    layouts, set_layouts = solara.use_state(0)

    def follow():
        put(widgets, content())

        def on_week(_: int) -> None:
            now = content()
            if relayout(now):
                set_layouts(layouts + 1)
            else:
                put(widgets, now)

        return update_counter.subscribe(on_week)

    solara.use_effect(follow)  # after every layout: the week, the model or the firm may be new
    solara.use_effect(lambda: lambda: [w.close() for w in widgets.values()], [])  # closed when the page goes
    return widgets


@solara.component
def Panel(title: str, caption: str | None, children=[]):  # noqa: B006 (solara passes children this way)
    """A titled card with a one-line "how to read it" caption (None: its first child is a caption that changes
    weekly)."""
    with solara.Card(title, margin=0, style={"height": "100%"}) as card:
        if caption is not None:
            solara.HTML(tag="div", unsafe_innerHTML=html.escape(caption), classes=["outsim-caption"])
        solara.Column(children=children)
    return card


@solara.component
def Panels(model: solara.Reactive[app.DashboardModel], firm: solara.Reactive[int]):
    """The status line and every live panel: laid out when the model, the firm shown or the layout changes
    (week 0 has no charts), and fed each week by :func:`show` (:func:`use_weekly`)."""
    m = model.value
    fid = shown_firm(m, firm.value)
    started = m.week > 0
    w = use_weekly(panel_widgets, lambda: week_view(model.value, shown_firm(model.value, firm.value)), show,
                   relayout=lambda view: (view.week > 0) != started)
    solara.Div(children=[w["status"]])
    if not started:
        solara.Info("Week 0: the market is set up but nothing has happened yet. Press STEP (one week) or the play "
                    "button to run it; RESET rebuilds it from the controls.")
        return
    with solara.Div(classes=["outsim-grid"]):
        Panel("Share of demand by form", "Stacked: permanent contracts (blue), on-call (orange), in-house (grey), "
              "unmet (red), for BPO and KPO services.", children=[w["shares"]])
        Panel("Loyalty of firm-services (y)", None, children=[w["loyalty"], w["loyalty_chart"]])
        Panel("Prices paid by form and kind", "What firms pay per hour of work, fees included: on-call (light) "
              "and permanent (dark), BPO (green) and KPO (purple).", children=[w["prices"]])
        Panel("Providers: utilisation and count", "Share of capacity in use (dashed: the target) and active "
              "providers, by kind.", children=[w["providers"]])
        Panel("Who works with whom this week", None, children=[w["network"], w["network_chart"]])
        Panel("Contract events (latest first)", "Every permanent contract signed, renewed, expired or terminated, "
              "with its reason.", children=[w["feed"]])
    with solara.Card("A firm's decision trail", margin=0, style={"margin-top": "12px"}):
        with solara.Row(style={"align-items": "center"}):
            FirmPicker(m, firm, fid)
            solara.Div(children=[w["picker"]])
        solara.Div(children=[w["firm"], w["summary"]])
        solara.HTML(tag="div", classes=["outsim-caption"], style="margin-top: 8px", unsafe_innerHTML=(
            "<b>Its latest sourcing reviews</b>: the expected cost of each option in cu/week (blank: not available), "
            "the cheapest in bold, what it chose and what came of it."))
        solara.Div(children=[w["trail"]])


@solara.component
def FirmPicker(m: app.DashboardModel, firm: solara.Reactive[int], fid: int):
    """The decision trail's firm id: what the page sends is held to the market's firm ids, or refused."""
    problem, attempt = use_problem()

    def pick(text: Any) -> None:
        firm.set(checked("Firm id", text, firm_ids(len(m.firm_agents))))

    with solara.Div(style={"min-width": "130px", "max-width": "130px"}):
        solara.InputText("Firm id", value=str(fid), on_value=lambda v: attempt(pick, v), continuous_update=False)
        ProblemLine(problem)
