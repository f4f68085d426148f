"""The compiled kernels of the weekly step (simulation/model/kernels/) against the numpy they replaced.

Each reference below is the numpy expression the kernel took over, written as it was; inputs are random
(hypothesis) and real (a seeded market in its 30th week), and the answers must be equal bit for bit, since
a run must give the same bytes with or without the kernels. The row sum the kernels share is checked
against numpy's own sum for every consideration-set size the schema allows.
"""

from __future__ import annotations

import functools
import hashlib
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from simulation import OutsourcingModel, load_scenario
from simulation.model import kernels
from simulation.model.codes import Channel, Kind
from simulation.model.kernels.prefetch import PREFETCH_ROWS, prefetch_rows
from simulation.model.market.choice import logit_probabilities, loyalty, sample_rows
from simulation.model.market.fulfilment import _direct_picks, onboarding_beyond_shortage
from simulation.model.market.pricing import Prices
from simulation.model.market.routing import pick_table
from simulation.model.market.shortlists import GROUP_REGION, refresh_shortlists
from simulation.model.metrics import KindSplit
from simulation.model.sourcing.costs import nonprice_cost

from conftest import BASELINE, SMALL


def onboarding_reference(s, slots, prices, brokers, catalogue, cfg, inhouse_cost, week):
    """onboarding_beyond_shortage as numpy wrote it before the kernel."""
    need = slots.needs_onboarding(week, cfg.firms.knowledge_memory_weeks, s)
    c = inhouse_cost[s][:, None]
    v = slots.service[s][:, None]
    fee = np.where(slots.channel[s] == Channel.BROKER, brokers.fee_for(slots.broker[s]), 0.0)[:, None]
    price = prices.for_client(slots.provider[s], slots.region[s][:, None], slots.coordination[s][:, None]) * (1.0 + fee)
    E = slots.experience[s]
    hour = (price + nonprice_cost(c, catalogue.friction[v], catalogue.learning[v], E, catalogue.error_cost[v],
                                  slots.quality_estimate[s]) + catalogue.onboarding_weeks[v] * c * (1.0 - E))
    return need & (hour > cfg.firms.shortage_penalty_factor * c)


def loyalty_reference(J, valid):
    """choice.loyalty as numpy wrote it before the kernel."""
    Jp = np.where(valid, np.maximum(J, 0.0), 0.0)
    s = Jp.sum(axis=1)
    return np.divide((Jp * Jp).sum(axis=1), s * s, out=np.full(len(s), np.nan), where=s > 0)


def logit_reference(J, beta, allowed):
    """choice.logit_probabilities as numpy wrote it before the kernels (exp: the C library's, as the model's)."""
    z = np.where(allowed, beta * J, -np.inf)
    zmax = z.max(axis=1, keepdims=True)
    zmax = np.where(np.isfinite(zmax), zmax, 0.0)
    w = np.where(allowed, kernels.exp(z - zmax), 0.0)
    total = w.sum(axis=1, keepdims=True)
    return np.divide(w, total, out=np.zeros_like(w), where=total > 0)


def sample_rows_reference(weights, u):
    """choice.sample_rows (rows of weights) as numpy wrote it before the kernel."""
    cdf = np.cumsum(weights, axis=-1)
    total = cdf[..., -1]
    pick = np.minimum((cdf <= (u * total)[:, None]).sum(axis=1), weights.shape[-1] - 1)
    return np.where(total > 0, pick, -1)


def rated_cost(prices, catalogue, provider, region, v, quality):
    """shortlists.rated_cost as numpy wrote it before the kernel (broadcast together)."""
    return prices.for_client(provider, region) + nonprice_cost(catalogue.inhouse_cost[v], catalogue.friction[v],
                                                                catalogue.learning[v], 0.0, catalogue.error_cost[v], quality)


def pick_table_reference(table, prices, brokers, catalogue, eligible, intensity):
    """routing.pick_table's probabilities as numpy wrote them before the kernels (Intermediary.pick_distribution
    written out as it was)."""
    panel = brokers.panels(len(catalogue), table.n)
    n_brokers, n_services, n_groups, seats = panel.shape
    member = np.maximum(panel, 0)
    region = (np.arange(2) if n_groups == 2 else GROUP_REGION)[None, None, :, None]
    quality = brokers.estimates(table.n)[np.arange(n_brokers)[:, None, None, None], member]
    v = np.arange(n_services)[None, :, None, None]
    cost = rated_cost(prices, catalogue, member, region, v, quality).reshape(-1, seats)
    offered = ((panel >= 0) & table.active[member] & eligible[member] & table.offers[member, v]).reshape(-1, seats)
    ref = np.where(offered, cost, np.inf).min(axis=1, keepdims=True)
    ref = np.where(np.isfinite(ref) & (ref > 0), ref, 1.0)
    return logit_reference(-(cost / ref), intensity, offered).reshape(panel.shape)


