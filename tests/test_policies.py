"""Unit tests for simulation/model/sourcing/policies.py: the default cost logit, fixed strategies and
dispatching each row to the policy it follows."""

from __future__ import annotations

import warnings

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from simulation.model import kernels
from simulation.model.codes import OPTIONS, SourcingOption
from simulation.model.market.choice import sample_rows
from simulation.model.sourcing.policies import (ALWAYS_PERMANENT, NEVER_OUTSOURCE, ON_CALL_ONLY, CostLogit, ReviewMenu,
                                                SourcingPolicy, choose)

O = SourcingOption


def menu(costs, scale=100.0, u=0.5, intensity=12.0) -> ReviewMenu:
    """A review menu over cost rows, with one scale and one uniform draw for every row."""
    costs = np.atleast_2d(np.asarray(costs, float))
    n = len(costs)
    return ReviewMenu(costs, np.broadcast_to(np.asarray(scale, float), (n,)).copy(),
                      np.broadcast_to(np.asarray(u, float), (n,)).copy(), np.arange(n), np.zeros(n, np.int64),
                      np.zeros(n, bool), intensity)


def logit_choice(costs, scale, intensity, u):
    """The default policy with an explicit intensity."""
    return CostLogit(intensity).choose(menu(costs, scale, u))



@st.composite
def option_costs(draw):
    """A (rows x 5) cost matrix with NaN for unavailable options and at least one available option per row."""
    n = draw(st.integers(1, 6))
    rows = []
    for _ in range(n):
        avail = draw(st.lists(st.booleans(), min_size=len(OPTIONS), max_size=len(OPTIONS)).filter(any))
        rows.append([draw(st.floats(0.0, 1e4)) if a else np.nan for a in avail])
    return np.array(rows)


@given(option_costs(), st.floats(0.0, 1e3), st.floats(0.0, 1.0, exclude_max=True), st.floats(1.0, 1e4))
@settings(max_examples=150, deadline=None)
def test_choose_option_never_picks_nan(costs, intensity, u, scale):
    """For any u in [0, 1) and any intensity the chosen option has a finite cost."""
    pick = logit_choice(costs, np.full(len(costs), scale), intensity, np.full(len(costs), u))
    assert np.all(np.isfinite(costs[np.arange(len(costs)), pick]))


def numpy_cost_logit(costs, scale, intensity, u):
    """The default policy's rule in plain numpy (what :func:`kernels.cost_logit` computes in one pass per row)."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # np.nanmin of a row with nothing available
        rel = (costs - np.nanmin(costs, axis=1, keepdims=True)) / scale[:, None]
        weights = np.where(np.isfinite(rel), kernels.exp(-intensity * np.nan_to_num(rel, nan=0.0)), 0.0)
    pick = sample_rows(weights, u)
    return np.where(pick >= 0, pick, SourcingOption.ON_CALL)


@st.composite
def menus(draw):
    """Cost rows with NaN (unavailable), infinite and tied costs, rows with nothing available, and their scales
    (zero and subnormal included) and uniforms."""
    n = draw(st.integers(1, 8))
    cost = st.one_of(st.just(np.nan), st.just(np.inf), st.sampled_from([0.0, -0.0, 50.0]), st.floats(-1e3, 1e6))
    costs = np.array([[draw(cost) for _ in OPTIONS] for _ in range(n)])
    scale = np.array([draw(st.one_of(st.floats(1e-3, 1e5), st.sampled_from([0.0, 5e-324]))) for _ in range(n)])
    u = np.array([draw(st.floats(0.0, 1.0, exclude_max=True)) for _ in range(n)])
    return costs, scale, u


@given(menus(), st.one_of(st.floats(0.0, 1e3), st.sampled_from([0.0, 12.0, 1e9])))
@settings(max_examples=300, deadline=None)
def test_cost_logit_kernel_is_the_numpy_rule_bit_for_bit(menu_arrays, intensity):
    """The compiled logit draws what the numpy rule draws, row for row, on NaN, infinite, tied and negative costs,
    rows with no option available, and zero or subnormal scales."""
    costs, scale, u = menu_arrays
    np.testing.assert_array_equal(logit_choice(costs, scale, intensity, u), numpy_cost_logit(costs, scale, intensity, u))


def test_cost_logit_kernel_on_a_review_week():
    """The same on a seeded menu of the size of a 1,000-firm week's reviews, every option mixed in."""
    rng = np.random.default_rng(11)
    costs = rng.lognormal(6.0, 0.4, (400, len(OPTIONS)))
    costs[rng.random(costs.shape) < 0.3] = np.nan
    scale, u = rng.lognormal(6.0, 0.3, 400), rng.random(400)
    pick = logit_choice(costs, scale, 12.0, u)
    np.testing.assert_array_equal(pick, numpy_cost_logit(costs, scale, 12.0, u))
    assert set(np.unique(pick)) == set(range(len(OPTIONS)))  # every option drawn somewhere: a real mix


