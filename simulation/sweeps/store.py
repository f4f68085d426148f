"""Writing the sweep folder: one Parquet file per run, the manifest and the design, resumable run by run.

Layout (docs/sweeps.md)::

    <folder>/manifest.json        kind = "sweep": the sweep, its base config, every run's status
    <folder>/design.parquet       one row per design point: its parameter values (and raw sample)
    <folder>/runs/<key>.parquet   one row per run: key, point, seed, parameter values, final metrics
    <folder>/series/<key>.parquet the run's metrics every k weeks (when outputs.every > 0)
    <folder>/summary.parquet|csv  one row per design point: mean and 95% t interval across seeds
    <folder>/damaged/, stale/     result files set aside: failed their checksum, or of runs no longer swept
    <folder>/.lock                held (flock) by the one client writing the folder

A run's key is a hash of its resolved config, seed and outsim version (runfolder.run_key). Every file is
written atomically (simulation.runfolder.write_atomic), the series before the final row, and the SHA-256 of
each goes into the run's manifest record. A run counts as done exactly when its files still have the
recorded checksums and hold the right key and outputs; resuming skips it. A file that fails its checksum is
moved to ``damaged/`` and the run computed again. Reading the folder back and the summary across seeds are
analysis/sweep_results.py's job.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from simulation.runfolder import file_sha256 as run_file_sha256
from simulation.runfolder import utc_now, write_atomic, write_json
from simulation.sweeps.design import Plan, Run

META_KEY = b"outsim.sweep"
LOCK_FILE = ".lock"
KINDS = ("runs", "series")  # the result files of a run, one folder each


class FolderInUse(RuntimeError):
    """Another sweep client is writing the sweep folder."""


def outputs_signature(outputs: dict[str, Any]) -> str:
    """What a stored result must hold to be reused: the same final metrics and window, and series."""
    return json.dumps(outputs, sort_keys=True, separators=(",", ":"))


def write_table(path: Path, frame: pd.DataFrame, meta: dict[str, Any]) -> str:
    """Write a Parquet file atomically, with ``meta`` (JSON) in its schema metadata; returns its SHA-256."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata({**(table.schema.metadata or {}), META_KEY: json.dumps(meta, sort_keys=True)})
    buffer = pa.BufferOutputStream()
    pq.write_table(table, buffer)
    data = buffer.getvalue().to_pybytes()
    write_atomic(path, lambda p: p.write_bytes(data))
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str | None:
    """The SHA-256 of a file's bytes, or None when it cannot be read."""
    try:
        return run_file_sha256(path)
    except OSError:
        return None


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

    @contextmanager
    def lock(self) -> Iterator[None]:
        """Hold the folder's lock while this client writes it; raises FolderInUse if another client holds it.

        An flock on ``.lock``, which says who holds it (pid, host, since when). The system releases it when its
        process ends, however it ends (even SIGKILL), so a dead client never blocks the next one.
        """
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.folder / LOCK_FILE, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                owner = os.pread(fd, 200, 0).decode(errors="replace").strip() or "a process that just started"
                raise FolderInUse(f"{self.folder} is in use by another sweep client ({owner}); wait for it to end, "
                                  "or give this sweep another --out") from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since {utc_now()}\n".encode(), 0)
            try:
                yield
            finally:
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)  # releases the lock

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

    def finished(self, runs: list[Run], outputs: dict[str, Any],
                 recorded: Mapping[str, Mapping[str, str]]) -> tuple[set[str], set[str]]:
        """Keys whose stored results can be reused, and keys whose files were damaged (now in ``damaged/``).

        Args:
            recorded: run key -> {"runs": sha256, "series": sha256}, as written into the manifest with the files.

        A result is reused when every file still has its recorded checksum and it holds the right key and these
        outputs (a run with other outputs is redone). A file that fails its checksum (truncated, overwritten,
        damaged on disk) is moved to ``damaged/``. A result with no recorded checksum (its writer stopped before
        the manifest caught up) is computed again.
        """
        sig = outputs_signature(outputs)
        done, damaged = set(), set()
        for key in {r.key for r in runs}:
            sums = recorded.get(key, {})
            paths = {kind: self.folder / kind / f"{key}.parquet" for kind in sums}
            if "runs" not in sums or not all(p.is_file() for p in paths.values()):
                continue
            if any(file_sha256(paths[kind]) != digest for kind, digest in sums.items()):
                self._move(key, "damaged")
                damaged.add(key)
                continue
            meta = read_meta(paths["runs"])
            if meta and meta.get("key") == key and meta.get("outputs") == sig and (not outputs["every"] or "series" in sums):
                done.add(key)
        return done, damaged

    def set_aside_stale(self, keys: set[str]) -> int:
        """Move results that belong to no run of the current sweep to ``stale/`` (kept, but out of the way)."""
        moved = 0
        for d in (self.runs_dir, self.series_dir):
            for path in d.glob("*.parquet"):
                if path.stem not in keys:
                    moved += self._move(path.stem, "stale", [d.name])
        return moved

    def _move(self, key: str, where: str, kinds: Sequence[str] = KINDS) -> int:
        """Move a run's result files to ``<where>/runs/`` and ``<where>/series/``; returns how many there were."""
        moved = 0
        for kind in kinds:
            path = self.folder / kind / f"{key}.parquet"
            if path.is_file():
                target = self.folder / where / kind
                target.mkdir(parents=True, exist_ok=True)
                os.replace(path, target / path.name)
                moved += 1
        return moved

    def write_result(self, run: Run, finals: dict[str, float], series: pd.DataFrame | None,
                     outputs: dict[str, Any]) -> dict[str, str]:
        """Store one run: its series (if kept), then its final row; returns the SHA-256 of each file by kind."""
        ident = {"key": run.key, "point": run.point, "seed": run.seed, **run.params}
        meta = {"key": run.key, "outputs": outputs_signature(outputs)}
        sums = {}
        if series is not None:
            frame = pd.concat([pd.DataFrame({k: [v] * len(series) for k, v in ident.items()}), series.reset_index(drop=True)],
                              axis=1)
            sums["series"] = write_table(self.series_dir / f"{run.key}.parquet", frame, meta)
        row = pd.DataFrame([{**ident, **{k: float(v) for k, v in finals.items()}}])
        sums["runs"] = write_table(self.runs_dir / f"{run.key}.parquet", row, meta)
        return sums

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
    values) share a key: that run is computed once and its result serves every such point. A done record
    holds the SHA-256 of the run's files (``sha256``: kind -> digest); ``recorded`` has those of the last
    manifest, which a resume checks the files against.
    """

    def __init__(self, folder: Path, header: dict[str, Any], runs: list[Run], every: float = 1.0) -> None:
        self.path = folder / "manifest.json"
        old = self._read()
        previous = {r["key"]: r for r in old.get("runs", [])}
        self.recorded = {k: r["sha256"] for k, r in previous.items() if r.get("status") == "done" and r.get("sha256")}
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

    def mark(self, key: str, status: str, seconds: float | None = None, error: str = "", computed: bool = False,
             sha256: Mapping[str, str] | None = None) -> None:
        """Set the status of every (point, seed) that uses run ``key`` (with its files' checksums when done)."""
        for rec in self.by_key[key]:
            rec["status"] = status
            if computed:
                rec["computed"] += status == "done"
                rec["seconds"] = None if seconds is None else round(seconds, 3)
            if sha256:
                rec["sha256"] = dict(sha256)
            else:
                rec.pop("sha256", None)
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


@dataclass
class SweepReport:
    """What one invocation of a sweep or strategy study did. Counts are of distinct runs (runs with the same
    config and seed share one)."""

    folder: Path
    total: int
    skipped: int = 0
    computed: int = 0
    failed: list[tuple[Run, str]] = field(default_factory=list)
    interrupted: bool = False
    seconds: float = 0.0
    workers: int = 0
    batch_size: int = 1


@dataclass
class Resumed:
    """What a client finds in a study folder before it runs anything: the manifest (finished runs marked
    done), the runs still to do (each key once, in plan order) and how many were done already."""

    manifest: Manifest
    pending: list[Run]
    skipped: int
    damaged: list[str]
    started_utc: str


def resume(store: SweepStore, runs: list[Run], header: dict[str, Any], outputs: dict[str, Any], what: str,
           log: Callable[[str], None], warn: Callable[[str], None]) -> Resumed:
    """Ready a locked study folder for an invocation: remove what an interrupted client left, set aside results
    of runs no longer in the ``what`` (sweep, study), verify the finished results (a damaged one is moved aside
    and runs again) and record them in the manifest."""
    started = utc_now()
    if removed := store.prepare():
        log(f"removed {removed} temporary file(s) left by an interrupted run")
    keys = {r.key for r in runs}
    if moved := store.set_aside_stale(keys):
        log(f"moved {moved} result file(s) of runs no longer in this {what} to {store.folder / 'stale'}")
    manifest = Manifest(store.folder, header, runs)
    done, damaged = store.finished(runs, outputs, manifest.recorded)
    if damaged:
        warn(f"outsim: {len(damaged)} result(s) failed their checksum; moved to {store.folder / 'damaged'} "
             "and computed again")
    for key in done:
        manifest.mark(key, "done", sha256=manifest.recorded[key])
    pending = list({r.key: r for r in reversed(runs) if r.key not in done}.values())[::-1]
    manifest.flush()
    if skipped := len(keys) - len(pending):
        log(f"resuming: {skipped} of {len(keys)} runs already done, {len(pending)} to go")
    return Resumed(manifest, pending, skipped, list(damaged), started)


def record_invocation(resumed: Resumed, computed: int, failed: int, interrupted: bool, seconds: float,
                      **extra: Any) -> None:
    """Add this invocation (when, what it computed, skipped and found damaged) to the manifest's history."""
    manifest = resumed.manifest
    manifest.flush(invocations=[*manifest.data["invocations"], {
        "started_utc": resumed.started_utc, "finished_utc": utc_now(), "computed": computed,
        "skipped": resumed.skipped, "failed": failed, "interrupted": interrupted, "damaged": len(resumed.damaged),
        **extra, "seconds": round(seconds, 2)}])

