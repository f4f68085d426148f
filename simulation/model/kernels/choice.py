"""Kernels of choice: the on-call onboarding screen, the logit and its inverse-CDF draw, loyalty, and the
brokers' ratings, picks and shortlist costs."""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulation.model.kernels.core import client_price, max0, nonprice, numpy_row_sum

CORE_SOURCE = "54b1cd7a1d375fac"  # core.py's hash (see core.py): a new one recompiles these kernels


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
                                 provider_region)
            out[r, k] = _beyond_shortage(price, fee[r], ci, friction[v], learning[v], experience[i, k], error_cost[v],
                                         quality_estimate[i, k], onboarding_weeks[v], shortage_factor)
    return out


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _beyond_shortage(price, fee, c, friction, learning, experience, error, quality, weeks, shortage_factor):
    """Whether an hour from a provider still to be onboarded (its client ``price`` with the broker's ``fee``, the
    non-price cost and the onboarding weeks at the firm's own cost ``c``, cut by experience) costs more than
    an unmet hour."""
    hour = (price * (1.0 + fee) + nonprice(c, friction, learning, experience, error, quality)
            + weeks * c * (1.0 - experience))
    return hour > shortage_factor * c


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def direct_picks(s, screened, full_only, known, tried, provider, available, eps, last_worked, experience,
                 quality_estimate, slot_service, slot_region, slot_coordination, fee, c, spot_price, coordination,
                 provider_region, friction, learning, error_cost, onboarding_weeks, week, memory, shortage_factor,
                 preference, beta, u):
    """The column each direct on-call request of slots ``s`` goes to this round (-1: none), in one pass per row:
    the known columns not tried yet this week (and with capacity left, ``full_only``), less, for the ``screened``
    rows (spill-over), the providers :func:`onboarding_beyond_shortage` rules out (``fee`` and ``c`` per row of
    ``s``); then the firm's logit over them (:func:`logit_exponent`, :func:`softmax_rows`) drawn at ``u`` as
    :func:`inverse_cdf_rows` draws. With one candidate (its weight exactly 1) or none, the answer is known without
    the logit: that candidate, or -1."""
    rows, K = len(s), known.shape[1]
    out = np.empty(rows, np.int64)
    allowed, P, cdf = np.empty(K, np.bool_), np.empty(K), np.empty(K)
    for r in range(rows):
        i = s[r]
        v = slot_service[i]
        count, only = 0, -1
        for k in range(K):
            ok = known[i, k] and not tried[i, k]
            if ok and full_only:
                ok = available[provider[i, k]] > eps
            if ok and screened[r] and week - last_worked[i, k] > memory:
                price = client_price(provider[i, k], slot_region[i], slot_coordination[i], spot_price, coordination,
                                     provider_region)
                ok = not _beyond_shortage(price, fee[r], c[r], friction[v], learning[v], experience[i, k],
                                          error_cost[v], quality_estimate[i, k], onboarding_weeks[v], shortage_factor)
            allowed[k] = ok
            if ok:
                count, only = count + 1, k
        if count == 0:  # nothing to draw from: what the logit and the draw give (-1)
            out[r] = -1
        elif count == 1 and math.isfinite(beta * preference[i, only]):  # probability 1: the draw picks it
            out[r] = only
        else:
            _logit_row(preference[i], beta, allowed, P)
            out[r] = _inverse_cdf_row(P, u[r], cdf)
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def logit_exponent(J, beta, allowed):
    """The logit's exponent per row: beta J less the row's largest allowed beta J (0 when none is allowed or it
    is not finite), -inf where not allowed."""
    rows, K = J.shape
    out = np.empty((rows, K))
    for i in range(rows):
        _logit_exponent_row(J[i], beta, allowed[i], out[i])
    return out


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _logit_exponent_row(J, beta, allowed, out):
    """One row of :func:`logit_exponent`, into ``out``. Inlined, as the two row helpers below: a call per row
    with three row views of arrays cost as much as the row's arithmetic (see the package's docstring)."""
    K = len(J)
    top = -np.inf
    for k in range(K):
        if allowed[k]:
            z = beta * J[k]
            if z > top or z != z:  # a NaN wins, as in numpy's max
                top = z
            if top != top:
                break
    if not np.isfinite(top):
        top = 0.0
    for k in range(K):
        out[k] = beta * J[k] - top if allowed[k] else -np.inf


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def softmax_rows(exponent):
    """``kernels.exp(exponent)``, each row divided by its sum (numpy's sum; rows summing to 0 stay 0), in one pass
    per row."""
    rows, K = exponent.shape
    out = np.empty((rows, K))
    for i in range(rows):
        out[i] = exponent[i]
        _softmax_row(out[i])
    return out


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _softmax_row(w):
    """One row of :func:`softmax_rows`, in place: exponents in, probabilities out. The exponent of a candidate not
    allowed is -inf, whose exp is 0: it is written as such, without calling exp."""
    for k in range(len(w)):
        w[k] = math.exp(w[k]) if w[k] != -np.inf else 0.0
    total = numpy_row_sum(w)
    for k in range(len(w)):
        w[k] = w[k] / total if total > 0 else 0.0


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def inverse_cdf_rows(weights, u):
    """Per row, the index whose cumulative weight (numpy's cumsum) first exceeds ``u`` times the row's total
    (the last index at most); -1 where the total is not positive."""
    rows, n = weights.shape
    out = np.empty(rows, np.int64)
    cdf = np.empty(n)
    for i in range(rows):
        out[i] = _inverse_cdf_row(weights[i], u[i], cdf)
    return out


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _inverse_cdf_row(w, u, cdf):
    """One row of :func:`inverse_cdf_rows` (``cdf``: scratch of the row's length).

    For u < 1 the product u x total is below the total, so the index found has a positive weight; only for a
    total of a few subnormal numbers can it round up to the total itself, and then the index is the last one
    with a positive weight (not a zero-weight column after it)."""
    n = len(w)
    cdf[0] = w[0]
    for k in range(1, n):
        cdf[k] = cdf[k - 1] + w[k]
    total, count = cdf[n - 1], 0
    for k in range(n):
        if cdf[k] <= u * total:
            count += 1
    if not total > 0:
        return -1
    if count < n:
        return count
    last = n - 1
    while last > 0 and not w[last] > 0:
        last -= 1
    return last


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def loyalty(J, valid):
    """y = sum J^2 / (sum J)^2 per row over the valid, positive preferences (``np.maximum(J, 0)``); NaN where
    they sum to zero."""
    rows, K = J.shape
    out = np.empty(rows)
    x, xx = np.empty(K), np.empty(K)
    for i in range(rows):
        total = squares = 0.0  # below 8 columns, numpy_row_sum's short case added here (a call per row costs more)
        for k in range(K):
            v = max0(J[i, k]) if valid[i, k] else 0.0
            x[k], xx[k] = v, v * v
            total += v
            squares += v * v
        if K >= 8:
            total, squares = numpy_row_sum(x), numpy_row_sum(xx)
        out[i] = squares / (total * total) if total > 0 else np.nan
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def relative_cost_exponent(cost, eligible, intensity):
    """A broker's logit exponent over relative cost, per row: ``intensity x -(cost / ref)``, ref the row's
    cheapest eligible cost (1 when it is not finite and positive), less the row's largest such value, as
    :func:`logit_exponent` does it; -inf where not eligible."""
    rows, K = cost.shape
    out, relative = np.empty((rows, K)), np.empty(K)
    for i in range(rows):
        _relative_exponent_row(cost[i], eligible[i], intensity, relative, out[i])
    return out


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _relative_exponent_row(cost, eligible, intensity, relative, out):
    """One row of :func:`relative_cost_exponent`, into ``out`` (``relative``: scratch of the row's length)."""
    K = len(cost)
    ref = np.inf
    for k in range(K):
        if eligible[k] and (cost[k] < ref or cost[k] != cost[k]):  # a NaN wins, as in numpy's min
            ref = cost[k]
            if ref != ref:
                break
    if not (np.isfinite(ref) and ref > 0):
        ref = 1.0
    for k in range(K):
        relative[k] = -(cost[k] / ref)
    _logit_exponent_row(relative, intensity, eligible, out)


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
def broker_ratings(panel, groups, estimates, active, eligible, offers, spot_price, coordination, provider_region,
                   group_region, inhouse_cost, friction, learning, error_cost):
    """Each broker's :func:`rated_cost` of each provider it rates, and whether the provider can be picked, for
    the (broker, service, group) ``groups`` given as flat rows of ``panel`` ((b x V + v) x G + g): (len(groups),
    seats) each. A provider can be picked if it sits in the seat, is active, is ``eligible`` and offers the
    service."""
    B, V, G, P = panel.shape
    cost = np.zeros((len(groups), P))
    offered = np.zeros((len(groups), P), np.bool_)
    quality = np.empty(P)
    for r in range(len(groups)):
        row = groups[r]
        b, v, g = row // (V * G), (row // G) % V, row % G
        _rate_seats(panel[b, v, g], b, v, group_region[g], estimates, active, eligible, offers, spot_price,
                    coordination, provider_region, inhouse_cost, friction, learning, error_cost, cost[r], offered[r],
                    quality)
    return cost, offered


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _rate_seats(seats, b, v, region, estimates, active, eligible, offers, spot_price, coordination, provider_region,
                inhouse_cost, friction, learning, error_cost, cost, offered, quality):
    """One group of :func:`broker_ratings` (its panel row ``seats``), into ``cost`` and ``offered``; ``quality``
    gets the broker's estimate of each seat's provider (seat -1 read as provider 0)."""
    for p in range(len(seats)):
        j = seats[p] if seats[p] > 0 else 0
        quality[p] = estimates[b, j]
        cost[p] = rated_cost(j, region, v, quality[p], spot_price, coordination, provider_region, inhouse_cost,
                             friction, learning, error_cost)
        offered[p] = seats[p] >= 0 and active[j] and eligible[j] and offers[j, v]


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def shortlist_costs(brokers, candidates, region, v, estimates, spot_price, coordination, provider_region, inhouse_cost,
                    friction, learning, error_cost):
    """(brokers, candidates): each broker's :func:`rated_cost` of each candidate provider of service ``v`` for a
    client in ``region`` (the same operations; the price part computed once per candidate)."""
    price = np.empty(len(candidates))  # the part of the rating that is the same for every broker
    for c in range(len(candidates)):
        price[c] = client_price(candidates[c], region, 1.0, spot_price, coordination, provider_region)
    c_v, friction_v, learning_v, error_v = inhouse_cost[v], friction[v], learning[v], error_cost[v]
    cost = np.empty((len(brokers), len(candidates)))
    for r in range(len(brokers)):
        quality = estimates[brokers[r]]
        for c in range(len(candidates)):
            cost[r, c] = price[c] + nonprice(c_v, friction_v, learning_v, 0.0, error_v, quality[candidates[c]])
    return cost


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _logit_row(J, beta, allowed, P):
    """One row of :func:`logit_exponent` then :func:`softmax_rows`, into ``P``."""
    _logit_exponent_row(J, beta, allowed, P)
    _softmax_row(P)


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def brokered_mix(panel, broker, service, group, region, home, estimates, active, eligible, offers, spot_price,
                 coordination, provider_region, group_region, table_region, inhouse_cost, friction, learning,
                 error_cost, intensity):
    """What each client's broker would give it on call (``broker``, ``service``, panel ``group``, client ``region``
    and whether its work must stay there, ``home``, per client), from the broker's picks as ``routing.picks_for``
    makes them: :func:`broker_ratings`, :func:`relative_cost_exponent` and :func:`softmax_rows` of the client's
    group, then zero for providers outside a home-only client's region. Per client: the picks' total, and, over
    the picks divided by it, the mean spot price without and the mean extra with the coordination cost of the
    other region, the mean quality the broker expects, and its most likely provider (the first of equals; seat
    -1 read as provider 0) with that quality. Six arrays, in one pass per client over its group's seats, reading
    each estimate once."""
    rows, P = len(broker), panel.shape[3]
    total, bare, cross, quality = np.empty(rows), np.empty(rows), np.empty(rows), np.empty(rows)
    top, top_quality = np.empty(rows, np.int64), np.empty(rows)
    cost, offered, q, relative = np.empty(P), np.empty(P, np.bool_), np.empty(P), np.empty(P)
    w, p, a, x = np.empty(P), np.empty(P), np.empty(P), np.empty(P)
    for r in range(rows):
        b, v, g = broker[r], service[r], group[r]
        seats = panel[b, v, g]
        _rate_seats(seats, b, v, group_region[g], estimates, active, eligible, offers, spot_price, coordination,
                    provider_region, inhouse_cost, friction, learning, error_cost, cost, offered, q)
        _relative_exponent_row(cost, offered, intensity, relative, w)
        _softmax_row(w)
        if home[r]:
            for k in range(P):
                w[k] = 0.0 if table_region[max(seats[k], 0)] != region[r] else w[k]
        _mix_row(seats, w, region[r], q, spot_price, coordination, provider_region, p, a, x, r, total, bare, cross,
                 quality, top, top_quality)
    return total, bare, cross, quality, top, top_quality


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _mix_row(members, prob, region, q, spot_price, coordination, provider_region, p, a, x, g, total, bare, cross,
             quality, top, top_quality):
    """One client of :func:`brokered_mix` into row ``g`` of its six arrays, from its group's seats ``members`` and
    pick probabilities ``prob`` (``q``: the broker's estimate of each seat's provider, overwritten; ``p``, ``a``,
    ``x``: scratch of the row's length). Written as the numpy of ``sourcing.options`` was."""
    P = len(prob)
    total[g] = numpy_row_sum(prob)
    best = 0
    for k in range(P):
        p[k] = prob[k] / total[g] if total[g] > 0 else 0.0
        j = max(members[k], 0)
        price = client_price(j, region, 0.0, spot_price, coordination, provider_region)
        x[k] = p[k] * (client_price(j, region, 1.0, spot_price, coordination, provider_region) - price)
        a[k] = p[k] * price
        if p[k] > p[best]:
            best = k
    top[g], top_quality[g] = max(members[best], 0), q[best]
    for k in range(P):
        q[k] = p[k] * q[k]
    bare[g], cross[g], quality[g] = numpy_row_sum(a), numpy_row_sum(x), numpy_row_sum(q)


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def route_picks(moving, s, broker, service, group, region, home, panel, prob, of_group, table_region, u, explore,
                slot_provider, knows, busy):
    """The provider each brokered request the broker moves goes to (``routing.route``), per request of ``moving``
    (positions in the round's requests ``s``; -1: none): a pick by its broker's probabilities ``prob`` over the
    client group's seats (row ``of_group`` of ``prob``; ``panel[broker, service, group]`` the seats), less the
    providers outside a home-only client's region, drawn at ``u`` as :func:`inverse_cdf_rows` draws. A request
    the broker does not ``explore`` goes first to the best-rated provider of the client's set that ``knows`` it
    (per request and column) and was not used this week (``busy``); the pick where there is none. ``broker``
    to ``home`` are per request of ``moving``; ``u`` and ``explore`` per request of ``s``."""
    n, P, K = len(moving), prob.shape[1], slot_provider.shape[1]
    out = np.full(n, -1, np.int64)
    w, cdf, matched, score = np.empty(P), np.empty(P), np.empty(P), np.empty(K)
    for e in range(n):
        m, g = moving[e], of_group[e]
        seats = panel[broker[e], service[e], group[e]]
        for k in range(P):
            away = home[e] and table_region[max(seats[k], 0)] != region[e]
            w[k] = 0.0 if away else prob[g, k]
        pick = _inverse_cdf_row(w, u[m], cdf)
        out[e] = seats[pick] if pick >= 0 else -1
        if not explore[m]:
            out[e] = _known_fallback(s[m], e, seats, w, slot_provider, knows, busy, matched, score, out[e])
    return out


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _known_fallback(i, e, seats, w, slot_provider, knows, busy, matched, score, picked):
    """For a client the broker must move (slot ``i``, request ``e``): the provider of its set the broker rates best
    (its pick probability ``w`` over the ``seats``, summed over the seats it holds in numpy's order) among those
    that know the client and were not used this week, the first of equals; ``picked`` where there is none.
    ``matched`` and ``score``: scratch."""
    K = len(score)
    for c in range(K):
        for k in range(len(seats)):
            matched[k] = w[k] if seats[k] == slot_provider[i, c] else 0.0
        score[c] = numpy_row_sum(matched) if knows[e, c] and not busy[i, c] else 0.0
    best = 0
    for c in range(K):  # np.argmax: the first of the largest, a NaN first of all
        if score[c] != score[c]:
            best = c
            break
        if score[c] > score[best]:
            best = c
    return slot_provider[i, best] if score[best] > 0 else picked
