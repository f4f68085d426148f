"""The files a finished calibration leaves: trials.parquet, profiles.parquet, fit.csv and best.toml.

Each is a table or a scenario built from the study and the stored runs; the statistics (the loss, the
fit with its 95% intervals) come from :mod:`analysis.calibration`, the same functions the report uses.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import optuna
import pandas as pd
from optuna.trial import TrialState

from analysis.calibration import fit_table, label, replication_means
from simulation.calibrate.spec import Calibration, Parameter
from simulation.calibrate.store import CalibrationStore
from simulation.runfolder import run_key, write_atomic


def trial_rows(cal: Calibration, study: optuna.Study, store: CalibrationStore) -> pd.DataFrame:
    """One row per finished trial: number, state, loss, the parameter values and the replication-mean moments."""
    targets = [t.as_dict() for t in cal.targets]
    labels = [label(t) for t in targets]
    rows = []
    for trial in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
        reps = replications(cal, trial.params, store)
        means = replication_means(reps, targets) if all(reps) else {}
        rows.append({"trial": trial.number, "state": trial.state.name.lower(),
                     "loss": trial.value if trial.state == TrialState.COMPLETE else float("nan"),
                     **{f"param:{p.key}": trial.params.get(p.key, float("nan")) for p in cal.parameters},
                     **{f"moment:{name}": means.get(name, float("nan")) for name in labels}})
    columns = ["trial", "state", "loss", *(f"param:{p.key}" for p in cal.parameters), *(f"moment:{n}" for n in labels)]
    return pd.DataFrame(rows, columns=columns)


def replications(cal: Calibration, values: dict[str, float], store: CalibrationStore) -> list[dict[str, float]]:
    """The stored moments of each replication of a parameter set (an empty dict where a run is not stored)."""
    config = cal.config_for(values).model_dump(mode="json")
    labels = [label(t.as_dict()) for t in cal.targets]
    return [store.result(run_key(config, seed), labels) or {} for seed in cal.seeds]


def best_trial(study: optuna.Study) -> optuna.trial.FrozenTrial | None:
    """The completed trial with the lowest loss (the first of equals), or None if none completed."""
    done = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    return min(done, key=lambda t: (t.value, t.number)) if done else None


def fit(cal: Calibration, best: dict[str, float], store: CalibrationStore) -> pd.DataFrame:
    """The fit table of the best parameters (analysis.calibration.fit_table over its replications)."""
    return fit_table(replications(cal, best, store), [t.as_dict() for t in cal.targets])


def profile_points(parameter: Parameter, best: float, points: int) -> list[float]:
    """Values along one parameter's bounds (evenly, or evenly in logs), with its best value among them."""
    grid = np.geomspace(parameter.low, parameter.high, points) if parameter.log else \
        np.linspace(parameter.low, parameter.high, points)
    values = [float(v) for v in grid] + [float(best)]
    if parameter.integer:
        values = [float(round(v)) for v in values]
    return sorted(set(values))


def write_tables(folder: Path, trials: pd.DataFrame, profiles: pd.DataFrame, fit_rows: pd.DataFrame | None) -> None:
    write_atomic(folder / "trials.parquet", lambda p: trials.to_parquet(p, index=False))
    write_atomic(folder / "profiles.parquet", lambda p: profiles.to_parquet(p, index=False))
    if fit_rows is not None:
        write_atomic(folder / "fit.csv", lambda p: fit_rows.to_csv(p, index=False))


def best_scenario(cal: Calibration, folder: Path, best: dict[str, float], trial: int, best_loss: float,
                  evaluations: int, fit_rows: pd.DataFrame) -> str:
    """A scenario file that extends the base with the fixed overrides and the best parameters."""
    values = {k: v for k, v in {**cal.fixed, "run.steps": cal.steps, **best}.items() if k not in ("name", "description")}
    within = int(fit_rows["within"].sum()) if len(fit_rows) else 0
    today = datetime.now(UTC).strftime("%Y-%m-%d")
    header = [
        f"# Calibrated by `outsim calibrate {cal.source}` on {today}:",
        f"# best of {evaluations} evaluations (trial {trial}, loss {best_loss:.6g}; {cal.sampler} sampler, seed {cal.seed},",
        f"# {cal.replications} replications of {cal.steps} weeks). {within} of {len(fit_rows)} targets within; "
        "see fit.csv and report.html beside this file.",
        f'extends = "{Path(os.path.relpath(cal.base, folder.resolve())).as_posix()}"',
        f'name = "{cal.name}_calibrated"',
        f'description = "{cal.name} calibration: the base scenario with its best-fitting parameters."',
    ]
    return "\n".join(header) + "\n" + toml_tables(values)


def toml_tables(values: dict[str, Any]) -> str:
    """Dotted keys as TOML tables: ``{"contracts.learning_multiplier": 1.2}`` -> ``[contracts]`` ``learning_multiplier = 1.2``."""
    tables: dict[str, list[str]] = {}
    for key in sorted(values):
        table, _, leaf = key.rpartition(".")
        tables.setdefault(table, []).append(f"{leaf} = {toml_value(values[key])}")
    top = "".join(line + "\n" for line in tables.pop("", []))  # keys outside any table come before the first
    return top + "".join(f"\n[{table}]\n" + "\n".join(lines) + "\n" for table, lines in tables.items())


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        if not math.isfinite(value):
            raise ValueError(f"not a finite number: {value}")
        return repr(float(value))
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, Sequence):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")
