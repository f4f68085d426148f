"""Figures about sourcing forms: emergence over time, mode transitions, spell survival, loyalty, segments.

Each function follows the contract in :mod:`analysis.figures`: loaded data and an output folder in,
PNG (and SVG) path out, :class:`~analysis.load.NotEnoughData` when nothing can be drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from analysis import measures as M
from analysis.figures import (
    FORM_COLOURS,
    FORM_LABELS,
    KIND_LABELS,
    KIND_STYLES,
    as_runs,
    first_run,
    mark_events,
    new_figure,
    note,
    percent_axis,
    save,
    styled,
)
from analysis.load import NotEnoughData
from analysis.stats import window_mean

KINDS = ("bpo", "kpo")


@styled
def emergence(data, out_dir: str | Path) -> Path:
    """Share of demand by form over weeks, BPO and KPO panels; mean and min-max band across runs."""
    runs = as_runs(data)
    if all(r.metrics.empty for r in runs):
        raise NotEnoughData("no weekly metrics: the run recorded no weeks")
    fig, axes = new_figure(2, sharey=True)
    forms = ["in_house", "on_call", "permanent"]
    if max(M.form_shares(r.metrics, k)["unmet"].max() for r in runs for k in KINDS if len(r.metrics)) > 0.01:
        forms.append("unmet")
    for ax, kind in zip(axes, KINDS):
        tables = [M.form_shares(r.metrics, kind) for r in runs if len(r.metrics)]
        steps = min(len(t) for t in tables)
        week = tables[0]["step"].to_numpy()[:steps]
        for form in forms:
            values = np.vstack([t[form].to_numpy()[:steps] for t in tables])
            ax.plot(week, values.mean(axis=0), color=FORM_COLOURS[form], lw=1.8, label=FORM_LABELS[form])
            if len(tables) > 1:
                ax.fill_between(week, values.min(axis=0), values.max(axis=0), color=FORM_COLOURS[form], alpha=0.2,
                                lw=0)
        ax.set_title(f"{KIND_LABELS[kind]} work")
        ax.set_xlabel("week")
        ax.set_ylim(0, 1)
        ax.set_xlim(week[0], week[-1])
        mark_events(ax, runs[0])
        percent_axis(ax)
    axes[0].set_ylabel("share of demand (hours)")
    band = f"; lines: mean of {len(runs)} runs, bands: min-max" if len(runs) > 1 else ""
    fig.suptitle(f"Emergence of sourcing forms\n{runs[0].label if len(runs) == 1 else 'replications'}{band}")
    axes[1].legend(loc="upper right", frameon=True)
    return save(fig, out_dir, "emergence")


def _heatmap(ax, table, title: str) -> None:
    counts = table.to_numpy()
    rows = counts.sum(axis=1, keepdims=True)
    share = np.divide(counts, rows, out=np.zeros_like(counts, dtype=float), where=rows > 0)
    ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    labels = [FORM_LABELS[m] for m in M.MODES]
    ax.set_xticks(range(3), labels)
    ax.set_yticks(range(3), labels)
    ax.set_xlabel("mode after the review")
    ax.set_ylabel("mode before the review")
    ax.set_title(title)
    for i in range(3):
        for j in range(3):
            pct = "<1%" if 0 < share[i, j] < 0.005 else f"{share[i, j]:.0%}"
            text = f"{counts[i, j]:,}\n({pct})" if rows[i, 0] else "—"
            ax.text(j, i, text, ha="center", va="center", fontsize=10,
                    color="white" if share[i, j] > 0.55 else "black")
    for side in ("top", "right"):
        ax.spines[side].set_visible(True)


@styled
def transitions(data, out_dir: str | Path) -> Path:
    """Heatmaps of sourcing mode before -> after each review: all reviews, and those that could change mode."""
    run = first_run(data)
    if run.decisions.empty:
        raise NotEnoughData("no sourcing reviews in decisions.parquet (decision recording off, or no review was due)")
    fig, axes = new_figure(2)
    _heatmap(axes[0], M.transition_matrix(run.decisions), f"all reviews ({len(run.decisions):,})")
    movable = run.decisions[run.decisions["outcome"].astype(str) != "kept"]
    _heatmap(axes[1], M.transition_matrix(movable), f"without mid-term 'kept' ({len(movable):,})")
    sample = run.manifest.get("decision_sample") or {}
    of = f", reviews of {sample.get('firms')} of {sample.get('of')} firms" if sample else ""
    fig.suptitle(f"Sourcing-mode transitions at reviews (count and row share)\n{run.label}{of}")
    return save(fig, out_dir, "transitions")


@styled
def survival(data, out_dir: str | Path) -> Path:
    """Kaplan-Meier survival of spells by form (panels) and kind (lines), with 95% Greenwood bands."""
    run = first_run(data)
    spells = run.relationships
    if spells.empty:
        raise NotEnoughData("no relationship spells: no work was outsourced in this run")
    curves = M.survival_by(spells, ("form", "kind"))
    fig, axes = new_figure(2, figsize=(8, 5.2))
    for ax, form in zip(axes, M.FORMS):
        drawn = 0
        horizon = 0.0
        for kind in KINDS:
            curve = curves.get((form, kind))
            if curve is None:
                continue
            x, y = curve.steps()
            lo, hi = curve.greenwood_band()
            med = curve.median()
            med_text = f"median {med:.0f} wk" if np.isfinite(med) else "median not reached"
            ax.step(x, y, where="post", color=FORM_COLOURS[form], ls=KIND_STYLES[kind], lw=1.8,
                    label=f"{KIND_LABELS[kind]}: {curve.n:,} spells, {curve.n_censored / curve.n:.0%} censored,\n"
                          f"{med_text}")
            ax.fill_between(x, lo, hi, step="post", color=FORM_COLOURS[form], alpha=0.15, lw=0)
            horizon = max(horizon, float(curve.quantile(0.95)) if np.isfinite(curve.quantile(0.95)) else x[-1])
            drawn += 1
        ax.set_title(f"{FORM_LABELS[form]} spells")
        ax.set_xlabel("spell length (weeks)")
        ax.set_ylim(0, 1.02)
        percent_axis(ax)
        if drawn:
            ax.set_xlim(0, max(horizon * 1.1, 4))
            ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), frameon=False, ncol=1)
        else:
            ax.set_xticks([])
            note(ax, f"no {FORM_LABELS[form]} spells in this run")
    axes[0].set_ylabel("share of spells lasting longer")
    fig.suptitle(f"Relationship survival (Kaplan-Meier, 95% bands)\n{run.label}")
    return save(fig, out_dir, "survival")


@styled
def loyalty(data, out_dir: str | Path) -> Path:
    """Histogram of the top-provider share of on-call spend per firm-service, thresholds marked."""
    run = first_run(data)
    window = M.last_window(run.steps)
    conc = M.on_call_concentration(run.relationships, window)
    if len(conc) < 4:
        raise NotEnoughData(f"only {len(conc)} firm-service(s) bought on-call work in weeks {window[0]}-{window[1]}; "
                            "the loyalty histogram needs at least 4")
    kinds = conc["service"].map(run.service_kind).fillna("unknown")
    summary = M.loyalty_summary(conc)
    fig, ax = new_figure()
    bins = np.linspace(0, 1, 21)
    groups = [conc.loc[kinds == k, "top_share"] for k in KINDS]
    ax.hist(groups, bins=bins, stacked=True, color=["#56B4E9", "#CC79A7"],
            label=[f"{KIND_LABELS[k]} ({len(g):,})" for k, g in zip(KINDS, groups)], edgecolor="white")
    ax.axvline(M.SEARCHER_BELOW, color="#444444", ls=":", lw=1.5,
               label=f"searchers below {M.SEARCHER_BELOW:.0%}: {summary['searcher_share']:.0%}")
    ax.axvline(M.LOYAL_AT, color="#444444", ls="--", lw=1.5,
               label=f"loyal from {M.LOYAL_AT:.0%}: {summary['loyal_share']:.0%}")
    y_mean = window_mean(run.metrics, window, ["loyalty_mean"]).iloc[0] if "loyalty_mean" in run.metrics else float("nan")
    ax.set_xlabel("share of the firm-service's on-call spend with its top provider")
    ax.set_ylabel("firm-services (count)")
    ax.set_xlim(0, 1)
    percent_axis(ax, "x")
    ax.legend(loc="upper right", frameon=True, title=f"bimodality coefficient b = {summary['bimodality']:.2f}\n"
              f"(> 0.56 suggests two modes)\nmodel's mean loyalty y = {y_mean:.2f}", title_fontsize=10,
              alignment="left")
    ax.set_title(f"Loyalty proxy, weeks {window[0]}-{window[1]}: {run.label}")
    return save(fig, out_dir, "loyalty")


@styled
def segments(data, out_dir: str | Path) -> Path:
    """Permanent vs on-call share of outsourced volume (last year) by firm size class and provider region."""
    run = first_run(data)
    window = M.last_window(run.steps)
    spells = run.relationships
    if spells.empty or M.in_window(spells, window)["volume_hours"].sum() <= 0:
        raise NotEnoughData(f"no outsourced volume in weeks {window[0]}-{window[1]}")
    fig, axes = new_figure(2, sharex=True)
    panels = (("size_class", "by buying firm's size class", ["small", "medium", "large"]),
              ("region", "by provider region", ["domestic", "offshore"]))
    for ax, (by, title, order) in zip(axes, panels):
        t = M.segment_form_shares(spells, run.firms, run.providers, by, window).set_index("segment")
        t = t.reindex([o for o in order if o in t.index])
        left = np.zeros(len(t))
        for form in M.FORMS:
            vals = t[form].fillna(0).to_numpy()
            ax.barh(t.index, vals, left=left, color=FORM_COLOURS[form], label=FORM_LABELS[form], height=0.6)
            for i, v in enumerate(vals):
                if v >= 0.08:
                    ax.text(left[i] + v / 2, i, f"{v:.0%}", ha="center", va="center", fontsize=10,
                            color="white" if form == "permanent" else "black")
            left += vals
        ax.set_yticks(range(len(t)), [f"{seg}\n({vol / 1e6:.2f} M h)" for seg, vol in zip(t.index, t["volume_hours"])])
        ax.set_title(title)
        ax.set_xlim(0, 1)
        ax.set_xlabel("share of outsourced volume (hours)")
        percent_axis(ax, "x")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncol=2, frameon=False)
    fig.suptitle(f"Outsourced volume by form, weeks {window[0]}-{window[1]} (in-house work not included)\n{run.label}")
    return save(fig, out_dir, "segments")
