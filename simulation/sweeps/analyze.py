"""Analysis of a finished sweep folder (it reads nothing else): sensitivity indices, phase diagrams, P1 curve.

- Sobol designs: first-order and total indices S1, ST with bootstrap 95% intervals (SALib; Saltelli
  2002, Jansen 1999). Morris designs: mu* (mean absolute elementary effect) with its bootstrap
  interval, and sigma (Morris 1991; Campolongo et al. 2007). One CSV per output and a bar figure.
- Grids: a heatmap of each output over the first two parameters and line plots with 95% bands over
  the first (one line per value of the second); LHS and the designs above get scatter plots.
- The WKH sweep (choice.beta alone, loyalty_mean kept): measured y against beta with the mean-field
  curve of Weisbuch, Kirman & Herreiner (2000) from a symmetric and a loyal start, whose gap is the
  hysteresis window of n >= 3, and the finite-memory value below the transition.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from simulation.runfolder import write_atomic
from simulation.config import parameter_units
from simulation.sweeps.store import load_results, summarise


class AnalysisError(RuntimeError):
    """The folder cannot be analysed (not a sweep folder, or no finished runs)."""


UNITS = {"loyalty_mean": "loyalty y (0-1; 1 = always the same provider)", "switch_rate": "share of on-call buyers per week",
         "provider_utilization": "share of capacity", "offshore_share": "share of outsourced hours",
         "broker_share": "share of outsourced hours", "quality_mean": "quality (0-1)", "on_time_rate": "share of hours",
         "active_providers": "providers", "active_contracts": "contracts", "demand_level": "index",
         "max_capacity_overuse": "hours/week"}


def metric_label(name: str) -> str:
    """Axis label of a metric, with its unit."""
    if name in UNITS:
        unit = UNITS[name]
    elif "share" in name:
        unit = "share of demand (0-1)"
    elif name.startswith("mean_price"):
        unit = "cu/hour"
    elif name.endswith("_hours"):
        unit = "hours/week"
    elif name.startswith(("contracts_", "provider_entries", "provider_exits")):
        unit = "per week"
    elif name.startswith("wage_index"):
        unit = "index"
    else:
        unit = "cu/week"
    return f"{name} [{unit}]"


def parameter_label(key: str) -> str:
    """Axis label of a dotted parameter key, with its unit from the config schema."""
    units = parameter_units()
    parts = key.split(".")
    generic = ".".join([parts[0], "<name>", *parts[2:]]) if parts[0] in ("services", "regions") else key
    unit = units.get(key) or units.get(generic) or "-"
    return f"{key} [{unit}]"


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _save(fig: Any, path: Path) -> Path:
    fig.tight_layout()
    write_atomic(path, lambda p: fig.savefig(p, dpi=130, format="png", bbox_inches="tight"))
    _plt().close(fig)
    return path


def analyze(folder: str | Path) -> tuple[list[str], list[Path]]:
    """Write every analysis the sweep's design allows into ``folder``; returns (notes, files written)."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise AnalysisError(f"{folder}: not a sweep folder (no readable manifest.json)") from None
    if manifest.get("kind") != "sweep":
        raise AnalysisError(f"{folder}: manifest kind is {manifest.get('kind')!r}, not 'sweep'")
    results = load_results(folder)
    if results.empty:
        raise AnalysisError(f"{folder}: no finished runs to analyse")
    params = [p["key"] for p in manifest["parameters"]]
    outputs = manifest["outputs"]["final"]
    notes: list[str] = []
    files: list[Path] = []
    missing = manifest["design"]["points"] - results["point"].nunique()
    if missing:
        notes.append(f"{missing} design point(s) have no finished run yet; figures show the others")
    kind = manifest["design"]["kind"]
    if kind in ("sobol", "morris"):
        files += sensitivity(folder, manifest, results, notes)
    setup = (f"means of the last {manifest['outputs']['final_window']} of {manifest['base_config']['run']['steps']} weeks; "
             f"{len(manifest['design']['seeds'])} seed(s) per point")
    if kind == "grid":
        files += phase_figures(folder, results, params, outputs, setup)
    else:
        files += scatter_figures(folder, results, params, outputs, f"{kind} design points; {setup}")
    if params == ["choice.beta"] and "loyalty_mean" in outputs and kind == "grid":
        files += wkh_curve(folder, manifest, results, notes)
    return notes, files


