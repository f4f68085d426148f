"""Kernels of the week's bookkeeping: relationship spells, the worked pairs, the hours reserved per provider,
the brokers' shortlists after exits and what brokers learn of providers. They use no helper of core.py."""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def _add_spell_week(open_, provider, start, last, volume, spend, channel, i, c, week, worked_provider, worked_volume,
                    worked_spend, worked_channel):
    """One pair's week of work, in place on one form's (slots, K) arrays: without an open spell it opens one
    (provider, start, channel, zero totals); then it adds the week's volume and spend and moves the last
    week. Returns whether it opened a spell.

    Written without branches: numba cannot drop the reference counting of the seven arrays around a call
    whose body branches, which made each call about six times slower (atomic increments and decrements)."""
    opened = not open_[i, c]
    open_[i, c] = True
    provider[i, c] = worked_provider if opened else provider[i, c]
    start[i, c] = week if opened else start[i, c]
    channel[i, c] = worked_channel if opened else channel[i, c]
    last[i, c] = week
    volume[i, c] = (0.0 if opened else volume[i, c]) + worked_volume
    spend[i, c] = (0.0 if opened else spend[i, c]) + worked_spend
    return opened


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def record_spell_week(open_, provider, start, last, volume, spend, channel, week, s, k, worked_provider,
                      worked_volume, worked_spend, worked_channel):
    """One form's week of work for distinct (slot, column) pairs (:func:`_add_spell_week` each). Returns which
    pairs opened a spell."""
    new = np.zeros(len(s), np.bool_)
    for r in range(len(s)):
        new[r] = _add_spell_week(open_, provider, start, last, volume, spend, channel, s[r], k[r], week,
                                 worked_provider[r], worked_volume[r], worked_spend[r], worked_channel[r])
    return new


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def record_on_call_week(open_, provider, start, last, volume, spend, channel, week, served, paid, slot_provider,
                        slot_channel, eps, gap):
    """:func:`record_spell_week` for the on-call form, over every (slot, column) pair with more than ``eps`` hours
    ``served`` (what it ``paid``; provider and channel from the slots), in one pass that also finds the open
    spells idle for more than ``gap`` weeks. Returns those (slots, columns) in row-major order."""
    rows, K = served.shape
    idle_s, idle_k = np.empty(rows * K, np.int64), np.empty(rows * K, np.int64)
    n = 0
    for i in range(rows):
        for c in range(K):
            if served[i, c] > eps:
                _add_spell_week(open_, provider, start, last, volume, spend, channel, i, c, week, slot_provider[i, c],
                                served[i, c], paid[i, c], slot_channel[i])
            elif open_[i, c] and week - last[i, c] > gap:
                idle_s[n], idle_k[n] = i, c
                n += 1
    return idle_s[:n].copy(), idle_k[:n].copy()


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def worked_pairs(served, spend, contract_k, permanent, permanent_paid, eps):
    """The week's work per (slot, column) pair: on-call hours and spend, plus, in the column of a slot's running
    contract (``contract_k``, -1 without one), the permanent hours delivered and paid. Returns the pairs with
    more than ``eps`` hours in row-major order (as ``np.nonzero`` gives them), their hours and what they paid."""
    rows, K = served.shape
    count = 0
    for i in range(rows):
        for c in range(K):
            hours = served[i, c] + permanent[i] if c == contract_k[i] else served[i, c]
            if hours > eps:
                count += 1
    s, k = np.empty(count, np.int64), np.empty(count, np.int64)
    hours_out, paid_out = np.empty(count), np.empty(count)
    n = 0
    for i in range(rows):
        for c in range(K):
            under_contract = c == contract_k[i]
            hours = served[i, c] + permanent[i] if under_contract else served[i, c]
            if hours > eps:
                s[n], k[n], hours_out[n] = i, c, hours
                paid_out[n] = spend[i, c] + permanent_paid[i] if under_contract else spend[i, c]
                n += 1
    return s, k, hours_out, paid_out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def committed_hours(contract_id, provider, reserved, n_providers):
    """``np.bincount(provider[active], weights=reserved[active], minlength=n_providers)`` where a slot's contract is
    active when its ``contract_id`` is not negative: the hours reserved per provider, added in slot order."""
    size = n_providers
    for i in range(len(contract_id)):
        if contract_id[i] >= 0 and provider[i] >= size:
            size = provider[i] + 1
    out = np.zeros(size)
    for i in range(len(contract_id)):
        if contract_id[i] >= 0:
            out[provider[i]] += reserved[i]
    return out


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def column_for(s, provider, slot_provider, known, preference, busy, contract_k):
    """``FirmSlots.column_for`` as numpy computed it: per row, the column of ``provider`` in slot ``s``'s set if
    the firm knows it there (the first such), else the column to replace: the first of the least preferred
    (unknown columns count as -inf, protected ones as +inf, a NaN preference wins as in ``np.argmin``). A
    column is protected when it is ``busy`` or holds the slot's running contract (``contract_k``, -1 without
    one). Returns the columns, whether each is new to the set, and whether it is protected."""
    n, K = len(s), known.shape[1]
    col, new, protected = np.empty(n, np.int64), np.empty(n, np.bool_), np.empty(n, np.bool_)
    for r in range(n):
        i, found = s[r], -1
        for c in range(K):
            if known[i, c] and slot_provider[i, c] == provider[r]:
                found = c
                break
        new[r] = found < 0
        if found < 0:
            found, low = 0, np.inf
            for c in range(K):
                v = np.inf if busy[i, c] or contract_k[i] == c else (preference[i, c] if known[i, c] else -np.inf)
                if v != v:
                    found = c
                    break
                if c == 0 or v < low:
                    found, low = c, v
        col[r], protected[r] = found, busy[i, found] or contract_k[i] == found
    return col, new, protected


