"""The sourcing review: expected weekly cost of in-house, on-call and permanent sourcing.

At a review a firm compares, for one service, the expected weekly cost of each option it can take
(in-house staff, on-call work direct or through a broker, a permanent contract direct or through a
broker); its sourcing policy picks one (policies.py; by default a logit over relative costs). Costs include shortage risk,
onboarding spread over the term, relationship-specific learning expected under a dedicated team
(and the learning thrown away by leaving one), broker fees and the fixed cost of managing providers.

Reserved capacity of a permanent contract follows the take-or-pay newsvendor rule
P(demand > K) = contract price / (on-call cost per hour - the contract's own non-price cost per hour),
i.e. price over what a used reserved hour saves (Cachon & Lariviere 2001 on capacity reservation); in-house staffing uses the same rule with the in-house unit cost. Demand is treated as
normal with the firm's running mean and variance estimates. Nothing here says which form wins.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray
from scipy.special import ndtr, ndtri

from simulation.model import kernels

def nonprice_cost(c: NDArray, friction: NDArray, learning: NDArray, experience: NDArray, error: NDArray,
                  quality: NDArray) -> NDArray[np.float64]:
    """Cost per hour of outsourced work beyond its price: coordination friction that relationship-specific
    experience removes (up to the learning strength), plus the cost of errors at the given quality."""
    return c * (friction * (1.0 - learning * experience) + error * (1.0 - quality))


def pool_handover_cost(c: NDArray, onboarding_weeks: NDArray, experience: NDArray, rotation: float) -> NDArray[np.float64]:
    """Onboarding cost per on-call hour: a shared pool hands a share ``rotation`` of a client's hours each week
    to staff new to the client, who must be taught what a dedicated team already knows (less what the
    provider as a whole has learned of the client)."""
    return rotation * onboarding_weeks * c * (1.0 - experience)


def expected_shortfall(mu: NDArray, sigma: NDArray, capacity: NDArray) -> NDArray[np.float64]:
    """E[(d - K)+] for d ~ Normal(mu, sigma): sigma * L((K - mu) / sigma); max(mu - K, 0) if sigma = 0."""
    mu, sigma, capacity = np.broadcast_arrays(*(np.asarray(x, float) for x in (mu, sigma, capacity)))
    safe = np.where(sigma > 0, sigma, 1.0)
    z = (capacity - mu) / safe
    loss = kernels.exp(-0.5 * z * z) / np.sqrt(2.0 * np.pi) - z * (1.0 - ndtr(z))
    return np.where(sigma > 0, safe * loss, np.maximum(mu - capacity, 0.0))


def newsvendor_capacity(mu: NDArray, sigma: NDArray, exceed_probability: NDArray) -> NDArray[np.float64]:
    """Capacity K with P(d > K) = exceed_probability (clipped to (0.001, 0.999)), never below zero."""
    p = np.clip(np.asarray(exceed_probability, float), 1e-3, 1 - 1e-3)
    return np.maximum(np.asarray(mu, float) + np.asarray(sigma, float) * ndtri(1.0 - p), 0.0)


def average_experience(start: NDArray, rate: float, weeks: NDArray, decay: float = 0.0) -> NDArray[np.float64]:
    """Mean of E over ``weeks`` weeks from E_0 = ``start`` when E_{t+1} = E_t (1 - decay) + rate (1 - E_t).

    A dedicated team (``decay`` 0) learns towards 1; on-call work from the shared pool learns at a small
    ``rate`` while what a former team knew fades, towards rate / (rate + decay).
    """
    weeks = np.maximum(np.asarray(weeks, float), 1.0)
    start = np.asarray(start, float)
    step = rate + decay
    if step <= 0:
        return start + 0.0 * weeks
    level = rate / step
    return level + (start - level) * (1.0 - kernels.power(1.0 - step, weeks)) / (step * weeks)


@dataclass(frozen=True)
class PermanentTerms:
    """Outcome of pricing a permanent option: price per hour (before broker fee), reserved hours, weekly cost."""

    price: NDArray[np.float64]
    reserved: NDArray[np.float64]
    weekly_cost: NDArray[np.float64]


def permanent_terms(mu: NDArray, sigma: NDArray, on_call_hour: NDArray, alternative_hour: NDArray,
                    nonprice_hour: NDArray, setup: NDArray, term: NDArray, provider_reservation: NDArray,
                    power: NDArray, fee: float | NDArray, negotiate) -> PermanentTerms:
    """Negotiate and size one permanent option per row (NaN cost where there is no deal).

    Args:
        mu, sigma: the firm's demand estimates (hours/week).
        on_call_hour: expected all-in cost of an on-call hour (overflow beyond K goes there).
        alternative_hour: all-in cost per hour of the firm's best alternative; the reservation uses the lower
            of this and ``on_call_hour``, since each reserved hour displaces at most an on-call hour.
        nonprice_hour: friction and error cost per hour under this contract (after expected learning).
        setup: one-off cost of starting with this provider (knowledge transfer to its team and the tender;
            none for a renewal), spread over the term.
        term: contract term in weeks.
        provider_reservation: provider's lowest acceptable price per hour.
        power: provider bargaining power.
        fee: broker fee rate (0 for direct).
        negotiate: the Nash split, ``negotiation.nash_price``.
    """
    setup_hour = setup / (np.maximum(term, 1.0) * np.maximum(mu, 1e-9))
    # A reserved hour replaces an hour of the best alternative, and never more than an on-call hour.
    firm_reservation = (np.fmin(alternative_hour, on_call_hour) - nonprice_hour - setup_hour) / (1.0 + fee)
    price = negotiate(firm_reservation, provider_reservation, power)
    paid = price * (1.0 + fee)
    saving = on_call_hour - nonprice_hour  # what a reserved hour saves when it is used, before its price
    reserved = newsvendor_capacity(mu, sigma, np.divide(paid, saving, out=np.ones_like(paid), where=saving > 0))
    reserved = np.where(paid < saving, reserved, 0.0)
    short = expected_shortfall(mu, sigma, reserved)
    cost = paid * reserved + short * on_call_hour + (mu - short) * nonprice_hour + setup / np.maximum(term, 1.0)
    ok = np.isfinite(price) & (reserved > 0)
    return PermanentTerms(price=np.where(ok, price, np.nan), reserved=np.where(ok, reserved, 0.0),
                          weekly_cost=np.where(ok, cost, np.nan))


def in_house_cost(mu: NDArray, sigma: NDArray, unit_cost: NDArray, on_call_hour: NDArray) -> tuple[NDArray, NDArray]:
    """Staff H in-house (P(d > H) = unit cost / on-call cost, at most 1/2) and the weekly cost; overflow goes on-call."""
    ratio = np.minimum(np.divide(unit_cost, on_call_hour, out=np.full_like(unit_cost, 0.5), where=on_call_hour > 0), 0.5)
    staff = newsvendor_capacity(mu, sigma, ratio)
    cost = unit_cost * staff + expected_shortfall(mu, sigma, staff) * on_call_hour
    return staff, cost
