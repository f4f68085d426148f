"""Strategies judged across futures: which sourcing strategy serves a segment of firms best, and which is robust.

    outsim strategies scenarios/strategies/kpo_sourcing.toml

From Python::

    from simulation.strategies import load_study, run_study
    study = load_study("scenarios/strategies/kpo_sourcing.toml")   # raises ScenarioError listing every problem
    run_study(study, "outputs/strategies/kpo_sourcing", workers=2)
    # then analysis.strategies.write_study(folder) writes strategies.csv, regret.csv and report.html

Modules: spec (the strategy file), measure (the focal firm-services and what they pay), runner (the runs
on Dask, resumable like sweeps). The command is simulation/cli_strategies.py; the tables, the regret and
the report are analysis/strategies.py's.
"""

from simulation.strategies.runner import plan_runs, run_study
from simulation.strategies.spec import Segment, Study, load_study, policy_of

__all__ = ["Segment", "Study", "load_study", "plan_runs", "policy_of", "run_study"]
