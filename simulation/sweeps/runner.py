"""Run a sweep's pending runs on the Dask executor, store each result as it arrives, and survive faults.

- Batching: short runs are grouped so a task lasts about ``target_task_seconds`` (2 s). The first
  tasks hold one run each; their measured run time sets the batch size, which shrinks again near the
  end so every worker keeps busy. Each run's result is still stored on its own.
- Only this (client) process writes to the sweep folder; workers send back a row and a short series,
  so a cluster needs no shared file system and a killed worker cannot leave a half-written file.
- A run that raises is recorded as failed with its traceback and the sweep goes on. A task lost
  with its worker is rescheduled by Dask (and resubmitted here, twice at most).
- Ctrl-C (SIGINT) cancels what is in flight, keeps every finished result, flushes the manifest and
  closes the cluster; running the same command again resumes.
- One client per folder: the folder's lock (store.SweepStore.lock) refuses a second one. A resume
  reuses only results whose files match the checksums recorded when they were written; damaged
  ones are moved to ``damaged/`` and computed again.

Test hook: when the environment variable ``OUTSIM_SWEEP_FAIL_SEED`` equals a run's seed, that run
raises before it starts (seen by worker processes that inherit the variable). No config value makes
the model itself fail, so this is how the tests check that a failure stays isolated.
"""

from __future__ import annotations

import math
import os
import sys
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.stats import last_window, window_mean
from analysis.sweep_results import write_summary
from simulation.api import run
from simulation.config import Config
from simulation.executor import Executor, Outcome, Task, interruptible, raise_if_interrupted
from simulation.progress import Progress
from simulation.runfolder import outsim_version
from simulation.sweeps.design import Plan, Run
from simulation.sweeps.store import Manifest, SweepReport, SweepStore, record_invocation, resume

FAIL_ENV = "OUTSIM_SWEEP_FAIL_SEED"
RESUBMITS = 2


def run_batch(tasks: list[Task], outputs: dict[str, Any]) -> list[tuple[Outcome, dict[str, float] | None, pd.DataFrame | None]]:
    """Run several tasks in one worker call (the Dask task function); never raises."""
    return [run_one(t, outputs) for t in tasks]


def run_one(task: Task, outputs: dict[str, Any]) -> tuple[Outcome, dict[str, float] | None, pd.DataFrame | None]:
    """Run one seeded config and reduce its weekly metrics to the kept outputs; failures come back as data."""
    t0 = time.perf_counter()
    light = replace(task, config={})  # the outcome travels back without the config
    try:
        if os.environ.get(FAIL_ENV) == str(task.seed):
            raise RuntimeError(f"{FAIL_ENV}={task.seed}: failure injected by the test hook")
        cfg = Config.model_validate(task.config)
        cfg.run.record = "metrics"  # only the metrics are kept: no other table is recorded (the market is the same)
        metrics = run(cfg, seed=task.seed).metrics
        window = last_window(int(metrics["step"].max()), outputs["final_window"])
        finals = {m: float(mean) for m, mean in window_mean(metrics, window, outputs["final"]).items()}
        series = None
        if outputs["every"]:
            series = metrics.loc[metrics["step"] % outputs["every"] == 0, ["step", *outputs["series"]]]
            series = series.reset_index(drop=True)
        return Outcome(light, True, time.perf_counter() - t0), finals, series
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded with its traceback; the sweep goes on
        raise_if_interrupted(exc)
        return Outcome(light, False, time.perf_counter() - t0, traceback.format_exc()), None, None


def batch_size(mean_seconds: float | None, remaining: int, slots: int, target_seconds: float) -> int:
    """Runs per task: enough to last ``target_seconds``, but at most a fair share of what remains."""
    if mean_seconds is None:
        return 1
    size = math.ceil(target_seconds / max(mean_seconds, 1e-3))
    fair = math.ceil(remaining / (2 * max(slots, 1)))
    return max(1, min(size, fair, 1000))


def sweep_task(r: Run, store: SweepStore) -> Task:
    """The executor task of one sweep run (its result file is named after the run's key)."""
    return Task(r.config, r.seed, str(store.runs_dir / f"{r.key}.parquet"), r.key)


class _Sink:
    """Stores outcomes as they arrive: result files, manifest, progress, running mean of run time."""

    def __init__(self, store: SweepStore, manifest: Manifest, outputs: dict[str, Any], report: SweepReport,
                 progress: Progress | None) -> None:
        self.store, self.manifest, self.outputs, self.report, self.progress = store, manifest, outputs, report, progress
        self.seconds, self.timed = 0.0, 0

    @property
    def mean_seconds(self) -> float | None:
        return self.seconds / self.timed if self.timed else None

    def take(self, r: Run, outcome: Outcome, finals: dict[str, float] | None, series: pd.DataFrame | None) -> None:
        if outcome.ok:
            sums = self.store.write_result(r, finals, series, self.outputs)
            self.manifest.mark(r.key, "done", outcome.seconds, computed=True, sha256=sums)
            self.seconds, self.timed = self.seconds + outcome.seconds, self.timed + 1
            self.report.computed += 1
        else:
            self.manifest.mark(r.key, "failed", outcome.seconds, error=outcome.error, computed=True)
            self.report.failed.append((r, outcome.error))
        if self.progress:
            self.progress.update(self.report.computed + len(self.report.failed), len(self.report.failed))


def _to_stderr(line: str) -> None:
    print(line, file=sys.stderr)


