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
        exp(shock - volatility**2 / 2)`` (:func:`kernels.advance_demand`, after the week's draws).

        Arrivals and ends are drawn for the project services only: numpy's Poisson draw at rate 0 and binomial
        draw of 0 trials return 0 without reading the generator, so the others draw nothing either way."""
        eps = rng.standard_normal(len(self.base))
        arrivals, ended = np.zeros(len(self.base), np.int64), np.zeros(len(self.base), np.int64)
        arrivals[self.project_rows] = rng.poisson(self.rate[self.project_rows])
        ended[self.project_rows] = rng.binomial(self.projects[self.project_rows], 1.0 / self.weeks[self.project_rows])
        demand, self.shock, self.projects = kernels.advance_demand(
            self.base, volatility * self.volatility_factor, self.lumpy, self.rate, self.weeks, self.shock, self.projects,
            eps, ended, arrivals, float(level), float(persistence), float(np.sqrt(1.0 - persistence**2)))
        return demand