@njit(cache=True)
def fill_vacancies(panel, waiting, active):
    """Brokers' shortlists after exits, in place: each seat of a provider no longer ``active`` goes to the next
    active provider on the group's waiting list (best first; taken or inactive entries become -1), and a
    group whose seats changed is sorted by provider row again. ``panel`` is (brokers, services, groups, seats),
    ``waiting`` (brokers, services, groups, waiting places). Returns (brokers, services, groups): whether a
    seat stayed vacant because the waiting list ran out."""
    B, V, G, S = panel.shape
    W = waiting.shape[3]
    short = np.zeros((B, V, G), np.bool_)
    for b in range(B):
        for v in range(V):
            for g in range(G):
                changed = False
                nxt = 0
                for p in range(S):
                    j = panel[b, v, g, p]
                    if j < 0 or active[j]:
                        continue
                    while nxt < W and (waiting[b, v, g, nxt] < 0 or not active[waiting[b, v, g, nxt]]):
                        waiting[b, v, g, nxt] = -1
                        nxt += 1
                    if nxt == W:
                        short[b, v, g] = True
                        continue
                    panel[b, v, g, p] = waiting[b, v, g, nxt]
                    waiting[b, v, g, nxt] = -1
                    nxt += 1
                    changed = True
                if changed:
                    _insertion_sort(panel[b, v, g])
    return short


@njit(cache=True, inline="always")
def _insertion_sort(row):
    """Sort ``row`` in place; quick on a row sorted but for a few values (a shortlist with its vacancies filled),
    where ``np.sort`` would copy and sort the whole row."""
    for i in range(1, len(row)):
        x = row[i]
        j = i - 1
        while j >= 0 and row[j] > x:
            row[j + 1] = row[j]
            j -= 1
        row[j + 1] = x


@njit(cache=True, error_model="numpy")  # float errors as numpy: inf or NaN, no exception
def learn_estimates(estimates, broker, provider, observed, rate, pair_slot):
    """Brokers' quality estimates after the week, in place: each (broker, provider) pair seen moves toward the mean
    of what it observed, ``e + rate * (mean - e)``. The sums add in the order of the input, from 0.0, as
    ``np.bincount`` adds its weights, and each mean is the sum over the count, as numpy divides them.

    ``pair_slot`` has the shape of ``estimates``, all -1: it indexes the pairs seen so far in one pass instead of a
    sort, and is all -1 again on return."""
    n = len(broker)
    total, count = np.zeros(n), np.zeros(n, np.int64)
    seen_b, seen_j = np.empty(n, np.int64), np.empty(n, np.int64)
    m = 0
    for i in range(n):
        b, j = broker[i], provider[i]
        at = pair_slot[b, j]
        if at < 0:
            at = m
            pair_slot[b, j] = m
            seen_b[m], seen_j[m] = b, j
            m += 1
        total[at] += observed[i]
        count[at] += 1
    for p in range(m):
        b, j = seen_b[p], seen_j[p]
        e = estimates[b, j]
        estimates[b, j] = e + rate * (total[p] / count[p] - e)
        pair_slot[b, j] = -1
