"""Provider choice and preference learning after Weisbuch, Kirman & Herreiner (2000).

P(i picks j) = exp(beta J_ij) / sum_k exp(beta J_ik) over i's consideration set, and after each
week J_ij <- (1 - gamma) J_ij + payoff_ij. Loyalty y_i = sum_j J_ij^2 / (sum_j J_ij)^2.
All functions work on rows of a (requests x candidates) matrix at once; one implementation each.
:func:`sample_rows` is the inverse-CDF draw of every logit choice of the model; the compiled passes that pick
on-call providers, broker picks and the review's option (``kernels.direct_picks``, ``route_picks``, ``cost_logit``)
draw each row with the same rule (``kernels.choice._inverse_cdf_row``), so the weekly path no longer calls it.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulation.model import kernels


def logit_probabilities(J: NDArray[np.float64], beta: float, allowed: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Row-wise logit probabilities over allowed candidates (rows with none allowed are all zero)."""
    exponent = kernels.logit_exponent(np.ascontiguousarray(J, np.float64), float(beta),
                                      np.ascontiguousarray(allowed, np.bool_))
    return kernels.softmax_rows(exponent)  # exp(-inf) = 0


def sample_rows(weights: NDArray[np.float64], u: NDArray[np.float64]) -> NDArray[np.intp]:
    """The one random draw of the model: an index per row by inverse CDF of ``weights`` at uniforms ``u``.

    ``weights`` is (rows, n), or (n,) shared by every row. A zero-weight index is never drawn; rows
    whose weights are all zero get -1.
    """
    if weights.ndim == 1:  # one row of weights for every uniform: the same draw, row by row
        weights = np.broadcast_to(weights, (len(u), len(weights)))
    return kernels.inverse_cdf_rows(np.ascontiguousarray(weights, np.float64), np.ascontiguousarray(u, np.float64))


def update_preferences(J: NDArray[np.float64], payoff: NDArray[np.float64], gamma: float,
                       at: tuple[NDArray, NDArray]) -> None:
    """In place: J <- (1 - gamma) J + payoff, the payoffs given for the distinct (row, column) pairs ``at`` that
    did work (0 elsewhere: no work, no payoff). One compiled pass, :func:`kernels.reinforce`."""
    s, k = at
    kernels.reinforce(J, 1.0 - gamma, np.asarray(s, np.int64), np.asarray(k, np.int64), np.asarray(payoff, np.float64))


def loyalty(J: NDArray[np.float64], valid: NDArray[np.bool_]) -> NDArray[np.float64]:
    """y = sum J^2 / (sum J)^2 per row over valid, positive preferences; NaN where all are zero (a compiled
    kernel, :func:`kernels.loyalty`)."""
    return kernels.loyalty(np.ascontiguousarray(J, np.float64), np.ascontiguousarray(valid, np.bool_))
