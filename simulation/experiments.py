"""Replications and paired what-if comparisons, written as run folders (docs/run-folders.md).

Replications run one config with R seeds derived from a base seed, in parallel through the executor.
A comparison runs two scenarios with the same seeds (common random numbers: demand shocks and choices
come from the same streams), so the paired difference per seed isolates the scenario's effect, and its
mean gets a t-based 95% confidence interval.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from simulation.runfolder import write_atomic
from simulation.config import Config
from simulation.executor import Executor, Outcome, derive_seeds, replication_tasks

KEY_METRICS = ("permanent_share", "permanent_share_bpo", "permanent_share_kpo", "on_call_share", "in_house_share",
               "unmet_share", "loyalty_mean", "switch_rate", "mean_price_bpo", "mean_price_kpo", "provider_utilization",
               "offshore_share", "broker_share", "active_providers", "quality_mean", "on_time_rate")


@dataclass
class Replications:
    folder: Path
    seeds: list[int]
    outcomes: list[Outcome]

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.ok]


def run_replications(cfg: Config, base_seed: int, replications: int, folder: Path, executor: Executor,
                     on_done: Callable[[Outcome], None] | None = None, seeds: list[int] | None = None) -> Replications:
    """Run R replications into ``folder/rep-XXX`` and write the manifest and the across-seed summary.

    ``on_done`` is called as each replication finishes (progress reporting).
    """
    folder.mkdir(parents=True, exist_ok=True)
    seeds = seeds or derive_seeds(base_seed, replications)
    outcomes = executor.map(replication_tasks(cfg, seeds, folder), on_done)
    reps = Replications(folder, seeds, outcomes)
    ok = [Path(o.task.out_dir) for o in outcomes if o.ok]
    if ok:
        write_atomic(folder / "summary.parquet", lambda p: summarise(ok).to_parquet(p, index=False))
    _write_manifest(folder, {
        "kind": "replications", "scenario": cfg.name, "description": cfg.description, "base_seed": base_seed,
        "seeds": seeds, "replications": [Path(o.task.out_dir).name for o in outcomes],
        "failed": [{"folder": Path(o.task.out_dir).name, "seed": o.task.seed, "error": o.error} for o in reps.failed],
        "config": cfg.model_dump(mode="json"),
    })
    return reps


def summarise(run_dirs: list[Path]) -> pd.DataFrame:
    """Mean and 95% confidence interval of the mean, per metric and week, across replications."""
    frames = [pd.read_parquet(d / "metrics.parquet") for d in run_dirs]
    long = pd.concat([f.melt(id_vars="step", var_name="metric") for f in frames], ignore_index=True)
    g = long.groupby(["metric", "step"], sort=True)["value"]
    out = g.agg(mean="mean", sd="std", n="count").reset_index()
    half = t_half_width(out["sd"].to_numpy(), out["n"].to_numpy())
    out["lo"], out["hi"] = out["mean"] - half, out["mean"] + half
    return out[["metric", "step", "mean", "lo", "hi", "n"]]


def compare(base_dirs: list[Path], whatif_dirs: list[Path], window: tuple[int, int]) -> pd.DataFrame:
    """Paired comparison of key metrics averaged over weeks ``window`` (inclusive), one pair per seed.

    Rows: metric, base_mean, whatif_mean, diff_mean, diff_lo, diff_hi (95% t interval of the mean paired
    difference), significant (the interval excludes 0), n (pairs).
    """
    def window_means(d: Path) -> pd.Series:
        m = pd.read_parquet(d / "metrics.parquet")
        m = m[(m["step"] >= window[0]) & (m["step"] <= window[1])]
        return m[[c for c in KEY_METRICS if c in m.columns]].mean()

    base = pd.DataFrame([window_means(d) for d in base_dirs])
    what = pd.DataFrame([window_means(d) for d in whatif_dirs])
    diff = what - base
    n = diff.notna().sum()
    half = pd.Series(t_half_width(diff.std().to_numpy(), n.to_numpy()), index=diff.columns)
    out = pd.DataFrame({"base_mean": base.mean(), "whatif_mean": what.mean(), "diff_mean": diff.mean(),
                        "diff_lo": diff.mean() - half, "diff_hi": diff.mean() + half, "n": n})
    out["significant"] = (out["diff_lo"] > 0) | (out["diff_hi"] < 0)
    return out.rename_axis("metric").reset_index()


def write_comparison(folder: Path, table: pd.DataFrame, meta: dict) -> None:
    """Save the comparison table as Parquet and CSV, and the folder's manifest."""
    write_atomic(folder / "comparison.parquet", lambda p: table.to_parquet(p, index=False))
    write_atomic(folder / "comparison.csv", lambda p: table.to_csv(p, index=False))
    _write_manifest(folder, {"kind": "comparison", **meta})


def format_comparison(table: pd.DataFrame, window: tuple[int, int]) -> str:
    """The comparison as a terminal table."""
    lines = [f"Paired comparison over weeks {window[0]}-{window[1]} ({int(table['n'].max())} seed pairs; "
             "95% t interval of the mean difference):",
             f"  {'metric':22}{'baseline':>11}{'what-if':>11}{'difference':>12}  {'95% interval':>22}  sig."]
    for r in table.itertuples():
        lines.append(f"  {r.metric:22}{r.base_mean:11.4g}{r.whatif_mean:11.4g}{r.diff_mean:+12.4g}  "
                     f"[{r.diff_lo:+9.3g}, {r.diff_hi:+9.3g}]  {'yes' if r.significant else 'no'}")
    return "\n".join(lines)


def t_half_width(sd: np.ndarray, n: np.ndarray) -> np.ndarray:
    """Half-width of the 95% t interval of a mean; NaN with fewer than two observations."""
    n = np.asarray(n, float)
    with np.errstate(invalid="ignore", divide="ignore"):
        t = np.where(n > 1, stats.t.ppf(0.975, np.maximum(n - 1, 1)), np.nan)
        return t * np.asarray(sd, float) / np.sqrt(n)


def _write_manifest(folder: Path, data: dict) -> None:
    data = {**data, "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    write_atomic(folder / "manifest.json", lambda p: p.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n",
                                                              encoding="utf-8"))
