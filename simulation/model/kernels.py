"""Compiled kernels of the weekly hot path (numba), for loops that numpy can only write as many full-size passes.

Each kernel computes exactly what the numpy expression it replaces computes, operation for operation and
in the same order (no fast-math, no reassociation; a row sum adds in numpy's own order, :func:`numpy_row_sum`),
so a run gives the same bytes with or without it; tests/test_kernels.py checks each against that expression
on random and real inputs. Functions numpy computes its own way (exp, log) stay in numpy.
The kernels are compiled on first use and cached on disk (``cache=True``), so a process pays the
compilation once per machine, not once per run.

Legend: ``s`` slot rows, ``k`` consideration-set columns, ``j`` provider rows, ``v`` services.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def client_price(j, client_region, client_factor, spot_price, coordination, provider_region):
    """``Prices.for_client`` for one provider and client: the spot price, plus the coordination cost times the
    client's factor when they sit in different regions."""
    cross = 1.0 if provider_region[j] != client_region else 0.0
    return spot_price[j] + coordination[j] * cross * client_factor


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def nonprice(c, friction, learning, experience, error, quality):
    """``sourcing.costs.nonprice_cost`` for one hour: friction cut by experience, plus the cost of errors."""
    return c * (friction * (1.0 - learning * experience) + error * (1.0 - quality))


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def onboarding_beyond_shortage(s, known, last_worked, provider, experience, quality_estimate, slot_service, slot_region,
                               slot_coordination, fee, c, spot_price, coordination, provider_region, friction, learning,
                               error_cost, onboarding_weeks, week, memory, shortage_factor):
    """(len(s), K): known providers the firm would have to onboard (never worked for it, or not for more than
    ``memory`` weeks) whose hour, onboarding included, costs more than an unmet hour.

    ``fee`` and ``c`` are per row of ``s``: the broker's fee rate (0 direct) and the firm's own cost per hour.
    The hour is the client's spot price with its fee, plus friction and error cost at the estimated quality,
    plus the onboarding weeks of the service at the firm's own cost, all cut by the client experience.
    """
    rows, K = len(s), known.shape[1]
    out = np.zeros((rows, K), np.bool_)
    for r in range(rows):
        i = s[r]
        ci, v = c[r], slot_service[i]
        for k in range(K):
            if not known[i, k] or week - last_worked[i, k] <= memory:
                continue
            price = client_price(provider[i, k], slot_region[i], slot_coordination[i], spot_price, coordination,
                                 provider_region) * (1.0 + fee[r])
            E = experience[i, k]
            hour = (price + nonprice(ci, friction[v], learning[v], E, error_cost[v], quality_estimate[i, k])
                    + onboarding_weeks[v] * ci * (1.0 - E))
            out[r, k] = hour > shortage_factor * ci
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def numpy_row_sum(x):
    """The sum of a contiguous row, added in the order numpy's ``sum(axis=-1)`` adds it (its pairwise summation:
    one by one below 8 values, eight running sums combined in pairs up to 128, halves above), so that a
    kernel's sums equal numpy's bit for bit. tests/test_kernels.py checks this order against numpy."""
    n = len(x)
    if n < 8:
        total = 0.0
        for i in range(n):
            total += x[i]
        return total
    if n > 128:
        half = n // 2
        half -= half % 8
        return numpy_row_sum(x[:half]) + numpy_row_sum(x[half:])
    r0, r1, r2, r3, r4, r5, r6, r7 = x[0], x[1], x[2], x[3], x[4], x[5], x[6], x[7]
    m = n - n % 8
    for i in range(8, m, 8):
        r0 += x[i]
        r1 += x[i + 1]
        r2 += x[i + 2]
        r3 += x[i + 3]
        r4 += x[i + 4]
        r5 += x[i + 5]
        r6 += x[i + 6]
        r7 += x[i + 7]
    total = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(m, n):
        total += x[i]
    return total


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def logit_exponent(J, beta, allowed):
    """The logit's exponent per row: beta J less the row's largest allowed beta J (0 when none is allowed or it
    is not finite), -inf where not allowed."""
    rows, K = J.shape
    out = np.empty((rows, K))
    for i in range(rows):
        top = -np.inf
        for k in range(K):
            if allowed[i, k]:
                z = beta * J[i, k]
                if z > top or z != z:  # a NaN wins, as in numpy's max
                    top = z
                if top != top:
                    break
        if not np.isfinite(top):
            top = 0.0
        for k in range(K):
            out[i, k] = beta * J[i, k] - top if allowed[i, k] else -np.inf
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def normalise_rows(w):
    """Each row of non-negative weights divided by its sum (numpy's sum); rows summing to 0 stay 0."""
    rows, K = w.shape
    out = np.zeros((rows, K))
    for i in range(rows):
        total = numpy_row_sum(w[i])
        if total > 0:
            for k in range(K):
                out[i, k] = w[i, k] / total
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def inverse_cdf_rows(weights, u):
    """Per row, the index whose cumulative weight (numpy's cumsum) first exceeds ``u`` times the row's total
    (the last index at most); -1 where the total is not positive."""
    rows, n = weights.shape
    out = np.empty(rows, np.int64)
    cdf = np.empty(n)
    for i in range(rows):
        cdf[0] = weights[i, 0]
        for k in range(1, n):
            cdf[k] = cdf[k - 1] + weights[i, k]
        total, count = cdf[n - 1], 0
        for k in range(n):
            if cdf[k] <= u[i] * total:
                count += 1
        out[i] = min(count, n - 1) if total > 0 else -1
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def loyalty(J, valid):
    """y = sum J^2 / (sum J)^2 per row over the valid, positive preferences (``np.maximum(J, 0)``); NaN where
    they sum to zero."""
    rows, K = J.shape
    out = np.empty(rows)
    x, xx = np.empty(K), np.empty(K)
    for i in range(rows):
        for k in range(K):
            v = J[i, k]
            v = (v if v >= 0.0 or v != v else 0.0) if valid[i, k] else 0.0
            x[k], xx[k] = v, v * v
        total = numpy_row_sum(x)
        out[i] = numpy_row_sum(xx) / (total * total) if total > 0 else np.nan
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def relative_cost_exponent(cost, eligible, intensity):
    """A broker's logit exponent over relative cost, per row: ``intensity x -(cost / ref)``, ref the row's
    cheapest eligible cost (1 when it is not finite and positive), less the row's largest such value, as
    :func:`logit_exponent` does it; -inf where not eligible."""
    rows, K = cost.shape
    relative = np.empty((rows, K))
    for i in range(rows):
        ref = np.inf
        for k in range(K):
            if eligible[i, k] and (cost[i, k] < ref or cost[i, k] != cost[i, k]):  # a NaN wins, as in numpy's min
                ref = cost[i, k]
                if ref != ref:
                    break
        if not (np.isfinite(ref) and ref > 0):
            ref = 1.0
        for k in range(K):
            relative[i, k] = -(cost[i, k] / ref)
    return logit_exponent(relative, intensity, eligible)


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def rated_cost(j, region, v, quality, spot_price, coordination, provider_region, inhouse_cost, friction, learning,
               error_cost):
    """A broker's all-in cost per hour of provider ``j`` for service ``v`` and a client in ``region``: the spot
    price with the coordination cost (at the mean client factor, 1), plus friction and the cost of errors at
    the broker's estimated ``quality`` (no client experience). The one rating of the brokers' picks and
    shortlists."""
    return (client_price(j, region, 1.0, spot_price, coordination, provider_region)
            + nonprice(inhouse_cost[v], friction[v], learning[v], 0.0, error_cost[v], quality))


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def broker_ratings(panel, estimates, active, eligible, offers, spot_price, coordination, provider_region, group_region,
                   inhouse_cost, friction, learning, error_cost):
    """Each broker's :func:`rated_cost` of each provider it rates, for every service and client group, and
    whether the provider can be picked: (brokers x services x groups, seats) each. A provider can be picked
    if it sits in the seat, is active, is ``eligible`` and offers the service."""
    B, V, G, P = panel.shape
    cost = np.zeros((B * V * G, P))
    offered = np.zeros((B * V * G, P), np.bool_)
    for b in range(B):
        for v in range(V):
            for g in range(G):
                row = (b * V + v) * G + g
                for p in range(P):
                    j = panel[b, v, g, p]
                    j = j if j > 0 else 0
                    cost[row, p] = rated_cost(j, group_region[g], v, estimates[b, j], spot_price, coordination,
                                              provider_region, inhouse_cost, friction, learning, error_cost)
                    offered[row, p] = panel[b, v, g, p] >= 0 and active[j] and eligible[j] and offers[j, v]
    return cost, offered


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def shortlist_costs(brokers, candidates, region, v, estimates, spot_price, coordination, provider_region, inhouse_cost,
                    friction, learning, error_cost):
    """(brokers, candidates): each broker's :func:`rated_cost` of each candidate provider of service ``v`` for a
    client in ``region``."""
    cost = np.empty((len(brokers), len(candidates)))
    for r in range(len(brokers)):
        for c in range(len(candidates)):
            j = candidates[c]
            cost[r, c] = rated_cost(j, region, v, estimates[brokers[r], j], spot_price, coordination, provider_region,
                                    inhouse_cost, friction, learning, error_cost)
    return cost


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def cross_region_hours(provider, served, slot_region, coordination, provider_region, n_providers):
    """On-call hours each provider served to clients in the other region, times each client's coordination
    factor: ``np.bincount`` of those (slot, column) pairs in row-major order, skipping the pairs with no hours
    (adding 0 changes no sum)."""
    out = np.zeros(n_providers)
    rows, K = provider.shape
    for i in range(rows):
        for k in range(K):
            if served[i, k] != 0.0:
                j = provider[i, k]
                if provider_region[j] != slot_region[i]:
                    out[j] += served[i, k] * coordination[i]
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def max0(x):
    """``np.maximum(x, 0.0)`` for one value, as numpy compares: NaN stays NaN, -0.0 becomes 0.0."""
    return x if (x > 0.0 or x != x) else 0.0


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def clip01(x):
    """``np.clip(x, 0.0, 1.0)`` for one value, as numpy compares: NaN stays NaN and -0.0 stays -0.0."""
    x = x if (x >= 0.0 or x != x) else 0.0
    return x if (x <= 1.0 or x != x) else 1.0


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
    operation (tests/test_kernels.py keeps that numpy as the reference).
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
    hours, hours-weighted quality and on-time share (NaN without hours), offshore hours, broker hours, BPO and
    KPO hours and spend, reserved hours of running contracts, mean loyalty of all and of on-call buyers
    (NaN when none is finite) and the in-house cost of the hours bought."""
    total = numpy_row_sum(hours)
    quality_mean = numpy_row_sum(quality * hours) / total if total > 0 else np.nan
    on_time_mean = numpy_row_sum(on_time * hours) / total if total > 0 else np.nan
    bpo = ~kpo
    return (total, quality_mean, on_time_mean, _picked_sum(hours, cross), numpy_row_sum(broker_hours),
            _picked_sum(hours, bpo), _picked_sum(hours, kpo), _picked_sum(paid, bpo), _picked_sum(paid, kpo),
            _picked_sum(reserved, held), _nanmean(y, np.ones(len(y), np.bool_)), _nanmean(y, bought),
            numpy_row_sum(inhouse_cost * hours))
