"""Figures of a sweep folder's results: axis labels with units, phase diagrams and scatter plots.

- Grids: line plots of each output over the first parameter with 95% bands across seeds (one line per
  value of the second), and a heatmap over the first two parameters.
- Sampled designs (LHS, Sobol, Morris): each output against each parameter, with the mean per level.

Figures are PNG files written atomically into the sweep folder. Parameter units come from the caller
(the sweep command passes those of the config schema), since analysis/ never imports the model.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.files import write_atomic
from analysis.metric_units import metric_label
from analysis.sweep_results import band


def parameter_label(key: str, units: Mapping[str, str]) -> str:
    """Axis label of a dotted parameter key, with its unit from ``units`` (dotted key -> unit; "-" if unknown).

    Per-service and per-region keys (``services.<name>.x``, ``regions.<name>.x``) are looked up under
    ``<name>``, as the config schema lists them.
    """
    parts = key.split(".")
    generic = ".".join([parts[0], "<name>", *parts[2:]]) if parts[0] in ("services", "regions") else key
    unit = units.get(key) or units.get(generic) or "-"
    return f"{key} [{unit}]"


def pyplot():
    """matplotlib's pyplot on the Agg backend (files only, no display)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def save_png(fig: Any, path: Path) -> Path:
    """Save ``fig`` as a PNG at ``path`` (atomically), close it and return the path."""
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, dpi=130, format="png", bbox_inches="tight"))
    pyplot().close(fig)
    return path


def phase_figures(folder: Path, results: pd.DataFrame, params: list[str], outputs: list[str], setup: str,
                  units: Mapping[str, str]) -> list[Path]:
    """Line plots with 95% bands over the first parameter and, with two or more, heatmaps over the first two."""
    plt = pyplot()
    files = []
    x = params[0]
    rest = f" (averaged over {', '.join(params[2:])})" if len(params) > 2 else ""
    for m in outputs:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        if len(params) == 1:
            b = band(results, [x], m)
            ax.plot(b[x], b[f"{m}_mean"], "o-", color="#4c72b0", label="mean across seeds")
            ax.fill_between(b[x], b[f"{m}_lo"], b[f"{m}_hi"], color="#4c72b0", alpha=0.25, label="95% interval")
        else:
            b = band(results, [x, params[1]], m)
            colours = plt.cm.viridis(np.linspace(0, 0.9, b[params[1]].nunique()))
            for c, (v, g) in zip(colours, b.groupby(params[1], sort=True)):
                ax.plot(g[x], g[f"{m}_mean"], "o-", color=c, label=f"{v:g}")
                ax.fill_between(g[x], g[f"{m}_lo"], g[f"{m}_hi"], color=c, alpha=0.12)
            ax.legend(fontsize=8, title=parameter_label(params[1], units), title_fontsize=8)
        if len(params) == 1:
            ax.legend(fontsize=8)
        ax.set_xlabel(parameter_label(x, units))
        ax.set_ylabel(metric_label(m))
        ax.set_title(f"{m} against {x}{rest}\nlines: mean, bands: 95% interval across seeds ({setup})", fontsize=9)
        ax.grid(alpha=0.3)
        files.append(save_png(fig, folder / f"lines_{m}.png"))
        if len(params) >= 2:
            files.append(_heatmap(folder, results, x, params[1], m, rest, setup, units))
    return files


def _heatmap(folder: Path, results: pd.DataFrame, x: str, y: str, m: str, rest: str, setup: str,
             units: Mapping[str, str]) -> Path:
    """Heatmap of ``m`` (mean across seeds) over parameters ``x`` and ``y``, each cell labelled with its value."""
    plt = pyplot()
    grid = results.groupby([y, x])[m].mean().unstack(x).sort_index()
    fig, ax = plt.subplots(figsize=(7, 5.2))
    im = ax.imshow(grid.to_numpy(float), origin="lower", aspect="auto", cmap="viridis")
    ax.set_xticks(range(grid.shape[1]), [f"{v:g}" for v in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [f"{v:g}" for v in grid.index])
    lo, hi = np.nanmin(grid.to_numpy(float)), np.nanmax(grid.to_numpy(float))
    for i in range(grid.shape[0]):
        for j in range(grid.shape[1]):
            v = grid.iat[i, j]
            ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=8,
                    color="white" if v < lo + 0.5 * (hi - lo) else "black")
    ax.set_xlabel(parameter_label(x, units))
    ax.set_ylabel(parameter_label(y, units))
    ax.set_title(f"{m}: mean across seeds{rest}\n({setup})", fontsize=9)
    fig.colorbar(im, ax=ax, label=metric_label(m))
    return save_png(fig, folder / f"phase_{m}.png")


def scatter_figures(folder: Path, results: pd.DataFrame, params: list[str], outputs: list[str], what: str,
                    units: Mapping[str, str]) -> list[Path]:
    """Each output (mean across seeds per point) against each parameter: a quick look at sampled designs."""
    plt = pyplot()
    means = results.groupby("point")[[*params, *outputs]].mean()
    files = []
    cols = min(4, len(params))
    rows = -(-len(params) // cols)
    for m in outputs:
        fig, axes = plt.subplots(rows, cols, figsize=(3.6 * cols, 3.0 * rows), squeeze=False, sharey=True)
        for ax, p in zip(axes.flat, params):
            ax.scatter(means[p], means[m], s=10, alpha=0.5, color="#4c72b0", label="design point")
            bins = means[p] if means[p].nunique() <= 10 else pd.qcut(means[p], 8, duplicates="drop")
            binned = means.groupby(bins, observed=True)[[p, m]].mean()
            ax.plot(binned[p], binned[m], "-", color="#c44e52", lw=2, label="mean per level (or octile)")
            ax.set_xlabel(parameter_label(p, units), fontsize=8)
            ax.grid(alpha=0.3)
        for ax in axes.flat[len(params):]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel(metric_label(m), fontsize=8)
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(f"{m} at each design point, mean across seeds ({what})", fontsize=10)
        files.append(save_png(fig, folder / f"scatter_{m}.png"))
    return files