def market(seed: int = 2, weeks: int = 30, **overrides) -> OutsourcingModel:
    m = OutsourcingModel(load_scenario(BASELINE, {**SMALL, "run.warmup_weeks": 0, **overrides}), seed=seed)
    for _ in range(weeks):
        m.step()
    return m


@functools.cache
def small_market() -> OutsourcingModel:
    return market(weeks=2)


def random_history(slots, rng: np.random.Generator, week: int) -> None:
    """Random experience, quality estimates, known columns and last weeks worked (a third never worked with)."""
    slots.experience[:] = rng.random(slots.experience.shape)
    slots.quality_estimate[:] = rng.random(slots.quality_estimate.shape)
    slots.known[:] = rng.random(slots.known.shape) < 0.8
    slots.last_worked[:] = np.where(rng.random(slots.known.shape) < 0.3, -(10**6), rng.integers(-50, week + 1,
                                                                                                   slots.known.shape))


def test_onboarding_beyond_shortage_in_a_running_market_equals_the_numpy_rule():
    m = market()
    s = np.arange(len(m.slots))
    args = (s, m.slots, m.prices, m.brokers, m.catalogue, m.cfg, m.inhouse_cost_per_slot(), m.week)
    fast, slow = onboarding_beyond_shortage(*args), onboarding_reference(*args)
    np.testing.assert_array_equal(fast, slow)
    assert slow.any() and not slow.all()  # the rule says yes and no in this market


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), week=st.integers(1, 400), memory=st.integers(1, 60),
       factor=st.floats(0.5, 4.0))
def test_onboarding_beyond_shortage_on_random_states_equals_the_numpy_rule(seed, week, memory, factor):
    """Random experience, quality, prices, fees, regions and histories, including providers never worked with
    (one small market, every input the rule reads overwritten in each example)."""
    m = small_market()
    rng = np.random.default_rng(seed)
    slots, n = m.slots, m.providers.n
    random_history(slots, rng, week)
    slots.coordination[:] = rng.uniform(0.0, 3.0, len(slots))
    m.brokers.fee_rate[:] = rng.uniform(0.0, 0.4, len(m.brokers))
    spot, coordination = rng.uniform(5.0, 200.0, n), rng.uniform(0.0, 30.0, n)
    prices = Prices(unit_cost=spot / 1.2, coordination=coordination, spot_price=spot,
                    provider_region=rng.integers(0, 2, n).astype(m.prices.provider_region.dtype),
                    wage_index=m.prices.wage_index, market_utilization=m.prices.market_utilization)
    m.cfg.firms.knowledge_memory_weeks, m.cfg.firms.shortage_penalty_factor = memory, factor
    s = np.sort(rng.choice(len(slots), size=rng.integers(1, len(slots)), replace=False))
    args = (s, slots, prices, m.brokers, m.catalogue, m.cfg, rng.uniform(10.0, 150.0, len(slots)), week)
    np.testing.assert_array_equal(onboarding_beyond_shortage(*args), onboarding_reference(*args))


def direct_picks_reference(s, screened, full_only, available, slots, prices, brokers, catalogue, cfg, inhouse_cost,
                           tried, week, u):
    """The numpy steps serve_on_call took before kernels.direct_picks: mask, screen, logit, draw."""
    allowed = slots.known[s] & ~tried[s]
    if full_only:
        allowed &= available[slots.provider[s]] > 1e-9
    rows = np.flatnonzero(screened)
    allowed[rows] &= ~onboarding_reference(s[rows], slots, prices, brokers, catalogue, cfg, inhouse_cost, week)
    return sample_rows(logit_probabilities(slots.preference[s], cfg.choice.beta, allowed), u)


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), week=st.integers(1, 400), memory=st.integers(1, 60),
       full_only=st.booleans(), beta=st.sampled_from([0.0, 0.7, 1.5, 6.0]))
