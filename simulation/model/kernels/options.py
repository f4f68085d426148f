"""The sourcing review's option pricing (``sourcing.options.price_options``) in one compiled pass over the due
firm-services: on-call work from the firm's own providers (the logit mix) and through its broker, in-house staff,
the cheapest direct permanent deal, the deals through the broker, and a mid-term holder's contract as it stands.
Each value is computed as the numpy of ``sourcing.costs``, ``sourcing.options`` and ``market.negotiation``
computes it (same operations, same order); tests/test_kernels_options.py checks the whole pass against that
numpy on seeded markets.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from simulation.model.kernels.choice import _logit_row
from simulation.model.kernels.core import client_price, clip01, max0, nonprice, numpy_row_sum
from simulation.model.kernels.prefetch import PREFETCH_ROWS, prefetch_rows
from simulation.model.kernels.special import ndtr, ndtri

CORE_SOURCE = "54b1cd7a1d375fac"  # core.py's hash (see core.py): a new one recompiles these kernels
CHOICE_SOURCE = "4ce068b627090bd6"  # choice.py's hash, for the same reason (the logit)
PREFETCH_SOURCE = "3ecd263a84de40be"  # prefetch.py's hash, for the same reason
SPECIAL_SOURCE = "12f8d1a531e232bb"  # special.py's hash, for the same reason (the normal CDF)
#: Columns of the option cost matrix as ``codes.SourcingOption`` numbers them, and the codes of ``codes.Channel`` and
#: ``codes.Mode.IN_HOUSE`` (compiled in as constants; tests/test_kernels_options.py checks them).
IN_HOUSE, ON_CALL, ON_CALL_BROKER, PERMANENT, PERMANENT_BROKER = 0, 1, 2, 3, 4
DIRECT, BROKER, MODE_IN_HOUSE = 0, 1, 0


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


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _newsvendor(mu, sigma, p):
    """``sourcing.costs.newsvendor_capacity`` of one value: P(demand > capacity) = ``p`` clipped to (0.001, 0.999)."""
    p = p if (p >= 1e-3 or p != p) else 1e-3  # np.clip: a NaN stays NaN
    p = p if (p <= 1 - 1e-3 or p != p) else 1 - 1e-3
    return max0(mu + sigma * ndtri(1.0 - p))


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _shortfall(mu, sigma, capacity):
    """``sourcing.costs.expected_shortfall`` of one value: E[(demand - capacity)+], demand normal."""
    safe = sigma if sigma > 0 else 1.0
    z = (capacity - mu) / safe
    loss = math.exp(-0.5 * z * z) / math.sqrt(2.0 * np.pi) - z * (1.0 - ndtr(z))
    return safe * loss if sigma > 0 else max0(mu - capacity)


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _mean_experience(E, rate, step, weeks, left):
    """``sourcing.costs.average_experience`` of one value over ``weeks`` (at least 1) weeks; ``step`` is the
    learning rate plus the decay, ``left`` the share of the gap to the level left after ``weeks`` weeks,
    ``(1 - step) ** weeks`` (the same for every provider of a row, so the callers compute it once)."""
    if step <= 0:
        return E + 0.0 * weeks
    level = rate / step
    return level + (E - level) * (1.0 - left) / (step * weeks)


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _terms(mu, sigma, oc, alt, nonprice_hour, setup, weeks, rp, power, fee):
    """``sourcing.costs.permanent_terms`` of one option: (price before the broker's ``fee``, reserved hours,
    weekly cost), NaN price and cost where there is no deal. Without a deal (the reservations cross, nothing is
    worth reserving, or the price is not finite) it returns as soon as that is known: the normal CDF and its
    inverse are most of the cost of pricing a deal."""
    setup_hour = setup / (weeks * max(mu, 1e-9))
    rf = (_fmin(alt, oc) - nonprice_hour - setup_hour) / (1.0 + fee)
    if not rf >= rp:
        return np.nan, 0.0, np.nan
    price = rp + power * (rf - rp)
    paid = price * (1.0 + fee)
    saving = oc - nonprice_hour
    if not (paid < saving and math.isfinite(price)):
        return np.nan, 0.0, np.nan
    reserved = _newsvendor(mu, sigma, paid / saving if saving > 0 else 1.0)
    if not reserved > 0:
        return np.nan, 0.0, np.nan
    short = _shortfall(mu, sigma, reserved)
    return price, reserved, paid * reserved + short * oc + (mu - short) * nonprice_hour + setup / weeks


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _cost_and_spot(i, j, target_utilization, slot_region, slot_coordination, unit_cost, spot_price, coordination,
                   provider_region):
    """Provider ``j``'s cost of a reserved hour (``Prices.cost_for_client`` over the service's target utilisation:
    the same formula) and its spot price, for the client of slot ``i``. Without a branch, so the arrays it reads
    cost no reference counting in the callers' loops."""
    cost = client_price(j, slot_region[i], slot_coordination[i], unit_cost, coordination,
                        provider_region) / target_utilization
    return cost, client_price(j, slot_region[i], slot_coordination[i], spot_price, coordination, provider_region)


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _deal(cost, spot, utilization, price_factor, E, quality, renewal, fee, row):
    """``sourcing.options.price_permanent`` of one option: a due firm-service (``row``: its own cost per hour ``ci``,
    the contract ``term``, fill rate, friction, learning, error cost, onboarding, demand ``mu`` and ``sigma``,
    onboarding weeks, best alternative per hour ``alt_hour``, bargaining ``power``, and the config's terms) with a
    provider (its ``cost`` and ``spot`` price for this client, ``utilization``, ``price_factor``), whose experience
    of the client is ``E`` and estimated quality ``quality``, through a broker charging ``fee`` (0: direct);
    ``renewal``: the incumbent, without set-up. Returns (price, reserved hours, weekly cost).

    It takes values, not arrays: the callers read the arrays in their own loops. Numba counts references to
    the arrays a compiled helper takes, with atomic operations it cannot drop around the helper's branches;
    passing some twenty arrays per option made the pricing twice as slow."""
    (ci, term, fill, friction, learning, error, onboard, mu, sigma, onboarding_weeks, alt_hour, power, margin,
     load_value, rate, step, left, rotation, shortage_factor, tender_cost) = row
    weeks = max(term, 1.0)
    rp = _minimum(cost * (margin - load_value * clip01(1.0 - utilization)) * price_factor, spot)
    hour = nonprice(ci, friction, learning, _mean_experience(E, rate, step, weeks, left), error, quality)
    handover = rotation * onboarding_weeks * ci * (1.0 - E)
    oc = fill * (spot * (1.0 + fee) + hour + handover) + (1.0 - fill) * (shortage_factor * ci)
    setup = 0.0 if renewal else onboard * (1 - E) + tender_cost
    return _terms(mu, sigma, oc, alt_hour, hour, setup, weeks, rp, power, fee)



