"""Unit tests for simulation/model/sourcing/costs.py: shortfall, newsvendor sizing, learning, permanent terms and in-house cost."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy import integrate
from scipy.stats import norm

from simulation.model.market.negotiation import nash_price
from simulation.model.sourcing.costs import (average_experience, expected_shortfall, in_house_cost, newsvendor_capacity,
                                             permanent_terms)

EPS = np.finfo(float).eps
mu_st = st.floats(0.0, 500.0)
sigma_st = st.floats(0.1, 200.0)


def shortfall_by_quadrature(mu: float, sigma: float, capacity: float) -> float:
    """E[(d - K)+] for d ~ N(mu, sigma) by numerical integration in standard units: sigma * int_z0^inf (z - z0) phi(z) dz."""
    z0 = (capacity - mu) / sigma
    upper = max(z0, 0.0) + 40.0  # phi(40) ~ 1e-348: nothing beyond this contributes in double precision
    val, _ = integrate.quad(lambda z: (z - z0) * norm.pdf(z), z0, upper, epsabs=1e-14, epsrel=1e-12, limit=200)
    return sigma * val


# ------------------------------------------------------------------ expected_shortfall

@given(mu_st, sigma_st, st.floats(-8.0, 8.0))
@settings(max_examples=150, deadline=None)
def test_expected_shortfall_matches_numerical_integral(mu, sigma, z):
    """The closed-form normal loss matches a numerical integral of (d - K)+ against the normal density."""
    capacity = mu + sigma * z
    got = float(expected_shortfall(mu, sigma, capacity))
    want = shortfall_by_quadrature(mu, sigma, capacity)
    # quad is asked for 1e-12 relative / 1e-14 absolute (in standard units); the closed form loses up to
    # ~1e-15 * phi(z) absolute to cancellation in the far right tail. rtol 1e-8 with atol 1e-12 * sigma
    # is well above both and far below any formula slip (e.g. a missing sigma or sign error is O(1)).
    assert got == pytest.approx(want, rel=1e-8, abs=1e-12 * sigma)


def test_expected_shortfall_monte_carlo():
    """The shortfall agrees with a seeded Monte Carlo average of (d - K)+ over one million normal draws."""
    rng = np.random.default_rng(7)
    mu, sigma, capacity = 100.0, 25.0, 110.0
    d = rng.normal(mu, sigma, 1_000_000)
    loss = np.maximum(d - capacity, 0.0)
    # Standard error of the mean of (d - K)+ is std / sqrt(n) ~ 17 / 1000 ~ 0.017; allow 5 standard errors.
    tol = 5 * loss.std() / math.sqrt(len(d))
    assert abs(float(expected_shortfall(mu, sigma, capacity)) - loss.mean()) < tol


@given(st.floats(-100.0, 500.0), st.floats(0.0, 1000.0))
@settings(max_examples=100, deadline=None)
def test_expected_shortfall_sigma_zero(mu, capacity):
    """With sigma = 0 demand is certain and the shortfall is exactly max(mu - K, 0)."""
    assert float(expected_shortfall(mu, 0.0, capacity)) == max(mu - capacity, 0.0)


# sigma is 0 or at least 1e-9: a subnormal sigma overflows (K - mu) / sigma to inf (see the report).
@given(mu_st, st.one_of(st.just(0.0), st.floats(1e-9, 200.0)), st.floats(0.0, 1000.0))
@settings(max_examples=200, deadline=None)
def test_expected_shortfall_bounds_and_small_sigma_limit(mu, sigma, capacity):
    """(mu - K)+ <= E[(d - K)+] <= (mu - K)+ + sigma / sqrt(2 pi), so the shortfall tends to (mu - K)+ as sigma -> 0."""
    got = float(expected_shortfall(mu, sigma, capacity))
    base = max(mu - capacity, 0.0)
    # The formula's rounding is a few ulps of max(|mu - K|, sigma) plus the magnitudes involved (<= 1500).
    slack = 1e-12 * max(mu, capacity, sigma, 1.0)
    assert base - slack <= got <= base + sigma / math.sqrt(2 * math.pi) + slack


def test_expected_shortfall_vectorised_mixed_sigma():
    """Arrays mixing sigma = 0 and sigma > 0 give the deterministic and the normal-loss answers element-wise."""
    got = expected_shortfall(np.array([100.0, 100.0, 50.0]), np.array([0.0, 10.0, 0.0]), np.array([80.0, 100.0, 60.0]))
    # At K = mu the loss is sigma * phi(0) = 10 / sqrt(2 pi); computed with a few ulps of rounding.
    np.testing.assert_allclose(got, [20.0, 10.0 / math.sqrt(2 * math.pi), 0.0], rtol=1e-14)


# ------------------------------------------------------------------ newsvendor_capacity

@given(mu_st, st.floats(0.01, 100.0), st.floats(0.001, 0.999))
@settings(max_examples=200, deadline=None)
def test_newsvendor_quantile_property(mu, sigma, p):
    """P(d > K) = p for d ~ N(mu, sigma) unless the quantile is negative, in which case K = 0."""
    K = float(newsvendor_capacity(mu, sigma, p))
    assert K >= 0.0
    if mu + sigma * norm.isf(p) > 1e-9 * max(mu, 1.0):
        # K carries rounding ~ eps * |K| which moves the tail probability by phi * eps * |K| / sigma
        # <= 0.4 * 2.2e-16 * 1000 / 0.01 ~ 1e-11; ndtri itself is accurate to ~1e-15. 1e-9 covers both.
        assert norm.sf(K, mu, sigma) == pytest.approx(p, abs=1e-9)
    else:
        assert K <= 1e-9 * max(mu, 1.0) + abs(sigma) * 1e-12


@pytest.mark.parametrize("p, clipped", [(0.0, 0.001), (-1.0, 0.001), (1.0, 0.999), (2.0, 0.999)])
def test_newsvendor_clips_probability(p, clipped):
    """Exceed probabilities outside (0.001, 0.999) are clipped there, so K stays finite."""
    assert float(newsvendor_capacity(100.0, 10.0, p)) == float(newsvendor_capacity(100.0, 10.0, clipped))


def test_newsvendor_sigma_zero_is_mean():
    """With no uncertainty the capacity is the mean demand whatever the exceed probability."""
    np.testing.assert_array_equal(newsvendor_capacity(np.full(3, 40.0), np.zeros(3), np.array([0.1, 0.5, 0.9])), [40.0] * 3)


# ------------------------------------------------------------------ average_experience

def experience_by_loop(start: float, rate: float, weeks: int, decay: float = 0.0) -> float:
    """Mean of E_0 .. E_{weeks-1} with E_{t+1} = E_t (1 - decay) + rate (1 - E_t), simulated week by week."""
    e, total = start, 0.0
    for _ in range(weeks):
        total += e
        e = e * (1.0 - decay) + rate * (1.0 - e)
    return total / weeks


@given(st.floats(0.0, 1.0), st.floats(0.001, 1.0), st.integers(1, 400))
@settings(max_examples=200, deadline=None)
def test_average_experience_matches_loop(start, rate, weeks):
    """The closed form equals the mean experience of a direct week-by-week simulation."""
    got = float(average_experience(start, rate, weeks))
    # The loop accumulates <= 400 roundings (~1e-13); the closed form's 1 - (1 - r)^w loses ~eps / (r w)
    # relative, i.e. < 1e-12 absolute after scaling by (1 - start) <= 1. 1e-10 covers both with margin.
    assert got == pytest.approx(experience_by_loop(start, rate, weeks), abs=1e-10)


@given(st.floats(0.0, 1.0), st.floats(0.0, 0.1), st.floats(0.001, 0.3), st.integers(1, 60))
@settings(max_examples=200, deadline=None)
def test_average_experience_with_fading_matches_loop(start, rate, decay, weeks):
    """On-call work: what pool staff learn (``rate``) against what a former team knew fading (``decay``)."""
    got = float(average_experience(start, rate, weeks, decay))
    assert got == pytest.approx(experience_by_loop(start, rate, weeks, decay), abs=1e-10)  # as above


def test_experience_fades_toward_what_the_pool_holds():
    """A former team's experience fades over a review period, toward rate / (rate + decay): 0.9 falls below 0.9,
    0 rises above 0, and the level itself stays."""
    level = 0.002 / (0.002 + 0.05)
    fade, rise, stay = average_experience(np.array([0.9, 0.0, level]), 0.002, 13.0, 0.05)
    assert level < fade < 0.9 and 0.0 < rise < level and stay == pytest.approx(level, abs=1e-12)


@pytest.mark.parametrize("rate", [0.0, -0.1])
def test_average_experience_without_learning(rate):
    """With a non-positive learning rate experience stays at its starting value."""
    np.testing.assert_array_equal(average_experience(np.array([0.2, 0.7]), rate, np.array([10.0, 52.0])), [0.2, 0.7])


def test_average_experience_short_term_is_start():
    """A term shorter than one week counts as one week, whose mean experience is the starting value."""
    # (1 - (1 - r)) / r = 1 up to one rounding, so the gap is 1 - start within a couple of ulps.
    np.testing.assert_allclose(average_experience(np.array([0.3]), 0.06, np.array([0.0])), [0.3], rtol=1e-14)


def test_average_experience_broadcasts():
    """A (slots x candidates) start matrix broadcasts against a per-slot term column as review.py uses it."""
    start = np.array([[0.0, 0.5], [0.2, 1.0]])
    weeks = np.array([[10.0], [104.0]])
    got = average_experience(start, 0.06, weeks)
    want = [[experience_by_loop(s, 0.06, int(w[0])) for s in row] for row, w in zip(start, weeks)]
    np.testing.assert_allclose(got, want, atol=1e-10)  # same bound as the loop comparison above


# ------------------------------------------------------------------ permanent_terms

def terms(**kw):
    """permanent_terms with a readable default case: mu 100, sigma 20, on-call 60/h, alternative 40/h, nonprice 5/h,
    no set-up cost (onboarding and tender)."""
    args = dict(mu=100.0, sigma=20.0, on_call_hour=60.0, alternative_hour=40.0, nonprice_hour=5.0, setup=0.0,
                term=104.0, provider_reservation=30.0, power=0.5, fee=0.0)
    args.update(kw)
    arr = {k: np.atleast_1d(np.asarray(v, float)) for k, v in args.items() if k != "fee"}
    return permanent_terms(**arr, fee=args["fee"], negotiate=nash_price)


def test_permanent_terms_worked_example():
    """Firm reservation 40 - 5 = 35, provider 30, power 0.5 give price 32.5; K follows P(d > K) = price / (on-call - nonprice)."""
    t = terms()
    # A used reserved hour saves the on-call hour (60) but still carries the contract's nonprice cost (5).
    price, K = 32.5, norm.isf(32.5 / (60.0 - 5.0), 100.0, 20.0)
    short = shortfall_by_quadrature(100.0, 20.0, K)
    cost = 32.5 * K + short * 60.0 + (100.0 - short) * 5.0
    assert float(t.price[0]) == pytest.approx(price, rel=1e-15)  # one exact split: 30 + 0.5 * 5
    # K via ndtri vs scipy's isf and shortfall via quad: both agree to ~1e-12 relative; allow 1e-9.
    assert float(t.reserved[0]) == pytest.approx(K, rel=1e-9)
    assert float(t.weekly_cost[0]) == pytest.approx(cost, rel=1e-9)


@pytest.mark.parametrize("kw", [
    dict(provider_reservation=36.0),                 # 35 < 36: plainly crossed
    dict(setup=104 * 100 * 6.0),                     # set-up spread over the term: 6/h, 40 - 5 - 6 = 29 < 30
    dict(fee=0.2),                                   # through a broker: 35 / 1.2 = 29.2 < 30
])
def test_permanent_terms_no_deal_when_reservations_cross(kw):
    """When the firm's reservation (after set-up and fee) is below the provider's there is no deal: NaN cost, nothing reserved."""
    t = terms(**kw)
    assert math.isnan(t.price[0]) and math.isnan(t.weekly_cost[0])
    assert t.reserved[0] == 0.0


def test_permanent_terms_price_never_exceeds_what_a_reserved_hour_saves():
    """The firm's reservation is capped by the on-call hour, so the price never exceeds on-call - nonprice; at full provider power it equals it and nothing is reserved."""
    for oc in (36.0, 37.5, 38.0, 45.0):
        t = terms(on_call_hour=oc)  # alternative 40: the cap binds below 40, the alternative above
        assert float(t.price[0]) <= min(oc, 40.0) - 5.0 + 1e-12
        assert t.reserved[0] > 0.0 and np.isfinite(t.weekly_cost[0])
    grab = terms(on_call_hour=37.5, power=1.0)  # the provider takes all: price = saving 32.5, so reserving never pays
    assert float(grab.price[0]) == pytest.approx(32.5, abs=1e-12) or math.isnan(grab.price[0])
    assert grab.reserved[0] == 0.0 and math.isnan(grab.weekly_cost[0])


