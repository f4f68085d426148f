"""Kernels of the week's demand: :meth:`simulation.model.demand.DemandProcess.realise`'s draws and arithmetic in one
call (:func:`realise_demand`), the arithmetic in one pass over the firm-services instead of some ten full-size numpy
passes (:func:`advance_demand`)."""

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


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def realise_demand(rng, base, volatility, factor, lumpy, rate, weeks, shock, projects, project_rows, level, persistence,
                   innovation):
    """The week's draws of ``DemandProcess.realise`` from its stream ``rng`` (a ``numpy.random.Generator``: the
    numbers numpy draws, in its order), then :func:`advance_demand`: a standard normal per firm-service, then a
    Poisson number of arriving projects and a binomial number of ending ones for each of the ``project_rows`` in
    turn (numpy's draws over an array take them element by element, and no draw where a rate or a count is 0).
    ``volatility`` is the market's, ``factor`` each firm-service's multiple of it."""
    n = len(base)
    eps = rng.standard_normal(n)
    arrivals, ended = np.zeros(n, np.int64), np.zeros(n, np.int64)
    for i in project_rows:
        arrivals[i] = rng.poisson(rate[i])
    for i in project_rows:
        ended[i] = rng.binomial(projects[i], 1.0 / weeks[i])
    return advance_demand(base, volatility * factor, lumpy, rate, weeks, shock, projects, eps, ended, arrivals, level,
                          persistence, innovation)