def test_direct_picks_equal_the_numpy_steps(seed, week, memory, full_only, beta):
    """A round's direct requests on random states: preferences, tries, capacity, histories and spill-over rows."""
    m = small_market()
    rng = np.random.default_rng(seed)
    slots, n = m.slots, m.providers.n
    random_history(slots, rng, week)
    slots.preference[:] = rng.normal(0.0, 2.0, slots.preference.shape)
    cfg = m.cfg.model_copy(deep=True)
    cfg.firms.knowledge_memory_weeks, cfg.choice.beta = memory, beta
    s = np.sort(rng.choice(len(slots), size=rng.integers(0, len(slots)), replace=False))
    screened = rng.random(len(s)) < 0.6
    tried = rng.random(slots.known.shape) < 0.2
    available = np.where(rng.random(n) < 0.3, 0.0, rng.uniform(0.0, 50.0, n))
    args = (s, screened, full_only, SimpleNamespace(available=available), slots, m.prices, m.brokers, m.catalogue,
            cfg, m.inhouse_cost_per_slot(), tried, week, rng.random(len(s)))
    want = direct_picks_reference(*args[:3], available, *args[4:])
    np.testing.assert_array_equal(_direct_picks(*args[:4], *args[4:]), want)


@pytest.mark.parametrize("length", [*range(1, 51), 127, 128, 129, 200, 1000, 1400, 5003])
def test_a_row_sum_adds_in_numpy_order(length):
    """Every consideration-set size the schema allows (1 to 50), and the lengths of brokers' rows of providers."""
    # values of mixed magnitudes and signs, where the order of the additions shows in the last bits
    rng = np.random.default_rng(length)
    shape = (max(2000 // length, 20), length)
    rows = rng.normal(size=shape) * rng.choice([1e-9, 1.0, 1e9], shape)
    rows[0], rows[1, : length // 2] = -0.0, -0.0  # numpy sums -0.0s to 0.0
    fast = np.array([kernels.numpy_row_sum(row) for row in rows])
    np.testing.assert_array_equal(fast, rows.sum(axis=1))
    assert (np.signbit(fast) == np.signbit(rows.sum(axis=1))).all()


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.sampled_from([0, 1, 7, 9, 129, 1000, 8193, 20011]),
       share=st.sampled_from([0.0, 0.05, 0.5, 1.0]))
def test_split_sums_equal_the_masked_numpy_sums(seed, n, share):
    """The week's BPO and KPO totals: both parts, an empty one included, of mixed magnitudes and signs."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=n) * rng.choice([1e-9, 1.0, 1e9], n)
    mask = rng.random(n) < share
    x[rng.random(n) < 0.1] = 0.0
    x[rng.random(n) < (0.1 if seed % 2 else 1.0)] = -0.0  # half the cases: all -0.0
    bpo, kpo = KindSplit.of(np.where(mask, Kind.KPO, Kind.BPO)).sums(x)
    assert (bpo, kpo) == (x[~mask].sum(), x[mask].sum())
    assert np.signbit(bpo) == np.signbit(x[~mask].sum()) and np.signbit(kpo) == np.signbit(x[mask].sum())


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), rows=st.integers(0, 300), K=st.integers(1, 50))
def test_row_sums_equal_numpys(seed, rows, K):
    """Consideration-set rows of mixed magnitudes and signs, some all zero (also -0.0)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, K)) * rng.choice([1e-9, 1.0, 1e9], (rows, K))
    x[rng.random(rows) < 0.2] = rng.choice([0.0, -0.0])
    got, want = kernels.row_sums(x), x.sum(axis=1)
    np.testing.assert_array_equal(got, want)
    assert (np.signbit(got) == np.signbit(want)).all()


def demand_reference(base, volatility, lumpy, rate, weeks, shock, projects, eps, ended, arrivals, level, persistence):
    """The numpy expressions DemandProcess.realise used before its kernel (after the week's draws)."""
    shock = persistence * shock + np.sqrt(1.0 - persistence**2) * volatility * eps
    projects = np.where(lumpy, projects - ended + arrivals, 0)
    mean_live = np.where(lumpy, rate * weeks, 1.0)
    load = np.where(lumpy, projects / mean_live, 1.0)
    return base * level * load * kernels.exp(shock - 0.5 * volatility**2), shock, projects


@settings(max_examples=60, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 400), persistence=st.floats(0.0, 0.99),
       level=st.floats(0.3, 1.5))