def test_permanent_terms_deal_just_inside():
    """The same cases with reservations not crossing do produce a deal with finite cost and positive reserved hours."""
    for kw in (dict(provider_reservation=34.0), dict(setup=104 * 100 * 4.0), dict(fee=0.1)):
        t = terms(**kw)
        assert np.isfinite(t.price[0]) and np.isfinite(t.weekly_cost[0]) and t.reserved[0] > 0, kw


@given(st.floats(1.0, 500.0), st.one_of(st.just(0.0), st.floats(1e-9, 200.0)), st.floats(1.0, 200.0), st.floats(1.0, 200.0),
       st.floats(0.0, 50.0),
       st.floats(0.0, 1e4), st.floats(1.0, 200.0), st.floats(0.0, 200.0), st.floats(0.0, 1.0), st.floats(0.0, 0.5))
@settings(max_examples=150, deadline=None)
def test_permanent_terms_deal_iff_reservations_do_not_cross(mu, sigma, on_call, alt, nonprice, setup, term, rp, power, fee):
    """A deal (finite cost, K > 0) needs non-crossing reservations, a price between them and a price below the hour's saving."""
    rf = (alt - nonprice - setup / (term * mu)) / (1.0 + fee)
    assume(abs(rf - rp) > 1e-9 * max(abs(rf), abs(rp), 1.0))  # the exact boundary is decided by rounding
    t = terms(mu=mu, sigma=sigma, on_call_hour=on_call, alternative_hour=alt, nonprice_hour=nonprice,
              setup=setup, term=term, provider_reservation=rp, power=power, fee=fee)
    deal = np.isfinite(t.weekly_cost[0])
    assert deal == (np.isfinite(t.price[0]) and t.reserved[0] > 0)
    if rf < rp:
        assert not deal and t.reserved[0] == 0.0
    if deal:
        slack = 4 * EPS * max(abs(rf), abs(rp), 1.0)  # same ulp argument as for nash_price
        assert rp - slack <= t.price[0] <= rf + slack
        assert t.price[0] * (1 + fee) < on_call - nonprice  # reserving only pays if a used hour saves more than it costs


