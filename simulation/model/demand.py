"""Demand of each firm-service per week: economy level x firm size x own shock.

Steady (BPO-like) services follow a stationary AR(1) shock in logs, whose sd is the market's volatility
times the firm-service's own factor (small firms swing more); project services (KPO) arrive as
lumpy projects: arrivals are Poisson, each project lasts a geometric number of weeks, and weekly demand
is proportional to the number of live projects (normalised so its mean is the service's base demand).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulation.model import kernels


class DemandProcess:
    """State of the demand shocks and projects of all firm-services."""

    def __init__(self, base: NDArray[np.float64], project_rate: NDArray[np.float64],
                 project_weeks: NDArray[np.float64], volatility_factor: NDArray[np.float64],
                 rng: np.random.Generator) -> None:
        self.base = base
        self.volatility_factor = volatility_factor
        self.rate = project_rate
        self.weeks = project_weeks
        self.lumpy = project_rate > 0
        self.project_rows = np.flatnonzero(self.lumpy)
        self.shock = np.zeros(len(base))
        mean_live = np.where(self.lumpy, project_rate * project_weeks, 1.0)
        self.projects = np.where(self.lumpy, rng.poisson(mean_live), 0).astype(np.int64)

    def stationary_sd(self, volatility: float) -> NDArray[np.float64]:
        """Approximate standard deviation of weekly demand (for initial estimates)."""
        cv_projects = np.divide(1.0, np.sqrt(self.rate * self.weeks), out=np.zeros_like(self.base), where=self.lumpy)
        cv = np.sqrt(cv_projects**2 + (volatility * self.volatility_factor)**2)
        return self.base * cv

    def realise(self, level: float, volatility: float, persistence: float, rng: np.random.Generator) -> NDArray[np.float64]:
        """Advance shocks and projects one week; return demand in hours.

        The shock is ``persistence * shock + sqrt(1 - persistence**2) * volatility * eps``; a project service's
        load is its live projects over their mean number; demand is ``base * level * load *
        exp(shock - volatility**2 / 2)``. The week's draws: ``eps`` for every firm-service, then arrivals
        (Poisson) and ends (binomial) for the project services only, so the others draw nothing. Draws and
        arithmetic run in one compiled call (:func:`kernels.realise_demand`)."""
        demand, self.shock, self.projects = kernels.realise_demand(
            rng, self.base, float(volatility), self.volatility_factor, self.lumpy, self.rate, self.weeks, self.shock,
            self.projects, self.project_rows, float(level), float(persistence), float(np.sqrt(1.0 - persistence**2)))
        return demand
