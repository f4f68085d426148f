"""Pattern P1 on a sweep over choice.beta: measured loyalty against the mean field of the WKH model.

Weisbuch, Kirman & Herreiner (2000): with n identical providers, payoff pi and memory gamma, loyalty
y jumps from 1/n (searchers) to near 1 (loyal buyers) around beta_c = n gamma / pi. For n >= 3 the
transition is first order: from a loyal start the ordered state survives below beta_c, from a
symmetric start it appears only at beta_c, and the gap between the two mean-field branches is the
hysteresis window. Below the transition, finite memory keeps y a little above 1/n.

:func:`wkh_curve` writes ``wkh_fit.csv`` (measured y per beta with its 95% interval beside both
branches) and ``wkh_loyalty_vs_beta.png``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from analysis.files import write_atomic
from analysis.sweep_figures import pyplot, save_png
from analysis.sweep_results import band


def mean_field_y(n: int, betas: np.ndarray, gamma: float, pi: float, loyal: bool, iterations: int = 20_000) -> np.ndarray:
    """Mean-field loyalty: fixed point of J_j = (pi / gamma) P_j, P = softmax(beta J), for many betas at once.

    From a loyal start (all preference on one provider) or a symmetric one with an infinitesimal push,
    which grows only where the symmetric state is unstable; the damped iteration converges on both
    branches; vectorised over beta.
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
    """Expected y below the transition with finite memory (1/n in the gamma -> 0 limit).

    With one purchase a week, sum_j J_j = pi / gamma exactly, and each J_j is a geometric sum of
    Bernoulli(1/n) hits, so E[y] = 1/n + (1 - 1/n) gamma / (2 - gamma) at beta = 0. For beta > 0 the
    logit feeds fluctuations back with gain beta / beta_c (linear response), dividing the excess by
    (1 - beta / beta_c).
    """
    with np.errstate(divide="ignore"):  # infinite at beta_c, where the linear response breaks down
        return 1.0 / n + (1.0 - 1.0 / n) * gamma / (2.0 - gamma) / (1.0 - np.asarray(betas, float) * pi / (n * gamma))


def wkh_parameters(config: dict[str, Any]) -> tuple[int, float, float]:
    """(n, gamma, pi) of the WKH case from a resolved config.

    pi = shortage penalty factor - price / in-house cost for a firm of size 1 (the shortage cost a visit
    avoids, net of its price): price = domestic wage x skill premium^(skill - 1) / BPO productivity
    x (1 + BPO markup). With in-house cost dispersion above 0, pi varies by firm and this is its median.
    """
    (service,) = config["services"].values()
    p = config["providers"]
    price = config["regions"]["domestic"]["wage_per_hour"] * p["skill_wage_premium"] ** (service["skill_level"] - 1) \
        / p["productivity_bpo"] * (1 + p["normal_markup_bpo"])
    penalty = config["firms"]["shortage_penalty_factor"]
    return int(p["bpo_count"]), float(config["choice"]["gamma"]), penalty - price / service["inhouse_cost_per_hour"]


START = "choice.initial_preference"


