"""Unit tests for simulation/negotiation.py: Nash price, bargaining power and the provider's reservation price."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.config import NegotiationConfig
from simulation.model.market.negotiation import bargaining_power, nash_price, provider_reservation

EPS = np.finfo(float).eps
price_st = st.floats(min_value=-100.0, max_value=1000.0, allow_nan=False, allow_infinity=False)
gap_st = st.floats(min_value=1e-3, max_value=1000.0, allow_nan=False, allow_infinity=False)
power_st = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@st.composite
def negotiation_cfg(draw):
    """A NegotiationConfig with every weight drawn from its allowed range."""
    return NegotiationConfig(
        min_margin=draw(st.floats(0.0, 2.0)),
        guaranteed_load_value=draw(st.floats(0.0, 1.0)),
        base_power=draw(st.floats(0.0, 1.0)),
        tightness_weight=draw(st.floats(0.0, 5.0)),
        scarcity_weight=draw(st.floats(0.0, 2.0)),
    )


# ------------------------------------------------------------------ nash_price

@given(price_st, gap_st, power_st)
@settings(max_examples=200, deadline=None)
def test_no_deal_when_reservations_cross(rp, gap, power):
    """The price is NaN whenever the firm's reservation price is below the provider's."""
    assert math.isnan(float(nash_price(rp - gap, rp, power)))


@given(price_st, st.floats(0.0, 1000.0), power_st)
@settings(max_examples=150, deadline=None)
def test_price_between_reservations(rp, gap, power):
    """When reservations do not cross the price lies between them (inclusive)."""
    rf = rp + gap
    price = float(nash_price(rf, rp, power))
    # rp + power * (rf - rp) involves a subtraction, a product and a sum: each rounds by at most half an
    # ulp of numbers no larger than 2 * max(|rf|, |rp|), so 4 ulps of that magnitude bound the overshoot.
    slack = 4 * EPS * max(abs(rf), abs(rp), 1.0)
    assert rp - slack <= price <= rf + slack


@given(price_st, gap_st, st.floats(0.01, 0.99))
@settings(max_examples=200, deadline=None)
def test_price_strictly_inside_for_interior_power(rp, gap, power):
    """With 0 < power < 1 and a positive surplus the price is strictly between the two reservations."""
    rf = rp + gap
    price = float(nash_price(rf, rp, power))
    assert rp < price < rf


@given(price_st, st.floats(0.0, 1000.0))
@settings(max_examples=100, deadline=None)
def test_price_at_power_boundaries(rp, gap):
    """Power 0 gives the provider's reservation exactly and power 1 gives the firm's (to rounding)."""
    rf = rp + gap
    assert float(nash_price(rf, rp, 0.0)) == rp
    # One subtraction and one addition: at most 2 ulps of the larger magnitude apart from rf.
    assert abs(float(nash_price(rf, rp, 1.0)) - rf) <= 2 * EPS * max(abs(rf), abs(rp), 1.0)


@given(price_st, power_st)
@settings(max_examples=50, deadline=None)
def test_price_when_reservations_equal(r, power):
    """Equal reservation prices are a (degenerate) deal at that price whatever the power."""
    assert float(nash_price(r, r, power)) == r


@given(price_st, gap_st, st.floats(0.0, 0.99), st.floats(1e-3, 1.0))
@settings(max_examples=200, deadline=None)
def test_price_increases_with_power(rp, gap, p1, dp):
    """More provider bargaining power gives a strictly higher price when there is a surplus."""
    p2 = min(p1 + dp, 1.0)
    rf = rp + gap
    assert float(nash_price(rf, rp, p2)) > float(nash_price(rf, rp, p1))


def test_nash_price_vectorised():
    """Arrays are handled element-wise: NaN exactly where reservations cross, the split elsewhere."""
    rf = np.array([10.0, 10.0, 5.0, 8.0])
    rp = np.array([6.0, 10.0, 6.0, 4.0])
    power = np.array([0.5, 0.3, 0.5, 0.25])
    price = nash_price(rf, rp, power)
    # 6 + 0.5*4 = 8, 10 (no surplus), NaN (crossed), 4 + 0.25*4 = 5; all exactly representable.
    np.testing.assert_array_equal(price, [8.0, 10.0, np.nan, 5.0])


# ------------------------------------------------------------------ bargaining_power

@given(st.floats(-2.0, 3.0), st.floats(0.0, 1.0), st.integers(1, 5), negotiation_cfg())
@settings(max_examples=200, deadline=None)
def test_power_is_clipped(util, target, skill, cfg):
    """Bargaining power always lies in [0.05, 0.95]."""
    power = float(bargaining_power(util, target, skill, cfg))
    assert 0.05 <= power <= 0.95


def test_power_clip_reached_at_extremes():
    """An extremely tight market hits the 0.95 cap and an extremely slack one the 0.05 floor."""
    cfg = NegotiationConfig()
    assert float(bargaining_power(5.0, 0.8, 5, cfg)) == 0.95
    assert float(bargaining_power(-5.0, 0.8, 1, cfg)) == 0.05


def test_power_worked_example():
    """Defaults: base 0.5 + tightness 1.0 * (0.9 - 0.8) + scarcity 0.2 * (3 - 1) / 4 = 0.7."""
    power = float(bargaining_power(0.9, 0.8, 3, NegotiationConfig()))
    # Three rounded float operations on numbers below 1: a few ulps, far below 1e-12.
    assert abs(power - 0.7) < 1e-12


@given(st.floats(-1.0, 2.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.integers(1, 5), negotiation_cfg())
@settings(max_examples=200, deadline=None)
def test_power_rises_with_tightness(u1, du, target, skill, cfg):
    """Power never falls when market utilisation rises above target (weakly, because of the clip)."""
    lo = float(bargaining_power(u1, target, skill, cfg))
    hi = float(bargaining_power(u1 + du, target, skill, cfg))
    assert hi >= lo


@given(st.floats(-1.0, 2.0), st.floats(0.0, 1.0), st.integers(1, 4), st.integers(1, 4), negotiation_cfg())
@settings(max_examples=200, deadline=None)
def test_power_rises_with_skill(util, target, s1, ds, cfg):
    """Power never falls when the service needs a scarcer (higher) skill level."""
    s2 = min(s1 + ds, 5)
    assert float(bargaining_power(util, target, s2, cfg)) >= float(bargaining_power(util, target, s1, cfg))


def test_power_strictly_rises_inside_clip_range():
    """With default weights and an unclipped power, more tightness and more skill strictly raise power."""
    cfg = NegotiationConfig()
    utils = np.linspace(0.6, 1.0, 9)
    p_util = bargaining_power(utils, 0.8, 1, cfg)
    assert np.all(np.diff(p_util) > 0)
    p_skill = bargaining_power(0.8, 0.8, np.arange(1, 6), cfg)
    assert np.all(np.diff(p_skill) > 0)
    assert np.all((p_util > 0.05) & (p_util < 0.95)) and np.all((p_skill > 0.05) & (p_skill < 0.95))


# ------------------------------------------------------------------ provider_reservation

@given(st.floats(0.01, 500.0), st.floats(0.0, 1.0), st.floats(0.0, 1.0), negotiation_cfg())
@settings(max_examples=200, deadline=None)
def test_reservation_falls_with_idle_share(unit_cost, u1, du, cfg):
    """A provider with more idle capacity (lower utilisation) never asks a higher reservation price."""
    u2 = min(u1 + du, 1.0)  # u2 busier than u1, i.e. less idle
    assert float(provider_reservation(unit_cost, u1, cfg)) <= float(provider_reservation(unit_cost, u2, cfg))


def test_reservation_strictly_falls_with_idle_share_by_default():
    """With the default guaranteed-load value the reservation strictly falls as idle share grows."""
    cfg = NegotiationConfig()
    utilization = np.linspace(1.0, 0.0, 11)  # idle share rising from 0 to 1
    assert np.all(np.diff(provider_reservation(20.0, utilization, cfg)) < 0)


@given(st.floats(0.01, 500.0), negotiation_cfg())
@settings(max_examples=100, deadline=None)
def test_reservation_endpoints(unit_cost, cfg):
    """Fully busy: unit cost x (1 + min margin); fully idle: unit cost x (1 + min margin - guaranteed-load value)."""
    busy = float(provider_reservation(unit_cost, 1.0, cfg))
    idle = float(provider_reservation(unit_cost, 0.0, cfg))
    # A product and a sum of numbers <= ~1500: a few ulps relative, far below 1e-12.
    assert math.isclose(busy, unit_cost * (1 + cfg.min_margin), rel_tol=1e-12)
    assert math.isclose(idle, unit_cost * (1 + cfg.min_margin - cfg.guaranteed_load_value), rel_tol=1e-12, abs_tol=1e-12)


def test_reservation_idle_share_is_clipped():
    """Utilisation above 1 counts as fully busy and below 0 as fully idle (idle share is clipped to [0, 1])."""
    cfg = NegotiationConfig()
    assert float(provider_reservation(20.0, 1.4, cfg)) == float(provider_reservation(20.0, 1.0, cfg))
    assert float(provider_reservation(20.0, -0.3, cfg)) == float(provider_reservation(20.0, 0.0, cfg))
