"""Kernels that draw from the model's random streams, against the numpy they replaced: the same numbers drawn,
and the stream left in the same state.

The references are ``state.slots.draw_providers`` and ``OutsourcingModel.drift_capabilities`` as numpy wrote them
before :func:`kernels.draw_providers` and :func:`kernels.drift_factors` (the demand's draws are checked in
tests/test_market_setup.py).
"""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.model import kernels
from simulation.model.state.providers import ProviderTable
from simulation.model.state.slots import _groups, draw_providers

from test_kernels import small_market


def draw_providers_reference(table, service, home_only, rng):
    out = np.full(len(service), -1, np.int64)
    for (v, only), rows in _groups(service, home_only):
        offering = table.offering(v, only)
        if len(offering):
            out[rows] = offering[rng.integers(0, len(offering), len(rows))]
    return out


def assert_same_draws(table, service, home_only, seed):
    fast_rng, slow_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    fast = draw_providers(table, service, home_only, fast_rng)
    slow = draw_providers_reference(table, service, home_only, slow_rng)
    np.testing.assert_array_equal(fast, slow)
    assert fast_rng.random() == slow_rng.random()  # the stream moved by as many draws
    return fast


def test_draw_providers_on_a_running_market_is_the_numpy_draw():
    """Every firm-service of a running market draws, and then a week's explorers; some providers leave first, so
    the draw skips them, and a service nobody offers any more draws no provider (and no number)."""
    m = small_market()
    table = m.providers
    slots = m.slots
    every = assert_same_draws(table, slots.service, slots.home_only, 1)
    assert (every >= 0).any() and len(np.unique(every)) > 3
    gone = table.active.copy()
    table.active[: table.n : 3] = False
    try:
        rows = np.flatnonzero(np.random.default_rng(2).random(len(slots)) < 0.05)
        assert_same_draws(table, slots.service[rows], slots.home_only[rows], 3)
        nobody = slots.service == slots.service[0]
        table.active[: table.n][table.offers[: table.n, slots.service[0]]] = False
        drawn = assert_same_draws(table, slots.service, slots.home_only, 4)
        assert (drawn[nobody] == -1).all() and (drawn[~nobody] >= 0).any()
    finally:
        table.active[:] = gone
    assert len(assert_same_draws(table, slots.service[:0], slots.home_only[:0], 5)) == 0


@given(st.integers(1, 12), st.integers(1, 4), st.integers(0, 40), st.integers(0, 2**32 - 1))
@settings(max_examples=150, deadline=None)
def test_draw_providers_on_random_tables_is_the_numpy_draw(n_providers, n_services, n_requests, seed):
    """Random tables (some providers gone, services nobody offers, two regions) and random requests, some of which
    must stay in a region."""
    rng = np.random.default_rng(seed)
    table = ProviderTable(n_services)
    for _ in range(n_providers):
        j = table.add(0, int(rng.integers(0, 2)), 1, rng.random(n_services) < 0.5, 100.0, 0.2, 0.9, 0)
        table.active[j] = rng.random() < 0.8
    service = rng.integers(0, n_services, n_requests)
    home_only = rng.integers(-1, 2, n_requests).astype(np.int8)
    assert_same_draws(table, service, home_only, seed)


@given(st.integers(0, 3000), st.sampled_from([0.0, 1e-3, 0.0799 / np.sqrt(52.0), 0.5]), st.integers(0, 2**32 - 1))
@settings(max_examples=60, deadline=None)
def test_drift_factors_is_the_numpy_drift(n, sd, seed):
    """The in-house cost factors after a week's drift, and the stream after it, as numpy's expression leaves them."""
    factor = np.random.default_rng(seed).lognormal(0.0, 0.3, n)
    fast_rng, slow_rng = np.random.default_rng(seed), np.random.default_rng(seed)
    want = factor * kernels.exp(sd * slow_rng.standard_normal(n) - 0.5 * sd * sd)
    kernels.drift_factors(fast_rng, factor, sd)
    np.testing.assert_array_equal(factor, want)
    assert fast_rng.random() == slow_rng.random()
