"""The market and bookkeeping kernels (simulation/model/kernels/market.py and bookkeeping.py) against the numpy
they replaced, bit for bit: a settled round of on-call requests, the reserved hours per provider, the week's
worked pairs and the spell bookkeeping. Each reference below is that numpy, written as it was.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.model import kernels
from simulation.model.kernels import options as option_kernels
from simulation.model.codes import Channel, Form, Mode
from simulation.model.market.fulfilment import EPS
from simulation.model.market.pricing import Prices
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.slots import NEVER
from simulation.model.state.spells import SpellTracker

from test_kernels import market, small_market


def record_reference(tracker, week, form, s, k, provider, volume, spend, channel):
    """SpellTracker.record as numpy wrote it before the kernel."""
    f = int(form)
    new = ~tracker.open[f, s, k]
    ns, nk = s[new], k[new]
    tracker.open[f, ns, nk] = True
    tracker.provider[f, ns, nk] = provider[new]
    tracker.start[f, ns, nk] = week
    tracker.volume[f, ns, nk] = 0.0
    tracker.spend[f, ns, nk] = 0.0
    tracker.channel[f, ns, nk] = channel[new]
    tracker.last[f, s, k] = week
    np.add.at(tracker.volume[f], (s, k), volume)
    np.add.at(tracker.spend[f], (s, k), spend)
    return new



def worked_pairs_reference(fills, book):
    """The week's worked pairs as numpy found them before the kernel (in _work_done)."""
    work, paid = fills.served.copy(), fills.spend.copy()
    under_contract = np.flatnonzero(book.active)
    work[under_contract, book.k[under_contract]] += fills.permanent[under_contract]
    paid[under_contract, book.k[under_contract]] += fills.permanent_paid[under_contract]
    s, k = np.nonzero(work > EPS)
    return s, k, work[s, k], paid[s, k]



def test_the_worked_pairs_of_a_running_market_equal_the_numpy_ones():
    m = market()
    fast = kernels.worked_pairs(m.fills.served, m.fills.spend, m.contracts.k, m.fills.permanent,
                                            m.fills.permanent_paid, EPS)
    slow = worked_pairs_reference(m.fills, m.contracts)
    for a, b in zip(fast, slow, strict=True):
        np.testing.assert_array_equal(a, b)
    assert m.contracts.active.any() and len(slow[0]) > m.contracts.active.sum()  # on-call and permanent work



@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_worked_pairs_on_random_weeks_equal_the_numpy_ones(seed):
    """Random on-call hours (many zero or tiny), contracts in random columns, permanent hours with zeros."""
    rng = np.random.default_rng(seed)
    rows, K = int(rng.integers(1, 60)), int(rng.integers(1, 7))
    served = np.where(rng.random((rows, K)) < 0.5, 0.0, rng.choice([1e-12, 1.0, 40.0], (rows, K)) * rng.random((rows, K)))
    k = np.where(rng.random(rows) < 0.4, rng.integers(0, K, rows), -1)
    book = SimpleNamespace(k=k, active=k >= 0)
    permanent = np.where(k >= 0, rng.choice([0.0, 1e-12, 25.0], rows), 0.0)
    fills = SimpleNamespace(served=served, spend=served * rng.uniform(10, 90, (rows, K)), permanent=permanent,
                            permanent_paid=permanent * rng.uniform(10, 90, rows) + (k >= 0) * rng.uniform(0, 100, rows))
    fast = kernels.worked_pairs(fills.served, fills.spend, book.k, fills.permanent,
                                            fills.permanent_paid, EPS)
    for a, b in zip(fast, worked_pairs_reference(fills, book), strict=True):
        np.testing.assert_array_equal(a, b)



def close_idle_reference(tracker, week):
    """SpellTracker.close_idle as numpy wrote it before the on-call kernel."""
    idle = tracker.open[Form.ON_CALL] & (week - tracker.last[Form.ON_CALL] > tracker.gap)
    if idle.any():
        s, k = np.nonzero(idle)
        tracker._close(Form.ON_CALL, s, k, censored=False)



