"""exp and power computed the same way on every machine.

numpy picks the code of its exp, log and power by the CPU it runs on: Intel's SVML on a CPU with AVX-512,
the C library's functions elsewhere. The two differ in the last bit of about one value in twenty, and a
last bit is enough for a seeded run to take another path: the same scenario and seed gave other bytes on
a machine without AVX-512. These kernels call the C library's ``exp`` and ``pow`` (through LLVM; numba
does not use SVML unless Intel's icc_rt package is installed, which outsim does not install) on every
machine. Python's ``math.exp`` and ``**`` on floats call the same functions, so scalars can use those.
tests/test_kernels.py checks both against Python's own on random inputs.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit
from numpy.typing import ArrayLike, NDArray


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _exp(x, out):
    for i in range(len(x)):
        out[i] = math.exp(x[i])


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _power(x, y, out):
    for i in range(len(x)):
        out[i] = x[i] ** y[i]


def exp(x: ArrayLike) -> NDArray[np.float64]:
    """``np.exp(x)`` of a float array, as the C library computes it (an array of ``x``'s shape)."""
    x = np.asarray(x, np.float64, order="C")  # (np.ascontiguousarray would make a 0-d array 1-d)
    out = np.empty(x.shape)
    _exp(x.reshape(-1), out.reshape(-1))
    return out


def power(x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """``np.power(x, y)`` of floats, broadcast as numpy does, as the C library's ``pow`` computes it."""
    x, y = np.broadcast_arrays(np.asarray(x, np.float64), np.asarray(y, np.float64))
    x, y = np.asarray(x, order="C"), np.asarray(y, order="C")
    out = np.empty(x.shape)
    _power(x.reshape(-1), y.reshape(-1), out.reshape(-1))
    return out
