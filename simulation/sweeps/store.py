"""Writing the sweep folder: one Parquet file per run, the manifest and the design, resumable run by run.

Layout (docs/sweeps.md)::

    <folder>/manifest.json        kind = "sweep": the sweep, its base config, every run's status
    <folder>/design.parquet       one row per design point: its parameter values (and raw sample)
    <folder>/runs/<key>.parquet   one row per run: key, point, seed, parameter values, final metrics
    <folder>/series/<key>.parquet the run's metrics every k weeks (when outputs.every > 0)
    <folder>/summary.parquet|csv  one row per design point: mean and 95% t interval across seeds

A run's key is a hash of its resolved config, seed and outsim version (runfolder.run_key). Every file is
written atomically (simulation.runfolder.write_atomic), the series before the final row, so a run counts as
done exactly when its final-row file exists with the right key and outputs; resuming skips it. Reading the
folder back and the summary across seeds are analysis/sweep_results.py's job.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulation.runfolder import utc_now, write_atomic, write_json
from simulation.sweeps.design import Plan, Run

META_KEY = b"outsim.sweep"


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
        self.data = {**header, "created_utc": old.get("created_utc", utc_now()), "invocations": old.get("invocations", [])}
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
        """How many (point, seed) records are done, failed and pending."""
        out = {"done": 0, "failed": 0, "pending": 0}
        for rec in self.records:
            out[rec["status"]] += 1
        return out

    def flush(self, force: bool = True, **extra: Any) -> None:
        """Add ``extra`` to the header and rewrite manifest.json (unless ``force`` is off and it was just written)."""
        self.data.update(extra)
        now = time.monotonic()
        if not force and now - self._last < self.every:
            return
        self._last = now
        write_json(self.path, {**self.data, "updated_utc": utc_now(), "counts": self.counts(), "runs": self.records},
                   indent=1)