@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _on_call_row(i, ci, friction, learning, error, weeks, slot, active, spot_price, coordination, provider_region,
                 terms_of_week, scratch):
    """The on-call mix of slot ``i`` (its own cost per hour ``ci``, the service's ``friction``,
    ``learning``, ``error`` and onboarding ``weeks``): the all-in hour mixed by the firm's logit over its active
    known providers (NaN without one), the onboarding per hour of demand of the providers it would first have
    to onboard, and the all-in hour of overflow (providers worth it only; the shortage penalty without one).
    The experience is the mean expected over the review ``period`` (``rate`` and ``step``: the pool's learning,
    and learning plus decay). ``slot``: the slot arrays :func:`option_costs` takes; ``scratch``: six rows of the
    set's length."""
    provider, known, experience, quality_estimate, preference, last_worked, _, slot_region, slot_coordination = slot[:9]
    rate, step, period, left, rotation, week, horizon, beta, shortage_factor = terms_of_week
    valid, worth, allin, onboard, P, terms = scratch
    K = len(valid)
    penalty = shortage_factor * ci
    for k in range(K):
        E = experience[i, k]
        e = _mean_experience(E, rate, step, period, left)
        valid[k] = known[i, k] and active[provider[i, k]]
        price = client_price(provider[i, k], slot_region[i], slot_coordination[i], spot_price, coordination,
                             provider_region)
        allin[k] = (price + nonprice(ci, friction, learning, e, error, quality_estimate[i, k])
                    + rotation * weeks * ci * (1.0 - e))
        need = known[i, k] and week - last_worked[i, k] > horizon
        onboard[k] = weeks * ci * (1.0 - E) if need else 0.0
        worth[k] = valid[k] and allin[k] + onboard[k] <= penalty
    _logit_row(preference[i], beta, valid, P)
    some = numpy_row_sum(P) > 0
    for k in range(K):
        terms[k] = P[k] * (allin[k] if valid[k] else 0.0)
    hour = numpy_row_sum(terms) if some else np.nan
    for k in range(K):
        terms[k] = P[k] * (onboard[k] if valid[k] else 0.0)
    startup = numpy_row_sum(terms)
    _logit_row(preference[i], beta, worth, P)
    for k in range(K):
        terms[k] = P[k] * (allin[k] + onboard[k] if worth[k] else 0.0)
    return hour, startup, numpy_row_sum(terms) if numpy_row_sum(P) > 0 else penalty


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _keeps_main_provider(i, provider, main_provider, known, last_worked, week, memory):
    """Whether slot ``i``'s main provider (if it has one) sits in a column of its set that
    ``FirmSlots.needs_onboarding`` does not flag (not known, or worked for it within ``memory`` weeks)."""
    last = main_provider[i]
    if last < 0:
        return False
    for k in range(provider.shape[1]):
        if provider[i, k] == last and not (known[i, k] and week - last_worked[i, k] > memory):
            return True
    return False


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _in_house(mu, sigma, c, spill_hour):
    """``sourcing.costs.in_house_cost`` of one row: staff H with P(d > H) = c / the overflow's hour (at most 1/2)
    and the weekly cost, the overflow at ``spill_hour``."""
    ratio = c / spill_hour if spill_hour > 0 else 0.5
    staff = _newsvendor(mu, sigma, _minimum(ratio, 0.5))
    return staff, c * staff + _shortfall(mu, sigma, staff) * spill_hour


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _best_direct_deal(r, i, renew_k, required, deal, provider, known, active, table_region, experience,
                      quality_estimate, utilization, price_factor, slot_region, slot_coordination, unit_cost,
                      spot_price, coordination, provider_region, tu, mgmt):
    """The cheapest direct permanent deal of due row ``r`` (slot ``i``) over its known active providers (of region
    ``required``, if not -1), the incumbent in column ``renew_k`` priced as a renewal: (column or -1, weekly cost
    with management, price, reserved hours). ``deal``: the row's terms for :func:`_deal` after the provider's."""
    best, weekly, price, reserved = -1, np.nan, np.nan, 0.0
    for k in range(provider.shape[1]):
        j = provider[i, k]
        if not (known[i, k] and active[j] and (required < 0 or table_region[j] == required)):
            continue
        cost, spot = _cost_and_spot(i, j, tu, slot_region, slot_coordination, unit_cost, spot_price, coordination,
                                    provider_region)
        p, h, w = _deal(cost, spot, utilization[j], price_factor[j], experience[i, k], quality_estimate[i, k],
                        k == renew_k, 0.0, deal)
        w = w + mgmt
        if math.isfinite(w) and (best < 0 or w < weekly):
            best, weekly, price, reserved = k, w, p, h
    return best, weekly, price, reserved


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _kept_contract(ci, friction, learning, error, weeks, mu, sigma, fill, E, quality, spot, price, reserved, fee,
                   weeks_left, rate, rotation, shortage_factor, management):
    """A mid-term holder's weekly cost of keeping its contract as it stands (``sourcing.options``' keep-or-leave):
    the reserved hours at the contract's ``price`` with the broker's ``fee``, the expected overflow at the
    provider's ``spot`` price (or the shortage penalty, by the ``fill`` rate) and the non-price cost at the
    experience expected over the ``weeks_left``; ``management`` for a direct contract."""
    horizon = max(weeks_left, 1.0)
    hour = nonprice(ci, friction, learning,
                    _mean_experience(E, rate, rate + 0.0, horizon, (1.0 - (rate + 0.0)) ** horizon), error, quality)
    short = _shortfall(mu, sigma, reserved)
    handover = rotation * weeks * ci * (1.0 - E)
    overflow = fill * (spot * (1.0 + fee) + hour + handover) + (1.0 - fill) * (shortage_factor * ci)
    return price * (1 + fee) * reserved + short * overflow + (mu - short) * hour + management


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def option_costs(due, slot, book, table, service, broker, params):
    """``sourcing.options.price_options`` for the due rows, in one pass per row. Takes tuples of arrays (see the
    caller for their order): ``due`` per due row, ``slot`` per slot, ``book`` per slot (the contract book),
    ``table`` per provider row (with this week's prices), ``service`` per service, ``broker`` per broker and per
    client group of the due rows (each row's group, -1 without brokers; the group's pick mix), ``params`` the
    week and the scalars of the config. Returns the (rows, 5) option costs, the in-house staff, the column of
    the permanent option's provider, the broker's provider of a brokered contract and its best-rated one, and
    the price and reserved hours of the direct and of the brokered permanent deal."""
    s, v, c, mu, sigma, term, onboard, friction, learning, error, expiring, mid_term, required, power = due
    (provider, known, experience, quality_estimate, preference, last_worked, main_provider, slot_region,
     slot_coordination, fill_rate, slot_mode, slot_broker) = slot
    channel, book_k, book_provider, book_price, book_reserved, book_end, exit_fee = book
    active, table_region, utilization, price_factor, unit_cost, spot_price, coordination, provider_region = table
    onboarding_weeks, switch_weeks, target_utilization = service
    fee_rate, churn, of_group, g_total, g_bare, g_cross, g_quality, g_top, g_top_quality = broker
    (week, interval, memory, beta, shortage_factor, mgmt, rotation, pool_rate, pool_step, rate, margin, load_value,
     tender_cost, allow_in_house, allow_permanent) = params
    rows, K = len(s), provider.shape[1]
    costs = np.full((rows, 5), np.nan)
    staff, price, reserved, price_b, reserved_b = (np.zeros(rows), np.full(rows, np.nan), np.zeros(rows),
                                                   np.full(rows, np.nan), np.zeros(rows))
    best_k, broker_provider, top = np.full(rows, -1, np.int64), np.full(rows, -1, np.int64), np.full(rows, -1, np.int64)
    scratch = (np.empty(K, np.bool_), np.empty(K, np.bool_), np.empty(K), np.empty(K), np.empty(K), np.empty(K))
    period = max(float(interval), 1.0)
    pool = (pool_rate, pool_step, period, (1.0 - pool_step) ** period, rotation, week, max(memory - interval, 0), beta,
            shortage_factor)
    for r in range(rows):
        if r + PREFETCH_ROWS < rows:  # the slot and contract rows of the due row 8 ahead (see prefetch.py)
            prefetch_rows(slot, s[r + PREFETCH_ROWS])
            prefetch_rows(book, s[r + PREFETCH_ROWS])
        i, ci, m, ow = s[r], c[r], mu[r], onboarding_weeks[v[r]]
        hour, startup, spill = _on_call_row(i, ci, friction[r], learning[r], error[r], ow, slot, active, spot_price,
                                            coordination, provider_region, pool, scratch)
        penalty = shortage_factor * ci
        shortage = (1 - fill_rate[i]) * penalty
        costs[r, ON_CALL] = m * (hour + shortage) + m * startup / interval + mgmt

        # Through the broker: its pick mix for the row's group, and onboarding unless it keeps the main provider.
        ob_hour, top_quality, b, fee = np.nan, 0.0, slot_broker[i], 0.0
        keeps = _keeps_main_provider(i, provider, main_provider, known, last_worked, week, memory)
        ob_startup = 0.0 if keeps else ow * ci
        if of_group[r] >= 0:
            g, fee = of_group[r], fee_rate[b]
            if g_total[g] > 0:
                top[r], top_quality = g_top[g], g_top_quality[g]
                moves = churn[b] * ow * ci + rotation * ow * ci * (1.0 - 0.0)
                spot = g_bare[g] + g_cross[g] * slot_coordination[i]
                ob_hour = spot * (1 + fee) + moves + nonprice(ci, friction[r], learning[r], 0.0, error[r], g_quality[g])
        costs[r, ON_CALL_BROKER] = m * (ob_hour + shortage + ob_startup / interval)

        spill_hour = _fmin(spill + shortage, penalty)  # overflow never costs more than leaving it unmet
        if allow_in_house:
            staff[r], cost = _in_house(m, sigma[r], ci, spill_hour)
            costs[r, IN_HOUSE] = cost + (0.0 if slot_mode[i] == MODE_IN_HOUSE else switch_weeks[v[r]] * m * ci / term[r])
        alt_hour = _fmin(_fmin(costs[r, 0], costs[r, 1]), costs[r, 2]) / m

        if allow_permanent:
            deal = (ci, term[r], fill_rate[i], friction[r], learning[r], error[r], onboard[r], m, sigma[r], ow,
                    alt_hour, power[r], margin, load_value, rate, rate + 0.0, (1.0 - (rate + 0.0)) ** max(term[r], 1.0),
                    rotation, shortage_factor, tender_cost)
            renew_k = book_k[i] if expiring[r] and channel[i] == DIRECT else -1
            renewing = expiring[r] and channel[i] == BROKER
            best_k[r], weekly, price[r], reserved[r] = _best_direct_deal(
                r, i, renew_k, required[r], deal, provider, known, active, table_region, experience, quality_estimate,
                utilization, price_factor, slot_region, slot_coordination, unit_cost, spot_price, coordination,
                provider_region, target_utilization[v[r]], mgmt)
            if best_k[r] >= 0:
                costs[r, PERMANENT] = weekly
            if of_group[r] >= 0:
                _brokered_deals(r, i, top[r], top_quality, fee, required[r], renewing, deal,
                                book_k, book_provider, experience, quality_estimate, table_region, utilization,
                                price_factor, slot_region, slot_coordination, unit_cost, spot_price, coordination,
                                provider_region, target_utilization[v[r]], costs, broker_provider, price_b, reserved_b)
        if mid_term[r]:
            exit_fee_rate = fee if channel[i] == BROKER else 0.0
            _keep_or_leave(r, i, exit_fee_rate, (ci, friction[r], learning[r], error[r], ow, m, sigma[r]), slot, book,
                           spot_price, coordination, provider_region, (week, mgmt, rate, rotation, shortage_factor),
                           costs, best_k)
    return costs, staff, best_k, broker_provider, top, price, reserved, price_b, reserved_b


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _brokered_deals(r, i, top, top_quality, fee, required, renewing, deal, book_k, book_provider, experience,
                    quality_estimate, table_region, utilization, price_factor, slot_region, slot_coordination,
                    unit_cost, spot_price, coordination, provider_region, tu, costs, broker_provider, price, reserved):
    """A permanent contract of due row ``r`` (slot ``i``) through its broker, into row ``r`` of the outputs: with the
    broker's best-rated provider ``top`` (no history with the firm), or, at a brokered contract's term end
    (``renewing``), with the incumbent, experience and all, where that is cheaper. ``required``: the region
    the provider must be in (-1: any)."""
    if top >= 0 and (required < 0 or table_region[top] == required):
        cost, spot = _cost_and_spot(i, top, tu, slot_region, slot_coordination, unit_cost, spot_price, coordination,
                                    provider_region)
        p, h, w = _deal(cost, spot, utilization[top], price_factor[top], 0.0, top_quality, False, fee, deal)
        costs[r, PERMANENT_BROKER], broker_provider[r], price[r], reserved[r] = w, top, p, h
    j = book_provider[i]
    if renewing and (required < 0 or table_region[j] == required):
        k = book_k[i]
        cost, spot = _cost_and_spot(i, j, tu, slot_region, slot_coordination, unit_cost, spot_price, coordination,
                                    provider_region)
        p, h, w = _deal(cost, spot, utilization[j], price_factor[j], experience[i, k], quality_estimate[i, k], True,
                        fee, deal)
        if math.isfinite(w) and not (w >= costs[r, PERMANENT_BROKER]):
            costs[r, PERMANENT_BROKER], broker_provider[r], price[r], reserved[r] = w, j, p, h


