"""Parameter sweeps: many seeded runs over a design of parameter values, run on Dask, stored run by run.

    outsim sweep scenarios/sweeps/wkh_beta.toml --analyze

From Python::

    from simulation.sweeps import load_results, load_sweep, plan_runs, run_sweep
    plan = plan_runs(load_sweep("scenarios/sweeps/wkh_beta.toml"))
    run_sweep(plan, "outputs/sweeps/wkh_beta", workers=2)
    df = load_results("outputs/sweeps/wkh_beta")   # one row per run: point, seed, parameters, final metrics

Modules: spec (the sweep file), design (design points, runs and their keys), store (the sweep folder),
runner (execution, faults, Ctrl-C), analyze (sensitivity indices and figures), cli (``outsim sweep``).
See docs/sweeps.md.
"""

from simulation.sweeps.design import Plan, Run, plan_runs, run_key
from simulation.sweeps.runner import SweepReport, run_sweep
from simulation.sweeps.spec import Sweep, load_sweep
from simulation.sweeps.store import load_results, load_series, summarise

__all__ = ["Plan", "Run", "Sweep", "SweepReport", "cli", "load_results", "load_series", "load_sweep", "plan_runs",
           "run_key", "run_sweep", "summarise"]


def __getattr__(name: str):
    """``sweeps.cli`` is imported on first use, so ``python -m simulation.sweeps.cli`` runs it only once."""
    if name == "cli":
        import importlib

        return importlib.import_module("simulation.sweeps.cli")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
