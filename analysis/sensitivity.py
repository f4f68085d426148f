"""Sensitivity indices of a sweep's outputs to its parameters, with a bar figure (Sobol and Morris designs).

- Sobol designs: first-order and total indices S1, ST with bootstrap 95% intervals (SALib; Saltelli
  2002, Jansen 1999).
- Morris designs: mu* (mean absolute elementary effect) with its bootstrap interval, mu and sigma
  (Morris 1991; Campolongo et al. 2007).

One CSV per output (``sobol_<output>.csv`` or ``morris_<output>.csv``) and ``sensitivity.png``.
The indices need every design point done.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.files import write_atomic
from analysis.metric_units import METRIC_UNITS
from analysis.sweep_figures import pyplot, save_png


def sensitivity(folder: Path, manifest: dict[str, Any], results: pd.DataFrame, notes: list[str]) -> list[Path]:
    """Sobol or Morris indices per output (CSV each) and one bar figure."""
    from SALib.analyze import morris, sobol

    design = pd.read_parquet(folder / "design.parquet")
    params = [p["key"] for p in manifest["parameters"]]
    problem = {"num_vars": len(params), "names": params,
               "bounds": [[p["low"], p["high"]] for p in manifest["parameters"]]}
    kind, seed = manifest["design"]["kind"], manifest["design"]["seed_base"]
    means = results.groupby("point")[manifest["outputs"]["final"]].mean()
    if len(means) < len(design):
        notes.append(f"{kind} indices skipped: they need every design point ({len(means)} of {len(design)} done)")
        return []
    tables: dict[str, pd.DataFrame] = {}
    for m in manifest["outputs"]["final"]:
        y = means[m].reindex(design["point"]).to_numpy(float)
        if not np.isfinite(y).all():
            notes.append(f"{kind} indices for {m} skipped: some points have no value (NaN)")
            continue
        if kind == "sobol":
            si = sobol.analyze(problem, y, calc_second_order=False, seed=seed)
            t = pd.DataFrame({"parameter": params, "S1": si["S1"], "S1_conf": si["S1_conf"], "ST": si["ST"],
                              "ST_conf": si["ST_conf"]}).sort_values("ST", ascending=False)
        else:
            x = design[[f"sample:{k}" for k in params]].to_numpy(float)
            si = morris.analyze(problem, x, y, num_levels=manifest["design"]["levels"], seed=seed)
            t = pd.DataFrame({"parameter": params, "mu": si["mu"], "mu_star": si["mu_star"],
                              "mu_star_conf": si["mu_star_conf"], "sigma": si["sigma"]}).sort_values("mu_star", ascending=False)
        tables[m] = t.reset_index(drop=True)
        top = ", ".join(t["parameter"].head(3))
        notes.append(f"{kind}: most influential for {m}: {top}")
    files = []
    for m, t in tables.items():
        path = folder / f"{kind}_{m}.csv"
        write_atomic(path, lambda p, t=t: t.to_csv(p, index=False))
        files.append(path)
    if tables:
        d = manifest["design"]
        setup = (f"{d['samples']} {'trajectories' if kind == 'morris' else 'base samples'}, {d['points']} design points x "
                 f"{len(d['seeds'])} seed(s); outputs: means of the last {manifest['outputs']['final_window']} weeks")
        files.append(sensitivity_figure(folder, kind, tables, d.get("levels") or 4, setup))
    return files


def sensitivity_figure(folder: Path, kind: str, tables: dict[str, pd.DataFrame], levels: int, setup: str) -> Path:
    """Bars per parameter and output: S1 and ST (Sobol) or mu* and sigma with the sign of mu (Morris)."""
    plt = pyplot()
    n = len(tables)
    d = len(next(iter(tables.values())))
    fig, axes = plt.subplots(1, n, figsize=(7.8 * n, 0.5 * d + 2.2), squeeze=False)
    for ax, (m, t) in zip(axes[0], tables.items()):
        t = t.iloc[::-1]  # largest on top
        y = np.arange(len(t))
        if kind == "sobol":
            ax.barh(y + 0.2, t["S1"], 0.4, xerr=t["S1_conf"], label="S1 (first order), 95% interval", color="#4c72b0",
                    capsize=3)
            ax.barh(y - 0.2, t["ST"], 0.4, xerr=t["ST_conf"], label="ST (total), 95% interval", color="#dd8452", capsize=3)
            ax.set_xlabel("share of output variance (0-1)")
        else:
            step = levels / (2 * (levels - 1))
            ax.barh(y + 0.2, t["mu_star"], 0.4, xerr=t["mu_star_conf"], label="mu* = mean |effect|, 95% interval",
                    color="#4c72b0", capsize=3)
            ax.barh(y - 0.2, t["sigma"], 0.4, label="sigma = sd of effects (interactions)", color="#dd8452")
            for yi, (ms, mu) in enumerate(zip(t["mu_star"] + t["mu_star_conf"], t["mu"])):
                ax.text(ms, yi + 0.2, f"  mu {mu:+.3f}", va="center", fontsize=7)
            ax.set_xlim(0, 1.25 * float((t["mu_star"] + t["mu_star_conf"]).max()))
            ax.set_xlabel(f"effect on {m} per step of {step:.2g} x range\n"
                          f"[{METRIC_UNITS.get(m, '-')}; mu < 0: raising the parameter lowers it]")
        ax.set_yticks(y, t["parameter"])
        ax.set_title(f"{'Sobol indices' if kind == 'sobol' else 'Morris screening'}: {m}")
        ax.axvline(0, color="black", lw=0.6)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(setup, fontsize=9)
    return save_png(fig, folder / "sensitivity.png")
