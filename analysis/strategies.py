"""A strategy study's results: the table per strategy and future, the regret table, the figure and the report.

The study folder is written by ``outsim strategies FILE``: ``runs/<key>.parquet`` holds, per (strategy,
future, seed) run, the focal firm-services' totals over the weeks measured (hours, deliveries, cost by
component in cu), and ``series/<key>.parquet`` the cost and demand hours of each focal firm in each whole
year of those weeks. From them, per strategy and future:

- cost: total cost per hour of work (cu/h): everything the focal firm-services paid over the weeks
  measured, divided by their demand hours; the mean across seeds with its 95% t interval;
- regret: the strategy's cost minus that of the cheapest strategy in the same future, with the 95% interval
  of the paired (same-seed) difference; the strategy whose largest regret across futures is smallest is the
  robust one (minimax regret; a tie goes to the strategy listed first);
- risk: the 90th percentile of a focal firm's yearly cost per hour of work, pooled over seeds, firms and
  years (and the same in cu per firm-year);
- service: unmet share of demand hours; quality and on-time share of the hours providers delivered
  (weighted by hours); how demand was met (in-house, permanent, on-call) and the offshore share of
  provider hours.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.figures import new_figure, styled
from analysis.files import write_atomic
from analysis.html import esc, page, png, table
from analysis.stats import t_half_width

COMPONENTS = ("payments", "nonprice", "onboarding", "management", "shortage", "staff", "one_off")
COMPONENT_LABELS = {"payments": "payments", "nonprice": "non-price", "onboarding": "on-call onboarding",
                    "management": "management", "shortage": "shortage", "staff": "own staff",
                    "one_off": "one-off"}
COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#D55E00", "#56B4E9", "#F0E442", "#000000")
CAVEATS = (
    "Cost is what the focal firm-services paid over the weeks measured, as the model books it: payments (on-call "
    "spend and take-or-pay, broker fees included), non-price costs (friction, faulty and late work), onboarding of "
    "on-call providers, management of direct providers, shortage (unmet hours at the shortage penalty), own staff "
    "(an in-house firm-service pays the staff it keeps, H hours a week at its own cost per hour, used or not; "
    "demand beyond them is bought on call) and one-off costs in the week paid (rebuilding in-house staff, a new "
    "contract's onboarding and tender, early-exit fees). In-house work has no quality or coordination cost of its "
    "own: the model counts it as done well.",
    "The strategy applies from week 1 to the focal firm-services' reviews; contracts and staff from the warm-up "
    "carry on until a review changes them, so the cost of the switch is part of the strategy's cost. A running "
    "contract is kept to its term by the permanent strategies; the others leave it and pay its exit fee. "
    "'permanent offshore' signs with offshore providers only (known to the firm, or its broker's best pick), "
    "and takes the cheapest available option when there is no such deal. Every other firm keeps the adaptive rule.",
    "Quality and on-time share are of the hours providers delivered (an in-house firm-service's overflow only).",
)


def load(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The runs (one row per done run), the firm-years and the manifest of a study folder."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    done = {r["key"] for r in manifest.get("runs", []) if r.get("status") == "done"}

    def read(kind: str) -> pd.DataFrame:
        files = sorted(p for p in (folder / kind).glob("*.parquet") if p.stem in done)
        return pd.concat([pd.read_parquet(p) for p in files], ignore_index=True) if files else pd.DataFrame()

    return read("runs"), read("series"), manifest


def per_run(runs: pd.DataFrame) -> pd.DataFrame:
    """Each run's ratios: cost per hour (and by component), unmet share, quality, on-time, shares of hours."""
    hours, delivered = runs["demand_hours"], runs["provider_hours"].where(runs["provider_hours"] > 0)
    out = runs[["strategy", "future", "seed", "firms"]].copy()
    out["cost_per_hour"] = runs["cost_total"] / hours
    for c in COMPONENTS:
        out[f"{c}_per_hour"] = runs[f"cost_{c}"] / hours
    out["unmet_share"] = runs["unmet_hours"] / hours
    out["quality"] = runs["quality_hours"] / delivered
    out["on_time"] = runs["on_time_hours"] / delivered
    for form in ("in_house", "permanent", "on_call"):
        out[f"{form}_share"] = runs[f"{form}_hours"] / hours
    out["offshore_share"] = runs["offshore_hours"] / delivered
    return out