# ----------------------------------------------------------------------------- sensitivity indices
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
        files.append(_sensitivity_figure(folder, kind, tables, d.get("levels") or 4, setup))
    return files


def _sensitivity_figure(folder: Path, kind: str, tables: dict[str, pd.DataFrame], levels: int, setup: str) -> Path:
    plt = _plt()
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
                          f"[{metric_label(m).split('[')[-1].rstrip(']')}; mu < 0: raising the parameter lowers it]")
        ax.set_yticks(y, t["parameter"])
        ax.set_title(f"{'Sobol indices' if kind == 'sobol' else 'Morris screening'}: {m}")
        ax.axvline(0, color="black", lw=0.6)
        ax.legend(loc="lower right", fontsize=8)
    fig.suptitle(setup, fontsize=9)
    return _save(fig, folder / "sensitivity.png")


# ----------------------------------------------------------------------------- phase diagrams
def _band(results: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Mean and 95% t interval across seeds of ``metric`` per ``by`` (other parameters averaged within a seed)."""
    per_seed = results.groupby([*by, "seed"], sort=True)[metric].mean().reset_index()
    return summarise(per_seed.assign(point=per_seed.groupby(by, sort=True).ngroup()), by, [metric])


def phase_figures(folder: Path, results: pd.DataFrame, params: list[str], outputs: list[str], setup: str) -> list[Path]:
    """Line plots with 95% bands over the first parameter and, with two or more, heatmaps over the first two."""
    plt = _plt()
    files = []
    x = params[0]
    rest = f" (averaged over {', '.join(params[2:])})" if len(params) > 2 else ""
    for m in outputs:
        fig, ax = plt.subplots(figsize=(7, 4.5))
        if len(params) == 1:
            b = _band(results, [x], m)
            ax.plot(b[x], b[f"{m}_mean"], "o-", color="#4c72b0", label="mean across seeds")
            ax.fill_between(b[x], b[f"{m}_lo"], b[f"{m}_hi"], color="#4c72b0", alpha=0.25, label="95% interval")
        else:
            b = _band(results, [x, params[1]], m)
            colours = plt.cm.viridis(np.linspace(0, 0.9, b[params[1]].nunique()))
            for c, (v, g) in zip(colours, b.groupby(params[1], sort=True)):
                ax.plot(g[x], g[f"{m}_mean"], "o-", color=c, label=f"{v:g}")
                ax.fill_between(g[x], g[f"{m}_lo"], g[f"{m}_hi"], color=c, alpha=0.12)
            ax.legend(fontsize=8, title=parameter_label(params[1]), title_fontsize=8)
        if len(params) == 1:
            ax.legend(fontsize=8)
        ax.set_xlabel(parameter_label(x))
        ax.set_ylabel(metric_label(m))
        ax.set_title(f"{m} against {x}{rest}\nlines: mean, bands: 95% interval across seeds ({setup})", fontsize=9)
        ax.grid(alpha=0.3)
        files.append(_save(fig, folder / f"lines_{m}.png"))
        if len(params) >= 2:
            files.append(_heatmap(folder, results, x, params[1], m, rest, setup))
    return files


def _heatmap(folder: Path, results: pd.DataFrame, x: str, y: str, m: str, rest: str, setup: str) -> Path:
    plt = _plt()
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
    ax.set_xlabel(parameter_label(x))
    ax.set_ylabel(parameter_label(y))
    ax.set_title(f"{m}: mean across seeds{rest}\n({setup})", fontsize=9)
    fig.colorbar(im, ax=ax, label=metric_label(m))
    return _save(fig, folder / f"phase_{m}.png")


def scatter_figures(folder: Path, results: pd.DataFrame, params: list[str], outputs: list[str], what: str) -> list[Path]:
    """Each output (mean across seeds per point) against each parameter: a quick look at sampled designs."""
    plt = _plt()
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
            ax.set_xlabel(parameter_label(p), fontsize=8)
            ax.grid(alpha=0.3)
        for ax in axes.flat[len(params):]:
            ax.set_visible(False)
        for ax in axes[:, 0]:
            ax.set_ylabel(metric_label(m), fontsize=8)
        axes.flat[0].legend(fontsize=7)
        fig.suptitle(f"{m} at each design point, mean across seeds ({what})", fontsize=10)
        files.append(_save(fig, folder / f"scatter_{m}.png"))
    return files


# ----------------------------------------------------------------------------- P1: the WKH curve
def mean_field_y(n: int, betas: np.ndarray, gamma: float, pi: float, loyal: bool, iterations: int = 20_000) -> np.ndarray:
    """Mean-field loyalty: fixed point of J_j = (pi / gamma) P_j, P = softmax(beta J), for many betas at once.

    From a loyal start (all preference on one provider) or a symmetric one with an infinitesimal push,
    which grows only where the symmetric state is unstable; the damped iteration converges on both
    branches (the same solver as tests/test_patterns.py, vectorised over beta).
    """
    betas = np.asarray(betas, float)[:, None]
    J = np.zeros((len(betas), n))
    if loyal:
        J[:, 0] = pi / gamma
    else:
        J[:] = pi / (n * gamma)
        J[:, 0] += 1e-9
    for _ in range(iterations):
        z = betas * J
        P = np.exp(z - z.max(axis=1, keepdims=True))
        P /= P.sum(axis=1, keepdims=True)
        J = 0.5 * J + 0.5 * pi * P / gamma
    P = J / J.sum(axis=1, keepdims=True)
    return (P**2).sum(axis=1)


def disordered_y(n: int, betas: np.ndarray, gamma: float, pi: float) -> np.ndarray:
    """Expected y below the transition with finite memory (1/n in the gamma -> 0 limit); see tests/test_patterns.py."""
    return 1.0 / n + (1.0 - 1.0 / n) * gamma / (2.0 - gamma) / (1.0 - np.asarray(betas, float) * pi / (n * gamma))


def wkh_parameters(config: dict[str, Any]) -> tuple[int, float, float]:
    """(n, gamma, pi) of the WKH case from a resolved config.

    pi = 1 - price / in-house cost for a firm of size 1: price = domestic wage x skill premium^(skill - 1)
    / BPO productivity x (1 + BPO markup). With in-house cost dispersion above 0, pi varies by firm
    and this is its median.
    """
    (service,) = config["services"].values()
    p = config["providers"]
    price = config["regions"]["domestic"]["wage_per_hour"] * p["skill_wage_premium"] ** (service["skill_level"] - 1) \
        / p["productivity_bpo"] * (1 + p["initial_markup_bpo"])
    return int(p["bpo_count"]), float(config["choice"]["gamma"]), 1.0 - price / service["inhouse_cost_per_hour"]


def wkh_curve(folder: Path, manifest: dict[str, Any], results: pd.DataFrame, notes: list[str]) -> list[Path]:
    """y against beta with the mean-field branches; wkh_fit.csv holds the numbers."""
    try:
        n, gamma, pi = wkh_parameters(manifest["base_config"])
    except (KeyError, ValueError, TypeError):
        notes.append("WKH curve skipped: the base scenario is not the one-service WKH case")
        return []
    beta_c = n * gamma / pi
    b = _band(results, ["choice.beta"], "loyalty_mean")
    beta = b["choice.beta"].to_numpy(float)
    fit = pd.DataFrame({"beta": beta, "y_mean": b["loyalty_mean_mean"], "y_lo": b["loyalty_mean_lo"],
                        "y_hi": b["loyalty_mean_hi"], "n_seeds": b["n"],
                        "y_mf_symmetric_start": mean_field_y(n, beta, gamma, pi, loyal=False),
                        "y_mf_loyal_start": mean_field_y(n, beta, gamma, pi, loyal=True),
                        "y_finite_memory_disordered": np.where(beta < 0.95 * beta_c, disordered_y(n, beta, gamma, pi), np.nan)})
    write_atomic(folder / "wkh_fit.csv", lambda p: fit.to_csv(p, index=False))
    above, below = fit[fit["beta"] >= 1.5 * beta_c], fit[fit["beta"] <= 0.75 * beta_c]
    if len(above):
        notes.append(f"P1: max |y - y_mf| for beta >= 1.5 beta_c = {1.5 * beta_c:.2f}: "
                     f"{(above['y_mean'] - above['y_mf_loyal_start']).abs().max():.4f}")
    if len(below):
        notes.append(f"P1: max |y - y_disordered| for beta <= 0.75 beta_c: "
                     f"{(below['y_mean'] - below['y_finite_memory_disordered']).abs().max():.4f} "
                     f"(mean field 1/n = {1 / n:.3f}; y sits above it by O(gamma) with finite memory)")
    near = fit.iloc[(fit["beta"] - beta_c).abs().argsort()[:1]].iloc[0]
    notes.append(f"P1: at beta = {near['beta']:g} (beta_c = {beta_c:.3g}) measured y = {near['y_mean']:.3f}; mean field "
                 f"{near['y_mf_symmetric_start']:.3f} (symmetric start) / {near['y_mf_loyal_start']:.3f} (loyal start)")
    cfg, out = manifest["base_config"], manifest["outputs"]
    setup = (f"{cfg['firms']['count']} firms, {cfg['run']['steps']} weeks, y averaged over the last {out['final_window']}; "
             f"{len(manifest['design']['seeds'])} seeds per beta")
    return [folder / "wkh_fit.csv", _wkh_figure(folder, results, fit, (n, gamma, pi), setup)]


def _broken(y: np.ndarray, jump: float = 0.05) -> np.ndarray:
    """A branch with NaN after each jump, so the plot does not draw the discontinuity as a steep line."""
    y = y.astype(float).copy()
    y[1:][np.abs(np.diff(y)) > jump] = np.nan
    return y


def _wkh_figure(folder: Path, results: pd.DataFrame, fit: pd.DataFrame, wkh: tuple[int, float, float], setup: str) -> Path:
    from matplotlib.ticker import NullFormatter

    plt = _plt()
    n, gamma, pi = wkh
    beta_c = n * gamma / pi
    lo, hi = fit["beta"].min(), fit["beta"].max()
    grid = np.unique(np.concatenate([np.geomspace(lo, hi, 300), np.linspace(0.8 * beta_c, 1.05 * beta_c, 250)]))
    sym, loyal = mean_field_y(n, grid, gamma, pi, False), mean_field_y(n, grid, gamma, pi, True)
    window = grid[(loyal - sym) > 1e-3]
    fig, ax = plt.subplots(figsize=(8.5, 5.4))
    if len(window):
        ax.axvspan(window.min(), window.max(), color="#f2c14e", alpha=0.3,
                   label=f"mean-field hysteresis: beta {window.min():.3g} to {window.max():.3g}")
    ax.plot(grid, _broken(loyal), "-", color="#c44e52", lw=1.8, label="mean field, loyal start (ordered branch)")
    ax.plot(grid, _broken(sym), "--", color="#55a868", lw=1.8, label="mean field, symmetric start")
    low = grid[grid < 0.9 * beta_c]
    ax.plot(low, disordered_y(n, low, gamma, pi), ":", color="#8172b2", lw=2,
            label=f"disordered state with finite memory (gamma = {gamma:g})")
    ax.scatter(results["choice.beta"], results["loyalty_mean"], s=12, color="grey", alpha=0.6, zorder=3,
               label="measured, one run per seed")
    ax.errorbar(fit["beta"], fit["y_mean"], yerr=[fit["y_mean"] - fit["y_lo"], fit["y_hi"] - fit["y_mean"]], fmt="o",
                color="#4c72b0", ms=5, capsize=3, zorder=4, label="measured, mean and 95% interval across seeds")
    ax.axvline(beta_c, color="black", lw=0.8, ls="-.")
    ax.text(beta_c * 1.02, 0.31, f"beta_c = n gamma / pi = {beta_c:.2g}", fontsize=8)
    ax.axhline(1 / n, color="black", lw=0.6, ls=":")
    ax.text(lo * 1.02, 1 / n - 0.018, f"1/n = {1 / n:.3g} (no loyalty)", fontsize=8)
    ax.set_xscale("log")
    ticks = [t for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1, 1.5, 2, 3) if lo <= t <= hi]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("choice intensity beta [1/payoff] (log scale)")
    ax.set_ylabel("loyalty y = sum J\u00b2 / (sum J)\u00b2 [0-1]")
    ax.set_ylim(0.29, 1.02)
    ax.set_title(f"P1, WKH limit: loyalty against beta (n = {n} providers, gamma = {gamma:g}, payoff pi = {pi:.2g})\n"
                 f"{setup}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="major")
    return _save(fig, folder / "wkh_loyalty_vs_beta.png")
