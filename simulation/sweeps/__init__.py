"""Parameter sweeps: many seeded runs over a design of parameter values, run on Dask, stored run by run.

    outsim sweep scenarios/sweeps/wkh_beta.toml --analyze

From Python::

    from simulation.sweeps import load_plan, load_results, run_sweep
    plan = load_plan("scenarios/sweeps/wkh_beta.toml")   # raises ScenarioError listing every problem
    run_sweep(plan, "outputs/sweeps/wkh_beta", workers=2)
    df = load_results("outputs/sweeps/wkh_beta")   # one row per run: point, seed, parameters, final metrics

Modules: spec (the sweep file), design (design points, runs and their keys), store (writing the sweep
folder), runner (execution, faults, Ctrl-C), cli (``outsim sweep``). Reading a sweep folder back, the
summary across seeds and the sensitivity analysis and figures are in analysis/ (sweep_results, sweeps);
``load_results`` and ``load_series`` are re-exported here. See docs/sweeps.md.
"""

from analysis.sweep_results import load_results, load_series
from simulation.runfolder import run_key
from simulation.sweeps.design import Plan, Run, load_plan, plan_runs
from simulation.sweeps.runner import SweepReport, run_sweep
from simulation.sweeps.spec import Sweep, load_sweep

__all__ = ["Plan", "Run", "Sweep", "SweepReport", "cli", "load_plan", "load_results", "load_series", "load_sweep",
           "plan_runs", "run_key", "run_sweep"]


def __getattr__(name: str):
    """``sweeps.cli`` is imported on first use, so ``python -m simulation.sweeps.cli`` runs it only once."""
    if name == "cli":
        import importlib

        return importlib.import_module("simulation.sweeps.cli")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
