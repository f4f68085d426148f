"""Unit tests for simulation/outcomes.py: quality and on-time delivery by load and client experience."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulation.config import ProviderConfig
from simulation.model.market.outcomes import delivered_quality, on_time_share

P = ProviderConfig(overload_quality_loss=0.5, late_base_rate=0.05, overload_lateness=1.0)
unit = st.floats(0.0, 1.0)


def test_quality_formula_on_a_worked_case():
    """Reliability 0.8, half experience, learning 0.6, 0.05 overload: 0.8 + 0.2*0.6*0.5 - 0.5*0.05 = 0.835."""
    q = delivered_quality(np.array([0.8]), np.array([0.05]), np.array([0.5]), np.array([0.6]), np.zeros(1), P)
    assert q[0] == pytest.approx(0.835, abs=1e-12)


def test_on_time_formula_on_a_worked_case():
    """Base lateness 0.05 cut by 0.6 x 0.5 experience, plus 1.0 x 0.02 overload: 1 - 0.035 - 0.02 = 0.945."""
    ot = on_time_share(np.array([0.02]), np.array([0.5]), np.array([0.6]), P)
    assert ot[0] == pytest.approx(0.945, abs=1e-12)


@given(rel=unit, load=st.floats(0.0, 0.5), e1=unit, e2=unit, learning=unit)
def test_experience_never_hurts_and_overload_never_helps(rel, load, e1, e2, learning):
    """More client experience never lowers quality or punctuality; more overload never raises them."""
    lo, hi = sorted((e1, e2))
    a = np.array
    assert delivered_quality(a([rel]), a([load]), a([hi]), a([learning]), a([0.0]), P)[0] >= \
        delivered_quality(a([rel]), a([load]), a([lo]), a([learning]), a([0.0]), P)[0]
    assert on_time_share(a([load]), a([hi]), a([learning]), P)[0] >= on_time_share(a([load]), a([lo]), a([learning]), P)[0]
    assert delivered_quality(a([rel]), a([load + 0.1]), a([lo]), a([learning]), a([0.0]), P)[0] <= \
        delivered_quality(a([rel]), a([load]), a([lo]), a([learning]), a([0.0]), P)[0]
    assert on_time_share(a([load + 0.1]), a([lo]), a([learning]), P)[0] <= on_time_share(a([load]), a([lo]), a([learning]), P)[0]


def test_outcomes_stay_in_the_unit_interval():
    """Extreme noise and overload are clipped to [0, 1]."""
    q = delivered_quality(np.array([0.9, 0.1]), np.array([2.0, 0.0]), np.zeros(2), np.zeros(2), np.array([0.0, 5.0]), P)
    assert q.tolist() == [0.0, 1.0]
    assert on_time_share(np.array([3.0]), np.zeros(1), np.zeros(1), P)[0] == 0.0


def test_full_experience_with_full_learning_strength_removes_base_lateness_and_quality_gap():
    """A fully experienced team on work where learning is complete delivers quality 1, all on time, at normal load."""
    assert delivered_quality(np.array([0.7]), np.zeros(1), np.ones(1), np.ones(1), np.zeros(1), P)[0] == 1.0
    assert on_time_share(np.zeros(1), np.ones(1), np.ones(1), P)[0] == 1.0
