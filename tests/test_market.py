"""Unit tests for simulation/market.py: the weekly spot market (SpotMarket.open / ration) and permanent delivery
(kernels.deliver_week)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.model import kernels
from simulation.model.market.spot import SpotMarket

# Summing m requests per provider, one division and one multiplication each carry a relative rounding
# error of about (m + 2) * 2.2e-16 (m <= 40 here, so < 1e-14); 1e-12 is a comfortable bound that still
# catches any real over-service (the smallest non-zero hours drawn below is far above 1e-12 relative).
REL = 1e-12

# Zero or at least 1e-6 hours: subnormal requests only trigger a harmless overflow warning in available / asked.
hours_st = st.one_of(st.just(0.0), st.floats(min_value=1e-6, max_value=500.0, allow_nan=False, allow_infinity=False))
cap_st = st.floats(min_value=0.0, max_value=1000.0, allow_nan=False, allow_infinity=False)


@st.composite
def market_and_requests(draw):
    """A random week: capacities, permanent commitments, activity flags and one round of requests."""
    n = draw(st.integers(1, 6))
    capacity = np.array(draw(st.lists(cap_st, min_size=n, max_size=n)))
    committed = np.array(draw(st.lists(cap_st, min_size=n, max_size=n)))
    active = np.array(draw(st.lists(st.booleans(), min_size=n, max_size=n)))
    m = draw(st.integers(0, 40))  # 0: an empty round (once crashed, see test_ration_with_no_requests_is_a_no_op)
    provider = np.array(draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=np.intp)
    hours = np.array(draw(st.lists(hours_st, min_size=m, max_size=m)), dtype=float)
    return capacity, committed, active, provider, hours


def test_open_spare_is_capacity_minus_commitments():
    """Spare on-call capacity is capacity minus permanent commitments, floored at zero, and zero for exited providers."""
    capacity = np.array([100.0, 50.0, 80.0, 30.0])
    committed = np.array([30.0, 70.0, 0.0, 10.0])
    active = np.array([True, True, True, False])
    market = SpotMarket.open(capacity, committed, active)
    np.testing.assert_array_equal(market.available, [70.0, 0.0, 80.0, 0.0])


@given(market_and_requests())
@settings(max_examples=200, deadline=None)
def test_open_property(case):
    """For any inputs, spare capacity is non-negative, zero for exited providers and never above capacity minus commitments."""
    capacity, committed, active, _, _ = case
    spare = SpotMarket.open(capacity, committed, active).available
    assert np.all(spare >= 0.0)
    assert np.all(spare[~active] == 0.0)
    # Exact: the spare is a single subtraction, identical to what the check computes.
    np.testing.assert_array_equal(spare[active], np.maximum(capacity[active] - committed[active], 0.0))


def test_permanent_commitments_are_served_first():
    """A provider whose capacity is mostly committed to permanent contracts serves only the remainder on call."""
    market = SpotMarket.open(np.array([100.0]), np.array([80.0]), np.array([True]))
    served = market.ration(np.array([0]), np.array([100.0]))
    np.testing.assert_array_equal(served, [20.0])
    np.testing.assert_array_equal(market.available, [0.0])


def test_exited_provider_serves_nothing():
    """Requests sent to an exited provider are not served at all, however much capacity it had."""
    market = SpotMarket.open(np.array([1000.0, 10.0]), np.array([0.0, 0.0]), np.array([False, True]))
    served = market.ration(np.array([0, 0, 1]), np.array([5.0, 7.0, 4.0]))
    np.testing.assert_array_equal(served, [0.0, 0.0, 4.0])


def test_undersubscribed_provider_serves_everything():
    """When requests fit in spare capacity every request is served in full and capacity falls by the total."""
    market = SpotMarket.open(np.array([100.0]), np.array([0.0]), np.array([True]))
    served = market.ration(np.array([0, 0]), np.array([30.0, 20.0]))
    np.testing.assert_array_equal(served, [30.0, 20.0])
    np.testing.assert_array_equal(market.available, [50.0])


def test_proportional_rationing_example():
    """An oversubscribed provider serves every request in the same proportion: 10 spare hours over 10+30 asked gives 25% each."""
    market = SpotMarket.open(np.array([10.0, 100.0]), np.array([0.0, 0.0]), np.array([True, True]))
    served = market.ration(np.array([0, 0, 1]), np.array([10.0, 30.0, 5.0]))
    np.testing.assert_allclose(served, [2.5, 7.5, 5.0], rtol=REL)
    np.testing.assert_allclose(market.available, [0.0, 95.0], rtol=REL, atol=1e-12)


@given(market_and_requests())
@settings(max_examples=150, deadline=None)
def test_ration_properties(case):
    """One round never serves more than spare capacity or than asked, and rations oversubscribed providers proportionally."""
    capacity, committed, active, provider, hours = case
    market = SpotMarket.open(capacity, committed, active)
    spare = market.available.copy()
    served = market.ration(provider, hours)
    n = len(capacity)

    assert served.shape == hours.shape
    assert np.all(served >= 0.0)
    assert np.all(served <= hours)  # hours * ratio with ratio <= 1 never rounds above hours
    asked = np.bincount(provider, weights=hours, minlength=n)
    used = np.bincount(provider, weights=served, minlength=n)
    assert np.all(used <= spare * (1 + REL) + 1e-12)
    np.testing.assert_allclose(used, np.minimum(asked, spare), rtol=REL, atol=1e-12)
    for j in range(n):
        mine = provider == j
        if not mine.any():
            continue
        if asked[j] <= spare[j]:
            np.testing.assert_array_equal(served[mine], hours[mine])
        else:  # oversubscribed: every request gets the same fill rate spare / asked
            np.testing.assert_allclose(served[mine], hours[mine] * spare[j] / asked[j], rtol=REL, atol=1e-12)
    assert np.all(market.available >= 0.0)
    np.testing.assert_allclose(market.available, np.maximum(spare - used, 0.0), rtol=REL, atol=1e-9)


@given(market_and_requests(), st.integers(2, 5), st.data())
@settings(max_examples=150, deadline=None)
def test_repeated_rounds_never_exceed_spare(case, rounds, data):
    """Over several rounds the cumulative hours served by each provider never exceed its spare capacity at opening."""
    capacity, committed, active, provider, hours = case
    market = SpotMarket.open(capacity, committed, active)
    spare = market.available.copy()
    n = len(capacity)
    total = np.zeros(n)
    for _ in range(rounds):
        before = market.available.copy()
        served = market.ration(provider, hours)
        total += np.bincount(provider, weights=served, minlength=n)
        assert np.all(market.available <= before)
        assert np.all(market.available >= 0.0)
        k = len(hours)
        hours = np.array(data.draw(st.lists(hours_st, min_size=k, max_size=k)), dtype=float)
    assert np.all(total <= spare * (1 + rounds * REL) + 1e-9)


@given(market_and_requests(), st.integers(1, 4))
@settings(max_examples=100, deadline=None)
def test_served_plus_available_conserves_spare(case, rounds):
    """Across rounds the hours served so far plus the hours still available add up to the spare capacity at opening."""
    capacity, committed, active, provider, hours = case
    market = SpotMarket.open(capacity, committed, active)
    spare = market.available.copy()
    for _ in range(rounds):
        market.ration(provider, hours)
    # Each round adds at most a few ulps of the spare (see REL) to the balance; the floor at zero in
    # `available` can only absorb such rounding, so REL per round bounds the mismatch.
    np.testing.assert_allclose(market.served + market.available, spare, rtol=rounds * REL, atol=1e-9)


def test_ration_with_no_requests_is_a_no_op():
    """A round with no requests serves nothing and leaves spare capacity unchanged (regression: it raised UFuncTypeError)."""
    market = SpotMarket.open(np.array([5.0, 3.0]), np.array([0.0, 1.0]), np.array([True, True]))
    served = market.ration(np.array([], dtype=np.intp), np.array([], dtype=float))
    assert served.shape == (0,)
    np.testing.assert_array_equal(market.available, [5.0, 2.0])


@given(st.lists(st.tuples(hours_st, hours_st), min_size=1, max_size=30))
@settings(max_examples=100, deadline=None)
def test_deliver_permanent_is_demand_capped_by_reserved(pairs):
    """A permanent contract delivers its demand up to the reserved capacity: min(demand, reserved), never more than either."""
    demand, reserved = (np.array(x) for x in zip(*pairs))
    got = deliver_permanent(demand, reserved)
    assert np.all(got <= demand)
    assert np.all(got <= reserved)
    assert np.all((got == demand) | (got == reserved))


def test_deliver_permanent_example():
    """Demand below reservation is delivered in full; demand above it is cut at the reservation."""
    np.testing.assert_array_equal(deliver_permanent(np.array([10.0, 50.0, 0.0]), np.array([40.0, 40.0, 40.0])),
                                  [10.0, 40.0, 0.0])


def deliver_permanent(demand: np.ndarray, reserved: np.ndarray) -> np.ndarray:
    """The hours kernels.deliver_week delivers when every slot holds a running direct contract."""
    n = len(demand)
    return kernels.deliver_week(demand, np.arange(n), reserved, np.full(n, 20.0), np.zeros(n, np.int8),
                                np.zeros(n, np.int64), np.zeros(0), 1, np.ones(n, np.int8), np.zeros(n), 0)[0]
