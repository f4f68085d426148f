"""Kernels of the review's permanent options, priced as ``sourcing.options.price_permanent`` does it: every
known provider of every due firm-service with the cheapest deal kept, and the deals through its broker."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulation.model.kernels.core import client_price, clip01, max0, nonprice
from simulation.model.kernels.special import ndtr, ndtri

CORE_SOURCE = "54b1cd7a1d375fac"  # core.py's hash (see core.py): a new one recompiles these kernels


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _minimum(a, b):
    """``np.minimum`` of two values: a NaN wins."""
    return a if (a <= b or a != a) else b


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _fmin(a, b):
    """``np.fmin`` of two values: a NaN loses."""
    if a != a:
        return b
    if b != b:
        return a
    return a if a <= b else b


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _terms(mu, sigma, oc, alt, nonprice_hour, setup, weeks, rp, power, fee):
    """``sourcing.costs.permanent_terms`` of one option: (price before the broker's ``fee``, reserved hours,
    weekly cost), NaN price and cost where there is no deal."""
    setup_hour = setup / (weeks * max(mu, 1e-9))
    rf = (_fmin(alt, oc) - nonprice_hour - setup_hour) / (1.0 + fee)
    price = rp + power * (rf - rp) if rf >= rp else np.nan
    paid = price * (1.0 + fee)
    saving = oc - nonprice_hour
    ratio = paid / saving if saving > 0 else 1.0
    p = ratio if (ratio >= 1e-3 or ratio != ratio) else 1e-3  # np.clip(ratio, 1e-3, 1 - 1e-3)
    p = p if (p <= 1 - 1e-3 or p != p) else 1 - 1e-3
    reserved = max0(mu + sigma * ndtri(1.0 - p)) if paid < saving else 0.0
    safe = sigma if sigma > 0 else 1.0
    z = (reserved - mu) / safe
    loss = math.exp(-0.5 * z * z) / math.sqrt(2.0 * np.pi) - z * (1.0 - ndtr(z))
    short = safe * loss if sigma > 0 else max0(mu - reserved)
    cost = paid * reserved + short * oc + (mu - short) * nonprice_hour + setup / weeks
    if math.isfinite(price) and reserved > 0:
        return price, reserved, cost
    return np.nan, 0.0, np.nan


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _cost_and_spot(r, i, j, slot_region, slot_coordination, target_utilization, unit_cost, spot_price, coordination,
                   provider_region):
    """Provider ``j``'s cost of a reserved hour (``Prices.cost_for_client`` over due row ``r``'s target
    utilisation: the same formula) and its spot price, for the client of slot ``i``. Without a branch, so
    the arrays it reads cost no reference counting in the callers' loops."""
    cost = client_price(j, slot_region[i], slot_coordination[i], unit_cost, coordination,
                        provider_region) / target_utilization[r]
    return cost, client_price(j, slot_region[i], slot_coordination[i], spot_price, coordination, provider_region)


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _deal(ci, term, cost, spot, utilization, price_factor, E, quality, renewal, fee, fill, friction, learning, error,
          onboard, mu, sigma, onboarding_weeks, alt_hour, power, margin, load_value, rate, step, rotation,
          shortage_factor, tender_cost):
    """``sourcing.options.price_permanent`` of one option: a due firm-service (its own cost per hour ``ci``, the
    contract ``term``, fill rate, friction, learning, error cost, onboarding, demand ``mu`` and ``sigma``,
    onboarding weeks, best alternative per hour ``alt_hour``, bargaining ``power``) with a provider (its
    ``cost`` and ``spot`` price for this client, ``utilization``, ``price_factor``), whose experience of the
    client is ``E`` and estimated quality ``quality``, through a broker charging ``fee`` (0: direct);
    ``renewal``: the incumbent, without set-up. Returns (price, reserved hours, weekly cost).

    It takes values, not arrays: the callers read the arrays in their own loops. Numba counts references to
    the arrays a compiled helper takes, with atomic operations it cannot drop around the helper's branches;
    passing some twenty arrays per option made the pricing twice as slow."""
    weeks = max(term, 1.0)
    rp = _minimum(cost * (margin - load_value * clip01(1.0 - utilization)) * price_factor, spot)
    if step > 0:
        level = rate / step
        ebar = level + (E - level) * (1.0 - (1.0 - step) ** weeks) / (step * weeks)
    else:
        ebar = E + 0.0 * weeks
    hour = nonprice(ci, friction, learning, ebar, error, quality)
    handover = rotation * onboarding_weeks * ci * (1.0 - E)
    oc = fill * (spot * (1.0 + fee) + hour + handover) + (1.0 - fill) * (shortage_factor * ci)
    setup = 0.0 if renewal else onboard * (1 - E) + tender_cost
    return _terms(mu, sigma, oc, alt_hour, hour, setup, weeks, rp, power, fee)


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def best_direct_deals(s, provider, valid, renewal, experience, quality_estimate, slot_region, slot_coordination,
                      fill_rate, c, friction, learning, error, onboard, mu, sigma, term, target_utilization,
                      onboarding_weeks, alt_hour, power, unit_cost, spot_price, coordination, provider_region,
                      utilization, price_factor, margin, load_value, rate, step, rotation, shortage_factor,
                      tender_cost, mgmt):
    """Per due row ``s`` (per-row inputs indexed by row, per-slot ones by ``s``): the column of the cheapest
    direct permanent deal over the ``valid`` known providers (-1: none) and its weekly cost (management
    included), price and reserved hours. ``renewal`` (rows, K) marks the incumbent of an expiring contract
    (no set-up); ``margin`` is 1 + the providers' minimum margin, ``load_value`` the guaranteed load's value,
    ``rate`` and ``step`` the dedicated team's learning (``step`` = rate + decay)."""
    rows, K = len(s), provider.shape[1]
    best = np.full(rows, -1, np.int64)
    weekly, price, reserved = np.full(rows, np.nan), np.full(rows, np.nan), np.zeros(rows)
    for r in range(rows):
        i = s[r]
        for k in range(K):
            if not valid[r, k]:
                continue
            j = provider[i, k]
            cost, spot = _cost_and_spot(r, i, j, slot_region, slot_coordination, target_utilization, unit_cost,
                                        spot_price, coordination, provider_region)
            p, h, w = _deal(c[r], term[r], cost, spot, utilization[j], price_factor[j], experience[i, k],
                            quality_estimate[i, k], renewal[r, k], 0.0, fill_rate[i], friction[r], learning[r],
                            error[r], onboard[r], mu[r], sigma[r], onboarding_weeks[r], alt_hour[r], power[r], margin,
                            load_value, rate, step, rotation, shortage_factor, tender_cost)
            w = w + mgmt
            if math.isfinite(w) and (best[r] < 0 or w < weekly[r]):
                best[r], weekly[r], price[r], reserved[r] = k, w, p, h
    return best, weekly, price, reserved


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def brokered_deals(rows, s, provider, experience, quality, renewal, fee, slot_region, slot_coordination, fill_rate, c,
                   friction, learning, error, onboard, mu, sigma, term, target_utilization, onboarding_weeks, alt_hour,
                   power, unit_cost, spot_price, coordination, provider_region, utilization, price_factor, margin,
                   load_value, rate, step, rotation, shortage_factor, tender_cost):
    """A permanent contract through the broker for each of the due ``rows`` (slots ``s[rows]``), with one
    ``provider`` each (its ``experience`` of the client, its estimated ``quality``, the broker's ``fee``, per
    entry; ``renewal`` for all): (price, reserved hours, weekly cost) arrays, NaN where there is no deal."""
    n = len(rows)
    price, reserved, weekly = np.empty(n), np.empty(n), np.empty(n)
    for e in range(n):
        r, j = rows[e], provider[e]
        i = s[r]
        cost, spot = _cost_and_spot(r, i, j, slot_region, slot_coordination, target_utilization, unit_cost, spot_price,
                                    coordination, provider_region)
        price[e], reserved[e], weekly[e] = _deal(
            c[r], term[r], cost, spot, utilization[j], price_factor[j], experience[e], quality[e], renewal, fee[e],
            fill_rate[i], friction[r], learning[r], error[r], onboard[r], mu[r], sigma[r], onboarding_weeks[r],
            alt_hour[r], power[r], margin, load_value, rate, step, rotation, shortage_factor, tender_cost)
    return price, reserved, weekly
