"""The dashboard's charts: Altair (Vega-Lite) specs built once per shape and filled with each week's tables.

Each chart is drawn from the plain tables of components.py: panels.py pairs the cached spec of
:func:`spec_json` with each week's tables for the page's chart widget (vega.py). The spec is built once per
shape (Altair's build and validation took about 130 ms for the six charts) and sent to the browser once; a
new week sends only the tables, which the browser swaps into the chart already drawn.
"""

from __future__ import annotations

import functools
import json

import altair as alt

FORM_COLOURS = {"permanent": "#4e79a7", "on-call": "#f28e2b", "in-house": "#bab0ac", "unmet": "#e15759"}
SERIES_COLOURS = {"on-call BPO": "#8cd17d", "permanent BPO": "#2f7d32", "on-call KPO": "#d4a6c8",
                  "permanent KPO": "#7b3f8c", "BPO": "#2f7d32", "KPO": "#7b3f8c"}
GROUP_COLOURS = {"searcher": "#f28e2b", "mixed": "#bab0ac", "loyal": "#4e79a7", "small": "#d0d0d0",
                 "medium": "#9a9a9a", "large": "#555555", "BPO": "#2f7d32", "KPO": "#7b3f8c"}
WIDTH, HEIGHT = 370, 200  # plot area of one chart, in pixels (two columns fit beside the sidebar at 1440 px)


def _scale(colours: dict[str, str], keys) -> alt.Scale:
    keys = [k for k in colours if k in set(keys)]
    return alt.Scale(domain=keys, range=[colours[k] for k in keys])


WEEK = alt.X("week:Q", title="week", axis=alt.Axis(format="d", tickMinStep=1))


def shares_chart() -> alt.FacetChart:
    """Stacked areas of the share of demand by form over weeks, one panel per kind (BPO, KPO)."""
    return alt.Chart(alt.Data(name="shares")).mark_area().encode(
        x=WEEK, y=alt.Y("share:Q", stack="zero", title="share of demand", axis=alt.Axis(format="%"),
                        scale=alt.Scale(domain=[0, 1])),
        color=alt.Color("form:N", scale=_scale(FORM_COLOURS, FORM_COLOURS), legend=alt.Legend(title="form", orient="bottom")),
        order="order:Q", tooltip=["kind:N", "form:N", "week:Q", alt.Tooltip("share:Q", format=".1%")],
    ).properties(width=160, height=HEIGHT - 30).facet(column=alt.Column("kind:N", title=None))


def loyalty_chart() -> alt.LayerChart:
    """Histogram of loyalty y, searchers (y < 0.5) and loyal firm-services (y >= 0.8) coloured apart."""
    bars = alt.Chart(alt.Data(name="hist")).mark_bar().encode(
        x=alt.X("bin_start:Q", bin="binned", scale=alt.Scale(domain=[0, 1]),
                title="loyalty y  (1: one provider; 1/K: spread over the K it knows)"),
        x2="bin_end:Q", y=alt.Y("count:Q", title="firm-services"),
        color=alt.Color("group:N", scale=_scale(GROUP_COLOURS, ["searcher", "mixed", "loyal"]),
                        legend=alt.Legend(title=None, orient="top")),
        tooltip=["group:N", "count:Q", alt.Tooltip("bin_start:Q", title="y from", format=".2f")])
    spot = alt.Chart(alt.Data(name="uniform"))
    rule = spot.mark_rule(strokeDash=[4, 3], color="#444").encode(x="y:Q")
    text = spot.mark_text(align="left", dx=4, dy=-HEIGHT / 2 + 12, color="#444").encode(x="y:Q", text="label:N")
    return alt.layer(bars, rule, text).properties(width=WIDTH, height=HEIGHT)