def test_reserved_rises_with_sigma_when_price_ratio_below_half():
    """Price / on-call cost below 1/2 puts K above the mean (P(d > K) < 1/2), so more demand uncertainty reserves more."""
    sigmas = np.array([0.0, 5.0, 10.0, 20.0, 40.0])
    # nonprice 0 so the ratio is simply price / on-call: price 20 + 0.5 * (35 - 20) = 27.5, on-call 60: ratio 0.458
    t = terms(sigma=sigmas, provider_reservation=20.0, alternative_hour=35.0, nonprice_hour=0.0)
    assert np.all(np.diff(t.reserved) > 0)
    assert t.reserved[0] == 100.0  # sigma = 0: reserve exactly the (certain) demand


def test_reserved_falls_with_sigma_when_price_ratio_above_half():
    """Price / on-call cost above 1/2 puts K below the mean, so more demand uncertainty reserves less."""
    sigmas = np.array([0.0, 5.0, 10.0, 20.0, 40.0])
    # price 27.5 as above, on-call 40: ratio 0.6875
    t = terms(sigma=sigmas, provider_reservation=20.0, alternative_hour=35.0, nonprice_hour=0.0, on_call_hour=40.0)
    assert np.all(np.diff(t.reserved) < 0)
    assert t.reserved[0] == 100.0


