"""Kernels of the spot market: rationing a round of on-call requests, and settling it (hours, prices, fees and
the (slot, column) books of the week)."""

from __future__ import annotations

import numpy as np
from numba import njit

from simulation.model.kernels.core import client_price, max0
from simulation.model.kernels.prefetch import PREFETCH_ROWS, prefetch_rows

CORE_SOURCE = "54b1cd7a1d375fac"  # core.py's hash (see core.py): a new one recompiles these kernels
PREFETCH_SOURCE = "3ecd263a84de40be"  # prefetch.py's hash, for the same reason


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def ration(provider, hours, available, served_total):
    """``SpotMarket.ration``: each provider serves every request to it in the same proportion, its spare capacity
    ``available`` over the hours asked of it (all of them when that is enough). Draws ``available`` down and
    adds to ``served_total`` in place (numpy's bincounts, in request order); returns the hours served."""
    n, P = len(provider), len(available)
    asked, used = np.zeros(P), np.zeros(P)
    for r in range(n):
        if provider[r] < 0 or provider[r] >= P:
            raise IndexError("a request to a provider outside the market")
        asked[provider[r]] += hours[r]
    served = np.empty(n)
    for r in range(n):
        p = provider[r]
        ratio = available[p] / asked[p] if asked[p] > 0 else 1.0
        served[r] = hours[r] * (ratio if (ratio <= 1.0 or ratio != ratio) else 1.0)  # np.minimum(ratio, 1.0)
        used[p] += served[r]
    for p in range(P):
        available[p] = max0(available[p] - used[p])
        served_total[p] += used[p]
    return served


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def settle_requests(s, k, j, need, available, served_total, slot_channel, slot_broker, broker_fee, broker_code,
                    slot_region, slot_coordination, spot_price, coordination, provider_region, served, spend, tried):
    """One round of on-call requests, distinct (slot ``s``, column ``k``) pairs to providers ``j``, each for the
    slot's whole ``need``: :func:`ration` them, price the hours at the provider's client price plus the
    broker's fee where the slot's ``slot_channel`` is ``broker_code`` (``broker_fee`` per broker; none without
    brokers), and book them in place in the (slots, K) ``served``, ``spend`` (fees included) and ``tried`` and in
    ``need``. Returns per request the provider's revenue, the client's broker and the broker's fee (the week's fees
    are added up from these sales)."""
    n = len(s)
    hours = np.empty(n)
    for r in range(n):
        if r + PREFETCH_ROWS < n:
            prefetch_rows(need, s[r + PREFETCH_ROWS])
        hours[r] = need[s[r]]
    got = ration(j, hours, available, served_total)
    revenue, broker, fee_paid = np.empty(n), np.empty(n, np.int64), np.empty(n)
    for r in range(n):
        if r + PREFETCH_ROWS < n:  # the rows of the request 8 ahead (see prefetch.py)
            prefetch_rows((slot_channel, slot_broker, slot_region, slot_coordination, served, spend, tried),
                          s[r + PREFETCH_ROWS])
        i, c = s[r], k[r]
        fee = broker_fee[slot_broker[i]] if slot_channel[i] == broker_code and len(broker_fee) > 0 else 0.0
        price = client_price(j[r], slot_region[i], slot_coordination[i], spot_price, coordination, provider_region)
        served[i, c] += got[r]
        spend[i, c] += got[r] * price * (1.0 + fee)
        revenue[r], broker[r], fee_paid[r] = got[r] * price, slot_broker[i], got[r] * price * fee
        tried[i, c] = True
        need[i] -= got[r]
    return revenue, broker, fee_paid


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def deliver_week(demand, contract_id, reserved, price, channel, slot_broker, fee_rate, broker_code, mode, staff,
                 in_house_code):
    """Steps 3 and 4's start per slot, as ``fulfilment.deliver_contracts`` and ``in_house_and_residual`` computed
    them in numpy (tests/test_kernels_market.py keeps that numpy): a running contract (``contract_id`` not
    negative) delivers demand up to its reserved hours and the firm pays the take-or-pay price times the reserved
    hours, with the broker's fee where the contract's ``channel`` is ``broker_code`` (``fee_rate`` per broker;
    none without brokers); in-house staff (``mode`` of ``in_house_code``) take the rest up to their hours; what
    is left goes on call. Returns per slot the hours delivered under contracts, the payment (fees included), its
    fee part, the in-house hours, the on-call need and the reserved hours of running contracts; and per running
    contract (in slot order) its revenue and fee."""
    n = len(demand)
    delivered, paid, fee, inhouse, need, held = (np.empty(n), np.empty(n), np.empty(n), np.empty(n), np.empty(n),
                                                  np.empty(n))
    revenue, fee_paid = np.empty(n), np.empty(n)
    m = 0
    for i in range(n):
        active = contract_id[i] >= 0
        rate = fee_rate[slot_broker[i]] if channel[i] == broker_code and len(fee_rate) > 0 else 0.0
        bill = price[i] * reserved[i]
        d, r = demand[i], reserved[i]
        delivered[i] = (d if (d <= r or d != d) else r) if active else 0.0  # np.minimum: a NaN wins
        paid[i] = bill * (1.0 + rate) * (1.0 if active else 0.0)
        fee[i] = (bill if active else 0.0) * rate
        held[i] = r if active else 0.0
        if active:
            revenue[m], fee_paid[m] = bill, bill * rate
            m += 1
        residual = d - delivered[i]
        own = staff[i] if mode[i] == in_house_code else 0.0
        inhouse[i] = residual if (residual <= own or residual != residual) else own
        need[i] = residual - inhouse[i]
    return delivered, paid, fee, inhouse, need, held, revenue[:m].copy(), fee_paid[:m].copy()
