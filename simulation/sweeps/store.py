"""The sweep folder: one Parquet file per run, a manifest, the design and a summary across seeds.

Layout (docs/sweeps.md)::

    <folder>/manifest.json        kind = "sweep": the sweep, its base config, every run's status
    <folder>/design.parquet       one row per design point: its parameter values (and raw sample)
    <folder>/runs/<key>.parquet   one row per run: key, point, seed, parameter values, final metrics
    <folder>/series/<key>.parquet the run's metrics every k weeks (when outputs.every > 0)
    <folder>/summary.parquet|csv  one row per design point: mean and 95% t interval across seeds

A run's key is a hash of its resolved config, seed and outsim version (design.run_key). Every file is
written atomically (simulation.runfolder.write_atomic), the series before the final row, so a run counts as
done exactly when its final-row file exists with the right key and outputs; resuming skips it.
"""

from __future__ import annotations

import json
import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulation.runfolder import write_atomic
from analysis.stats import t_half_width
from simulation.sweeps.design import Plan, Run

META_KEY = b"outsim.sweep"
ID_COLUMNS = ("key", "point", "seed")


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def outputs_signature(outputs: dict[str, Any]) -> str:
    """What a stored result must hold to be reused: the same final metrics and window, and series."""
    return json.dumps(outputs, sort_keys=True, separators=(",", ":"))


def write_table(path: Path, frame: pd.DataFrame, meta: dict[str, Any]) -> None:
    """Write a Parquet file atomically, with ``meta`` (JSON) in its schema metadata."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta, sort_keys=True)})
    write_atomic(path, lambda p: pq.write_table(table, p))


def read_meta(path: Path) -> dict[str, Any] | None:
    """The sweep metadata of a result file, or None when it is missing or unreadable."""
    try:
        meta = pq.read_schema(path).metadata or {}
        return json.loads(meta[META_KEY])
    except (OSError, KeyError, ValueError, pa.ArrowException):
        return None


class SweepStore:
    """Reads and writes one sweep folder; the client process is its only writer."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.runs_dir, self.series_dir = self.folder / "runs", self.folder / "series"

    def prepare(self) -> int:
        """Create the folder and remove temporary files left by an interrupted writer; returns how many."""
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        self.series_dir.mkdir(parents=True, exist_ok=True)
        removed = 0
        for d in (self.folder, self.runs_dir, self.series_dir):
            for tmp in d.glob(".*.tmp-*"):
                tmp.unlink(missing_ok=True)
                removed += 1
        return removed

    def finished(self, runs: list[Run], outputs: dict[str, Any]) -> set[str]:
        """Keys whose results are stored for these outputs (a run with other outputs is redone)."""
        sig = outputs_signature(outputs)
        done = set()
        for r in runs:
            meta = read_meta(self.runs_dir / f"{r.key}.parquet")
            if meta and meta.get("key") == r.key and meta.get("outputs") == sig and \
                    (not outputs["every"] or (self.series_dir / f"{r.key}.parquet").is_file()):
                done.add(r.key)
        return done

    def set_aside_stale(self, keys: set[str]) -> int:
        """Move results that belong to no run of the current sweep to ``stale/`` (kept, but out of the way)."""
        moved = 0
        for d in (self.runs_dir, self.series_dir):
            for path in d.glob("*.parquet"):
                if path.stem not in keys:
                    target = self.folder / "stale" / d.name
                    target.mkdir(parents=True, exist_ok=True)
                    os.replace(path, target / path.name)
                    moved += 1
        return moved

    def write_result(self, run: Run, finals: dict[str, float], series: pd.DataFrame | None,
                     outputs: dict[str, Any]) -> None:
        """Store one run: its series (if kept), then its final row, which marks the run done."""
        ident = {"key": run.key, "point": run.point, "seed": run.seed, **run.params}
        meta = {"key": run.key, "outputs": outputs_signature(outputs)}
        if series is not None:
            frame = pd.concat([pd.DataFrame({k: [v] * len(series) for k, v in ident.items()}), series.reset_index(drop=True)],
                              axis=1)
            write_table(self.series_dir / f"{run.key}.parquet", frame, meta)
        row = pd.DataFrame([{**ident, **{k: float(v) for k, v in finals.items()}}])
        write_table(self.runs_dir / f"{run.key}.parquet", row, meta)

    def write_design(self, plan: Plan) -> None:
        """design.parquet: each point's parameter values, plus the raw sample columns (``sample:<key>``)."""
        frame = pd.DataFrame(plan.points)
        frame.insert(0, "point", np.arange(len(frame), dtype=np.int64))
        if plan.sweep.design != "grid":
            for j, p in enumerate(plan.sweep.parameters):
                frame[f"sample:{p.key}"] = plan.sample[:, j].astype(float)
        write_atomic(self.folder / "design.parquet", lambda p: frame.to_parquet(p, index=False))


class Manifest:
    """manifest.json of a sweep folder, rewritten atomically as runs finish (at most every ``every`` s).

    One record per (point, seed). Points that resolve to the same config (rounded integers, repeated
    values) share a key: that run is computed once and its result serves every such point.
    """

    def __init__(self, folder: Path, header: dict[str, Any], runs: list[Run], every: float = 1.0) -> None:
        self.path = folder / "manifest.json"
        old = self._read()
        previous = {r["key"]: r for r in old.get("runs", [])}
        self.data = {**header, "created_utc": old.get("created_utc", _now()), "invocations": old.get("invocations", [])}
        self.records = [{"key": r.key, "point": r.point, "seed": r.seed, "status": "pending",
                         "computed": int(previous.get(r.key, {}).get("computed", 0)),
                         "seconds": previous.get(r.key, {}).get("seconds")} for r in runs]
        self.by_key: dict[str, list[dict[str, Any]]] = {}
        for rec in self.records:
            self.by_key.setdefault(rec["key"], []).append(rec)
        self.every, self._last = every, 0.0

    def _read(self) -> dict[str, Any]:
        try:
            return json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def mark(self, key: str, status: str, seconds: float | None = None, error: str = "", computed: bool = False) -> None:
        """Set the status of every (point, seed) that uses run ``key``."""
        for rec in self.by_key[key]:
            rec["status"] = status
            if computed:
                rec["computed"] += status == "done"
                rec["seconds"] = None if seconds is None else round(seconds, 3)
            elif status == "done" and rec["computed"] == 0:
                rec["computed"] = 1  # a result found on disk whose manifest entry was lost
            if error:
                rec["error"] = error
            else:
                rec.pop("error", None)
        self.flush(force=False)

    def counts(self) -> dict[str, int]:
        out = {"done": 0, "failed": 0, "pending": 0}
        for rec in self.records:
            out[rec["status"]] += 1
        return out

    def flush(self, force: bool = True, **extra: Any) -> None:
        self.data.update(extra)
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        data = {**self.data, "updated_utc": _now(), "counts": self.counts(), "runs": self.records}
        write_atomic(self.path, lambda p: p.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8"))


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
    write_atomic(folder / "summary.parquet", lambda p: table.to_parquet(p, index=False))
    write_atomic(folder / "summary.csv", lambda p: table.to_csv(p, index=False))
    return table