def test_choose_option_u_zero_skips_unavailable_first_option():
    """u = 0.0 (a legal output of Generator.random) does not pick an unavailable (NaN) in-house option (regression)."""
    costs = np.array([[np.nan, 100.0, 120.0, np.nan, np.nan]])
    assert logit_choice(costs, np.array([100.0]), 12.0, np.array([0.0]))[0] != SourcingOption.IN_HOUSE


@given(option_costs(), st.floats(0.0, 1.0, exclude_max=True))
@settings(max_examples=200, deadline=None)
def test_choose_option_very_high_intensity_picks_cheapest(costs, u):
    """With an enormous intensity the cheapest available option is chosen whatever u is (when the cheapest is unique by a margin)."""
    finite = np.where(np.isfinite(costs), costs, np.inf)
    srt = np.sort(finite, axis=1)
    scale = np.full(len(costs), 100.0)
    # Require the runner-up to be at least 1e-3 scale units dearer: exp(-1e9 * 1e-3 / 100) underflows to 0.
    assume(np.all((srt[:, 1] - srt[:, 0] >= 0.1) | np.isinf(srt[:, 1])))
    pick = logit_choice(costs, scale, 1e9, np.full(len(costs), u))
    np.testing.assert_array_equal(pick, np.argmin(finite, axis=1))


def test_choose_option_frequencies_follow_logit():
    """Seeded draws pick options with frequencies exp(-intensity * relative cost) / sum, and never the unavailable one."""
    n = 100_000
    costs = np.tile([100.0, 110.0, np.nan, 130.0, 105.0], (n, 1))
    rel = np.array([0.0, 0.1, np.inf, 0.3, 0.05])
    w = np.exp(-12.0 * rel)
    p = w / w.sum()
    pick = logit_choice(costs, np.full(n, 100.0), 12.0, np.random.default_rng(3).random(n))
    freq = np.bincount(pick, minlength=5) / n
    # Binomial standard error sqrt(p (1 - p) / n) <= 1.6e-3; 5 SE makes a false alarm ~6e-7 per option.
    assert np.all(np.abs(freq - p) <= 5 * np.sqrt(p * (1 - p) / n) + 1e-12), (freq, p)
    assert freq[2] == 0.0


def test_cost_logit_without_intensity_uses_the_configured_one():
    """CostLogit() reads the menu's configured intensity: at intensity 0 all available options are equally likely."""
    n = 50_000
    costs = np.tile([100.0, 300.0, np.nan, np.nan, 900.0], (n, 1))
    pick = CostLogit().choose(menu(costs, 100.0, np.random.default_rng(5).random(n), intensity=0.0))
    freq = np.bincount(pick, minlength=5) / n
    assert np.all(np.abs(freq[[0, 1, 4]] - 1 / 3) < 0.01) and freq[2] == freq[3] == 0.0


def test_fixed_strategies_take_the_cheapest_allowed_option():
    """Each fixed strategy takes the cheapest option it allows, even when another option is far cheaper."""
    costs = [[50.0, 400.0, 300.0, 900.0, 800.0]]
    assert ALWAYS_PERMANENT.choose(menu(costs))[0] == O.PERMANENT_BROKER
    assert ON_CALL_ONLY.choose(menu(costs))[0] == O.ON_CALL_BROKER
    assert NEVER_OUTSOURCE.choose(menu([[900.0, 10.0, 10.0, 10.0, 10.0]]))[0] == O.IN_HOUSE


def test_fixed_strategies_fall_back_to_the_cheapest_available_option():
    """With none of its options on the table (no deal, in-house not allowed), a strategy takes the cheapest available one."""
    costs = [[np.nan, 400.0, 300.0, np.nan, np.nan]]
    assert ALWAYS_PERMANENT.choose(menu(costs))[0] == O.ON_CALL_BROKER
    assert NEVER_OUTSOURCE.choose(menu(costs))[0] == O.ON_CALL_BROKER


class Priciest(SourcingPolicy):
    """A user policy: the dearest available option (a deliberately odd rule, easy to recognise)."""

    name = "priciest"

    def choose(self, menu):
        return np.where(np.isnan(menu.costs), -np.inf, menu.costs).argmax(axis=1)


def test_rows_go_to_the_policy_they_follow():
    """choose() asks each row's own policy, and the default rows still get the logit's choice."""
    costs = np.array([[100.0, 500.0, np.nan, 900.0, np.nan]] * 4)
    policies = [CostLogit(1e9), Priciest()]
    picks = choose(policies, np.array([0, 1, 0, 1]), menu(costs))
    np.testing.assert_array_equal(picks, [O.IN_HOUSE, O.PERMANENT, O.IN_HOUSE, O.PERMANENT])
