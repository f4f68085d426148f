"""The kernels rewritten for large markets, each checked against a slow, obviously correct reference.

- Brokers' panels: unlimited (the default) or holding every provider of a service, a broker's pick
  probabilities are those of rating every provider, one (broker, service, region) at a time; with a
  smaller panel they are the same rule with only the panel's members eligible.
- Panel upkeep: exits free seats, free seats are filled from the rest, no random draw when all fit.
- Initial consideration sets: the first K of a random order, as a full argsort of the same uniforms.
- Broker learning: the sparse update equals the dense one, bit for bit.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from simulation import OutsourcingModel, load_scenario
from simulation.model.agents import Intermediary
from simulation.model.codes import Region
from simulation.model.market.routing import pick_table
from simulation.model.sourcing.costs import nonprice_cost
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.slots import first_of_random_order

from conftest import BASELINE, SMALL


def dense_pick_table(model: OutsourcingModel, eligible: np.ndarray) -> np.ndarray:
    """Reference: every broker rates every provider, (broker, service, client region, provider)."""
    table, cat, n = model.providers, model.catalogue, model.providers.n
    quality = model.brokers.estimates(n)
    out = np.zeros((len(model.brokers), len(cat), len(Region), n))
    for b, v, r in itertools.product(range(len(model.brokers)), range(len(cat)), list(Region)):
        price = model.prices.for_client(np.arange(n), int(r))
        cost = price + nonprice_cost(cat.inhouse_cost[v], cat.friction[v], cat.learning[v], 0.0, cat.error_cost[v],
                                     quality[b])
        ok = table.active[:n] & eligible & table.offers[:n, v]
        out[b, v, r] = Intermediary.pick_distribution(cost[None, :], ok[None, :], model.cfg.intermediaries.choice_intensity)[0]
    return out


def on_providers(picks, b: int, v: int, r: int, n: int) -> np.ndarray:
    """A panel's pick probabilities laid out over provider rows."""
    dense = np.zeros(n)
    seats = picks.panel[b, v] >= 0
    dense[picks.panel[b, v][seats]] = picks.prob[b, v, r][seats]
    return dense


@pytest.fixture(scope="module", params=[0, 1000], ids=["unlimited", "panel-of-1000"])
def market(request):
    """A small market after a few weeks of trade (brokers have learned, some providers are full or gone)."""
    m = OutsourcingModel(load_scenario(BASELINE, {**SMALL, "intermediaries.count": 4, "run.warmup_weeks": 0,
                                                  "intermediaries.panel_size": request.param}), seed=3)
    for _ in range(30):
        m.step()
    return m


def test_a_panel_holding_every_provider_picks_as_rating_every_provider(market):
    n = market.providers.n
    eligible = np.random.default_rng(0).random(n) < 0.8  # some providers full this round
    picks = pick_table(market.providers, market.prices, market.brokers, market.catalogue, eligible,
                       market.cfg.intermediaries.choice_intensity)
    ref = dense_pick_table(market, eligible)
    assert picks.panel.shape[2] >= market.providers.offer_counts().max()  # the panel holds every offering provider
    for b, v, r in np.ndindex(ref.shape[:3]):
        np.testing.assert_allclose(on_providers(picks, b, v, r, n), ref[b, v, r], rtol=1e-12, atol=1e-15)


def test_a_small_panel_picks_by_the_same_rule_among_its_members():
    m = OutsourcingModel(load_scenario(BASELINE, {**SMALL, "intermediaries.count": 4, "run.warmup_weeks": 0,
                                                  "intermediaries.panel_size": 3}), seed=3)
    for _ in range(10):
        m.step()
    n = m.providers.n
    picks = pick_table(m.providers, m.prices, m.brokers, m.catalogue, np.ones(n, bool), m.cfg.intermediaries.choice_intensity)
    for b, v in np.ndindex(m.brokers.panel.shape[:2]):
        members = m.brokers.panel[b, v][m.brokers.panel[b, v] >= 0]
        assert len(members) == min(3, len(m.providers.offering(v)))
        assert m.providers.offers[members, v].all() and m.providers.active[members].all()
        on_panel = np.zeros(n, bool)
        on_panel[members] = True
        ref = dense_pick_table(m, on_panel)  # the rule of rating every provider, with only the panel eligible
        for r in Region:
            np.testing.assert_allclose(on_providers(picks, b, v, r, n), ref[b, v, r], rtol=1e-12, atol=1e-15)


def test_an_exit_frees_its_seats_and_the_rest_fill_them():
    m = OutsourcingModel(load_scenario(BASELINE, {**SMALL, "intermediaries.count": 2, "run.warmup_weeks": 0,
                                                  "intermediaries.panel_size": 2}), seed=5)
    v = 0
    offering = m.providers.offering(v)
    assert len(offering) > 3
    leaving = int(m.brokers.panel[0, v, 0])
    m.remove_provider(leaving, "test")
    m.refresh_panels()
    for b in range(len(m.brokers)):
        members = m.brokers.panel[b, v]
        assert leaving not in members and (members >= 0).all() and len(set(members)) == 2
        assert np.all(np.diff(members) > 0) and m.providers.active[members].all()


def test_filling_a_panel_that_fits_everyone_draws_no_random_number(market):
    book = BrokerBook()
    book.add(3, 0.08, 0.8)
    rng = np.random.default_rng(7)
    state = rng.bit_generator.state
    book.refresh_panels(market.providers, 10_000, rng)
    assert rng.bit_generator.state == state
    for v in range(market.providers.n_services):
        members = book.panel[0, v][book.panel[0, v] >= 0]
        np.testing.assert_array_equal(members, market.providers.offering(v))


@pytest.mark.parametrize("rows, n, size, chunk", [(1000, 67, 4, 1000), (500, 3, 3, 7), (300, 4, 4, 1 << 24),
                                                  (2000, 500, 4, 999), (10, 1, 1, 1)])
def test_the_first_of_a_random_order_is_the_full_argsort_of_the_same_uniforms(rows, n, size, chunk):
    fast = first_of_random_order(rows, n, size, np.random.default_rng(5), chunk_values=chunk)
    reference = np.argsort(np.random.default_rng(5).random((rows, n)), axis=1)[:, :size]
    np.testing.assert_array_equal(fast, reference)


def test_broker_learning_updates_only_the_pairs_seen_exactly_as_the_dense_update():
    rng = np.random.default_rng(2)
    book = BrokerBook()
    book.add(4, 0.08, 0.8)
    n = 50
    broker, provider = rng.integers(0, 4, 300), rng.integers(0, 20, 300)
    observed = rng.random(300)
    before = book.estimates(n).copy()
    book.learn(broker, provider, observed, 0.1, n)
    key = broker * n + provider  # the dense reference
    counts = np.bincount(key, minlength=4 * n).reshape(4, n)
    sums = np.bincount(key, weights=observed, minlength=4 * n).reshape(4, n)
    seen = counts > 0
    before[seen] += 0.1 * (sums[seen] / counts[seen] - before[seen])
    np.testing.assert_array_equal(book.estimates(n), before)
