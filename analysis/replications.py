"""Statistics over replications and paired what-if comparisons, read from their run folders.

- A replications folder gets ``summary.parquet``: per metric and week, the mean across replications
  and the 95% t interval of that mean (:func:`summarise`).
- A comparison folder gets ``comparison.parquet`` and ``comparison.csv``: per key metric, each side's
  mean over a window of weeks and the paired difference seed by seed (the sides share their seeds:
  common random numbers), whose mean gets a 95% t interval; it is significant when the interval
  excludes 0 (:func:`compare`). As 16 metrics are tested at once, each also gets a Holm-adjusted
  p-value: ``significant_holm`` keeps the chance of any false positive among them at 5%.
- Intervals of metrics that can only lie in [0, 1] (shares, loyalty, quality) are clipped to [0, 1],
  and their differences to [-1, 1].

Columns are described in docs/run-folders.md; the interval and the window mean are those of
:mod:`analysis.stats`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from analysis.files import write_atomic, write_parquet_and_csv
from analysis.metric_units import UNIT_INTERVAL_METRICS
from analysis.stats import (CONFIDENCE, few_runs_warning, holm, last_window, paired_p_values, t_half_width,
                            window_mean)

KEY_METRICS = ("permanent_share", "permanent_share_bpo", "permanent_share_kpo", "on_call_share", "in_house_share",
               "unmet_share", "loyalty_mean", "switch_rate", "mean_price_bpo", "mean_price_kpo", "provider_utilization",
               "offshore_share", "broker_share", "active_providers", "quality_mean", "on_time_rate")


def summarise(run_dirs: list[Path]) -> pd.DataFrame:
    """Mean and 95% confidence interval of the mean, per metric and week, across replications.

    Returns:
        Columns ``metric, step, mean, lo, hi, n``, sorted by metric and step.
    """
    frames = [pd.read_parquet(d / "metrics.parquet") for d in run_dirs]
    long = pd.concat([f.melt(id_vars="step", var_name="metric") for f in frames], ignore_index=True)
    g = long.groupby(["metric", "step"], sort=True)["value"]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    half = t_half_width(out["sd"].to_numpy(), out["n"].to_numpy())
    out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    bounded = out["metric"].isin(UNIT_INTERVAL_METRICS)
    out.loc[bounded, "lo"] = out.loc[bounded, "lo"].clip(lower=0.0)
    out.loc[bounded, "hi"] = out.loc[bounded, "hi"].clip(upper=1.0)
    return out[["metric", "step", "mean", "lo", "hi", "n"]]


def write_summary(folder: Path, run_dirs: list[Path]) -> Path | None:
    """Write ``folder/summary.parquet`` over the given replications; None (nothing written) if there are none."""
    if not run_dirs:
        return None
    table = summarise(run_dirs)
    write_atomic(folder / "summary.parquet", lambda p: table.to_parquet(p, index=False))
    return folder / "summary.parquet"


def metrics_of(run: Path | pd.DataFrame) -> pd.DataFrame:
    """A run's weekly metrics: read from its folder, or as given (a caller comparing many windows reads once)."""
    return run if isinstance(run, pd.DataFrame) else pd.read_parquet(Path(run) / "metrics.parquet")


