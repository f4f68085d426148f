"""The public API used by the CLI, the tests and notebooks alike.

    cfg = load_scenario("scenarios/baseline.toml", {"firms.count": 500})
    result = run(cfg, seed=1)
    save_run(result, "outputs/my-run")

The work is done elsewhere: the model in :mod:`simulation.model`, turning it into tables in
:mod:`simulation.recorder`, writing run folders in :mod:`simulation.runfolder`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from simulation.config import Config
from simulation.model import OutsourcingModel
from simulation.recorder import RunResult, collect
from simulation.runfolder import DATA_FILES, write_run_folder
from simulation.scenario import load_scenario

__all__ = ["OutsourcingModel", "RunResult", "collect", "load_scenario", "run", "save_run"]


def run(cfg: Config, seed: int = 0, steps: int | None = None,
        on_week: Callable[[OutsourcingModel], None] | None = None) -> RunResult:
    """Run one configuration with one seed and return its results (nothing is written to disk).

    Args:
        cfg: a validated config (see :func:`load_scenario`).
        seed: the run seed; every random stream is derived from it.
        steps: weeks to run; defaults to ``cfg.run.steps``.
        on_week: called after every week (progress bars, invariant checks, live views).
    """
    if steps is not None:
        cfg = cfg.with_steps(steps)
    t0 = time.perf_counter()
    model = OutsourcingModel(cfg, seed=seed)
    t1 = time.perf_counter()
    for _ in range(cfg.run.steps):
        model.step()
        if on_week is not None:
            on_week(model)
    model.finish()
    t2 = time.perf_counter()
    result = collect(model, cfg)
    result.timings = {"setup": round(t1 - t0, 3), "run": round(t2 - t1, 3), "collect": round(time.perf_counter() - t2, 3)}
    return result


def save_run(result: RunResult, out_dir: str | Path) -> Path:
    """Write a run folder: manifest.json plus one Parquet file per table. Files are written atomically."""
    return write_run_folder(out_dir, {name: getattr(result, name) for name in DATA_FILES}, result.manifest())
