"""Run (or resume) a calibration: the search, the profiles of the best point, then the output files.

:func:`run_calibration` is what ``outsim calibrate FILE`` does before it writes the report. It keeps
going when an evaluation fails (the trial is recorded as failed), and on Ctrl-C it stops cleanly:
every finished run stays stored, the manifest says the invocation was interrupted, and running the
same command again resumes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
from optuna.trial import TrialState

from analysis.calibration import loss, replication_means
from simulation.calibrate import outputs
from simulation.calibrate.search import Evaluation, Point, SearchState, evaluate_points, open_study, search
from simulation.calibrate.spec import Calibration
from simulation.calibrate.store import CalibrationStore
from simulation.executor import interruptible
from simulation.progress import Progress
from simulation.runfolder import utc_now, write_atomic


@dataclass
class CalibrationReport:
    """What one invocation did, and where the calibration stands."""

    folder: Path
    budget: int
    done_before: int = 0
    state: SearchState = field(default_factory=SearchState)
    interrupted: bool = False
    seconds: float = 0.0
    best_trial: int | None = None
    best_loss: float = float("nan")
    best: dict[str, float] = field(default_factory=dict)
    fit: pd.DataFrame | None = None


def run_calibration(cal: Calibration, folder: str | Path, workers: int | None = None, scheduler: str | None = None,
                    progress: bool = True, log=print) -> CalibrationReport:
    """Search, profile and write the outputs of a calibration into ``folder`` (resuming what is stored there)."""
    t0 = time.monotonic()
    store = CalibrationStore(folder)
    manifest = store.prepare(cal.signature(), cal.source)
    study = open_study(cal, store)
    report = CalibrationReport(store.folder, cal.budget)
    report.done_before = sum(t.state.is_finished() for t in study.get_trials(deepcopy=False))
    if report.done_before:
        log(f"resuming: {min(report.done_before, cal.budget)} of {cal.budget} evaluations already done")
    started = utc_now()
    todo = max(cal.budget - report.done_before, 0)
    bar = Progress(todo, unit="evaluations", enabled=progress) if todo else None
    profiles = pd.DataFrame(columns=["parameter", "value", "loss", "best"])
    try:
        with interruptible(workers, scheduler) as ex:
            search(cal, study, store, ex, report.state, bar)
            if bar:
                bar.close()
                bar = None
            best = outputs.best_trial(study)
            if best is not None and cal.profile_points:
                profiles = profile(cal, best.params, store, ex, report.state, log)
    except KeyboardInterrupt:
        report.interrupted = True
    finally:
        if bar:
            bar.close()
        report.seconds = round(time.monotonic() - t0, 2)
        manifest["invocations"] = [*manifest.get("invocations", []), {
            "started_utc": started, "finished_utc": utc_now(), "interrupted": report.interrupted,
            "evaluations": report.state.trials_done, "runs_computed": report.state.runs_computed,
            "runs_reused": report.state.runs_reused, "failed": [n for n, _ in report.state.failed],
            "seconds": report.seconds}]
        manifest["failures"] = {**manifest.get("failures", {}), **{str(n): e for n, e in report.state.failed}}
        store.write_manifest({**manifest, **header(cal)})
    if not report.interrupted:
        finish(cal, study, store, profiles, report, manifest)
    return report


def header(cal: Calibration) -> dict:
    """The manifest's description of the calibration (besides its signature)."""
    return {"kind": "calibration", "name": cal.name, "description": cal.description,
            "calibration_file": str(cal.path), "base_scenario": str(cal.base), "budget": cal.budget,
            "replications": cal.replications, "steps": cal.steps, "sampler": cal.sampler,
            "parameters": [vars(p) for p in cal.parameters], "targets": [t.as_dict() for t in cal.targets],
            "files": {"trials": "trials.parquet", "profiles": "profiles.parquet", "fit": "fit.csv", "best": "best.toml",
                      "study": "study.journal", "runs": "runs/<key>.json"}}


def profile(cal: Calibration, best: dict[str, float], store: CalibrationStore, ex, state: SearchState,
            log) -> pd.DataFrame:
    """The loss along each parameter's bounds with the others at the best point (flat: not identified)."""
    points, where = [], []
    for p in cal.parameters:
        for value in outputs.profile_points(p, best[p.key], cal.profile_points):
            points.append(Point(-1, {**best, p.key: int(value) if p.integer else value}))
            where.append((p.key, value, value == float(best[p.key])))
    log(f"profiles: {len(points)} points along {len(cal.parameters)} parameter(s), "
        f"{len(points) * cal.replications} runs (stored ones reused)")
    targets = [t.as_dict() for t in cal.targets]
    results: list[Evaluation] = evaluate_points(cal, points, store, ex, state, lambda e: None)
    rows = [{"parameter": key, "value": value, "best": is_best,
             "loss": loss(replication_means(e.replications, targets), targets) if e.ok else float("nan")}
            for (key, value, is_best), e in zip(where, results)]
    return pd.DataFrame(rows, columns=["parameter", "value", "loss", "best"])


def finish(cal: Calibration, study, store: CalibrationStore, profiles: pd.DataFrame, report: CalibrationReport,
           manifest: dict) -> None:
    """Write trials.parquet, profiles.parquet, fit.csv, best.toml and the manifest's summary."""
    best = outputs.best_trial(study)
    trials = outputs.trial_rows(cal, study, store)
    fit_rows = outputs.fit(cal, best.params, store) if best else None
    outputs.write_tables(store.folder, trials, profiles, fit_rows)
    evaluations = int((trials["state"] != "running").sum())
    summary = {"evaluations": evaluations, "failed": int((trials["state"] == "fail").sum()), "best": None}
    if best is not None:
        report.best_trial, report.best_loss, report.best, report.fit = best.number, best.value, dict(best.params), fit_rows
        text = outputs.best_scenario(cal, store.folder, dict(best.params), best.number, best.value, evaluations, fit_rows)
        write_atomic(store.folder / "best.toml", lambda p: p.write_text(text, encoding="utf-8"))
        summary["best"] = {"trial": best.number, "loss": best.value, "parameters": dict(best.params),
                           "within": int(fit_rows["within"].sum()), "targets": len(fit_rows)}
    store.write_manifest({**manifest, **header(cal), "summary": summary,
                          "states": {s.name.lower(): len(study.get_trials(deepcopy=False, states=(s,))) for s in
                                     (TrialState.COMPLETE, TrialState.FAIL)}})