def compare(base_dirs: list[Path | pd.DataFrame], whatif_dirs: list[Path | pd.DataFrame],
            window: tuple[int, int]) -> pd.DataFrame:
    """Paired comparison of key metrics averaged over weeks ``window`` (inclusive), one pair per seed.

    Args:
        base_dirs, whatif_dirs: run folders (or their metrics tables), the i-th of each run with the same seed.
        window: inclusive (first, last) weeks to average over.

    Returns:
        One row per key metric present: metric, base_mean, whatif_mean, diff_mean, diff_lo, diff_hi (95% t
        interval of the mean paired difference), n (pairs), significant (the interval excludes 0), p_holm
        (the paired t test's p-value, Holm-adjusted over the metrics) and significant_holm (p_holm < 0.05).
    """
    def window_means(d: Path | pd.DataFrame) -> pd.Series:
        """The key metrics of one run averaged over the window."""
        metrics = metrics_of(d)
        return window_mean(metrics, window, [c for c in KEY_METRICS if c in metrics.columns])

    base = pd.DataFrame([window_means(d) for d in base_dirs])
    what = pd.DataFrame([window_means(d) for d in whatif_dirs])
    diff = what - base
    n = diff.notna().sum()
    half = pd.Series(t_half_width(diff.std().to_numpy(), n.to_numpy()), index=diff.columns)
    out = pd.DataFrame({"base_mean": base.mean(), "whatif_mean": what.mean(), "diff_mean": diff.mean(),
                        "diff_lo": diff.mean() - half, "diff_hi": diff.mean() + half, "n": n})
    bounded = out.index.isin(list(UNIT_INTERVAL_METRICS))
    out.loc[bounded, ["diff_lo", "diff_hi"]] = out.loc[bounded, ["diff_lo", "diff_hi"]].clip(-1.0, 1.0)
    out["significant"] = (out["diff_lo"] > 0) | (out["diff_hi"] < 0)
    out["p_holm"] = holm(paired_p_values(diff.mean(), diff.std(), n))
    out["significant_holm"] = out["p_holm"] < 1 - CONFIDENCE
    return out.rename_axis("metric").reset_index()


def format_summary(run_dirs: list[Path]) -> str:
    """The terminal table of a batch of replications: each key metric's mean over the last year of the runs, with
    the 95% t interval of that mean across the runs (clipped to [0, 1] for shares)."""
    means, windows = [], set()
    for d in run_dirs:
        metrics = pd.read_parquet(d / "metrics.parquet")
        windows.add(window := last_window(int(metrics["step"].max())))
        means.append(window_mean(metrics, window, [c for c in KEY_METRICS if c in metrics.columns]))
    frame = pd.DataFrame(means)
    half = t_half_width(frame.std().to_numpy(), frame.notna().sum().to_numpy())
    (first, last), = windows  # replications of one config share their horizon
    lines = [f"Summary of weeks {first}-{last} over {len(run_dirs)} replications (mean, 95% t interval of the mean):"]
    for metric, mean, h in zip(frame.columns, frame.mean(), half):
        lo, hi = mean - h, mean + h
        if metric in UNIT_INTERVAL_METRICS:
            lo, hi = max(lo, 0.0), min(hi, 1.0)
        interval = f"[{lo:.4g}, {hi:.4g}]" if np.isfinite(h) else "(no interval)"
        lines.append(f"  {metric:24}{mean:11.4g}  {interval}")
    return "\n".join(lines)


def write_comparison(folder: Path, table: pd.DataFrame) -> None:
    """Save the comparison table as ``comparison.parquet`` and ``comparison.csv``."""
    write_parquet_and_csv(folder, "comparison", table)


def format_comparison(table: pd.DataFrame, window: tuple[int, int]) -> str:
    """The comparison as a terminal table."""
    pairs = int(table["n"].max())
    lines = [f"Paired comparison over weeks {window[0]}-{window[1]} ({pairs} seed pairs; "
             "95% t interval of the mean difference):",
             f"  {'metric':22}{'baseline':>11}{'what-if':>11}{'difference':>12}  {'95% interval':>22}  sig.  Holm"]
    for r in table.itertuples():
        lines.append(f"  {r.metric:22}{r.base_mean:11.4g}{r.whatif_mean:11.4g}{r.diff_mean:+12.4g}  "
                     f"[{r.diff_lo:+9.3g}, {r.diff_hi:+9.3g}]  {'yes' if r.significant else 'no ':4}  "
                     f"{'yes' if r.significant_holm else 'no'}")
    if len(table) > 1:
        lines.append(multiplicity_note(len(table)))
    if warning := few_runs_warning(pairs):
        lines.append(f"Warning: {warning}.")
    return "\n".join(lines)


def multiplicity_note(metrics: int) -> str:
    """What testing ``metrics`` metrics at once means for reading their "significant" column."""
    return (f"{metrics} metrics are tested at once: with no effect at all, about {0.05 * metrics:.1f} of them would "
            "still show sig. = yes by chance. Holm = yes keeps the chance of any false yes among them at 5%.")
