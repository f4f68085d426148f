"""Kernel of the week's demand: the arithmetic of :meth:`simulation.model.demand.DemandProcess.realise` after its
random draws, in one pass over the firm-services instead of some ten full-size numpy passes."""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def advance_demand(base, volatility, lumpy, rate, weeks, shock, projects, eps, ended, arrivals, level, persistence,
                   innovation):
    """The week's demand, shocks and live projects of every firm-service, each value computed as the numpy
    expressions of ``realise`` compute it (same operations, same order; ``math.exp`` is the C library's, as
    :func:`kernels.exp`). ``volatility`` per firm-service; ``innovation`` is ``np.sqrt(1 - persistence**2)``."""
    n = len(base)
    demand, new_shock, new_projects = np.empty(n), np.empty(n), np.empty(n, np.int64)
    for i in range(n):
        v = volatility[i]
        new_shock[i] = persistence * shock[i] + innovation * v * eps[i]
        new_projects[i] = projects[i] - ended[i] + arrivals[i] if lumpy[i] else 0
        load = new_projects[i] / (rate[i] * weeks[i]) if lumpy[i] else 1.0
        demand[i] = base[i] * level * load * math.exp(new_shock[i] - 0.5 * (v * v))
    return demand, new_shock, new_projects
