"""Unit tests for simulation/model/market/fulfilment.py and routing.py on hand-made markets (no full model):
permanent delivery and take-or-pay, in-house first, on-call rounds with rationing and retries, and brokers
bringing providers into a firm's consideration set."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.model.codes import Channel, Mode
from simulation.model.market.fulfilment import deliver_contracts, fulfil, serve_on_call
from simulation.model.market.spot import SpotMarket
from simulation.model.state.slots import NEVER

from markets import market


def sign(m, slot: int, provider: int, price: float, reserved: float, channel: Channel = Channel.DIRECT) -> None:
    """Give a slot a running contract with a provider in its column 0."""
    m.book.sign(0, np.array([slot]), np.array([0]), np.array([provider]), np.array([price]), np.array([reserved]),
                np.array([52]), np.array([channel]), 13.0, "test")


def test_contract_delivers_up_to_reserved_hours_and_the_firm_pays_for_all_of_them():
    """Take-or-pay: 15 hours wanted, 10 reserved at 20 cu/h: 10 delivered, 200 paid, the provider books 200."""
    m = market([{}], [{}])
    sign(m, 0, 0, 20.0, 10.0)
    out, _, need, reserved = deliver_contracts(m.book, np.array([15.0]), m.slots, m.brokers)
    assert out.delivered.tolist() == [10.0] and out.paid.tolist() == [200.0] and out.fee.tolist() == [0.0]
    assert out.sales.revenue.tolist() == [200.0] and out.sales.provider.tolist() == [0]
    assert need.tolist() == [5.0] and reserved.tolist() == [10.0]
    assert deliver_contracts(m.book, np.array([4.0]), m.slots, m.brokers)[0].paid.tolist() == [200.0]


def test_a_brokered_contract_adds_the_broker_fee_on_the_firm_side_only():
    """Through a broker at 8%, the firm pays 216 for 200 of work; the provider books 200, the broker 16."""
    m = market([{}], [{}], brokers=1, fee_rate=0.08)
    sign(m, 0, 0, 20.0, 10.0, Channel.BROKER)
    out = deliver_contracts(m.book, np.array([15.0]), m.slots, m.brokers)[0]
    assert out.paid[0] == pytest.approx(216.0) and out.fee[0] == pytest.approx(16.0)
    assert out.sales.revenue[0] == pytest.approx(200.0) and out.sales.fee[0] == pytest.approx(16.0)


def test_in_house_staff_take_the_residual_before_on_call():
    """In-house slots use their staff first; on-call slots send everything out, beyond what a contract delivers."""
    m = market([{}], [{"mode": Mode.IN_HOUSE, "inhouse_staff": 30.0}, {"firm": 1}])
    sign(m, 1, 0, 20.0, 5.0)
    _, inhouse, need, reserved = deliver_contracts(m.book, np.array([40.0, 40.0]), m.slots, m.brokers)
    assert inhouse.tolist() == [30.0, 0.0] and need.tolist() == [10.0, 35.0] and reserved.tolist() == [0.0, 5.0]


def test_on_call_requests_beyond_spare_capacity_are_rationed_in_proportion():
    """Two firms ask 60 h each of a provider with 90 h spare: each gets 45 h, paid at the spot price."""
    m = market([{"capacity": 90.0}], [{}, {"firm": 1}], columns=1, overrides={"choice": {"spot_rounds": 1}})
    spot = SpotMarket.open(m.table.view("capacity"), np.zeros(1), m.table.view("active"))
    work = serve_on_call(np.array([60.0, 60.0]), spot, m.slots, m.table, m.prices, m.brokers, m.book, m.spells,
                         m.catalogue, m.cfg, m.inhouse_cost(), m.week, np.random.default_rng(0))
    assert work.served[:, 0].tolist() == [45.0, 45.0]
    assert work.spend[:, 0].tolist() == [900.0, 900.0] and spot.available.tolist() == [0.0]


def test_unserved_work_tries_another_known_provider_in_the_next_round():
    """A full provider leaves work unserved; the second round sends it to the other provider the firm knows."""
    m = market([{"capacity": 20.0}, {"capacity": 100.0, "spot_price": 25.0}], [{"known": (0, 1), "preference": (50.0, 0.0)}])
    spot = SpotMarket.open(m.table.view("capacity"), np.zeros(2), m.table.view("active"))
    work = serve_on_call(np.array([50.0]), spot, m.slots, m.table, m.prices, m.brokers, m.book, m.spells,
                         m.catalogue, m.cfg, m.inhouse_cost(), m.week, np.random.default_rng(1))
    # beta x J = 75 makes provider 0 the certain first pick; it serves 20 h, provider 1 the remaining 30 h.
    assert work.served[0].tolist() == [20.0, 30.0]
    assert work.spend[0].tolist() == [400.0, 750.0]


def test_a_client_in_the_other_region_pays_the_coordination_cost_on_top():
    """An offshore provider passes its coordination cost to a domestic client: (8 + 5) cu/h for 10 hours."""
    m = market([{"region": 1, "spot_price": 8.0, "coordination": 5.0}], [{"demand": 10.0}], columns=1)
    fills, _, sales = fulfil(np.array([10.0]), m.slots, m.table, m.prices, m.brokers, m.book, m.spells, m.catalogue,
                             m.cfg, m.inhouse_cost(), m.week, np.random.default_rng(2))
    assert fills.spend[0, 0] == pytest.approx(130.0) and sales[-1].revenue.sum() == pytest.approx(130.0)
    assert fills.on_call[0] + fills.unmet[0] + fills.permanent[0] + fills.in_house[0] == pytest.approx(10.0)


def test_a_broker_brings_its_provider_into_the_firm_s_set_and_charges_its_fee():
    """A brokered request of a client that has worked with none of the providers it knows goes to the provider
    the broker rates best; it replaces the firm's least liked provider. (A client with a provider it has worked
    with is kept there first: see test_mechanisms.py.)"""
    m = market([{"spot_price": 60.0}, {"spot_price": 10.0}, {"spot_price": 30.0}],
               [{"known": (0, 2), "preference": (0.0, 1.0), "channel": Channel.BROKER, "last_worked": NEVER}],
               brokers=1, fee_rate=0.1)
    fills, _, sales = fulfil(np.array([10.0]), m.slots, m.table, m.prices, m.brokers, m.book, m.spells, m.catalogue,
                             m.cfg, m.inhouse_cost(), m.week, np.random.default_rng(3))
    assert sorted(m.slots.provider[0].tolist()) == [1, 2]  # provider 0 (least preferred) made way for provider 1
    k = m.slots.provider[0].tolist().index(1)
    assert fills.served[0, k] == pytest.approx(10.0) and fills.spend[0, k] == pytest.approx(110.0)
    assert sum(s.fee.sum() for s in sales) == pytest.approx(10.0)
