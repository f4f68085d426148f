"""Kernels of the week's work: the worked pairs' quality, costs, payoffs and
learning, each slot's costs, and the week's outcome totals."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulation.model.kernels.core import clip01, max0, nonprice, numpy_row_sum
from simulation.model.kernels.prefetch import PREFETCH_ROWS, prefetch_rows

CORE_SOURCE = "54b1cd7a1d375fac"  # core.py's hash (see core.py): a new one recompiles these kernels
PREFETCH_SOURCE = "3ecd263a84de40be"  # prefetch.py's hash, for the same reason


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
        if r + PREFETCH_ROWS < n:  # the rows of the pair 8 ahead (see prefetch.py)
            prefetch_rows((provider, experience, last_worked, served, quality_estimate, c, demand, slot_service,
                           nonprice_slot, onboarding_slot), s[r + PREFETCH_ROWS])
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
def reinforce(J, keep, s, k, payoff):
    """Preferences after the week, in place: ``J *= keep``, then ``J[s, k] += payoff`` for distinct (slot, column)
    pairs, as numpy computes both (its fancy-indexed add took 2 to 4 ms of a 100k week)."""
    rows, K = J.shape
    for i in range(rows):
        for c in range(K):
            J[i, c] *= keep
    for r in range(len(s)):
        J[s[r], k[r]] += payoff[r]


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def outcome_sums(hours, paid, quality, on_time, inhouse_cost, pair_slot, pair_provider, slot_kpo, provider_region,
                 slot_region, slot_channel, on_call, contract_channel, permanent, reserved, contract_id, y, eps,
                 broker):
    """The week's outcome totals that outcomes._totals adds up, each as numpy adds it (pairwise, in its order):
    hours-weighted quality and on-time share (NaN without hours), offshore hours (pairs whose provider sits in
    the other region), broker hours (on call through a broker, and under brokered contracts), BPO and KPO hours
    and spend (``slot_kpo``: whether each slot's service is KPO), reserved hours of running contracts, mean
    loyalty ``y`` of all and of on-call buyers (NaN when none is finite) and the in-house cost of the hours
    bought. Each sum's values are gathered in one pass over the pairs and one over the slots, then added."""
    n, S = len(hours), len(slot_region)
    quality_hours, on_time_hours, inhouse_hours = np.empty(n), np.empty(n), np.empty(n)
    offshore, bpo_hours, kpo_hours = np.empty(n), np.empty(n), np.empty(n)
    bpo_paid, kpo_paid = np.empty(n), np.empty(n)
    n_offshore = n_bpo = n_kpo = 0
    # each compacting store is written whether it is kept or not, and its count moves by the condition: the
    # conditions are random over the rows, so branches on them mispredicted half the time (5.7 -> 3.9 ms at 100k)
    for r in range(n):
        i, h, pay = pair_slot[r], hours[r], paid[r]
        quality_hours[r], on_time_hours[r], inhouse_hours[r] = quality[r] * h, on_time[r] * h, inhouse_cost[r] * h
        offshore[n_offshore] = h
        n_offshore += provider_region[pair_provider[r]] != slot_region[i]
        kpo = slot_kpo[i]
        kpo_hours[n_kpo], kpo_paid[n_kpo] = h, pay
        bpo_hours[n_bpo], bpo_paid[n_bpo] = h, pay
        n_kpo += kpo
        n_bpo += not kpo
    brokered, held, y_all, y_bought = np.empty(S), np.empty(S), np.empty(S), np.empty(S)
    n_held = n_bought = counted_all = counted_bought = 0
    finite_all = finite_bought = False
    for i in range(S):
        brokered[i] = ((on_call[i] if slot_channel[i] == broker else 0.0)
                       + (permanent[i] if contract_channel[i] == broker else 0.0))
        held[n_held] = reserved[i]
        n_held += contract_id[i] >= 0
        v = y[i]
        known, finite, bought = v == v, np.isfinite(v), on_call[i] > eps
        value = v if known else 0.0
        y_all[i] = value
        finite_all = finite_all or finite
        counted_all += known
        y_bought[n_bought] = value
        n_bought += bought
        finite_bought = finite_bought or (bought and finite)
        counted_bought += bought and known
    total = numpy_row_sum(hours)
    quality_mean = numpy_row_sum(quality_hours) / total if total > 0 else np.nan
    on_time_mean = numpy_row_sum(on_time_hours) / total if total > 0 else np.nan
    loyalty_all = numpy_row_sum(y_all) / counted_all if finite_all else np.nan
    loyalty_bought = numpy_row_sum(y_bought[:n_bought]) / counted_bought if finite_bought else np.nan
    return (quality_mean, on_time_mean, numpy_row_sum(offshore[:n_offshore]), numpy_row_sum(brokered),
            numpy_row_sum(bpo_hours[:n_bpo]), numpy_row_sum(kpo_hours[:n_kpo]), numpy_row_sum(bpo_paid[:n_bpo]),
            numpy_row_sum(kpo_paid[:n_kpo]), numpy_row_sum(held[:n_held]), loyalty_all, loyalty_bought,
            numpy_row_sum(inhouse_hours))


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
        asked, f = on_call[i] + unmet[i], fill_rate[i]
        moved = f + alpha * (on_call[i] / asked - f)  # computed either way (NaN when nothing was asked): no branch
        fill_rate[i] = moved if asked > eps else f
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
def split_sums(order, n_first, x):
    """``x[order[:n_first]].sum()`` and ``x[order[n_first:]].sum()``: gathered by a fixed ``order`` and each part
    added in numpy's order (:func:`numpy_row_sum`). With ``order`` the rows of ``~mask`` then of ``mask``, each
    ascending, these are ``x[~mask].sum()`` and ``x[mask].sum()``, without a branch per row."""
    gathered = np.empty(len(order))
    for i in range(len(order)):
        gathered[i] = x[order[i]]
    return numpy_row_sum(gathered[:n_first]), numpy_row_sum(gathered[n_first:])


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