def run_sweep(plan: Plan, folder: str | Path, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True, target_task_seconds: float = 2.0, dashboard: bool = False,
              log: Callable[[str], None] = print, warn: Callable[[str], None] = _to_stderr) -> SweepReport:
    """Run (or resume) every run of ``plan`` that has no stored result in ``folder``.

    Args:
        plan: from :func:`simulation.sweeps.design.plan_runs`.
        folder: the sweep folder (created if needed).
        workers: local worker processes (default: all cores; 0: one by one in this process).
        scheduler: address of an existing Dask scheduler (default: $DASK_SCHEDULER_ADDRESS, else local).
        progress: show the progress bar (plain lines when not on a terminal).
        target_task_seconds: aim for Dask tasks about this long.
        dashboard: serve the Dask dashboard of a local cluster (its address is logged).
        log: where to say what is happening.
        warn: where to report damaged results (default: standard error).

    Raises:
        FolderInUse: another client is writing ``folder``.
    """
    t0 = time.monotonic()
    sweep, store = plan.sweep, SweepStore(folder)
    outputs = sweep.outputs()
    report = SweepReport(store.folder, len({r.key for r in plan.runs}))
    with store.lock():
        resumed = resume(store, plan.runs, _header(plan), outputs, "sweep", log, warn)
        store.write_design(plan)
        report.skipped = resumed.skipped
        bar = Progress(len(resumed.pending), enabled=progress) if resumed.pending else None
        sink = _Sink(store, resumed.manifest, outputs, report, bar)
        try:
            if resumed.pending:
                _execute(resumed.pending, store, outputs, sink, report, workers, scheduler, target_task_seconds,
                         dashboard, log)
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            if bar:
                bar.close()
            report.seconds = time.monotonic() - t0
            record_invocation(resumed, report.computed, len(report.failed), report.interrupted, report.seconds,
                              workers=report.workers, batch_size=report.batch_size)
        if not report.interrupted and resumed.manifest.counts()["done"]:
            write_summary(store.folder, [p.key for p in sweep.parameters], list(sweep.final))
    return report


def _header(plan: Plan) -> dict[str, Any]:
    s = plan.sweep
    return {
        "kind": "sweep", "name": s.name, "description": s.description, "sweep_file": str(s.path),
        "base_scenario": str(s.base), "outsim_version": outsim_version(),
        "parameters": [{k: v for k, v in vars(p).items() if v is not None} for p in s.parameters],
        "design": {"kind": s.design, "samples": s.samples, "levels": s.levels if s.design == "morris" else None,
                   "points": len(plan.points), "seed_base": s.seed_base, "seeds": plan.seeds},
        "outputs": s.outputs(), "base_config": plan.base_config.model_dump(mode="json"),
        "files": {"runs": "runs/<key>.parquet", "series": "series/<key>.parquet" if s.every else None,
                  "design": "design.parquet", "summary": "summary.parquet"},
    }


def _execute(pending: list[Run], store: SweepStore, outputs: dict[str, Any], sink: _Sink, report: SweepReport,
             workers: int | None, scheduler: str | None, target: float, dashboard: bool,
             log: Callable[[str], None]) -> None:
    inflight: dict[str, tuple[Any, list[Run], int]] = {}
    with interruptible(workers, scheduler, dashboard) as ex:
        client = ex.client
        if dashboard and client is not None:
            log(f"Dask dashboard: {client.dashboard_link}")
        try:
            if client is None:
                for r in pending:
                    sink.take(r, *run_one(sweep_task(r, store), outputs))
                return
            _distribute(client, ex, pending, store, outputs, sink, report, target, inflight)
        except KeyboardInterrupt:
            if client is not None:
                client.cancel([f for f, _, _ in inflight.values()])
            raise


def _distribute(client: Any, ex: Executor, pending: list[Run], store: SweepStore, outputs: dict[str, Any], sink: _Sink,
                report: SweepReport, target: float, inflight: dict[str, tuple[Any, list[Run], int]]) -> None:
    from dask.distributed import as_completed

    queue: deque[Run] = deque(pending)
    ac = as_completed()
    slots = {"n": 1, "checked": -1e9}

    def capacity() -> int:
        if time.monotonic() - slots["checked"] > 5.0:
            slots["n"] = max(1, sum(client.nthreads().values())) if ex.scheduler else max(1, ex.workers)
            slots["checked"] = time.monotonic()
            report.workers = max(report.workers, slots["n"])
        return slots["n"]

    def submit(batch: list[Run], attempts: int) -> None:
        f = client.submit(run_batch, [sweep_task(r, store) for r in batch], outputs, pure=False, retries=2)
        inflight[f.key] = (f, batch, attempts)
        ac.add(f)

    def top_up() -> None:
        n = capacity()
        while queue and len(inflight) < 2 * n:
            size = batch_size(sink.mean_seconds, len(queue), n, target)
            report.batch_size = max(report.batch_size, size)
            submit([queue.popleft() for _ in range(min(size, len(queue)))], 0)

    top_up()
    for f in ac:
        _, batch, attempts = inflight.pop(f.key)
        try:
            results = f.result()
        except Exception:  # noqa: BLE001 - e.g. its worker died too often: try again, then record as failed
            if attempts < RESUBMITS:
                submit(batch, attempts + 1)
                continue
            err = traceback.format_exc()
            results = [(Outcome(replace(sweep_task(r, store), config={}), False, 0.0, err), None, None) for r in batch]
        for r, (outcome, finals, series) in zip(batch, results):
            sink.take(r, outcome, finals, series)
        top_up()
