"""kernels.exp and kernels.power: the C library's exp and pow, the same on every machine.

numpy's exp and power are Intel's SVML on a CPU with AVX-512 and the C library's elsewhere; the kernels are
the C library's everywhere, which is what Python's math.exp and float ** call. Special values (NaN, the
infinities, zero, the domain errors) follow numpy's rules, which both implementations share.
"""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from simulation.model import kernels

finite = st.floats(-700.0, 700.0, allow_nan=False)
positive = st.floats(1e-9, 1e9)  # within range: Python's ** raises where pow overflows
exponent = st.floats(-30.0, 30.0)
SPECIAL = np.array([np.nan, np.inf, -np.inf, 0.0, -0.0, 1.0, -1.0, -2.5, 1e-320, 710.0, -746.0])


@given(hnp.arrays(np.float64, hnp.array_shapes(min_dims=0, max_dims=3, max_side=9), elements=finite))
def test_exp_is_the_c_librarys_exp_in_the_shape_given(x):
    got = kernels.exp(x)
    assert got.shape == x.shape and got.dtype == np.float64
    expected = np.array([math.exp(v) for v in x.reshape(-1)]).reshape(x.shape)
    assert got.tobytes() == expected.tobytes()


def test_exp_of_special_values_and_of_a_non_contiguous_view_is_numpys():
    with np.errstate(over="ignore"):
        np.testing.assert_array_equal(kernels.exp(SPECIAL), np.exp(SPECIAL))
    grid = np.linspace(-5.0, 5.0, 60).reshape(6, 10)
    assert kernels.exp(grid.T).tobytes() == np.array([[math.exp(v) for v in row] for row in grid.T]).tobytes()
    assert kernels.exp(2.0).shape == () and float(kernels.exp(2.0)) == math.exp(2.0)


@given(st.lists(st.tuples(positive, exponent), min_size=1, max_size=40))
def test_power_is_the_c_librarys_pow(pairs):
    x, y = (np.array(c) for c in zip(*pairs))
    assert kernels.power(x, y).tobytes() == np.array([a ** b for a, b in pairs]).tobytes()


def test_power_broadcasts_as_numpy_and_keeps_its_special_values():
    base = np.array([[0.5], [2.0], [3.7]])
    weeks = np.array([1.0, 4.5, 13.0, 52.0])
    got = kernels.power(base, weeks)
    assert got.shape == (3, 4)
    assert got.tobytes() == np.array([[b ** w for w in weeks] for b in base[:, 0]]).tobytes()
    assert kernels.power(1.03, weeks).tobytes() == np.array([1.03 ** w for w in weeks]).tobytes()
    x, y = np.meshgrid(SPECIAL, SPECIAL)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(kernels.power(x, y), np.power(x, y))
