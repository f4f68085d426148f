"""One evaluation run, as a worker does it: run a config with a seed and measure the target moments.

Moments are computed from the run's tables in memory with the same functions the report uses
(:mod:`analysis.moments`), so nothing is written by workers: the client stores what comes back.

Test hook: when the environment variable ``OUTSIM_CALIBRATE_FAIL_TRIAL`` equals a task's trial
number, its runs raise before they start (seen by worker processes that inherit the variable). No
parameter value makes the model itself fail, so this is how the tests check that a failing evaluation
stays isolated.
"""

from __future__ import annotations

import os
import time
import traceback
from dataclasses import dataclass, replace
from typing import Any

from analysis import moments
from analysis.load import run_data_from_tables
from simulation.api import run
from simulation.config import Config
from simulation.executor import raise_if_interrupted
from simulation.runfolder import DATA_FILES, recording

FAIL_ENV = "OUTSIM_CALIBRATE_FAIL_TRIAL"


@dataclass(frozen=True)
class EvaluationTask:
    """One run to do: a resolved config (JSON-able), a seed, and the moments to measure (name, first, last)."""

    key: str
    trial: int  # the search trial it belongs to, or -1 for a profile point
    config: dict[str, Any]
    seed: int
    moments: tuple[tuple[str, int, int], ...]


@dataclass(frozen=True)
class Evaluated:
    """What came back: the moments by label (``name@first-last``) or the error of a failed run."""

    task: EvaluationTask
    ok: bool
    values: dict[str, float]
    seconds: float
    error: str = ""


def evaluate(task: EvaluationTask) -> Evaluated:
    """Run one task wherever it lands; never raises (a failure comes back as data, without the config)."""
    t0 = time.perf_counter()
    light = replace(task, config={})
    try:
        if os.environ.get(FAIL_ENV) == str(task.trial):
            raise RuntimeError(f"{FAIL_ENV}={task.trial}: failure injected by the test hook")
        cfg = recording_for(Config.model_validate(task.config), {name for name, _, _ in task.moments})
        result = run(cfg, seed=task.seed)
        data = run_data_from_tables({name: getattr(result, name) for name in DATA_FILES},
                                    {"config": task.config, "steps": cfg.run.steps, "seed": task.seed, **recording(cfg)})
        values = {f"{name}@{first}-{last}": float(moments.moment(data, name, (first, last)))
                  for name, first, last in task.moments}
        return Evaluated(light, True, values, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded with its traceback; the search goes on
        raise_if_interrupted(exc)
        return Evaluated(light, False, {}, time.perf_counter() - t0, traceback.format_exc())


def recording_for(cfg: Config, names: set[str]) -> Config:
    """``cfg`` recording exactly the tables the moments ``names`` read, whole (every firm's reviews).

    The market is the same at every recording level, so the moments keep their values; a run records no
    table it does not need (less memory), and one its moments need even above 10,000 firms, where
    ``run.record = "auto"`` would leave out the decision log.
    """
    tables = {t for name in names if name in moments.MOMENTS for t in moments.MOMENTS[name].tables}
    level = "full" if "decisions" in tables else "summary" if tables else "metrics"
    run_config = cfg.run.model_copy(update={"record": level, "decision_sample": 1.0, "decision_firms": None,
                                            "record_decisions": cfg.run.record_decisions or "decisions" in tables})
    return cfg.model_copy(update={"run": run_config})


def lost(task: EvaluationTask, error: str) -> Evaluated:
    """The result of a task whose worker died."""
    return Evaluated(replace(task, config={}), False, {}, 0.0, error)
