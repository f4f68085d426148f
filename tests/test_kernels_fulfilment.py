"""The on-call week's compiled passes against the numpy they replaced, bit for bit: the contracts' delivery and the
in-house residual (kernels.deliver_week), and the brokers' routing of the requests they move
(kernels.route_picks), on running markets."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from simulation.model import kernels
from simulation.model.codes import Channel, Mode
from simulation.model.market.choice import sample_rows
from simulation.model.market.fulfilment import EPS
from simulation.model.market.routing import _join_sets, picks_for, route

from test_kernels import market


def route_reference(s, slots, table, prices, brokers, book, spells, catalogue, available, busy, rng, reassign,
                    intensity, spill, week, memory):
    """routing.route as numpy wrote it before kernels.route_picks (picks_for, sample_rows, the known fallback)."""
    j = np.full(len(s), -1, np.int64)
    u = rng.random(len(s))
    prev = slots.main_provider[s]
    last = np.maximum(prev, 0)

    def knows(at):
        return slots.known[at] & ~slots.needs_onboarding(week, memory, at)

    explore = rng.random(len(s)) < reassign
    stay = ((prev >= 0) & ~explore & table.active[last] & (available[last] > EPS)
            & table.offers[last, slots.service[s]])
    j[stay] = prev[stay]
    stay |= spill
    moving = np.flatnonzero(~stay)
    if len(moving):
        members, prob = picks_for(slots, s[moving], table, prices, brokers, catalogue, available > EPS, intensity)
        pick = sample_rows(prob, u[moving])
        got = np.flatnonzero(pick >= 0)
        j[moving[got]] = members[got, pick[got]]
        forced = np.flatnonzero(~explore[moving])
        rows = moving[forced]
        cand = slots.provider[s[rows]]
        rated = np.zeros(cand.shape)
        for k in range(cand.shape[1]):
            rated[:, k] = np.where(members[forced] == cand[:, k:k + 1], prob[forced], 0.0).sum(axis=1)
        score = np.where(knows(s[rows]) & ~busy[s[rows]], rated, 0.0)
        best = score.argmax(axis=1)
        found = score[np.arange(len(rows)), best] > 0
        j[rows] = np.where(found, cand[np.arange(len(rows)), best], j[rows])
    k = _join_sets(s, j, slots, book, spells, catalogue, busy)
    continuing = np.flatnonzero((prev >= 0) & (k >= 0))
    brokers.count_routing(slots.broker[s[continuing]], ~knows((s[continuing], k[continuing])))
    return k


@pytest.mark.parametrize("panel_size", [None, 3], ids=["every-provider", "shortlists-of-3"])
def test_routing_equals_the_numpy_rule(panel_size):
    """routing.route (each moved request's pick and fallback in kernels.route_picks) routes as the numpy did, and
    leaves the same sets, spells and broker counts: brokered requests of a running market, a third home-only,
    a quarter of the providers full, busy columns, a broker exploring one request in three, some spill-over."""
    m = market(seed=8, **{"intermediaries.panel_size": panel_size, "firms.domestic_only_share": 0.35})
    rng = np.random.default_rng(8)
    s = np.flatnonzero(rng.random(len(m.slots)) < 0.6)
    available = np.where(rng.random(m.providers.n) < 0.25, 0.0, 50.0)
    busy = rng.random(m.slots.provider.shape) < 0.2
    spill = rng.random(len(s)) < 0.2
    m.slots.main_provider[s[rng.random(len(s)) < 0.3]] = -1  # new clients
    states = [copy.deepcopy((m.slots, m.contracts, m.brokers, m.spells)) for _ in range(2)]
    args = (m.providers, m.prices)
    seed = np.random.SeedSequence(9)
    (sl, bk, br, sp), (sl2, bk2, br2, sp2) = states
    got = route(s, sl, *args, br, bk, sp, m.catalogue, available, busy, np.random.default_rng(seed), 0.33, 4.0, spill,
                m.week, m.cfg.firms.knowledge_memory_weeks)
    want = route_reference(s, sl2, *args, br2, bk2, sp2, m.catalogue, available, busy, np.random.default_rng(seed),
                           0.33, 4.0, spill, m.week, m.cfg.firms.knowledge_memory_weeks)
    np.testing.assert_array_equal(got, want)
    for name in ("provider", "known", "preference", "quality_estimate", "last_worked"):
        assert getattr(sl, name).tobytes() == getattr(sl2, name).tobytes(), name
    assert br._routed.tobytes() == br2._routed.tobytes() and br._moved.tobytes() == br2._moved.tobytes()
    closed, closed2 = sp.take(), sp2.take()
    assert closed.keys() == closed2.keys() and all(closed[c].tobytes() == closed2[c].tobytes() for c in closed)
    assert (got >= 0).mean() > 0.3 and (got < 0).any() and len(closed["slot"]) > 0


def deliver_reference(book, demand, slots, brokers):
    """fulfilment.deliver_contracts and in_house_and_residual as numpy wrote them before kernels.deliver_week."""
    delivered = np.where(book.active, np.minimum(demand, book.reserved), 0.0)
    fee_rate = np.where(book.channel == Channel.BROKER, brokers.fee_for(slots.broker), 0.0)
    base = np.where(book.active, book.price * book.reserved, 0.0)
    act = np.flatnonzero(book.active)
    revenue, fee_paid = book.price[act] * book.reserved[act], book.price[act] * book.reserved[act] * fee_rate[act]
    paid = book.price * book.reserved * (1.0 + fee_rate) * book.active
    residual = demand - delivered
    inhouse = np.minimum(residual, np.where(slots.mode == Mode.IN_HOUSE, slots.inhouse_staff, 0.0))
    return (delivered, paid, base * fee_rate, inhouse, residual - inhouse, np.where(book.active, book.reserved, 0.0),
            revenue, fee_paid)


@pytest.mark.parametrize("brokers", [3, 0], ids=["brokers", "no-brokers"])
def test_the_week_s_deliveries_equal_the_numpy_rule(brokers):
    """A running market's contracts (a third of them brokered) and in-house staff, demand above, at and below the
    reserved hours, zero demand: deliveries, payments, fees, in-house hours, needs and sales, bit for bit."""
    m = market(seed=9, **{"intermediaries.count": brokers})
    rng = np.random.default_rng(9)
    book, slots = m.contracts, m.slots
    if brokers:
        book.channel[book.active & (rng.random(len(slots)) < 0.33)] = Channel.BROKER
    demand = np.where(rng.random(len(slots)) < 0.1, 0.0, book.reserved * rng.uniform(0.0, 2.0, len(slots)) + 5.0)
    at = book.active & (rng.random(len(slots)) < 0.1)
    demand[at] = book.reserved[at]  # exactly the reserved hours
    got = kernels.deliver_week(demand, book.contract_id, book.reserved, book.price, book.channel, slots.broker,
                               m.brokers.fee_rate, int(Channel.BROKER), slots.mode, slots.inhouse_staff,
                               int(Mode.IN_HOUSE))
    want = deliver_reference(book, demand, slots, m.brokers)
    for name, a, b in zip(("delivered", "paid", "fee", "in-house", "need", "held", "revenue", "fee paid"), got, want,
                          strict=True):
        assert a.tobytes() == b.tobytes(), name
    assert book.active.sum() > 10 and (got[3] > 0).any() and (got[2] > 0).any() == (brokers > 0)