@njit(cache=True, error_model="numpy", inline="always")  # float errors as numpy: inf or NaN, no exception
def _keep_or_leave(r, i, fee, row, slot, book, spot_price, coordination, provider_region, terms_of_week, costs, best_k):
    """A mid-term holder (due row ``r``, slot ``i``; ``row``: its own cost per hour, the service's friction, learning,
    error cost and onboarding weeks, its demand's mean and sd): its permanent option is its contract as it stands;
    every other option pays the exit fee, spread over the weeks the contract had left."""
    ci, friction, learning, error, ow, mu, sigma = row
    _, _, experience, quality_estimate, _, _, _, slot_region, slot_coordination, fill_rate = slot[:10]
    channel, book_k, book_provider, book_price, book_reserved, book_end, exit_fee = book
    week, mgmt, rate, rotation, shortage_factor = terms_of_week
    k, direct = book_k[i], channel[i] == DIRECT
    spot = client_price(book_provider[i], slot_region[i], slot_coordination[i], spot_price, coordination,
                        provider_region)
    management = mgmt if direct else 0.0
    keep = _kept_contract(ci, friction, learning, error, ow, mu, sigma, fill_rate[i], experience[i, k],
                          quality_estimate[i, k], spot, book_price[i], book_reserved[i], fee,
                          float(book_end[i] - week), rate, rotation, shortage_factor, management)
    spread = exit_fee[i] / float(max(book_end[i] - week, 1))
    for o in range(5):
        costs[r, o] += spread
    costs[r, PERMANENT] = keep if direct else np.nan
    costs[r, PERMANENT_BROKER] = np.nan if direct else keep
    best_k[r] = k