@given(st.floats(0.02, 0.98), st.floats(0.0, 100.0), st.floats(0.1, 50.0))
@settings(max_examples=200, deadline=None)
def test_reserved_moves_with_sigma_by_side_of_half(ratio, s1, ds):
    """For any fixed price ratio, K moves with sigma upwards below 1/2 and downwards above 1/2 (or hits zero)."""
    assume(abs(ratio - 0.5) > 1e-6)
    rp = 30.0
    # power 0 fixes the price at rp; nonprice 0 makes the ratio price / on-call exactly `ratio`.
    kw = dict(provider_reservation=rp, power=0.0, alternative_hour=1000.0, nonprice_hour=0.0, on_call_hour=rp / ratio)
    k1 = float(terms(sigma=s1, **kw).reserved[0])
    k2 = float(terms(sigma=s1 + ds, **kw).reserved[0])
    if ratio < 0.5:
        assert k2 > k1
    else:
        assert k2 < k1 or k2 == k1 == 0.0


# ------------------------------------------------------------------ in_house_cost

@given(mu_st, st.one_of(st.just(0.0), st.floats(1e-9, 200.0)), st.floats(1.0, 200.0),
       st.one_of(st.just(0.0), st.floats(1e-6, 400.0)))
@settings(max_examples=200, deadline=None)
def test_in_house_staff_never_below_median(mu, sigma, unit, on_call):
    """In-house staff is at least the median demand mu (the exceed probability is capped at 1/2)."""
    staff, cost = in_house_cost(np.array([mu]), np.array([sigma]), np.array([unit]), np.array([on_call]))
    # mu + sigma * ndtri(0.5): ndtri(0.5) is exactly 0, so only the sum's rounding (none) can matter.
    assert staff[0] >= mu
    assert np.isfinite(cost[0])


