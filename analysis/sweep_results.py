"""A sweep folder's results as tables: every run, the kept series, and the summary per design point.

The folder is written by ``outsim sweep`` (docs/sweeps.md): ``runs/<key>.parquet`` holds one row per
distinct run (key, point, seed, parameter values, final outputs) and ``series/<key>.parquet`` its
sampled weekly metrics. Design points that resolve to the same config share one run; the manifest's
``runs`` list says which, and :func:`load_results` gives every point its row. ``summary.parquet`` and
``summary.csv`` hold, per design point, the mean of each output across seeds with its 95% t interval
(:func:`summarise`, the interval of :mod:`analysis.stats`).
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from analysis.files import write_parquet_and_csv
from analysis.stats import t_half_width

ID_COLUMNS = ("key", "point", "seed")


def load_results(folder: str | Path) -> pd.DataFrame:
    """Every stored run of a sweep folder in one DataFrame: key, point, seed, parameters, final metrics."""
    runs = Path(folder) / "runs"
    if not any(runs.glob("*.parquet")):
        return pd.DataFrame(columns=list(ID_COLUMNS))
    frame = pd.read_parquet(runs)
    shared = _shared_runs(Path(folder))
    if shared is not None:  # one stored run serves several design points: one row per point
        frame = shared.merge(frame.drop(columns=["point", "seed"]), on="key", how="inner")
    return frame.sort_values(["point", "seed"], kind="stable").reset_index(drop=True)


def _shared_runs(folder: Path) -> pd.DataFrame | None:
    """(key, point, seed) of every done run when some key serves several points, else None."""
    try:
        runs = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))["runs"]
    except (OSError, ValueError, KeyError):
        return None
    table = pd.DataFrame([r for r in runs if r.get("status") == "done"], columns=["key", "point", "seed"])
    return table if table["key"].duplicated().any() else None


def load_series(folder: str | Path) -> pd.DataFrame:
    """The kept time series of every run (one row per run and sampled week), or an empty frame."""
    series = Path(folder) / "series"
    if not series.is_dir() or not any(series.glob("*.parquet")):
        return pd.DataFrame(columns=[*ID_COLUMNS, "step"])
    frame = pd.read_parquet(series)
    return frame.sort_values(["point", "seed", "step"], kind="stable").reset_index(drop=True)


def summarise(results: pd.DataFrame, parameters: list[str], outputs: list[str]) -> pd.DataFrame:
    """One row per design point: its parameters, n (seeds done) and, per output, mean, lo and hi (95% t interval)."""
    cols = ["point", *parameters]
    if results.empty:
        return pd.DataFrame(columns=[*cols, "n"])
    g = results.groupby("point", sort=True)
    out = g[parameters].first().reset_index() if parameters else g.size().reset_index()[["point"]]
    out["n"] = g.size().to_numpy()
    for m in outputs:
        mean, sd, n = g[m].mean().to_numpy(), g[m].std().to_numpy(), g[m].count().to_numpy()
        half = t_half_width(sd, n)
        out[f"{m}_mean"], out[f"{m}_lo"], out[f"{m}_hi"] = mean, mean - half, mean + half
    return out


def write_summary(folder: str | Path, parameters: list[str], outputs: list[str]) -> pd.DataFrame:
    """summary.parquet and summary.csv from the stored runs; returns the table."""
    folder = Path(folder)
    table = summarise(load_results(folder), parameters, outputs)
    write_parquet_and_csv(folder, "summary", table)
    return table


def band(results: pd.DataFrame, by: list[str], metric: str) -> pd.DataFrame:
    """Mean and 95% t interval across seeds of ``metric`` per ``by`` (other parameters averaged within a seed).

    Returns:
        The ``by`` columns (and ``point``, a number per group), ``n`` and ``<metric>_mean``, ``_lo``, ``_hi``.
    """
    per_seed = results.groupby([*by, "seed"], sort=True)[metric].mean().reset_index()
    return summarise(per_seed.assign(point=per_seed.groupby(by, sort=True).ngroup()), by, [metric])