def regret_table(cost: pd.DataFrame) -> pd.DataFrame:
    """Regret per future from a table of costs (rows: strategies, columns: futures, lower is better).

    Returns the table of regrets (each cost minus the lowest cost of its future) with ``max_regret`` (the largest
    across futures) and ``robust`` (True for the strategy with the smallest maximum regret; the first of a tie).
    """
    regret = cost - cost.min(axis=0)
    regret["max_regret"] = regret.max(axis=1)
    regret["robust"] = False
    regret.loc[regret["max_regret"].idxmin(), "robust"] = True
    return regret


def strategy_table(runs: pd.DataFrame, firm_years: pd.DataFrame, strategies: list[str], futures: list[str]) -> pd.DataFrame:
    """One row per (future, strategy), in the study's order: cost with its interval, regret with the interval of
    the paired difference, risk, service and how demand was met."""
    ratios = per_run(runs)
    rows = []
    for future in futures:
        mine = ratios[ratios["future"] == future]
        means = mine.groupby("strategy")["cost_per_hour"].mean()
        best = means.idxmin() if len(means) else None
        for strategy in strategies:
            r = mine[mine["strategy"] == strategy]
            if r.empty:
                continue
            row = {"future": future, "strategy": strategy, "seeds": len(r), "firms": r["firms"].mean()}
            row.update(_interval(r["cost_per_hour"], "cost_per_hour"))
            paired = r.merge(mine[mine["strategy"] == best], on="seed", suffixes=("", "_best"))
            row.update(_interval(paired["cost_per_hour"] - paired["cost_per_hour_best"], "regret"))
            row.update(_risk(firm_years[(firm_years["future"] == future) & (firm_years["strategy"] == strategy)]))
            for column in ("unmet_share", "quality", "on_time", "in_house_share", "permanent_share", "on_call_share",
                           "offshore_share", *(f"{c}_per_hour" for c in COMPONENTS)):
                row[column] = r[column].mean()
            rows.append(row)
    return pd.DataFrame(rows)


def _interval(values: pd.Series, name: str) -> dict[str, float]:
    mean, half = values.mean(), t_half_width(values.std(), values.count())
    half = 0.0 if values.count() > 1 and values.std() == 0 else float(half)
    return {name: mean, f"{name}_lo": mean - half, f"{name}_hi": mean + half}


def _risk(years: pd.DataFrame) -> dict[str, float]:
    """P90 of a firm's yearly cost per hour (firm-years with demand) and of its yearly cost, over seeds, firms, years."""
    worked = years[years["demand_hours"] > 0]
    per_hour = worked["cost"] / worked["demand_hours"]
    return {"yearly_cost_per_hour_p90": float(np.quantile(per_hour, 0.9)) if len(per_hour) else np.nan,
            "yearly_cost_p90": float(np.quantile(years["cost"], 0.9)) if len(years) else np.nan}