@given(mu_st, st.floats(0.01, 200.0), st.floats(1.0, 200.0), st.floats(1.0, 400.0))
@settings(max_examples=200, deadline=None)
def test_in_house_newsvendor_and_cost(mu, sigma, unit, on_call):
    """Staff follows P(d > H) = min(unit cost / on-call cost, 1/2) (clipped at 0.001) and cost = unit x H + shortfall x on-call."""
    staff, cost = in_house_cost(np.array([mu]), np.array([sigma]), np.array([unit]), np.array([on_call]))
    p = min(max(unit / on_call, 0.001), 0.5)
    H = float(staff[0])
    assert norm.sf(H, mu, sigma) == pytest.approx(p, abs=1e-9)  # same argument as the newsvendor test
    want = unit * H + float(expected_shortfall(mu, sigma, H)) * on_call
    assert float(cost[0]) == pytest.approx(want, rel=1e-12)  # same two terms, a few roundings


def test_in_house_without_on_call_price_staffs_the_median():
    """With no usable on-call price (<= 0) the exceed probability defaults to 1/2: staff = mu."""
    staff, _ = in_house_cost(np.array([80.0, 80.0]), np.array([10.0, 10.0]), np.array([30.0, 30.0]), np.array([0.0, -5.0]))
    np.testing.assert_array_equal(staff, [80.0, 80.0])
