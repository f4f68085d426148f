"""Figures about the market: prices, utilisation and provider counts, concentration, surplus, brokers.

Each function follows the contract in :mod:`analysis.figures`: loaded data and an output folder in,
PNG (and SVG) path out, :class:`~analysis.load.NotEnoughData` when nothing can be drawn.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from analysis import measures as M
from analysis.figures import (
    FORM_COLOURS,
    FORM_LABELS,
    KIND_LABELS,
    first_run,
    mark_events,
    new_figure,
    note,
    percent_axis,
    save,
    styled,
)
from analysis.formatting import format_number
from analysis.load import NotEnoughData

KINDS = ("bpo", "kpo")
KIND_COLOURS = {"bpo": "#56B4E9", "kpo": "#CC79A7"}
LEVELS = ((1500, ":"), (2500, "--"))  # HHI levels of the 2010 US horizontal merger guidelines
SERVICE_COLOURS = ("#0072B2", "#009E73", "#56B4E9", "#D55E00", "#CC79A7", "#000000", "#E69F00")


@styled
def prices(data, out_dir: str | Path) -> Path:
    """Quarterly mean price per hour paid, on-call vs permanent, in BPO and KPO panels."""
    run = first_run(data)
    spells = run.relationships
    if spells.empty or spells["volume_hours"].sum() <= 0:
        raise NotEnoughData("no outsourced work, so no prices: relationships.parquet has no volume")
    table = M.prices_over_time(spells, run.steps, bin_weeks=13)
    fig, axes = new_figure(2)
    for ax, kind in zip(axes, KINDS):
        missing = []
        for form in M.FORMS:
            t = table[(table["kind"].astype(str) == kind) & (table["form"].astype(str) == form)]
            if t["price"].notna().any():
                ax.plot(t["week"], t["price"], color=FORM_COLOURS[form], lw=1.8, marker="o", ms=3,
                        label=FORM_LABELS[form])
            else:
                missing.append(FORM_LABELS[form])
        ax.set_title(f"{KIND_LABELS[kind]} work")
        ax.set_xlabel("week (quarter ending)")
        ax.set_xlim(0, run.steps)
        mark_events(ax, run)
        if missing and len(missing) < len(M.FORMS):
            ax.text(0.02, 0.03, f"no {' or '.join(missing)} work of this kind", transform=ax.transAxes, fontsize=10,
                    color="#444444")
        if len(missing) == len(M.FORMS):
            note(ax, f"no {KIND_LABELS[kind]} work was outsourced")
        else:
            ax.legend(loc="best", frameon=True)
            ax.set_ylim(0, ax.get_ylim()[1] * 1.05)
    axes[0].set_ylabel("price paid (cu per hour, incl. broker fees)")
    fig.suptitle(f"Prices by form and kind\n{run.label}")
    return save(fig, out_dir, "prices")


def _active_by_kind(providers: pd.DataFrame, steps: int) -> dict[str, np.ndarray]:
    weeks = np.arange(1, steps + 1)
    out = {}
    for kind in KINDS:
        p = providers[providers["kind"].astype(str) == kind]
        start = p["entry_week"].to_numpy()[:, None]
        stop = p["exit_week"].fillna(steps + 1).to_numpy(int)[:, None]  # missing: still active
        out[kind] = ((start <= weeks) & (weeks < stop)).sum(axis=0)
    return out


@styled
def capacity(data, out_dir: str | Path) -> Path:
    """Provider utilisation over weeks; active providers by kind; entries and exits per year."""
    run = first_run(data)
    m = run.metrics
    if m.empty:
        raise NotEnoughData("no weekly metrics: the run recorded no weeks")
    fig, axes = new_figure(3, figsize=(11, 4.3))
    ax = axes[0]
    ax.plot(m["step"], m["provider_utilization"], color="#000000", lw=1.2, label="all providers (weekly)")
    mark_events(ax, run)
    targets = run.config.get("providers", {})
    for kind, ls in (("bpo", "--"), ("kpo", ":")):
        t = targets.get(f"target_utilization_{kind}")
        if t is not None:
            ax.axhline(t, color=KIND_COLOURS[kind], ls=ls, lw=1.5, label=f"{KIND_LABELS[kind]} target ({t:.0%})")
    ax.set_ylim(0, 1)
    percent_axis(ax)
    ax.set_xlabel("week")
    ax.set_ylabel("hours used / capacity")
    ax.set_title("utilisation")
    ax.legend(loc="lower right", frameon=True)

    ax = axes[1]
    active = _active_by_kind(run.providers, run.steps)
    for kind, counts in active.items():
        ax.plot(np.arange(1, run.steps + 1), counts, color=KIND_COLOURS[kind], lw=1.8, label=KIND_LABELS[kind])
    ax.set_ylim(0, None)
    ax.set_xlabel("week")
    mark_events(ax, run)
    ax.set_ylabel("active providers")
    ax.set_title("active providers")
    ax.legend(loc="lower left", frameon=True)

    ax = axes[2]
    ee = M.entry_exit_by_year(run.providers, run.steps).groupby("year")[["entries", "exits"]].sum()
    x = ee.index.to_numpy()
    ax.bar(x - 0.2, ee["entries"], width=0.4, color="#009E73", label=f"entries ({ee['entries'].sum()})")
    ax.bar(x + 0.2, ee["exits"], width=0.4, color="#D55E00", label=f"exits ({ee['exits'].sum()})")
    ax.set_xticks(x)
    mark_events(ax, run, per_year=True)
    ax.set_xlabel("year of the run")
    ax.set_ylabel("providers per year")
    ax.set_title("entry and exit")
    ax.legend(loc="upper right", frameon=True)
    fig.suptitle(f"Capacity and providers\n{run.label}")
    return save(fig, out_dir, "capacity")


@styled
def concentration(data, out_dir: str | Path) -> Path:
    """HHI of provider volume per service: last year (bars) and per year (lines)."""
    run = first_run(data)
    spells = run.relationships
    window = M.last_window(run.steps)
    last = M.hhi_by_service(spells, window)
    if last.empty or last["hhi"].isna().all():
        raise NotEnoughData(f"no outsourced volume in weeks {window[0]}-{window[1]}, so no concentration")
    fig, axes = new_figure(2, figsize=(10, 4.5))
    ax = axes[0]
    last = last.sort_values(["kind", "service"])
    colours = [KIND_COLOURS.get(k, "#999999") for k in last["kind"]]
    bars = ax.barh(last["service"].str.replace("_", " "), last["hhi"], color=colours)
    for bar, n in zip(bars, last["providers"]):
        ax.text(bar.get_width(), bar.get_y() + bar.get_height() / 2, f" {n} providers", va="center", fontsize=10)
    for level, ls in LEVELS:
        ax.axvline(level, color="#444444", ls=ls, lw=1.2)
    ax.set_xlim(0, max(float(last["hhi"].max()) * 1.5, 3000))
    ax.set_xlabel("HHI (0-10,000)")
    ax.set_title(f"weeks {window[0]}-{window[1]}")
    ax = axes[1]
    years = range(1, (run.steps - 1) // M.YEAR + 2)
    rows = []
    for y in years:
        w = ((y - 1) * M.YEAR + 1, min(y * M.YEAR, run.steps))
        rows.append(M.hhi_by_service(spells, w).assign(year=y))
    per_year = pd.concat(rows, ignore_index=True)
    for i, (service, g) in enumerate(per_year.groupby("service", sort=True)):
        kind = str(g["kind"].iloc[0])
        ax.plot(g["year"], g["hhi"], marker="o", ms=3, color=SERVICE_COLOURS[i % len(SERVICE_COLOURS)],
                ls="-" if kind == "bpo" else "--", label=f"{service.replace('_', ' ')} ({kind.upper()})")
    ax.set_xlabel("year of the run")
    ax.set_ylabel("HHI (0-10,000)")
    ax.set_ylim(0, None)
    ax.set_title("per year")
    for level, ls in LEVELS:
        ax.axhline(level, color="#444444", ls=ls, lw=1.2,
                   label=f"{level:,}: {'moderately' if level < 2000 else 'highly'} concentrated")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=9.5, frameon=False)
    fig.suptitle(f"Provider concentration by service (HHI; levels from the 2010 US merger guidelines)\n{run.label}")
    return save(fig, out_dir, "concentration")


@styled
def surplus(data, out_dir: str | Path) -> Path:
    """Firm surplus and provider profit per year (million cu)."""
    run = first_run(data)
    if run.metrics.empty:
        raise NotEnoughData("no weekly metrics: the run recorded no weeks")
    t = M.surplus_by_year(run.metrics)
    fig, ax = new_figure()
    x = t["year"].to_numpy()
    bars = [("firm_surplus", "firm surplus", "#0072B2", 1.0), ("provider_profit", "provider profit", "#E69F00", 1.0)]
    if "onboarding_costs" in run.metrics:
        onboarding = run.metrics.groupby((run.metrics["step"] - 1) // M.YEAR + 1)["onboarding_costs"].sum()
        t["onboarding"] = onboarding.reindex(t["year"]).to_numpy()
        bars.append(("onboarding", "onboarding costs, part of firm surplus", "#999999", -1.0))
    width = 0.8 / len(bars)
    for i, (col, label, colour, sign) in enumerate(bars):
        ax.bar(x + (i - (len(bars) - 1) / 2) * width, sign * t[col] / 1e6, width=width, color=colour,
               label=f"{label} (total {format_number(sign * t[col].sum(), 'money')})")
    ax.axhline(0, color="black", lw=0.8)
    mark_events(ax, run, per_year=True)
    ax.set_xticks(x)
    ax.set_xlabel("year of the run" + (" (last year partial)" if run.steps % M.YEAR else "")
                  + "\nfirm surplus = in-house cost of the work bought - price paid - non-price costs - onboarding")
    ax.set_ylabel("million cu per year")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo - 0.3 * (hi - lo) if lo < 0 else lo, hi + 0.3 * (hi - lo) if lo >= 0 else hi)
    ax.legend(loc="lower left" if lo < 0 else "upper left", frameon=True)
    ax.set_title(f"Surplus split: {run.label}")
    return save(fig, out_dir, "surplus")


@styled
def brokers(data, out_dir: str | Path) -> Path:
    """Broker share of matches (spells) and of volume, by firm size class and by service kind."""
    run = first_run(data)
    if run.relationships.empty:
        raise NotEnoughData("no relationship spells, so no matches to attribute to brokers")
    fig, axes = new_figure(2, sharey=True)
    panels = (("size_class", "by buying firm's size class", ["small", "medium", "large"]),
              ("kind", "by service kind", list(KINDS)))
    for ax, (by, title, order) in zip(axes, panels):
        t = M.broker_shares(run.relationships, run.firms, by).set_index("segment")
        t = t.reindex([o for o in order if o in t.index])
        x = np.arange(len(t))
        ax.bar(x - 0.2, t["match_share"], width=0.4, color="#009E73", label="share of matches (spells)")
        ax.bar(x + 0.2, t["volume_share"], width=0.4, color="#CC79A7", label="share of volume (hours)")
        for xi, (a, b) in enumerate(zip(t["match_share"], t["volume_share"])):
            ax.text(xi - 0.2, a, f"{a:.0%}", ha="center", va="bottom", fontsize=10)
            ax.text(xi + 0.2, b, f"{b:.0%}", ha="center", va="bottom", fontsize=10)
        ax.set_xticks(x, [KIND_LABELS.get(s, s) for s in t.index])
        ax.set_title(title)
        ax.set_ylim(0, 1.1)
        percent_axis(ax)
    axes[0].set_ylabel("share through a broker")
    axes[1].legend(loc="upper left", frameon=True)
    fig.suptitle(f"Intermediaries, whole run\n{run.label}")
    return save(fig, out_dir, "brokers")
