"""Figures across firms and scenarios: the firm-provider relationship network and the what-if comparison.

The network snapshot draws, at chosen weeks, the spells active then (``start_week <= w <= end_week``)
of a reproducible sample of firms as a bipartite graph (networkx): firms on the left, providers on the
right, edges coloured by form. The what-if figure compares base and what-if trajectories of key
metrics with bands across replications and marks the scenario's event weeks.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import networkx as nx
import numpy as np
import pandas as pd
from matplotlib.lines import Line2D

from analysis.figures import (
    FORM_COLOURS,
    first_run,
    new_figure,
    note,
    percent_axis,
    save,
    styled,
)
from analysis.load import Comparison, NotEnoughData
from analysis.stats import t_half_width

SIZE_COLOURS = {"small": "#C7E9C0", "medium": "#74C476", "large": "#238B45"}
PROVIDER_COLOURS = {"bpo": "#56B4E9", "kpo": "#CC79A7"}
REGION_MARKERS = {"domestic": "o", "offshore": "s"}
METRIC_TITLES = {"permanent_share": "permanent (share of demand)", "on_call_share": "on-call (share of demand)",
                 "in_house_share": "in-house (share of demand)",
                 "offshore_share": "offshore (share of outsourced)", "broker_share": "via brokers (share of outsourced)"}


def default_weeks(steps: int) -> tuple[int, int]:
    """Two snapshot weeks: the end of the first year (or mid-run for short runs) and the last week."""
    return (max(1, min(52, steps // 2)), steps)


def active_at(spells, week: int):
    """Spells active in ``week``: ``start_week <= week <= end_week``."""
    return spells[(spells["start_week"] <= week) & (spells["end_week"] >= week)]


def _sample_firms(spells, weeks: Sequence[int], n: int) -> np.ndarray:
    ids = np.unique(np.concatenate([active_at(spells, w)["firm_id"].to_numpy() for w in weeks]))
    if len(ids) == 0:
        return ids
    rng = np.random.default_rng(0)  # a fixed sample, so the same folder always gives the same picture
    return np.sort(rng.choice(ids, size=min(n, len(ids)), replace=False))


def _links(snap) -> pd.DataFrame:
    """One link per firm-provider pair active in the snapshot; permanent if any of its spells is."""
    if snap.empty:
        return pd.DataFrame(columns=["firm_id", "provider_id", "form"])
    t = snap.assign(perm=snap["form"].astype(str) == "permanent").groupby(["firm_id", "provider_id"])["perm"].any()
    return t.reset_index().assign(form=lambda d: np.where(d["perm"], "permanent", "on_call"))


def _order(blocks: dict[str, list], neighbours: dict, other_y: dict) -> tuple[dict, list]:
    """Positions in [0, 1] for nodes grouped in blocks, each block sorted by the mean height of its neighbours
    (one barycentre sweep), with a gap between blocks; returns positions and (label, centre) per block."""
    n_nodes = sum(len(b) for b in blocks.values())
    gaps = max(len([b for b in blocks.values() if b]) - 1, 0)
    step = 1.0 / max(n_nodes - 1 + 1.5 * gaps, 1)
    y, pos, labels = 1.0, {}, []
    for label, nodes in blocks.items():
        if not nodes:
            continue
        bary = {v: np.mean([other_y[u] for u in neighbours.get(v, [])]) if neighbours.get(v) else 0.5 for v in nodes}
        top = y
        for v in sorted(nodes, key=lambda v: -bary[v]):
            pos[v] = y
            y -= step
        labels.append((label, (top + y + step) / 2))
        y -= 1.5 * step
    return pos, labels


@styled
def network(data, out_dir: str | Path, weeks: Sequence[int] | None = None, n_firms: int = 40) -> Path:
    """Bipartite firm-provider network of ~``n_firms`` sampled firms at two (or more) weeks.

    Firms (left) are grouped by size class, providers (right) by kind and region; within a group nodes
    are ordered by the mean height of their partners to cut crossings. Each firm-provider pair is one
    link (over all services), permanent if any of its spells is permanent then.
    """
    run = first_run(data)
    weeks = list(weeks or default_weeks(run.steps))
    spells = run.relationships
    firm_ids = _sample_firms(spells, weeks, n_firms)
    if len(firm_ids) == 0:
        raise NotEnoughData(f"no relationship active in week(s) {', '.join(map(str, weeks))}")
    sample = spells[spells["firm_id"].isin(firm_ids)]
    size_class = run.firms.set_index("firm_id")["size_class"]
    pinfo = run.providers.set_index("provider_id")
    fig, axes = new_figure(len(weeks), figsize=(4.8 * len(weeks) + 1.6, 5.6))
    for ax, w in zip(np.atleast_1d(axes), weeks):
        links = _links(active_at(sample, w))
        f_nb = links.groupby("firm_id")["provider_id"].apply(list).to_dict()
        p_nb = links.groupby("provider_id")["firm_id"].apply(list).to_dict()
        f_blocks = {c: [f for f in firm_ids if size_class.get(f) == c] for c in SIZE_COLOURS}
        # first pass: firms by id within class, so providers get a barycentre; then firms by providers
        f_first = {f: 1 - i / max(len(firm_ids) - 1, 1) for i, f in enumerate(f for b in f_blocks.values() for f in b)}
        providers = sorted(p_nb)
        p_blocks = {f"{k.upper()} {r}": [p for p in providers if pinfo.at[p, "kind"] == k and pinfo.at[p, "region"] == r]
                    for k in PROVIDER_COLOURS for r in REGION_MARKERS}
        py, p_labels = _order(p_blocks, p_nb, f_first)
        fy, f_labels = _order(f_blocks, f_nb, py)
        g = nx.Graph()
        g.add_nodes_from((("f", f) for f in firm_ids), bipartite=0)
        g.add_nodes_from((("p", p) for p in providers), bipartite=1)
        pos = {**{("f", f): (0.0, fy[f]) for f in firm_ids}, **{("p", p): (1.0, py[p]) for p in providers}}
        counts = {}
        for form, width, alpha in (("on_call", 0.8, 0.55), ("permanent", 2.0, 0.9)):
            part = links[links["form"] == form]
            edges = [(("f", a), ("p", b)) for a, b in zip(part["firm_id"], part["provider_id"])]
            counts[form] = len(edges)
            g.add_edges_from(edges, form=form)
            nx.draw_networkx_edges(g, pos, edgelist=edges, ax=ax, edge_color=FORM_COLOURS[form], width=width,
                                   alpha=alpha)
        nx.draw_networkx_nodes(g, pos, nodelist=[("f", f) for f in firm_ids], ax=ax, node_size=40,
                               node_color=[SIZE_COLOURS.get(size_class.get(f), "#999999") for f in firm_ids],
                               edgecolors="#333333", linewidths=0.5)
        for region, marker in REGION_MARKERS.items():
            ps = [p for p in providers if pinfo.at[p, "region"] == region]
            nx.draw_networkx_nodes(g, pos, nodelist=[("p", p) for p in ps], ax=ax, node_size=45, node_shape=marker,
                                   node_color=[PROVIDER_COLOURS.get(str(pinfo.at[p, "kind"]), "#999999") for p in ps],
                                   edgecolors="#333333", linewidths=0.5)
        for label, y in f_labels:
            ax.text(-0.06, y, label, ha="right", va="center", fontsize=10)
        for label, y in p_labels:
            ax.text(1.06, y, label.replace(" ", "\n", 1), ha="left", va="center", fontsize=10)
        ax.set_title(f"week {w}: {counts['permanent']} permanent,\n{counts['on_call']} on-call firm-provider links",
                     fontsize=11)
        ax.text(0.0, -0.07, f"{len(firm_ids)} firms", ha="center", va="top", fontsize=10)
        ax.text(1.0, -0.07, f"{len(providers)} providers", ha="center", va="top", fontsize=10)
        ax.set_xlim(-0.38, 1.32)
        ax.set_ylim(-0.12, 1.03)
        ax.axis("off")
        if links.empty:
            note(ax, f"no active relationship of the sampled firms in week {w}")
    handles = [Line2D([], [], color=FORM_COLOURS["permanent"], lw=2.2, label="permanent"),
               Line2D([], [], color=FORM_COLOURS["on_call"], lw=1.2, label="on-call (only)")]
    handles += [Line2D([], [], ls="", marker="o", mfc=c, mec="#333333", label=f"{k.upper()} provider")
                for k, c in PROVIDER_COLOURS.items()]
    handles += [Line2D([], [], ls="", marker=m, mfc="white", mec="#333333", label=f"{r}")
                for r, m in REGION_MARKERS.items()]
    fig.legend(handles=handles, loc="outside lower center", ncol=6, frameon=False, fontsize=10)
    fig.suptitle(f"Firm-provider relationships of {len(firm_ids)} sampled firms\n{run.label}")
    return save(fig, out_dir, "network", dpi=110)  # hundreds of anti-aliased lines: keep the PNG small


def _band(runs, metric: str):
    """Weekly mean and 95% confidence interval of the mean across runs (t distribution)."""
    usable = [r.metrics for r in runs if metric in r.metrics]
    steps = min(len(m) for m in usable)
    values = np.vstack([m[metric].to_numpy(dtype=float)[:steps] for m in usable])
    week = usable[0]["step"].to_numpy()[:steps]
    mean = np.nanmean(values, axis=0)
    n = values.shape[0]
    if n < 2:
        return week, mean, None, None, n
    half = t_half_width(np.nanstd(values, axis=0, ddof=1), n)
    return week, mean, mean - half, mean + half, n


WHATIF_COLOURS = ("#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")  # Okabe-Ito, base in blue


@styled
def whatif(data, out_dir: str | Path,
           metrics: Sequence[str] = ("permanent_share", "on_call_share", "offshore_share")) -> Path:
    """Base and what-if trajectories of key metrics in the same panels, with 95% bands and each what-if's
    event weeks as vertical lines in its colour."""
    if not isinstance(data, Comparison):
        raise NotEnoughData("the what-if figure needs a comparison folder (base/ and a what-if); "
                            "this folder is a single run or a replication set")
    names = [w.get("name", "what-if") for w in data.manifest.get("whatifs") or [{"name": data.manifest.get("whatif")}]]
    sides = [("base: " + str(data.manifest.get("base", "base")), data.base.runs, "#0072B2", [])]
    sides += [(str(name), side.runs, WHATIF_COLOURS[i % len(WHATIF_COLOURS)], weeks)
              for i, (name, side, weeks) in enumerate(zip(names, data.whatifs, data.event_weeks))]
    shown = [m for m in metrics if all(m in r.metrics for _, rs, _, _ in sides for r in rs)]
    if not shown or not all(rs for _, rs, _, _ in sides):
        raise NotEnoughData(f"none of the metrics {', '.join(metrics)} is in both base and what-if runs")
    fig, axes = new_figure(len(shown), figsize=(3.6 * len(shown) + 0.4, 4.8), sharex=True)
    window = data.manifest.get("window")
    for ax, metric in zip(np.atleast_1d(axes), shown):
        for label, rs, colour, weeks in sides:
            week, mean, lo, hi, n = _band(rs, metric)
            ax.plot(week, mean, color=colour, lw=1.6, label=f"{label} (n={n})")
            if lo is not None:
                ax.fill_between(week, lo, hi, color=colour, alpha=0.18, lw=0)
            for w in weeks:
                ax.axvline(w, color=colour, ls="--", lw=1)
        if isinstance(window, (list, tuple)) and len(window) == 2:
            ax.axvspan(window[0], window[1], color="#999999", alpha=0.12, lw=0, label="chosen window")
        ax.set_title(METRIC_TITLES.get(metric, metric.replace("_", " ")))
        ax.set_xlabel("week")
        if metric.endswith(("share", "rate")) or "_share_" in metric:
            ax.set_ylim(0, 1)
            percent_axis(ax)
            ax.set_ylabel("share (weekly)")
    handles, labels = np.atleast_1d(axes)[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=min(len(labels), 3), frameon=False, fontsize=9.5)
    fig.suptitle("What-ifs vs base: mean across replications, bands: 95% CI of the mean; dashed: event weeks")
    return save(fig, out_dir, "whatif")