def test_advance_demand_equals_the_numpy_rule(seed, n, persistence, level):
    """Steady and project services mixed, shocks of both signs, projects ending and arriving."""
    rng = np.random.default_rng(seed)
    lumpy = rng.random(n) < 0.4
    rate, weeks = np.where(lumpy, rng.uniform(0.01, 0.5, n), 0.0), np.where(lumpy, rng.uniform(2.0, 30.0, n), 1.0)
    projects = np.where(lumpy, rng.integers(0, 12, n), 0).astype(np.int64)
    ended = np.minimum(rng.integers(0, 4, n), projects)
    args = (rng.uniform(1.0, 400.0, n), 0.15 * rng.uniform(0.5, 2.0, n), lumpy, rate, weeks, rng.normal(0.0, 0.3, n),
            projects, rng.standard_normal(n), ended, rng.integers(0, 3, n), level, persistence)
    got, want = kernels.advance_demand(*args, float(np.sqrt(1.0 - persistence**2))), demand_reference(*args)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_array_equal(g, w)
        assert g.dtype == w.dtype


@settings(max_examples=100, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), K=st.integers(1, 50))
def test_loyalty_equals_the_numpy_rule(seed, K):
    """Preferences of both signs, zeros (also -0.0), unknown columns and rows with nothing positive."""
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 80))
    J = rng.normal(size=(rows, K)) * rng.choice([1e-6, 1.0, 1e6], (rows, K))
    J[rng.random((rows, K)) < 0.2] = rng.choice([0.0, -0.0])
    valid = rng.random((rows, K)) < 0.7
    np.testing.assert_array_equal(loyalty(J, valid), loyalty_reference(J, valid))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), K=st.sampled_from([1, 2, 3, 4, 7, 8, 9, 17, 50, 130, 300]),
       beta=st.sampled_from([0.0, 0.05, 1.0, 3.0, 40.0]))
def test_logit_probabilities_equal_the_numpy_rule(seed, K, beta):
    """Preferences of every magnitude (exp underflows to 0 in some rows), rows with nothing allowed, and NaN or
    infinite values (a row holding one allowed gets no probability in both)."""
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 60))
    J = rng.normal(size=(rows, K)) * rng.choice([1e-3, 1.0, 30.0], (rows, K))
    J[rng.random((rows, K)) < 0.03] = rng.choice([np.nan, np.inf, -np.inf])
    allowed = rng.random((rows, K)) < rng.choice([0.0, 0.3, 1.0], (rows, 1))
    with np.errstate(all="ignore"):  # inf - inf and exp(inf) are the point of those rows
        np.testing.assert_array_equal(logit_probabilities(J, beta, allowed), logit_reference(J, beta, allowed))


@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), K=st.sampled_from([1, 2, 4, 5, 8, 9, 40, 300]))
def test_sample_rows_equals_the_numpy_draw(seed, K):
    """Weights with zeros, all-zero rows and uniforms at the edges (0, and just below 1)."""
    rng = np.random.default_rng(seed)
    rows = int(rng.integers(1, 80))
    weights = np.where(rng.random((rows, K)) < 0.4, 0.0, rng.exponential(size=(rows, K)))
    weights[rng.random(rows) < 0.1] = 0.0
    u = np.where(rng.random(rows) < 0.1, rng.choice([0.0, np.nextafter(1.0, 0.0)], rows), rng.random(rows))
    np.testing.assert_array_equal(sample_rows(weights, u), sample_rows_reference(weights, u))


@pytest.mark.parametrize("seats", [None, 3], ids=["every-provider", "shortlists-of-3"])
@pytest.mark.parametrize("intensity", [0.5, 4.0, 60.0])
def test_broker_picks_equal_the_numpy_rule(seats, intensity):
    """Every broker's pick probabilities in a market after 30 weeks of learning, some providers full (not
    eligible), rating every provider or shortlists."""
    m = market(seed=6, **{"intermediaries.count": 3, "intermediaries.panel_size": seats})
    m.refresh_shortlists()
    eligible = np.random.default_rng(1).random(m.providers.n) < 0.7
    args = (m.providers, m.prices, m.brokers, m.catalogue, eligible, intensity)
    picks = pick_table(*args)
    np.testing.assert_array_equal(picks.prob, pick_table_reference(*args))
    assert (picks.prob > 0).any() and (picks.prob == 0).any()