@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), weeks=st.integers(1, 8))
def test_a_spell_week_equals_the_numpy_bookkeeping(seed, weeks):
    """Weeks of work on random distinct pairs, some opening spells, some adding to open ones and some idle
    long enough to end: permanent work pair by pair, on-call work from the week's (slots, K) hours."""
    rng = np.random.default_rng(seed)
    rows, K = int(rng.integers(1, 40)), int(rng.integers(1, 6))
    fast, slow = SpellTracker(rows, K, gap_weeks=2), SpellTracker(rows, K, gap_weeks=2)
    for week in range(1, weeks + 1):
        flat = np.sort(rng.choice(rows * K, size=rng.integers(0, rows * K + 1), replace=False))
        s, k = np.divmod(flat, K)
        work = (s, k, rng.integers(0, 50, len(s)), rng.exponential(10.0, len(s)), rng.exponential(500.0, len(s)),
                rng.integers(0, 2, len(s)).astype(np.int8))
        np.testing.assert_array_equal(fast.record(week, Form.PERMANENT, *work),
                                      record_reference(slow, week, Form.PERMANENT, *work))
        served = np.where(rng.random((rows, K)) < 0.5, 0.0, rng.choice([1e-12, EPS, 1.0, 30.0], (rows, K)))
        spend, provider = served * rng.uniform(10, 90, (rows, K)), rng.integers(0, 50, (rows, K))
        channel = rng.integers(0, 2, rows).astype(np.int8)
        fast.record_on_call(week, served, spend, provider, channel, EPS)
        s, k = np.nonzero(served > EPS)
        record_reference(slow, week, Form.ON_CALL, s, k, provider[s, k], served[s, k], spend[s, k], channel[s])
        close_idle_reference(slow, week)
    for name in ("open", "provider", "start", "last", "volume", "spend", "channel"):
        np.testing.assert_array_equal(getattr(fast, name), getattr(slow, name), err_msg=name)
    done_fast, done_slow = fast.take(), slow.take()
    assert (done_fast is None) == (done_slow is None)
    if done_fast is not None:
        for key in done_fast:
            np.testing.assert_array_equal(done_fast[key], done_slow[key], err_msg=key)



@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_committed_hours_equal_the_numpy_sum(seed):
    """Random books (none active, all active, providers past the count asked for) and a running market's book."""
    rng = np.random.default_rng(seed)
    rows, n = int(rng.integers(0, 300)), int(rng.integers(0, 20))
    contract_id = np.where(rng.random(rows) < rng.random(), rng.integers(0, 10**6, rows), -1)
    provider, reserved = rng.integers(0, n + 3, rows), rng.exponential(40.0, rows)
    for book, count in ((SimpleNamespace(contract_id=contract_id, provider=provider, reserved=reserved), n),
                        (small_market().contracts, small_market().providers.n)):
        act = book.contract_id >= 0
        expected = np.bincount(book.provider[act], weights=book.reserved[act], minlength=count)
        got = kernels.committed_hours(book.contract_id, book.provider, book.reserved, count)
        np.testing.assert_array_equal(got, expected)



def settle_reference(s, k, j, channel, need, available, served_total, slots, prices, fee_rate, served, spend, tried):
    """A round of on-call requests as fulfilment.py and SpotMarket.ration wrote it in numpy before the kernels;
    returns the new spare capacity and the sales (provider, revenue, broker, fee)."""
    asked = np.bincount(j, weights=need[s], minlength=len(available)).astype(float)
    ratio = np.minimum(np.divide(available, asked, out=np.ones_like(asked), where=asked > 0), 1.0)
    got = need[s] * ratio[j]
    used = np.bincount(j, weights=got, minlength=len(available)).astype(float)
    served_total += used
    price = prices.for_client(j, slots.region[s], slots.coordination[s])
    fee = np.where(channel[s] == Channel.BROKER, fee_rate[slots.broker[s]] if len(fee_rate) else 0.0, 0.0)
    served[s, k] += got
    spend[s, k] += got * price * (1.0 + fee)
    tried[s, k] = True
    need[s] -= got
    return np.maximum(available - used, 0.0), (j, got * price, slots.broker[s], got * price * fee)



