"""Unit tests for simulation/choice.py: WKH logit choice, inverse-CDF sampling, preference learning and loyalty."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from simulation.model.market.choice import logit_probabilities, loyalty, sample_rows, update_preferences

shape_st = st.tuples(st.integers(1, 5), st.integers(1, 6))
j_values = st.floats(min_value=-10.0, max_value=10.0, allow_nan=False, allow_infinity=False)


@st.composite
def preferences(draw):
    """A (rows x candidates) preference matrix J and a boolean 'allowed' mask of the same shape."""
    shape = draw(shape_st)
    J = draw(hnp.arrays(np.float64, shape, elements=j_values))
    allowed = draw(hnp.arrays(np.bool_, shape))
    return J, allowed


def direct_logit(J, beta, allowed):
    """exp(beta J) / sum over allowed exp(beta J), written naively row by row (no max shift)."""
    out = np.zeros_like(J)
    for i in range(J.shape[0]):
        w = [math.exp(beta * J[i, k]) if allowed[i, k] else 0.0 for k in range(J.shape[1])]
        total = sum(w)
        if total > 0:
            out[i] = [x / total for x in w]
    return out


# ------------------------------------------------------------------ logit_probabilities

@given(preferences(), st.floats(0.0, 5.0))
@settings(max_examples=150, deadline=None)
def test_logit_matches_direct_formula(case, beta):
    """Probabilities equal exp(beta J) / sum exp(beta J) over allowed entries and are zero elsewhere."""
    J, allowed = case
    got = logit_probabilities(J, beta, allowed)
    # |beta J| <= 50, so the max-shift z - zmax is rounded with absolute error <= 100 * 2.2e-16 ~ 2e-14,
    # which becomes a relative error of the same size in exp; sums of <= 6 terms add a few ulps more.
    # rtol 1e-10 is far above that yet far below any modelling error (e.g. a wrong beta).
    np.testing.assert_allclose(got, direct_logit(J, beta, allowed), rtol=1e-10, atol=0.0)
    assert np.all(got[~allowed] == 0.0)


@given(preferences(), st.floats(0.0, 5.0))
@settings(max_examples=200, deadline=None)
def test_logit_rows_sum_to_one_or_zero(case, beta):
    """Each row sums to 1 when something is allowed and to exactly 0 when nothing is."""
    J, allowed = case
    total = logit_probabilities(J, beta, allowed).sum(axis=1)
    some = allowed.any(axis=1)
    # A sum of <= 6 numbers in [0, 1] after one division each: within 8 ulps of 1.
    np.testing.assert_allclose(total[some], 1.0, rtol=0, atol=8 * np.finfo(float).eps)
    assert np.all(total[~some] == 0.0)


def test_logit_worked_example():
    """Two allowed candidates with J = 0 and J = ln 3 at beta = 1 get probabilities 1/4 and 3/4; a disallowed one gets 0."""
    J = np.array([[0.0, math.log(3.0), 100.0]])
    allowed = np.array([[True, True, False]])
    # log/exp round trip of ln 3 and one division: relative error a few ulps.
    np.testing.assert_allclose(logit_probabilities(J, 1.0, allowed), [[0.25, 0.75, 0.0]], rtol=1e-14)


def test_logit_beta_zero_is_uniform_over_allowed():
    """With beta = 0 the choice is uniform over the allowed candidates whatever J is."""
    J = np.array([[5.0, -3.0, 2.0, 9.0]])
    allowed = np.array([[True, False, True, True]])
    np.testing.assert_allclose(logit_probabilities(J, 0.0, allowed), [[1 / 3, 0.0, 1 / 3, 1 / 3]], rtol=1e-15)


def test_logit_is_stable_for_large_preferences():
    """Very large beta J (exp would overflow) still gives finite probabilities that sum to one."""
    J = np.array([[1000.0, 999.0, 0.0]])
    p = logit_probabilities(J, 10.0, np.ones_like(J, bool))
    assert np.all(np.isfinite(p))
    # exp(-10) / (1 + exp(-10)) is the runner-up's share; exp of a difference is accurate to a few ulps.
    np.testing.assert_allclose(p[0, 1], math.exp(-10) / (1 + math.exp(-10)), rtol=1e-12)
    assert abs(p.sum() - 1.0) < 1e-15


# ------------------------------------------------------------------ sample_rows

def test_sample_rows_frequencies_match_probabilities():
    """Empirical pick frequencies over many seeded draws match the row probabilities (zero-probability columns never picked)."""
    n = 200_000
    rows = np.array([[0.1, 0.0, 0.25, 0.4, 0.25],
                     [0.0, 0.0, 0.0, 0.0, 1.0],
                     [0.5, 0.5, 0.0, 0.0, 0.0]])
    prob = np.repeat(rows, n, axis=0)
    rng = np.random.default_rng(20240611)
    pick = sample_rows(prob, rng.random(len(prob)))
    for r, p in enumerate(rows):
        got = pick[r * n:(r + 1) * n]
        freq = np.bincount(got, minlength=len(p)) / n
        # Each frequency is a binomial proportion with standard error sqrt(p (1 - p) / n) <= 0.5 / sqrt(2e5)
        # ~ 1.1e-3. Allowing 5 standard errors makes a false failure a ~6e-7 event per cell (and the seed is
        # fixed), while an error of one column's worth of probability (>= 0.1 here) would be ~90 SE away.
        se = np.sqrt(p * (1 - p) / n)
        assert np.all(np.abs(freq - p) <= 5 * se + 1e-12), (r, freq, p)
        assert np.all(freq[p == 0] == 0.0)


def test_sample_rows_without_mass_returns_minus_one():
    """A row with no probability mass yields -1 (no pick) while other rows are sampled."""
    prob = np.array([[0.0, 0.0, 0.0], [0.2, 0.3, 0.5]])
    np.testing.assert_array_equal(sample_rows(prob, np.array([0.5, 0.1])), [-1, 0])


def test_sample_rows_inverse_cdf_boundaries():
    """Uniforms fall into the column whose CDF interval contains u: [0.2, 0.5) picks column 1, [0.5, 1) column 2."""
    prob = np.tile([0.2, 0.3, 0.5], (4, 1))
    np.testing.assert_array_equal(sample_rows(prob, np.array([0.1, 0.3, 0.6, 0.999])), [0, 1, 2, 2])


def test_sample_rows_never_picks_zero_probability_column_at_u_zero():
    """u = 0.0 (a legal output of Generator.random) does not pick a leading zero-probability column (regression)."""
    prob = np.array([[0.0, 0.5, 0.5]])
    assert sample_rows(prob, np.array([0.0]))[0] != 0


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 8), st.integers(1, 6)), elements=st.floats(0.0, 1.0)),
       st.floats(0.0, 1.0, exclude_max=True))
@example(np.array([[5e-324, 0.0]]), 0.75)  # 0.75 x the total rounds up to the subnormal total itself
@settings(max_examples=200, deadline=None)
def test_sample_rows_picks_only_positive_probability(prob, u0):
    """For any u in [0, 1) the pick is a column with positive probability, or -1 for a row without mass: rows of
    weights and one row shared by every draw alike."""
    u = np.full(len(prob), u0)
    pick = sample_rows(prob, u)
    mass = prob.sum(axis=1) > 0
    assert np.all(pick[~mass] == -1)
    rows = np.flatnonzero(mass)
    assert np.all(prob[rows, pick[rows]] > 0)
    shared = sample_rows(prob[0], u)
    assert np.all(shared == -1) if not mass[0] else np.all(prob[0, shared] > 0)


# ------------------------------------------------------------------ update_preferences

@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=j_values),
       st.data(), st.floats(1e-6, 1.0))
@settings(max_examples=200, deadline=None)
def test_update_preferences_exact(J0, data, gamma):
    """J is updated in place to exactly (1 - gamma) J + payoff."""
    payoff = data.draw(hnp.arrays(np.float64, J0.shape, elements=st.floats(0.0, 5.0)))
    J = J0.copy()
    ret = update_preferences(J, payoff.ravel(), gamma, at=np.nonzero(np.ones(J0.shape, bool)))
    assert ret is None
    np.testing.assert_array_equal(J, (1.0 - gamma) * J0 + payoff)


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)), elements=j_values),
       st.data(), st.floats(1e-6, 1.0))
@settings(max_examples=200, deadline=None)
def test_update_preferences_at_some_pairs_equals_the_dense_update(J0, data, gamma):
    """Payoffs given at distinct pairs update J exactly as the full matrix with zeros elsewhere would."""
    worked = data.draw(hnp.arrays(np.bool_, J0.shape))
    s, k = np.nonzero(worked)
    values = data.draw(hnp.arrays(np.float64, len(s), elements=st.floats(0.0, 5.0)))
    dense = np.zeros_like(J0)
    dense[s, k] = values
    J = J0.copy()
    update_preferences(J, values, gamma, at=(s, k))
    expected = (1.0 - gamma) * J0 + dense
    np.testing.assert_array_equal(J, expected)
    np.testing.assert_array_equal(J[~worked], (1.0 - gamma) * J0[~worked])


def test_update_preferences_worked_example():
    """gamma = 0.1: J = [1, 0] with payoff [0.5, 1] becomes [1.4, 1.0]."""
    J = np.array([[1.0, 0.0]])
    update_preferences(J, np.array([0.5, 1.0]), 0.1, at=(np.array([0, 0]), np.array([0, 1])))
    np.testing.assert_allclose(J, [[1.4, 1.0]], rtol=1e-15)


def test_update_preferences_converges_to_payoff_over_gamma():
    """A constant payoff pi repeated many weeks drives J to its fixed point pi / gamma."""
    J = np.zeros((1, 2))
    for _ in range(400):
        update_preferences(J, np.array([0.5]), 0.1, at=(np.array([0]), np.array([0])))  # no work in column 1
    # The remaining gap is (pi / gamma) * 0.9**400 ~ 5 * 5e-19, far below 1e-12.
    np.testing.assert_allclose(J, [[5.0, 0.0]], atol=1e-12)


# ------------------------------------------------------------------ loyalty

def test_loyalty_single_provider_is_one():
    """A firm with one positive preference is fully loyal: y = 1."""
    J = np.array([[0.0, 3.7, 0.0]])
    assert loyalty(J, np.ones_like(J, bool))[0] == 1.0


@pytest.mark.parametrize("n", [1, 2, 3, 4, 7])
def test_loyalty_equal_preferences_is_one_over_n(n):
    """n equal positive preferences give y = 1 / n."""
    J = np.full((1, n), 2.5)
    # n squares and one square of a sum of exact multiples of 2.5: a few ulps.
    assert math.isclose(loyalty(J, np.ones_like(J, bool))[0], 1.0 / n, rel_tol=1e-14)


def test_loyalty_all_zero_is_nan():
    """A row with no positive valid preference has undefined loyalty (NaN)."""
    J = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    y = loyalty(J, np.ones_like(J, bool))
    assert math.isnan(y[0]) and y[1] == 1.0


def test_loyalty_ignores_invalid_and_negative_entries():
    """Only valid, positive preferences count: invalid columns and negative J are left out."""
    J = np.array([[2.0, 2.0, 50.0, -4.0]])
    valid = np.array([[True, True, False, True]])
    assert math.isclose(loyalty(J, valid)[0], 0.5, rel_tol=1e-15)


@given(hnp.arrays(np.float64, st.tuples(st.integers(1, 5), st.integers(1, 6)),
                  elements=st.one_of(st.just(0.0), st.floats(1e-3, 100.0))))
@settings(max_examples=200, deadline=None)
def test_loyalty_bounds(J):
    """y lies in [1/n, 1] where n is the number of positive preferences, and is NaN when there are none."""
    y = loyalty(J, np.ones_like(J, bool))
    npos = (J > 0).sum(axis=1)
    assert np.all(np.isnan(y[npos == 0]))
    ok = npos > 0
    # Sums of <= 6 squares: relative rounding of a few ulps; 1e-12 covers it.
    assert np.all(y[ok] <= 1.0 + 1e-12)
    assert np.all(y[ok] >= 1.0 / npos[ok] - 1e-12)