def write_study(folder: str | Path) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Write strategies.csv, regret.csv, strategies.png and report.html into a study folder (each atomically);
    returns the strategy table and the regret table."""
    folder = Path(folder)
    runs, firm_years, manifest = load(folder)
    strategies, futures = manifest["strategies"], [f["name"] for f in manifest["futures"]]
    if runs.empty:
        raise ValueError(f"{folder}: no finished runs to analyse")
    tab = strategy_table(runs, firm_years, strategies, futures)
    cost = tab.pivot(index="strategy", columns="future", values="cost_per_hour")
    cost = cost.reindex(index=[s for s in strategies if s in cost.index], columns=[f for f in futures if f in cost.columns])
    regret = regret_table(cost.dropna(axis=0, how="any")).rename_axis(index="strategy", columns=None).reset_index()
    robust = regret.loc[regret["robust"], "strategy"]
    tab["max_regret"] = tab["strategy"].map(regret.set_index("strategy")["max_regret"])
    tab["robust"] = tab["strategy"].isin(robust)
    write_atomic(folder / "strategies.csv", lambda p: tab.to_csv(p, index=False))
    write_atomic(folder / "regret.csv", lambda p: regret.to_csv(p, index=False))
    figure = draw_cost_and_risk(tab, futures, strategies, folder / "strategies.png")
    text = page(f"Strategies: {manifest['name']}", _report_body(manifest, tab, regret, figure))
    write_atomic(folder / "report.html", lambda p: p.write_text(text, encoding="utf-8"))
    return tab, regret


@styled
def draw_cost_and_risk(tab: pd.DataFrame, futures: list[str], strategies: list[str], path: Path) -> Path:
    """One panel per future: each strategy at its cost per hour (with its 95% interval across seeds) against the
    P90 of a firm's yearly cost per hour; the robust strategy is drawn as a star."""
    ncols = min(len(futures), 2)
    nrows = -(-len(futures) // ncols)
    fig, axes = new_figure(ncols, nrows, figsize=(5.2 * ncols, 4.0 * nrows), squeeze=False, sharex=True, sharey=True)
    colour = {s: COLOURS[i % len(COLOURS)] for i, s in enumerate(strategies)}
    for ax, future in zip(axes.ravel(), futures):
        rows = tab[tab["future"] == future]
        for r in rows.itertuples():
            err = [[r.cost_per_hour - r.cost_per_hour_lo], [r.cost_per_hour_hi - r.cost_per_hour]]
            ax.errorbar(r.cost_per_hour, r.yearly_cost_per_hour_p90, xerr=err, fmt="*" if r.robust else "o",
                        markersize=12 if r.robust else 6, color=colour[r.strategy], capsize=3, alpha=0.9,
                        label=f"{r.strategy} (robust)" if r.robust else r.strategy)
        ax.set_title(future)
        ax.margins(0.15)
    for ax in axes[-1]:
        ax.set_xlabel("cost per hour of work (cu/h)")
    for ax in axes[:, 0]:
        ax.set_ylabel("P90 yearly cost per hour (cu/h)")
    for ax in axes.ravel()[len(futures):]:
        ax.set_visible(False)
    handles, labels = axes.ravel()[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="outside lower center", ncols=min(len(strategies), 4), frameon=False)
    write_atomic(path, lambda p: fig.savefig(p, format="png", dpi=120))
    return path


def format_regret(regret: pd.DataFrame) -> str:
    """The regret table for a terminal (cu/h), the robust strategy marked with '*'."""
    shown = regret.drop(columns="robust").set_index("strategy")
    shown.index = [f"{s} *" if r else s for s, r in zip(regret["strategy"], regret["robust"])]
    return "Regret: cost per hour of work minus the best strategy's in each future (cu/h); * robust\n" + \
        shown.to_string(float_format=lambda x: f"{x:.2f}")


def verdict(tab: pd.DataFrame, regret: pd.DataFrame) -> str:
    """The robust strategy and its largest regret, the others by their largest regret, and each future's best."""
    futures = [c for c in regret.columns if c not in ("strategy", "max_regret", "robust")]
    ranked = regret.sort_values("max_regret", kind="stable")

    def worst(row: pd.Series) -> str:
        return f"at most {row['max_regret']:.2f} cu/h above the best, in {max(futures, key=lambda f: row[f])}"

    robust = regret[regret["robust"]].iloc[0]
    head = (f"Robust strategy (minimax regret): {robust['strategy']}, "
            + ("the cheapest in every future" if robust["max_regret"] == 0 else worst(robust)) + ".")
    others = "; ".join(f"{r['strategy']} ({worst(r)})" for _, r in ranked.iterrows() if not r["robust"])
    best = "; ".join(f"{f}: {tab[tab['future'] == f].sort_values('cost_per_hour').iloc[0]['strategy']}" for f in futures)
    return f"{head} Then: {others}. Best per future: {best}." if others else f"{head} Best per future: {best}."


def _report_body(manifest: dict, tab: pd.DataFrame, regret: pd.DataFrame, figure: Path) -> str:
    seg, seeds = manifest["segment"], manifest["seeds"]["seeds"]
    futures = "".join(f"<li><b>{esc(f['name'])}</b> ({esc(Path(f['scenario_file']).name)}): weeks "
                      f"{f['window'][0]}-{f['window'][1]} of {f['steps']}</li>" for f in manifest["futures"])
    pct, cuh = ".1%", ".2f"
    show = tab.assign(cost=[f"{c:.2f} [{lo:.2f}, {hi:.2f}]" for c, lo, hi in
                            zip(tab["cost_per_hour"], tab["cost_per_hour_lo"], tab["cost_per_hour_hi"])],
                      regret_95=[f"{c:.2f} [{lo:.2f}, {hi:.2f}]" for c, lo, hi in
                                 zip(tab["regret"], tab["regret_lo"], tab["regret_hi"])])
    main = show[["future", "strategy", "cost", "regret_95", "yearly_cost_per_hour_p90", "yearly_cost_p90",
                 "unmet_share", "quality", "on_time", "in_house_share", "permanent_share", "on_call_share",
                 "offshore_share"]]
    parts = show[["future", "strategy", *(f"{c}_per_hour" for c in COMPONENTS)]].rename(
        columns={f"{c}_per_hour": COMPONENT_LABELS[c] for c in COMPONENTS})
    regret_shown = regret.assign(robust=regret["robust"].map({True: "robust", False: ""}))
    return "\n".join([
        f"<h1>Strategies judged across futures: {esc(manifest['name'])}</h1>",
        f"<p class='sub'>{esc(manifest.get('description', ''))}</p>",
        f"<p><b>{esc(verdict(tab, regret))}</b></p>",
        f"<p>Focal firm-services: {esc(seg['described'])} (on average {tab['firms'].mean():.1f} firms per run). "
        f"Strategies: {esc(', '.join(manifest['strategies']))}. {len(seeds)} seeds (common to every strategy and "
        f"future). Futures:</p><ul>{futures}</ul>",
        "<h2>Regret (cu/h)</h2><p class='sub'>Each strategy's cost per hour of work minus that of the best strategy "
        "in the same future; the robust strategy has the smallest largest regret.</p>",
        table(regret_shown, {c: cuh for c in regret.columns if c not in ("strategy", "robust")}, left=["strategy", "robust"]),
        "<h2>Cost against risk</h2>", f"<figure>{png(figure, 'cost against risk per future')}<figcaption>One panel "
        "per future: each strategy's cost per hour of work (mean with its 95% interval across seeds) against the "
        "90th percentile of a focal firm's yearly cost per hour (over seeds, firms and years).</figcaption></figure>",
        "<h2>Per strategy and future</h2><p class='sub'>cost and regret in cu/h with 95% intervals (regret: paired "
        "by seed with the future's best strategy); P90 of a firm's yearly cost per hour (cu/h) and per year (cu); "
        "shares of demand hours; quality, on-time and offshore shares of provider hours.</p>",
        table(main, {"yearly_cost_per_hour_p90": cuh, "yearly_cost_p90": ",.0f", "unmet_share": pct, "quality": ".3f",
                     "on_time": ".3f", "in_house_share": pct, "permanent_share": pct, "on_call_share": pct,
                     "offshore_share": pct}, left=["future", "strategy", "cost", "regret_95"]),
        "<h2>Cost per hour by component (cu/h)</h2>",
        table(parts, {COMPONENT_LABELS[c]: cuh for c in COMPONENTS}, left=["future", "strategy"]),
        "<h2>What the numbers count</h2><ul>" + "".join(f"<li>{esc(c)}</li>" for c in CAVEATS) + "</ul>",
        f"<p class='sub'>outsim {esc(manifest.get('outsim_version', '?'))}; strategy file "
        f"{esc(Path(manifest.get('strategy_file', '')).name)}; data: strategies.csv, regret.csv, runs/ and series/ "
        "(one file per run), manifest.json.</p>",
    ])