@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), brokers=st.integers(0, 3))
def test_a_settled_round_equals_the_numpy_market(seed, brokers):
    """Random requests (several to one provider, so that some are rationed; providers with no spare capacity;
    zero needs), both channels, with and without brokers."""
    rng = np.random.default_rng(seed)
    rows, K, n = int(rng.integers(1, 80)), int(rng.integers(1, 6)), int(rng.integers(1, 10))
    slots = SimpleNamespace(region=rng.integers(0, 2, rows).astype(np.int8), coordination=rng.uniform(0.5, 3.0, rows),
                            broker=rng.integers(0, max(brokers, 1), rows))
    prices = Prices(unit_cost=np.ones(n), coordination=rng.uniform(0.0, 20.0, n), spot_price=rng.uniform(5.0, 90.0, n),
                    provider_region=rng.integers(0, 2, n).astype(np.int8), wage_index=np.ones(2),
                    market_utilization=np.ones(1))
    s = np.sort(rng.choice(rows, size=rng.integers(0, rows + 1), replace=False))
    k, j = rng.integers(0, K, len(s)), rng.integers(0, n, len(s))
    channel = rng.integers(0, 2, rows).astype(np.int8)
    fee_rate = rng.uniform(0.0, 0.3, brokers)
    need = np.where(rng.random(rows) < 0.1, 0.0, rng.exponential(30.0, rows))
    available = np.where(rng.random(n) < 0.2, 0.0, rng.exponential(60.0, n))
    state = [need, available, rng.random(n), *(rng.random((rows, K)) for _ in range(2)), rng.random((rows, K)) < 0.5]
    fast, slow = [x.copy() for x in state], [x.copy() for x in state]
    sales = kernels.settle_requests(s, k, j, fast[0], fast[1], fast[2], channel, slots.broker, fee_rate,
                                    int(Channel.BROKER), slots.region, slots.coordination, prices.spot_price,
                                    prices.coordination, prices.provider_region, *fast[3:])
    slow[1], expected = settle_reference(s, k, j, channel, slow[0], slow[1], slow[2], slots, prices, fee_rate,
                                         *slow[3:])
    for a, b in zip((j, *sales), expected, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b, name in zip(fast, slow, ("need", "available", "served_total", "served", "spend", "tried")):
        np.testing.assert_array_equal(a, b, err_msg=name)


def column_for_reference(slots, s, provider, protected):
    """FirmSlots.column_for as numpy wrote it before the kernel (``protected``: busy or under contract)."""
    match = (slots.provider[s] == provider[:, None]) & slots.known[s]
    has = match.any(axis=1)
    score = np.where(slots.known[s], slots.preference[s], -np.inf)
    score = np.where(protected[s], np.inf, score)
    return np.where(has, match.argmax(axis=1), score.argmin(axis=1)).astype(np.int64), ~has


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_column_for_a_provider_is_the_numpy_one(seed):
    """Known and unknown providers (some twice in a set), ties, NaN preferences, busy and contract columns, sets
    where every column is protected."""
    rng = np.random.default_rng(seed)
    rows, K, n = int(rng.integers(1, 60)), int(rng.integers(1, 7)), int(rng.integers(1, 8))
    slots = SimpleNamespace(provider=rng.integers(0, n, (rows, K)), known=rng.random((rows, K)) < 0.7,
                            preference=rng.choice([0.0, 0.5, 1.0, -0.2, np.nan], (rows, K), p=[.3, .2, .2, .2, .1]))
    busy = rng.random((rows, K)) < rng.choice([0.0, 0.3, 1.0])
    contract_k = np.where(rng.random(rows) < 0.4, rng.integers(0, K, rows), -1)
    s = rng.integers(0, rows, int(rng.integers(0, 3 * rows)))
    provider = rng.integers(0, n, len(s))
    protected = busy.copy()
    act = np.flatnonzero(contract_k >= 0)
    protected[act, contract_k[act]] = True
    col, new, shielded = kernels.column_for(s, provider, slots.provider, slots.known, slots.preference, busy,
                                             contract_k)
    expected_col, expected_new = column_for_reference(slots, s, provider, protected)
    np.testing.assert_array_equal(col, expected_col)
    np.testing.assert_array_equal(new, expected_new)
    np.testing.assert_array_equal(shielded, protected[s, expected_col])


def learn_reference(est, broker, provider, observed, rate, n_providers):
    """BrokerBook.learn as numpy wrote it before the kernel."""
    seen, pair = np.unique(broker * n_providers + provider, return_inverse=True)
    mean = np.bincount(pair, weights=observed) / np.bincount(pair)
    b, j = np.divmod(seen, n_providers)
    est[b, j] += rate * (mean - est[b, j])


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), brokers=st.integers(1, 6), providers=st.integers(1, 40),
       n=st.integers(0, 300))
