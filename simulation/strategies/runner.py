"""Run every (strategy, future, seed) of a strategy study on the Dask executor, resumably.

Each run builds the future's market with the seed, lets the focal firm-services follow the strategy
from week 1 (after the warm-up, which every strategy shares; everyone else keeps the adaptive rule),
runs it, and sends back two small tables: the focal totals over the window and the focal firms' yearly
costs (measure.py). Seeds are common to every strategy and future (common random numbers).

The study folder is a sweep store (simulation/sweeps/store.py) and resumes the same way: one result
per run in ``runs/<key>.parquet`` (totals) and ``series/<key>.parquet`` (firm-years), keyed by a hash of
the future's resolved config, the strategy, the segment, the window, the seed and the outsim version;
written atomically with their SHA-256 in ``manifest.json``; a lock per folder; a damaged result moved
to ``damaged/`` and computed again; Ctrl-C keeps what is finished, and the same command resumes.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from simulation.config import Config
from simulation.executor import interruptible, raise_if_interrupted
from simulation.model import OutsourcingModel
from simulation.model.sourcing.policies import ADAPTIVE
from simulation.progress import Progress
from simulation.runfolder import outsim_version, run_key
from simulation.strategies.measure import TOTALS, FocalTally, focal_slots
from simulation.strategies.spec import YEAR, Segment, Study, policy_of
from simulation.sweeps.design import Run
from simulation.sweeps.store import Manifest, SweepReport, SweepStore, record_invocation, resume

#: What a stored result holds (a result made for other measures is recomputed): the totals, and a firm-year
#: table ("every" = 52: the store then requires the series file of every run).
MEASURES = {"every": YEAR, "totals": list(TOTALS), "firm_years": ["firm_id", "year", "cost", "demand_hours"]}


@dataclass(frozen=True)
class CellTask:
    """One run to do: a future's resolved config, a seed, the strategy of the focal firm-services."""

    key: str
    config: dict[str, Any]
    seed: int
    strategy: str
    segment: dict[str, Any]
    window: tuple[int, int]


@dataclass(frozen=True)
class CellResult:
    """What came back from a run: its totals and firm-years, or the error."""

    key: str
    ok: bool
    seconds: float
    error: str = ""
    totals: dict[str, float] | None = None
    firm_years: pd.DataFrame | None = None


def run_cell(task: CellTask) -> CellResult:
    """Run one (strategy, future, seed) wherever it lands; never raises (a failure comes back as data)."""
    t0 = time.perf_counter()
    try:
        cfg = Config.model_validate(task.config)
        cfg.run.record = "metrics"  # the tally reads the model's state, not its tables: record none of them
        model = OutsourcingModel(cfg, seed=task.seed)
        focal = focal_slots(model, Segment(**{k: tuple(v) if isinstance(v, list) else v for k, v in task.segment.items()}))
        policy = policy_of(task.strategy)
        if policy is not ADAPTIVE:  # the adaptive strategy is the model's own default rule: nothing to assign
            model.assign_policy(policy, focal)
        tally = FocalTally(model, focal, task.window)
        for _ in range(model.cfg.run.steps):
            model.step()
            tally.observe(model)
        return CellResult(task.key, True, time.perf_counter() - t0, totals=tally.totals(), firm_years=tally.firm_years())
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded with its traceback; the study goes on
        raise_if_interrupted(exc)
        return CellResult(task.key, False, time.perf_counter() - t0, traceback.format_exc())


def plan_runs(study: Study) -> list[Run]:
    """Every (strategy, future, seed) run, strategy-major; ``point`` numbers the (strategy, future) cells."""
    runs, segment = [], study.segment.as_dict()
    for i, strategy in enumerate(study.strategies):
        for j, future in enumerate(study.futures):
            config = future.config.model_dump(mode="json")
            ident = {"config": config, "strategy": strategy, "segment": segment, "window": list(future.window)}
            for seed in study.seeds:
                runs.append(Run(run_key(ident, seed), i * len(study.futures) + j, seed, config,
                                {"strategy": strategy, "future": future.name}))
    return runs


def task_of(run: Run, study: Study) -> CellTask:
    future = next(f for f in study.futures if f.name == run.params["future"])
    return CellTask(run.key, run.config, run.seed, run.params["strategy"], study.segment.as_dict(), future.window)


def run_study(study: Study, folder: str | Path, workers: int | None = None, scheduler: str | None = None,
              progress: bool = True, log: Callable[[str], None] = print,
              warn: Callable[[str], None] = lambda line: print(line, file=sys.stderr)) -> SweepReport:
    """Run (or resume) every run of ``study`` without a verified result in ``folder``.

    Raises:
        FolderInUse: another client is writing ``folder``.
        ExecutorError: Dask could not be started or reached.
    """
    t0 = time.monotonic()
    store, runs = SweepStore(folder), plan_runs(study)
    report = SweepReport(store.folder, len({r.key for r in runs}))
    with store.lock():
        resumed = resume(store, runs, header(study), MEASURES, "study", log, warn)
        report.skipped = resumed.skipped
        try:
            if resumed.pending:
                _execute(resumed.pending, study, store, resumed.manifest, report, workers, scheduler, progress)
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            report.seconds = time.monotonic() - t0
            record_invocation(resumed, report.computed, len(report.failed), report.interrupted, report.seconds)
    return report


def _execute(pending: list[Run], study: Study, store: SweepStore, manifest: Manifest, report: SweepReport,
             workers: int | None, scheduler: str | None, progress: bool) -> None:
    by_key = {r.key: r for r in pending}
    bar = Progress(len(pending), enabled=progress)

    def take(result: CellResult) -> None:
        run = by_key[result.key]
        if result.ok:
            sums = store.write_result(run, result.totals, result.firm_years, MEASURES)
            manifest.mark(run.key, "done", result.seconds, computed=True, sha256=sums)
            report.computed += 1
        else:
            manifest.mark(run.key, "failed", result.seconds, error=result.error, computed=True)
            report.failed.append((run, result.error))
        bar.update(report.computed + len(report.failed), len(report.failed))

    try:
        with interruptible(workers, scheduler) as ex:
            ex.map([task_of(r, study) for r in pending], take, function=run_cell,
                   on_lost=lambda task, error: CellResult(task.key, False, 0.0, error))
    finally:
        bar.close()


def header(study: Study) -> dict[str, Any]:
    """The manifest's description of the study (its runs are listed beside it)."""
    return {
        "kind": "strategies", "name": study.name, "description": study.description, "strategy_file": str(study.path),
        "outsim_version": outsim_version(), "strategies": list(study.strategies),
        "segment": {**study.segment.as_dict(), "described": study.segment.describe()},
        "futures": [{"name": f.name, "scenario_file": str(f.path), "window": list(f.window),
                     "steps": f.config.run.steps, "config": f.config.model_dump(mode="json")} for f in study.futures],
        "seeds": {"base": study.seed_base, "seeds": list(study.seeds)}, "set": study.fixed, "measures": MEASURES,
        "files": {"runs": "runs/<key>.parquet", "firm_years": "series/<key>.parquet", "table": "strategies.csv",
                  "regret": "regret.csv", "report": "report.html"},
    }