def wkh_curve(folder: Path, manifest: dict[str, Any], results: pd.DataFrame, notes: list[str]) -> list[Path]:
    """y against beta with the mean-field branches; wkh_fit.csv holds the numbers.

    When the sweep also varies ``choice.initial_preference`` (a loyal start: J = pi / gamma on one
    provider; 0: a symmetric start), each start is a measured curve of its own, to set beside the
    mean-field branch that starts the same way (the n >= 3 hysteresis).
    """
    try:
        n, gamma, pi = wkh_parameters(manifest["base_config"])
    except (KeyError, ValueError, TypeError):
        notes.append("WKH curve skipped: the base scenario is not the one-service WKH case")
        return []
    beta_c = n * gamma / pi
    by = ["choice.beta", START] if START in results.columns else ["choice.beta"]
    b = band(results, by, "loyalty_mean")
    beta = b["choice.beta"].to_numpy(float)
    start = b[START].to_numpy(float) if START in b else np.zeros(len(b))
    fit = pd.DataFrame({"beta": beta, "initial_preference": start, "y_mean": b["loyalty_mean_mean"],
                        "y_lo": b["loyalty_mean_lo"], "y_hi": b["loyalty_mean_hi"], "n_seeds": b["n"],
                        "y_mf_symmetric_start": mean_field_y(n, beta, gamma, pi, loyal=False),
                        "y_mf_loyal_start": mean_field_y(n, beta, gamma, pi, loyal=True),
                        "y_finite_memory_disordered": np.where(beta < 0.95 * beta_c, disordered_y(n, beta, gamma, pi), np.nan)})
    write_atomic(folder / "wkh_fit.csv", lambda p: fit.to_csv(p, index=False))
    for value, part in fit.groupby("initial_preference"):
        label = f" (start J = {value:g})" if len(by) > 1 else ""
        above, below = part[part["beta"] >= 1.5 * beta_c], part[part["beta"] <= 0.75 * beta_c]
        if len(above):
            notes.append(f"P1{label}: max |y - y_mf| for beta >= 1.5 beta_c = {1.5 * beta_c:.2f}: "
                         f"{(above['y_mean'] - above['y_mf_loyal_start']).abs().max():.4f}")
        if len(below):
            notes.append(f"P1{label}: max |y - y_disordered| for beta <= 0.75 beta_c: "
                         f"{(below['y_mean'] - below['y_finite_memory_disordered']).abs().max():.4f} "
                         f"(mean field 1/n = {1 / n:.3f}; y sits above it by O(gamma) with finite memory)")
        near = part.iloc[(part["beta"] - beta_c).abs().argsort()[:1]].iloc[0]
        notes.append(f"P1{label}: at beta = {near['beta']:g} (beta_c = {beta_c:.3g}) measured y = {near['y_mean']:.3f}; "
                     f"mean field {near['y_mf_symmetric_start']:.3f} (symmetric start) / "
                     f"{near['y_mf_loyal_start']:.3f} (loyal start)")
    cfg, out = manifest["base_config"], manifest["outputs"]
    setup = (f"{cfg['firms']['count']} firms, {cfg['run']['steps']} weeks, y averaged over the last {out['final_window']}; "
             f"{len(manifest['design']['seeds'])} seeds per point")
    return [folder / "wkh_fit.csv", _wkh_figure(folder, results, fit, (n, gamma, pi), setup)]


def _broken(y: np.ndarray, jump: float = 0.05) -> np.ndarray:
    """A branch with NaN after each jump, so the plot does not draw the discontinuity as a steep line."""
    y = y.astype(float).copy()
    y[1:][np.abs(np.diff(y)) > jump] = np.nan
    return y


def _wkh_figure(folder: Path, results: pd.DataFrame, fit: pd.DataFrame, wkh: tuple[int, float, float], setup: str) -> Path:
    """Measured y per run and per beta (mean, 95% interval) over both mean-field branches and the window."""
    from matplotlib.ticker import NullFormatter

    plt = pyplot()
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
    starts = sorted(fit["initial_preference"].unique())
    for value in starts:
        part = fit[fit["initial_preference"] == value]
        loyal_start = value > 0
        what = ("from a loyal start" if loyal_start else "from a symmetric start") if len(starts) > 1 else ""
        ax.errorbar(part["beta"], part["y_mean"], yerr=[part["y_mean"] - part["y_lo"], part["y_hi"] - part["y_mean"]],
                    fmt="s" if loyal_start else "o", color="#c44e52" if loyal_start and len(starts) > 1 else "#4c72b0",
                    ms=5, capsize=3, zorder=4, label=f"measured {what}, mean and 95% interval across seeds".replace("  ", " "))
    ax.axvline(beta_c, color="black", lw=0.8, ls="-.")
    ax.text(beta_c * 1.02, 0.31, f"beta_c = n gamma / pi = {beta_c:.2g}", fontsize=8)
    ax.axhline(1 / n, color="black", lw=0.6, ls=":")
    ax.text(lo * 1.02, 1 / n - 0.018, f"1/n = {1 / n:.3g} (no loyalty)", fontsize=8)
    ax.set_xscale("log")
    ticks = [t for t in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 1, 1.5, 2, 3) if lo <= t <= hi]
    if len(ticks) < 4:  # a narrow sweep: label the betas it ran
        ticks = sorted(fit["beta"].unique())
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlabel("choice intensity beta [1/payoff] (log scale)")
    ax.set_ylabel("loyalty y = sum J\u00b2 / (sum J)\u00b2 [0-1]")
    ax.set_ylim(0.29, 1.02)
    ax.set_title(f"P1, WKH limit: loyalty against beta (n = {n} providers, gamma = {gamma:g}, payoff pi = {pi:.2g})\n"
                 f"{setup}", fontsize=10)
    ax.legend(fontsize=8, loc="upper left")
    ax.grid(alpha=0.3, which="major")
    return save_png(fig, folder / "wkh_loyalty_vs_beta.png")
