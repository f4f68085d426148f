"""outsim: an agent-based simulator of outsourcing markets (BPO, KPO, intermediaries) built on Mesa.

Public API: :func:`load_scenario`, :func:`run`, :func:`save_run`, :func:`run_to_folder` and :class:`OutsourcingModel`.
"""

from simulation.api import RunResult, load_scenario, run, run_to_folder, save_run
from simulation.config import Config
from simulation.model import OutsourcingModel
from simulation.scenario import ScenarioError

__all__ = ["Config", "OutsourcingModel", "RunResult", "ScenarioError", "load_scenario", "run", "run_to_folder", "save_run"]
