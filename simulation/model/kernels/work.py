"""Kernels of the week's work: the worked pairs' quality, costs, payoffs and
learning, each slot's costs, and the week's outcome totals."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulation.model.kernels.core import clip01, max0, nonprice, numpy_row_sum

CORE_SOURCE = "54b1cd7a1d375fac"  # core.py's hash (see core.py): a new one recompiles these kernels


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def delivered_quality(reliability, load_excess, experience, learning, noise, overload_loss):
    """Quality in [0, 1] of one pair's work: base reliability, raised by client experience (up to the service's
    learning strength), lowered by overload, plus noise."""
    return clip01(reliability + (1.0 - reliability) * learning * experience - overload_loss * load_excess + noise)


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def on_time_share(load_excess, experience, learning, late_base_rate, overload_lateness):
    """Share of one pair's hours delivered on time: base lateness (cut by client experience) plus overload delays."""
    return clip01(1.0 - (late_base_rate * (1.0 - learning * experience) + overload_lateness * load_excess))


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def learn_from_work(s, k, hours, paid, noise, provider, utilization, reliability, slot_service, c, demand, served,
                    last_worked, quality_estimate, experience, team_slots, team_k, learning, friction, error_cost,
                    onboarding_weeks, week, memory, p):
    """The week's work per distinct (slot, column) pair ``s``, ``k`` (its hours, what it paid and its quality
    noise): the provider, quality, on-time share, non-price cost per hour, onboarding cost and the payoff
    the firm learns from; per slot, the non-price and onboarding costs; in place, the quality estimates
    and the relationship-specific experience (which fades everywhere, grows a little with on-call work
    and more under a dedicated team: ``team_slots`` with their contracts' columns ``team_k``).

    ``p`` holds, in order: overload threshold, overload quality loss, base late rate, overload lateness,
    pool rotation, shortage penalty factor, EPS, quality estimate weight, learning rate per week, on-call
    learning fraction, experience decay per week. Written as outcomes.py wrote it in numpy, operation for
    operation (tests/test_outcomes.py keeps that numpy as the reference).
    """
    threshold, loss, late, lateness, rotation, avoided, eps, weight, rate, on_call, decay = p
    n, S = len(s), len(c)
    j_out, payoff = np.empty(n, np.int64), np.empty(n)
    quality, on_time, nonprice_hour, onboarding = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
    nonprice_slot, onboarding_slot, worked = np.zeros(S), np.zeros(S), np.empty(n)
    for r in range(n):
        i, col = s[r], k[r]
        j, v, E, ci = provider[i, col], slot_service[i], experience[i, col], c[i]
        worked[r] = E
        load = max0(utilization[j] - threshold)
        quality[r] = delivered_quality(reliability[j], load, E, learning[v], noise[r], loss)
        on_time[r] = on_time_share(load, E, learning[v], late, lateness)
        nonprice_hour[r] = nonprice(ci, friction[v], learning[v], E, error_cost[v], quality[r] * on_time[r])
        weeks = onboarding_weeks[v]
        if week - last_worked[i, col] > memory:  # (re)opened: the whole handover; else the pool's rotation
            onboarding[r] = weeks * hours[r] * ci * (1.0 - E)
        else:
            onboarding[r] = served[i, col] * (rotation * weeks * ci * (1.0 - E))
        d = demand[i]
        share = hours[r] / (d if (d >= eps or d != d) else eps)
        payoff[r] = share * (avoided - (paid[r] / hours[r] + nonprice_hour[r] + onboarding[r] / hours[r]) / ci)
        quality_estimate[i, col] += weight * (quality[r] * on_time[r] - quality_estimate[i, col])
        nonprice_slot[i] += nonprice_hour[r] * hours[r]
        onboarding_slot[i] += onboarding[r]
        j_out[r] = j
    team = np.empty(len(team_slots))
    for t in range(len(team_slots)):
        team[t] = experience[team_slots[t], team_k[t]]
    fade = 1.0 - decay
    for i in range(S):
        for col in range(experience.shape[1]):
            experience[i, col] *= fade
    pool = rate * on_call
    for r in range(n):
        experience[s[r], k[r]] += pool * (1.0 - worked[r])
    for t in range(len(team_slots)):
        experience[team_slots[t], team_k[t]] = team[t] + rate * (1.0 - team[t])
    return j_out, quality, on_time, nonprice_hour, onboarding, payoff, nonprice_slot, onboarding_slot


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _picked_sum(x, pick):
    """``x[pick].sum()`` in numpy's order."""
    out = np.empty(len(x))
    n = 0
    for i in range(len(x)):
        if pick[i]:
            out[n] = x[i]
            n += 1
    return numpy_row_sum(out[:n])


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _nanmean(x, pick):
    """``np.nanmean(x[pick])`` if any of them is finite, else NaN (as outcomes.py asks it)."""
    values = np.empty(len(x))
    n = count = 0
    finite = False
    for i in range(len(x)):
        if pick[i]:
            v = x[i]
            finite = finite or np.isfinite(v)
            values[n] = 0.0 if v != v else v
            count += 0 if v != v else 1
            n += 1
    return numpy_row_sum(values[:n]) / count if finite else np.nan


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def outcome_sums(hours, paid, quality, on_time, inhouse_cost, kpo, cross, broker_hours, reserved, held, y, bought):
    """The week's outcome totals that outcomes._totals adds up, each as numpy adds it (pairwise, in its order):
    hours-weighted quality and on-time share (NaN without hours), offshore hours, broker hours, BPO and
    KPO hours and spend, reserved hours of running contracts, mean loyalty of all and of on-call buyers
    (NaN when none is finite) and the in-house cost of the hours bought."""
    total = numpy_row_sum(hours)
    quality_mean = numpy_row_sum(quality * hours) / total if total > 0 else np.nan
    on_time_mean = numpy_row_sum(on_time * hours) / total if total > 0 else np.nan
    bpo = ~kpo
    return (quality_mean, on_time_mean, _picked_sum(hours, cross), numpy_row_sum(broker_hours),
            _picked_sum(hours, bpo), _picked_sum(hours, kpo), _picked_sum(paid, bpo), _picked_sum(paid, kpo),
            _picked_sum(reserved, held), _nanmean(y, np.ones(len(y), np.bool_)), _nanmean(y, bought),
            numpy_row_sum(inhouse_cost * hours))


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def update_estimates(demand, demand_mean, demand_var, on_call, unmet, fill_rate, served, provider, main_provider,
                     alpha, eps):
    """Per slot, in place: the running mean and variance of demand, the on-call fill rate (weeks with requests),
    and the main on-call provider of each buyer (the column it bought most from, the first of equals).
    Returns the share of buyers with a main provider before whose main provider changed (NaN: none had one)."""
    seen = switched = 0
    for i in range(len(demand)):
        dev = demand[i] - demand_mean[i]
        demand_mean[i] += alpha * dev
        demand_var[i] += alpha * (dev * dev - demand_var[i])
        asked = on_call[i] + unmet[i]
        if asked > eps:
            fill_rate[i] += alpha * (on_call[i] / asked - fill_rate[i])
        if on_call[i] > eps:
            best = 0
            for c in range(served.shape[1]):  # np.argmax: the first of the largest, a NaN first of all
                if served[i, c] != served[i, c]:
                    best = c
                    break
                if served[i, c] > served[i, best]:
                    best = c
            main = provider[i, best]
            if main_provider[i] >= 0:
                seen += 1
                switched += main != main_provider[i]
            main_provider[i] = main
    return switched / seen if seen else np.nan


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def split_sums(mask, x):
    """``x[~mask].sum()`` and ``x[mask].sum()``: each part gathered in order and added in numpy's order
    (:func:`numpy_row_sum`), in one pass instead of two masked copies."""
    n = len(x)
    out, into = np.empty(n), np.empty(n)
    a = b = 0
    for i in range(n):
        if mask[i]:
            into[b] = x[i]
            b += 1
        else:
            out[a] = x[i]
            a += 1
    return numpy_row_sum(out[:a]), numpy_row_sum(into[:b])


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def row_sums(x):
    """``x.sum(axis=1)`` of a 2-d array, each row added in numpy's order (:func:`numpy_row_sum`): numpy's own
    reduction pays a fixed cost per row, most of the work for rows of a consideration set's few columns."""
    rows, n = x.shape
    out = np.empty(rows)
    for i in range(rows):
        if n < 8:  # numpy_row_sum's short case, added here: a call per row with a row view costs more
            total = 0.0
            for k in range(n):
                total += x[i, k]
            out[i] = total
        else:
            out[i] = numpy_row_sum(x[i])
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def slot_costs(spend, permanent_paid, held, contract_channel, slot_channel, mode, unmet, inhouse_staff, c,
               management_cost, shortage_factor, direct, on_call, in_house):
    """``outcomes.slot_costs``'s per-slot arithmetic in one pass: payments (the row sum of the on-call ``spend``,
    plus ``permanent_paid``), management (``management_cost`` where the firm manages a provider directly: a held
    contract's channel, else the slot's, is ``direct``, and it holds a contract or buys ``on_call``), shortage
    (``unmet x shortage_factor x c``) and own staff (``inhouse_staff x c`` of ``in_house`` slots)."""
    n = len(c)
    payments, management, shortage, staff = row_sums(spend), np.empty(n), np.empty(n), np.empty(n)
    for i in range(n):
        payments[i] = payments[i] + permanent_paid[i]
        channel = contract_channel[i] if held[i] else slot_channel[i]
        managed = channel == direct and (mode[i] == on_call or held[i])
        management[i] = management_cost if managed else 0.0
        shortage[i] = unmet[i] * shortage_factor * c[i]
        staff[i] = inhouse_staff[i] * c[i] if mode[i] == in_house else 0.0
    return payments, management, shortage, staff
