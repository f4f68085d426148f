"""The providers' week (step 6) in compiled passes against the numpy it replaced, bit for bit.

The references below are ``week_load``, ``capacity_and_prices`` and ``update_providers`` as numpy wrote them
before :func:`kernels.week_load`, :func:`kernels.market_before` and :func:`kernels.book_week`. They run on the
inputs of a real week (captured as the model calls its provider phase), with some providers gone, one without
capacity, and on random weeks for the order of the additions.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from simulation.model import OutsourcingModel, kernels
from simulation.model.agents import PROVIDER_CLASSES
from simulation.model.codes import Kind, Region
from simulation.model.kernels import providers as provider_kernels
from simulation.model.market import providers
from simulation.model.market.fulfilment import Sales
from simulation.model.market.providers import WeekLoad

from test_kernels import market


def week_load_reference(fills, market_served, slots, book, table, sales) -> WeekLoad:
    n = table.n
    by_provider = np.zeros(n)
    for batch in sales:
        by_provider += np.bincount(batch.provider, weights=batch.revenue, minlength=n)
    j = slots.provider
    used = market_served.copy()
    held = np.flatnonzero(book.active)
    used += np.bincount(book.provider[held], weights=fills.permanent[held], minlength=n)
    cross = table.region[j] != slots.region[:, None]
    factor = np.broadcast_to(slots.coordination[:, None], j.shape)
    cross_hours = np.bincount(j[cross], weights=(fills.served * factor)[cross], minlength=n)
    held_cross = held[table.region[book.provider[held]] != slots.region[held]]
    cross_hours += np.bincount(book.provider[held_cross],
                               weights=fills.permanent[held_cross] * slots.coordination[held_cross], minlength=n)
    has_main = slots.main_provider >= 0
    asked = market_served + np.bincount(slots.main_provider[has_main], weights=fills.unmet[has_main], minlength=n)
    committed = np.bincount(book.provider[held], weights=book.reserved[held], minlength=n)
    return WeekLoad(used, asked, cross_hours, committed, by_provider + table.view("fees_due"))


def capacity_and_prices_reference(table, load, spot_price) -> dict[str, float]:
    n = table.n
    active, capacity = table.view("active"), table.view("capacity")
    out = {"capacity": float(capacity[active].sum()), "used": float(load.used.sum()),
           "max_overuse": float(np.max(load.used - capacity, initial=-np.inf)) if n else 0.0}
    for kind in Kind:
        mine = active & (table.view("kind") == kind)
        label = kind.name.lower()
        out[f"capacity_{label}"] = float(capacity[mine].sum())
        out[f"used_{label}"] = float(load.used[mine].sum())
        for region in Region:
            posting = mine & (table.view("region") == region)
            weight = capacity[posting].sum()
            price = float((spot_price[posting] * capacity[posting]).sum() / weight) if weight > 0 else float("nan")
            out[f"posted_price_{label}_{region.name.lower()}"] = price
    return out


def update_providers_reference(table, load, prices, cfg, env):
    p = cfg.providers
    n = table.n
    act, cap = table.active[:n], table.capacity[:n]
    util = np.divide(load.used, cap, out=np.zeros(n), where=cap > 0)
    table.utilization[:n] = np.where(act, util, 0.0)
    target = np.where(table.kind[:n] == Kind.KPO, p.target_utilization_kpo, p.target_utilization_bpo)
    if not p.fixed_price:
        normal = np.where(table.kind[:n] == Kind.KPO, p.normal_markup_kpo, p.normal_markup_bpo)
        step = p.markup_speed * (util - target) + p.markup_reversion * (normal - table.markup[:n])
        table.markup[:n] = np.clip(table.markup[:n] + step * act, p.markup_min, p.markup_max)
    a = 1.0 / p.profit_memory_weeks
    table.demand_ema[:n] += a * (load.committed + load.asked - table.demand_ema[:n])
    cost = cap * prices.unit_cost + load.cross_hours * prices.coordination
    profit = np.where(act, load.revenue - cost, 0.0)
    table.profit_ema[:n] += a * (profit - table.profit_ema[:n])
    table.revenue_ema[:n] += a * (load.revenue - table.revenue_ema[:n])
    table.loss_weeks[:n] = np.where(act & (table.profit_ema[:n] < 0), table.loss_weeks[:n] + 1, 0)
    table.fees_due[:n] = 0.0
    if p.fixed_price:
        return profit
    desired = table.demand_ema[:n] / np.maximum(target, 1e-6)
    lag = np.where(desired > cap, np.where(table.kind[:n] == Kind.KPO, p.hiring_lag_weeks_kpo, p.hiring_lag_weeks_bpo),
                   p.downsizing_lag_weeks)
    change = (desired - cap) / lag
    hires = np.where(act, np.maximum(change, 0.0), 0.0)
    for provider_class in PROVIDER_CLASSES.values():
        provider_class.limit_hiring(hires, table, env)
    new_cap = cap + hires + np.where(act, np.minimum(change, 0.0), 0.0)
    table.capacity[:n] = np.where(act, np.maximum(new_cap, np.maximum(load.committed, 1.0)), cap)
    return profit


def captured_week(monkeypatch, seed: int, **overrides) -> tuple[OutsourcingModel, dict]:
    """A market after 25 weeks, and copies of what its 26th week handed the provider phase."""
    m = market(seed=seed, weeks=25, **overrides)
    seen, phase = {}, OutsourcingModel.update_providers

    def capture(self, fills, spot, sales):
        seen.update(fills=fills, served=spot.served.copy(), sales=sales, prices=self.prices,
                    state=copy.deepcopy((self.slots, self.contracts, self.providers, self.environment)))
        return phase(self, fills, spot, sales)

    monkeypatch.setattr(OutsourcingModel, "update_providers", capture)
    m.step()
    return m, seen


@pytest.mark.parametrize("case", ["baseline", "fixed-prices", "no-brokers"])
def test_the_providers_week_equals_the_numpy_rules(monkeypatch, case):
    """Loads, the market before the week's changes and every provider's books, bit for bit, on a real week's inputs
    with a tenth of the providers gone and one left without capacity."""
    overrides = {"fixed-prices": {"providers.fixed_price": True}, "no-brokers": {"intermediaries.count": 0}}
    m, seen = captured_week(monkeypatch, 4, **overrides.get(case, {}))
    slots, book, table, env = seen["state"]
    rng = np.random.default_rng(4)
    table.active[rng.choice(table.n, table.n // 10, replace=False)] = False
    table.capacity[np.flatnonzero(table.view("active"))[0]] = 0.0
    spot = type("Spot", (), {"served": seen["served"]})()
    load = providers.week_load(seen["fills"], spot, slots, book, table, seen["sales"])
    want = week_load_reference(seen["fills"], seen["served"], slots, book, table, seen["sales"])
    for name in ("used", "asked", "cross_hours", "committed", "revenue"):
        assert getattr(load, name).tobytes() == getattr(want, name).tobytes(), name
    assert (want.cross_hours > 0).sum() > 3 and (want.committed > 0).any() and (want.revenue > 0).any()

    got_before = providers.capacity_and_prices(table, load, seen["prices"])
    want_before = capacity_and_prices_reference(table, want, seen["prices"].spot_price)
    assert list(got_before) == list(want_before)
    assert np.array(list(got_before.values())).tobytes() == np.array(list(want_before.values())).tobytes()

    fast, slow = copy.deepcopy((table, env)), copy.deepcopy((table, env))
    profit = providers.update_providers(fast[0], load, seen["prices"], m.cfg, fast[1])
    assert profit.tobytes() == update_providers_reference(slow[0], want, seen["prices"], m.cfg, slow[1]).tobytes()
    for name in type(table)._fields:
        assert fast[0].view(name).tobytes() == slow[0].view(name).tobytes(), name
    assert (fast[0].view("capacity") != table.view("capacity")).any() != m.cfg.providers.fixed_price
    assert (profit < 0).any() and (profit > 0).any() and (fast[0].view("loss_weeks") > 0).any()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_the_loads_of_random_weeks_equal_the_numpy_ones(seed):
    """Many pairs, contracts and sales per provider (the order of the additions shows), zero hours, both regions,
    slots without a main provider, empty batches of sales."""
    rng = np.random.default_rng(seed)
    rows, K, n = int(rng.integers(1, 300)), int(rng.integers(1, 7)), int(rng.integers(1, 12))
    served = np.where(rng.random((rows, K)) < 0.4, 0.0, rng.exponential(30.0, (rows, K)))
    held = rng.random(rows) < 0.3
    slots = type("Slots", (), {"provider": rng.integers(0, n, (rows, K)),
                               "region": rng.integers(0, 2, rows).astype(np.int8),
                               "coordination": rng.uniform(0.5, 3.0, rows),
                               "main_provider": np.where(rng.random(rows) < 0.3, -1, rng.integers(0, n, rows))})()
    book = type("Book", (), {"active": held, "contract_id": np.where(held, np.arange(rows), -1),
                             "provider": np.where(held, rng.integers(0, n, rows), -1),
                             "reserved": rng.uniform(0.0, 50.0, rows),
                             "committed": lambda self, n: kernels.committed_hours(self.contract_id, self.provider,
                                                                                   self.reserved, n)})()
    fills = type("Fills", (), {"served": served, "permanent": np.where(held, rng.uniform(0.0, 60.0, rows), 0.0),
                               "unmet": np.where(rng.random(rows) < 0.5, 0.0, rng.uniform(0.0, 20.0, rows))})()
    table = type("Table", (), {"n": n, "region": rng.integers(0, 2, n).astype(np.int8),
                               "view": lambda self, name: fees})()
    fees = np.where(rng.random(n) < 0.2, rng.uniform(0.0, 100.0, n), 0.0)
    sales = [Sales(rng.integers(0, n, m), rng.uniform(0.0, 900.0, m), np.zeros(m, np.int64), np.zeros(m))
             for m in rng.integers(0, 40, int(rng.integers(1, 5)))]
    market_served = rng.uniform(0.0, 100.0, n)
    got = providers.week_load(fills, type("Spot", (), {"served": market_served})(), slots, book, table, sales)
    want = week_load_reference(fills, market_served, slots, book, table, sales)
    for name in ("used", "asked", "cross_hours", "committed", "revenue"):
        assert getattr(got, name).tobytes() == getattr(want, name).tobytes(), name


def test_the_kernel_s_kind_code_is_kpo():
    assert provider_kernels.KPO == Kind.KPO and kernels.book_week is provider_kernels.book_week
