"""Kernels that draw from the model's random streams: they take the stream itself, a ``numpy.random.Generator``
(numba's Generator draws the very numbers numpy's methods draw, in the same order, and moves the same state), so
a phase's draws and the work around them run in one compiled call. Passing a Generator costs about 8 us a call
(numba types it in Python), so a kernel is worth it where it replaces several numpy draws.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def draw_providers(rng, service, home_only, offers, active, region):
    """One provider per request, uniformly among the active providers offering its ``service`` (in region
    ``home_only`` where that is not -1; -1 when there is none), as ``state.slots.draw_providers`` draws them: the
    requests grouped by (service, region), groups in ascending order of ``service * 3 + home_only + 1``, each
    group's requests in ascending row order; per group one ``rng.integers(0, providers, requests)`` over its
    providers in row order, and no draw for a group without providers."""
    n, P = len(service), len(active)
    out = np.full(n, -1, np.int64)
    key = service * 3 + (home_only + 1)
    order = np.argsort(key, kind="mergesort")  # stable: each group's rows ascending
    offering = np.empty(P, np.int64)
    start = 0
    while start < n:
        group = key[order[start]]
        end = start + 1
        while end < n and key[order[end]] == group:
            end += 1
        v, only = group // 3, group % 3 - 1
        m = 0
        anywhere = only < 0
        for j in range(P):  # without a branch: a large table's rows are not predictable
            offering[m] = j
            m += offers[j, v] & active[j] & (anywhere | (region[j] == only))
        if m > 0:
            picks = rng.integers(0, m, end - start)
            for t in range(end - start):
                out[order[start + t]] = offering[picks[t]]
        start = end
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def drift_factors(rng, factor, sd):
    """In place: each firm-service's in-house cost ``factor`` times ``exp(sd * eps - 0.5 * sd * sd)``, ``eps`` one
    standard normal each (``rng.standard_normal(len(factor))``), as the model's ``drift_capabilities`` computed
    it in numpy (same operations, same order; ``math.exp`` is the C library's, as :func:`kernels.exp`)."""
    eps = rng.standard_normal(len(factor))
    half = 0.5 * sd * sd
    for i in range(len(factor)):
        factor[i] *= math.exp(sd * eps[i] - half)
