"""The public API used by the CLI, the tests and notebooks alike.

    cfg = load_scenario("scenarios/baseline.toml", {"firms.count": 500})
    result = run(cfg, seed=1)                 # every table in memory
    save_run(result, "outputs/my-run")
    run_to_folder(cfg, "outputs/my-run", 1)   # the same folder, written while the run goes

The work is done elsewhere: the model in :mod:`simulation.model`, turning it into tables in
:mod:`simulation.recorder`, writing run folders in :mod:`simulation.runfolder`, and writing the large
tables while the run goes in :mod:`simulation.streaming`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from simulation.config import Config
from simulation.model import OutsourcingModel
from simulation.recorder import RunResult, collect, collect_small
from simulation.runfolder import DATA_FILES, building_run_folder, finish_run_folder, run_manifest, write_run_folder
from simulation.scenario import load_scenario
from simulation.streaming import TableStreams

__all__ = ["OutsourcingModel", "RunResult", "SavedRun", "collect", "load_scenario", "run", "run_to_folder", "save_run"]


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
    _weeks(model, cfg.run.steps, on_week)
    t2 = time.perf_counter()
    result = collect(model, cfg)
    result.timings = {"setup": round(t1 - t0, 3), "run": round(t2 - t1, 3), "collect": round(time.perf_counter() - t2, 3)}
    return result


def save_run(result: RunResult, out_dir: str | Path) -> Path:
    """Write a run folder: manifest.json plus one Parquet file per table. Files are written atomically."""
    return write_run_folder(out_dir, {name: getattr(result, name) for name in DATA_FILES}, result.manifest())


@dataclass
class SavedRun:
    """A run written to its folder by :func:`run_to_folder`, with the tables that stay small in memory."""

    folder: Path
    config: Config
    seed: int
    metrics: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)


def run_to_folder(cfg: Config, out_dir: str | Path, seed: int = 0, steps: int | None = None,
                  on_week: Callable[[OutsourcingModel], None] | None = None,
                  origin: dict[str, Any] | None = None) -> SavedRun:
    """Run one configuration with one seed and write its run folder while it runs.

    The folder has the same files, with the same bytes, as ``save_run(run(cfg, seed, steps), out_dir)``
    (manifest.json aside: its timings and creation time), but relationships.parquet and decisions.parquet
    are written in row groups as the run goes (:mod:`simulation.streaming`), so memory holds one row group
    of each instead of the whole table. The folder is built under a hidden name and renamed into place
    when complete, as :func:`save_run` does.

    Args:
        cfg, seed, steps, on_week: as for :func:`run`.
        out_dir: the run folder to write (an existing run folder there is replaced).
        origin: how the config was made (scenario file, overrides, ``--from`` folder), for the manifest.

    Raises:
        FileExistsError: ``out_dir`` holds files that are not a run folder's (before anything runs).
    """
    if steps is not None:
        cfg = cfg.with_steps(steps)
    with building_run_folder(out_dir) as folder:
        t0 = time.perf_counter()
        model = OutsourcingModel(cfg, seed=seed)
        t1 = time.perf_counter()
        with TableStreams(model, folder) as streams:
            _weeks(model, cfg.run.steps, on_week, streams.drain)
            streams.drain(final=True)
        t2 = time.perf_counter()
        tables = collect_small(model)
        timings = {"setup": round(t1 - t0, 3), "run": round(t2 - t1, 3), "collect": round(time.perf_counter() - t2, 3)}
        finish_run_folder(folder, tables, run_manifest(cfg, seed, timings, origin or {}))
    return SavedRun(Path(out_dir), cfg, seed, tables["metrics"], timings)


def _weeks(model: OutsourcingModel, steps: int, on_week: Callable[[OutsourcingModel], None] | None,
           after_week: Callable[[], None] | None = None) -> None:
    """Step the model ``steps`` weeks (``after_week``, then ``on_week``, after each), then close its books."""
    for _ in range(steps):
        model.step()
        if after_week is not None:
            after_week()
        if on_week is not None:
            on_week(model)
    model.finish()
