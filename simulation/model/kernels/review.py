"""Kernels of the sourcing review: the default policy's logit over the option costs, drawn by inverse CDF in one
pass per due row (``sourcing.policies.CostLogit``), instead of some ten numpy passes over the (rows, 5) menu."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulation.model.kernels.choice import _inverse_cdf_row

CHOICE_SOURCE = "4ce068b627090bd6"  # choice.py's hash (see core.py): a new one recompiles these kernels


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def cost_logit(costs, scale, intensity, u):
    """Per row of ``costs`` ((rows, options), NaN: unavailable), the column drawn at ``u`` by inverse CDF with
    weights ``exp(-intensity * (cost - cheapest) / scale)`` (0 where the relative cost is not finite), or -1
    where no weight is positive. Each weight is computed as ``CostLogit.choose``'s numpy computes it (``np.nanmin``
    of the row, then the same operations in the same order; ``math.exp`` is the C library's, as
    :func:`kernels.exp`)."""
    rows, n = costs.shape
    out = np.empty(rows, np.int64)
    w, cdf = np.empty(n), np.empty(n)
    minus = -intensity
    for r in range(rows):
        cheapest = np.nan
        for o in range(n):
            c = costs[r, o]
            if c == c and (cheapest != cheapest or c < cheapest):
                cheapest = c
        for o in range(n):
            rel = (costs[r, o] - cheapest) / scale[r]
            w[o] = math.exp(minus * rel) if math.isfinite(rel) else 0.0
        out[r] = _inverse_cdf_row(w, u[r], cdf)
    return out