def test_brokers_learn_as_the_numpy_rule(seed, brokers, providers, n):
    """Pairs seen once and many times, in any order; observations of both signs and zeros (also -0.0). The
    kernel's index of the pairs is all -1 again afterwards, so the next week starts clean."""
    rng = np.random.default_rng(seed)
    est = rng.uniform(0.3, 1.0, (brokers, providers))
    broker, provider = rng.integers(0, brokers, n), rng.integers(0, providers, n)
    observed = rng.choice([rng.uniform(-0.2, 1.0), 0.0, -0.0, rng.uniform(0.0, 1.0)], n)
    want = est.copy()
    if n:
        learn_reference(want, broker, provider, observed, 0.15, providers)
    pair_slot = np.full(est.shape, -1, np.int32)
    kernels.learn_estimates(est, broker, provider, observed, 0.15, pair_slot)
    np.testing.assert_array_equal(est, want)
    assert (pair_slot == -1).all()


def test_a_broker_book_learns_after_it_grows():
    """The estimates grow with the providers and the brokers; learning then updates the right cells."""
    book = BrokerBook()
    book.add(2, 0.1, 0.8)
    book.learn(np.array([1, 1, 0]), np.array([3, 3, 5]), np.array([0.5, 0.7, 1.0]), 0.5, 10)
    book.add(1, 0.1, 0.8)
    book.learn(np.array([2, 1]), np.array([40, 3]), np.array([0.2, 0.6]), 0.5, 41)
    est = book.estimates(41)
    first = 0.8 + 0.5 * ((0.5 + 0.7) / 2 - 0.8)
    assert est[1, 3] == first + 0.5 * (0.6 - first)
    assert est[0, 5] == 0.8 + 0.5 * (1.0 - 0.8)
    assert est[2, 40] == 0.8 + 0.5 * (0.2 - 0.8)
    assert (np.delete(est.ravel(), [1 * 41 + 3, 5, 2 * 41 + 40]) == 0.8).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), K=st.integers(1, 9))
def test_keeping_the_main_provider_is_the_numpy_rule(seed, n, K):
    """The broker's on-call option keeps a client with its main provider when it sits in a column that needs no
    onboarding (the numpy of the option pricing before its kernel). Sets with the main provider known and recent,
    known and stale, not known, or absent; slots without a main provider."""
    rng = np.random.default_rng(seed)
    provider, known = rng.integers(0, 12, (n, K)), rng.random((n, K)) < 0.7
    last_worked = np.where(rng.random((n, K)) < 0.2, NEVER, rng.integers(0, 60, (n, K)))
    main = np.where(rng.random(n) < 0.2, -1, rng.integers(0, 12, n))
    s = rng.permutation(n)[: max(1, n // 2)]
    need = known[s] & (60 - last_worked[s] > 26)
    last = main[s]
    want = ((provider[s] == last[:, None]) & ~need & (last >= 0)[:, None]).any(axis=1)
    got = [option_kernels._keeps_main_provider(i, provider, main, known, last_worked, 60, 26) for i in s]
    np.testing.assert_array_equal(got, want)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 300), K=st.integers(1, 9))
def test_slot_costs_are_the_numpy_arithmetic(seed, n, K):
    """outcomes.slot_costs's numpy, bit for bit: every mode and channel, held contracts or not, zero hours."""
    rng = np.random.default_rng(seed)
    spend = np.where(rng.random((n, K)) < 0.5, 0.0, rng.uniform(0.0, 500.0, (n, K)))
    paid, unmet = rng.uniform(0.0, 900.0, n), np.where(rng.random(n) < 0.6, 0.0, rng.uniform(0.0, 40.0, n))
    held, contract_channel = rng.random(n) < 0.3, rng.integers(0, 2, n).astype(np.int8)
    held[0], contract_channel[0] = True, Channel.DIRECT  # every example has a managed slot (a held direct contract)
    slot_channel, mode = rng.integers(0, 2, n).astype(np.int8), rng.integers(0, 3, n).astype(np.int8)
    staff, c = rng.uniform(0.0, 30.0, n), rng.uniform(20.0, 90.0, n)
    direct = np.where(held, contract_channel, slot_channel) == Channel.DIRECT
    managed = direct & ((mode == Mode.ON_CALL) | held)
    want = (spend.sum(axis=1) + paid, np.where(managed, 60.0, 0.0), unmet * 1.5 * c,
            np.where(mode == Mode.IN_HOUSE, staff * c, 0.0))
    got = kernels.slot_costs(spend, paid, held, contract_channel, slot_channel, mode, unmet, staff, c, 60.0, 1.5,
                             int(Channel.DIRECT), int(Mode.ON_CALL), int(Mode.IN_HOUSE))
    for g, w in zip(got, want, strict=True):
        assert g.tobytes() == w.tobytes()
    assert want[1][0] == 60.0