def test_shortlists_rate_as_the_numpy_rule_and_keep_the_same_members():
    """Every broker's ratings of every provider of a service, and the shortlists they give, as numpy gave them."""
    m = market(seed=7, **{"intermediaries.count": 4, "intermediaries.panel_size": 3})
    table, brokers, cat = m.providers, m.brokers, m.catalogue
    quality, rows = brokers.estimates(table.n), np.arange(len(brokers))
    for v in range(len(cat)):
        cand = table.offering(v)
        for region in (0, 1):
            fast = kernels.shortlist_costs(rows, cand, region, v, quality, m.prices.spot_price, m.prices.coordination,
                                           m.prices.provider_region, cat.inhouse_cost, cat.friction, cat.learning,
                                           cat.error_cost)
            np.testing.assert_array_equal(fast, rated_cost(m.prices, cat, cand, region, v, quality[rows[:, None], cand]))
    before = brokers.panel.copy()
    brokers.panel = np.full_like(before, -1)  # every group rated afresh, as after a change of size
    refresh_shortlists(brokers, table, m.prices, cat, 3, m.week, m.cfg.firms.review_interval_weeks)
    for v in range(len(cat)):
        for g, (region, home) in enumerate(zip(GROUP_REGION, (False, True, False, True))):
            offering = table.offering(v)
            cand = offering[table.region[offering] == region] if home else offering
            if len(cand) <= 3:
                continue
            cost = rated_cost(m.prices, cat, cand, region, v, quality[rows[:, None], cand])
            expected = np.sort(cand[np.argpartition(cost, 2, axis=1)[:, :3]], axis=1)
            np.testing.assert_array_equal(brokers.panel[:, v, g], expected)


def test_kernels_that_call_another_kernel_module_carry_its_current_hash():
    """numba's on-disk cache notices changes only in a kernel's own file: a module whose kernels call those of
    another kernel module (core.py's helpers, choice.py's logit, special.py's normal CDF) must carry that
    module's current hash, as
    ``<NAME>_SOURCE = "..."``, so that a change there makes numba recompile them (see core.py)."""
    folder = Path(kernels.__file__).parent
    stamped = {}
    for path in sorted(folder.glob("*.py")):
        if path.name == "__init__.py":
            continue
        for name in re.findall(r"^from simulation\.model\.kernels\.(\w+) import", path.read_text(), re.MULTILINE):
            current = hashlib.sha256((folder / f"{name}.py").read_bytes()).hexdigest()[:16]
            stamp = re.search(rf'^{name.upper()}_SOURCE = "(\w+)"', path.read_text(), re.MULTILINE)
            assert stamp and stamp.group(1) == current, f"{path.name}: set {name.upper()}_SOURCE = \"{current}\""
            stamped.setdefault(name, []).append(path.name)
    assert stamped == {"core": ["choice.py", "market.py", "options.py", "providers.py", "work.py"],
                       "choice": ["options.py", "review.py"], "prefetch": ["market.py", "options.py", "work.py"],
                       "special": ["options.py"]}


@njit
def _sum_with_prefetch(order, x, y):
    """x[i] + y[i, 0] over ``order``, asking for rows a few ahead as the kernels do: each array alone, then both."""
    total = 0.0
    for r in range(len(order)):
        if r + PREFETCH_ROWS < len(order):
            prefetch_rows(x, order[r + PREFETCH_ROWS])
            prefetch_rows((x, y), order[r + PREFETCH_ROWS])
        total += x[order[r]] + y[order[r], 0]
    return total


def test_a_prefetch_changes_no_value_and_no_array():
    """Prefetching rows of 1-d and 2-d arrays of several types, alone or in a tuple, compiles, and the loop gives what
    it gives without; what is not a row of an array is refused when the kernel compiles."""
    rng = np.random.default_rng(4)
    x, y = rng.random(5000), rng.integers(0, 100, (5000, 3))
    order = rng.permutation(5000)
    before = x.copy(), y.copy()
    total = _sum_with_prefetch(order, x, y)
    assert total == float(np.add.accumulate(x[order] + y[order, 0])[-1])
    assert np.array_equal(x, before[0]) and np.array_equal(y, before[1])
    with pytest.raises(Exception, match="prefetch_rows"):
        njit(lambda a: prefetch_rows(a, 0))(np.zeros((2, 2, 2)))  # 3-d: not a row it knows
    with pytest.raises(Exception, match="prefetch_rows"):
        njit(lambda a, b: prefetch_rows((a, b), 0))(np.zeros(3), 1.0)  # a tuple with a number in it