def series_chart(data: str, series: tuple[str, ...], title: str, fmt: str, height: int = HEIGHT,
                 legend: bool = True, targets: bool = False) -> alt.LayerChart:
    """Lines of ``value`` over weeks, one per series, with dashed target levels from dataset "targets"."""
    colour = alt.Color("series:N", scale=_scale(SERIES_COLOURS, series),
                       legend=alt.Legend(title=None, orient="bottom", columns=2) if legend else None)
    lines = alt.Chart(alt.Data(name=data)).mark_line().encode(
        x=WEEK, y=alt.Y("value:Q", title=title, axis=alt.Axis(format=fmt), scale=alt.Scale(zero=False)),
        color=colour, tooltip=["series:N", "week:Q", alt.Tooltip("value:Q", format=fmt)])
    layers = [lines]
    if targets:
        layers.append(alt.Chart(alt.Data(name="targets")).mark_rule(strokeDash=[5, 3], opacity=0.8).encode(
            y="value:Q", color=colour))
    return alt.layer(*layers).properties(width=WIDTH, height=height)


def providers_chart(series: tuple[str, ...]) -> alt.VConcatChart:
    """Utilisation by kind (dashed: its target) above the number of active providers by kind."""
    return alt.vconcat(series_chart("util", series, "utilisation", ".0%", 100, legend=False, targets=True),
                       series_chart("count", series, "active providers", ",.0f", 70))


def network_chart(rows: int) -> alt.LayerChart:
    """Firms (left, by size) and the providers they used this week (right); edge colour = form, width = hours."""
    xs = alt.Scale(domain=[-0.55, 1.55])
    ys = alt.Scale(domain=[-0.5, rows - 0.5], reverse=True)
    lines = alt.Chart(alt.Data(name="edges")).mark_rule(opacity=0.75).encode(
        x=alt.X("x0:Q", scale=xs, axis=None), x2="x1:Q", y=alt.Y("y_firm:Q", scale=ys, axis=None), y2="y_provider:Q",
        color=alt.Color("form:N", scale=_scale(FORM_COLOURS, ["permanent", "on-call"]),
                        legend=alt.Legend(title="edge: form", orient="top")),
        strokeWidth=alt.StrokeWidth("hours:Q", scale=alt.Scale(range=[0.7, 7]),
                                    legend=alt.Legend(title="hours this week", orient="top")),
        tooltip=["firm_id:Q", "provider_id:Q", "form:N", alt.Tooltip("hours:Q", format=",.0f")])
    nodes = alt.Chart(alt.Data(name="nodes"))
    dots = nodes.mark_circle(size=70, opacity=1).encode(
        x=alt.X("x:Q", scale=xs), y=alt.Y("y:Q", scale=ys),
        fill=alt.Fill("group:N", scale=_scale(GROUP_COLOURS, ["small", "medium", "large", "BPO", "KPO"]),
                      legend=alt.Legend(title="node: firm size / provider kind", orient="bottom")),
        tooltip=["label:N", "group:N"])
    text = [nodes.transform_filter((alt.datum.side == side) & alt.datum.labelled).mark_text(
        align=align, dx=dx, fontSize=10).encode(x=alt.X("x:Q", scale=xs), y=alt.Y("y:Q", scale=ys), text="label:N")
        for side, align, dx in (("firm", "right", -7), ("provider", "left", 7))]
    groups = alt.Chart(alt.Data(name="groups")).mark_text(align="left", dx=9, fontSize=11, fontWeight="bold").encode(
        x=alt.X("x:Q", scale=xs), y=alt.Y("y:Q", scale=ys), text="label:N")
    return alt.layer(lines, dots, *text, groups).properties(width=WIDTH, height=13 * rows)


CHARTS = {"shares": shares_chart, "loyalty": loyalty_chart, "series": series_chart, "providers": providers_chart,
          "network": network_chart}


@functools.lru_cache(maxsize=64)
def chart_spec(name: str, *args) -> dict:
    """A chart's Vega-Lite spec without its data: built and validated by Altair once per shape, then reused."""
    return CHARTS[name](*args).to_dict()


@functools.lru_cache(maxsize=64)
def spec_json(name: str, *args) -> str:
    """:func:`chart_spec` as the JSON text the page's :class:`~simulation.app.vega.Chart` takes (built once per shape)."""
    return json.dumps(chart_spec(name, *args), separators=(",", ":"))

