"""The outsourcing market model: agents, state, market, sourcing, environment and metrics, wired in model.py.

This package imports only itself and :mod:`simulation.config`.
"""

from simulation.model.model import OutsourcingModel

__all__ = ["OutsourcingModel"]
