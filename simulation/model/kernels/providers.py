"""Kernels of the providers' week (step 6): what each provider did and earned, the market's capacity and posted
prices before it changes, and each provider's pricing, running estimates and planned hiring. Each value is
computed as the numpy of ``market.providers`` computed it (sums in the order ``np.bincount`` and numpy's
pairwise ``sum`` add them); tests/test_kernels_providers.py checks them against that numpy."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulation.model.kernels.core import max0, numpy_row_sum

CORE_SOURCE = "54b1cd7a1d375fac"  # core.py's hash (see core.py): a new one recompiles these kernels
#: ``codes.Kind.KPO`` (compiled in as a constant; tests/test_kernels_providers.py checks it).
KPO = 1


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def week_load(n, sales_provider, sales_revenue, batch_end, fees_due, market_served, provider, served, slot_region,
              coordination, main_provider, unmet, contract_id, book_provider, permanent, provider_region):
    """Per provider row (``n`` of them): hours delivered (on call and under contracts), on-call hours asked of it
    (served, plus the unmet work of the clients it usually serves), hours delivered across regions times each
    client's coordination factor, and revenue (the week's sales, batch by batch: ``batch_end`` ends each batch of
    ``sales_provider`` and ``sales_revenue``; plus ``fees_due``)."""
    revenue, batch = np.zeros(n), np.empty(n)
    start = 0
    for end in batch_end:
        batch[:] = 0.0
        for e in range(start, end):
            batch[sales_provider[e]] += sales_revenue[e]
        for j in range(n):
            revenue[j] += batch[j]
        start = end
    for j in range(n):
        revenue[j] = revenue[j] + fees_due[j]
    held, held_cross, asked_more = np.zeros(n), np.zeros(n), np.zeros(n)
    cross = np.zeros(n)
    rows, K = provider.shape
    for i in range(rows):
        for k in range(K):  # kernels.cross_region_hours: the pairs with hours, in row-major order
            if served[i, k] != 0.0:
                j = provider[i, k]
                if provider_region[j] != slot_region[i]:
                    cross[j] += served[i, k] * coordination[i]
        if contract_id[i] >= 0:
            j = book_provider[i]
            held[j] += permanent[i]
            if provider_region[j] != slot_region[i]:
                held_cross[j] += permanent[i] * coordination[i]
        if main_provider[i] >= 0:
            asked_more[main_provider[i]] += unmet[i]
    used, asked = np.empty(n), np.empty(n)
    for j in range(n):
        used[j] = market_served[j] + held[j]
        asked[j] = market_served[j] + asked_more[j]
        cross[j] = cross[j] + held_cross[j]
    return used, asked, cross, revenue


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def market_before(active, capacity, kind, region, spot_price, used):
    """The week's capacity and hours used, before hiring and exits: the active providers' capacity, all hours
    used, the largest overuse (used less capacity; 0 without providers), then per kind (BPO, KPO) its active
    capacity, its hours used and, per region (domestic, offshore), its capacity-weighted mean spot price (NaN
    where it has no capacity). Eleven values, each summed as numpy sums the masked arrays."""
    n = len(used)
    out = np.empty(11)
    picked, weighted = np.empty(n), np.empty(n)
    out[0] = _masked_sum(capacity, active, picked)
    out[1] = numpy_row_sum(used)
    top = -np.inf
    for j in range(n):  # np.max(used - capacity, initial=-inf): a NaN wins
        x = used[j] - capacity[j]
        if x > top or x != x:
            top = x
            if top != top:
                break
    out[2] = top if n else 0.0
    for kd in range(2):
        base = 3 + 4 * kd
        mine = active & (kind == kd)
        out[base] = _masked_sum(capacity, mine, picked)
        out[base + 1] = _masked_sum(used, mine, picked)
        for rg in range(2):
            posting = mine & (region == rg)
            m = 0
            for j in range(n):
                if posting[j]:
                    picked[m], weighted[m] = capacity[j], spot_price[j] * capacity[j]
                    m += 1
            weight = numpy_row_sum(picked[:m])
            out[base + 2 + rg] = numpy_row_sum(weighted[:m]) / weight if weight > 0 else np.nan
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _masked_sum(x, mask, buffer):
    """``x[mask].sum()`` as numpy adds it (``buffer``: scratch as long as ``x``)."""
    m = 0
    for j in range(len(x)):
        if mask[j]:
            buffer[m] = x[j]
            m += 1
    return numpy_row_sum(buffer[:m])


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def book_week(active, capacity, kind, markup, demand_ema, profit_ema, revenue_ema, loss_weeks, utilization, fees_due,
              unit_cost, coordination, used, asked, cross, committed, revenue, p):
    """``market.providers.update_providers`` up to the hiring limits, in place on the live rows of the table's
    arrays: utilisation, the spot markup (unless prices are fixed), the running demand, profit and revenue, the
    weeks of running losses; the fees due are booked. Returns the week's profit (zero for providers that had
    left), the planned hires and the planned capacity change (per row; zero hires, no change with fixed prices).

    ``p`` holds, in order: target utilisation of BPO and of KPO, fixed prices, normal markup of BPO and of KPO,
    markup speed and reversion, lowest and highest markup, 1 / profit memory, hiring lag of BPO and of KPO,
    downsizing lag."""
    (target_bpo, target_kpo, fixed, normal_bpo, normal_kpo, speed, reversion, low, high, a, lag_bpo, lag_kpo,
     lag_down) = p
    n = len(used)
    profit, hires, change = np.zeros(n), np.zeros(n), np.zeros(n)
    for j in range(n):
        act, cap, kpo = active[j], capacity[j], kind[j] == KPO
        util = used[j] / cap if cap > 0 else 0.0
        utilization[j] = util if act else 0.0
        target = target_kpo if kpo else target_bpo
        if not fixed:
            normal = normal_kpo if kpo else normal_bpo
            step = speed * (util - target) + reversion * (normal - markup[j])
            x = markup[j] + step * (1.0 if act else 0.0)
            x = x if (x >= low or x != x) else low  # np.clip: a NaN stays NaN
            markup[j] = x if (x <= high or x != x) else high
        demand_ema[j] += a * (committed[j] + asked[j] - demand_ema[j])
        profit[j] = revenue[j] - (cap * unit_cost[j] + cross[j] * coordination[j]) if act else 0.0
        profit_ema[j] += a * (profit[j] - profit_ema[j])
        revenue_ema[j] += a * (revenue[j] - revenue_ema[j])
        loss_weeks[j] = loss_weeks[j] + 1 if act and profit_ema[j] < 0 else 0
        fees_due[j] = 0.0
        if not fixed:
            desired = demand_ema[j] / (target if (target >= 1e-6 or target != target) else 1e-6)
            lag = (lag_kpo if kpo else lag_bpo) if desired > cap else lag_down
            change[j] = (desired - cap) / lag
            hires[j] = max0(change[j]) if act else 0.0
    return profit, hires, change
