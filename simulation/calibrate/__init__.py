"""``outsim calibrate``: fit model parameters to observed figures with Optuna, evaluations on Dask, resumable.

    from simulation.calibrate import load_calibration, run_calibration
    cal = load_calibration("scenarios/calibration/industry.toml")
    report = run_calibration(cal, "outputs/calibrations/industry", workers=2)

The file format is in spec.py and docs/calibration.md; the folder layout in store.py. The names are
imported on first use, so ``outsim`` starts without loading Optuna.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"Calibration": "spec", "load_calibration": "spec", "CalibrationReport": "runner", "run_calibration": "runner"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'simulation.calibrate' has no attribute {name!r}")
    return getattr(importlib.import_module(f"simulation.calibrate.{_EXPORTS[name]}"), name)
