"""OutsourcingModel: wires the populations together and runs the weekly schedule (DESIGN.md section 3).

The model only wires and schedules: behaviour lives in fulfilment.py (steps 3-5), providers.py
(step 6), review.py (step 7), the agents and the market; reporters live in metrics.py. One random
source: the Mesa model's rng is seeded with the run seed, and every component draws from its own
stream spawned from ``numpy.random.SeedSequence(seed)``, so demand shocks do not shift when choice
rules change (common random numbers across scenarios).
"""

from __future__ import annotations

import mesa
import numpy as np
from numpy.typing import NDArray

from simulation.model.agents import BPOProvider, Firm, Intermediary, KPOSpecialist, Provider
from simulation.model.catalogue import Catalogue
from simulation.config import Config
from simulation.model.state.contracts import ContractBook
from simulation.model.state.decisions import DecisionLog
from simulation.model.demand import DemandProcess
from simulation.model.environment import REGIONS, Environment
from simulation.model.market.fulfilment import (Fills, deliver_contracts, in_house_and_residual, realise_outcomes,
                                   serve_on_call)
from simulation.model.market.spot import SpotMarket
from simulation.model.metrics import REPORTERS, WeekFlows
from simulation.model.market.providers import (BPO, KPO, ProviderTable, base_cost, coordination_cost, entry_services,
                                  exit_candidates, update_providers)
from simulation.model.records import ContractEventKind, Mode
from simulation.model.sourcing.review import close_contracts, review
from simulation.model.state.slots import build_slots, draw_providers, replace_candidates
from simulation.model.state.spells import SpellTracker

STREAMS = ("init", "demand", "choice", "outcome", "review", "market")


class OutsourcingModel(mesa.Model):
    """The outsourcing market. ``OutsourcingModel(cfg, seed=1).run()`` or step it week by week."""

    def __init__(self, cfg: Config, seed: int = 0) -> None:
        super().__init__(rng=seed)
        self.cfg = cfg.model_copy(deep=True)  # live parameters: scenario events change this copy only
        self.seed = seed
        for name, child in zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS))):
            setattr(self, f"rng_{name}", np.random.default_rng(child))
        self.environment = Environment(self.cfg)
        self.catalogue = Catalogue.from_config(self.cfg)
        self.providers = ProviderTable(len(self.catalogue))
        self.provider_agents: list[Provider] = []
        self._create_providers()
        self._create_firms()
        p = self.cfg.providers
        prior = 0.5 * (p.reliability_mean_bpo + p.reliability_mean_kpo) * (1.0 - p.late_base_rate)
        self.brokers = [Intermediary(self, b, self.cfg.intermediaries.fee_rate, prior)
                        for b in range(self.cfg.intermediaries.count)]
        S, K = self.slots.cand.shape
        self.contracts = ContractBook(S)
        self.contracts.bind(self.slots.firm, self.slots.service, self.catalogue.names)
        self.spells = SpellTracker(S, K, self.cfg.firms.spell_gap_weeks)
        self.decisions = DecisionLog(self.cfg.run.record_decisions, self.catalogue.names)
        self.demand = DemandProcess(self.slots.base_demand, self.catalogue.project_rate[self.slots.service],
                                    self.catalogue.project_weeks[self.slots.service], self.rng_demand)
        self.slots.var[:] = self.demand.stationary_sd(self.cfg.firms.demand_volatility) ** 2
        self._size_providers()
        self.prev_utilization = np.zeros(self.providers.n)
        self.pending_revenue = np.zeros(self.providers.n)
        self.flows = WeekFlows()
        self.refresh_parameters()
        self.service_utilization = self.target_util_by_service.copy()  # market tightness before week 1
        self.datacollector = mesa.DataCollector(model_reporters=REPORTERS)

    # ----------------------------------------------------------------- the weekly schedule
    def step(self) -> None:
        self.flows = WeekFlows()
        self.sales = np.zeros(self.providers.n)  # provider-side revenue booked this week
        self.advance_environment()                       # 1. environment and scenario events
        demand = self.realise_demand()                   # 2. demand per firm-service
        permanent, paid, fee = self.deliver_permanent(demand)  # 3. permanent contracts first
        fills = self.serve_residual(demand, permanent, paid, fee)  # 4. in-house, then on-call
        self.realise_outcomes(fills)                     # 5. quality, learning, preferences
        self.update_providers(fills)                     # 6. prices, capacity, exit, entry
        self.review_sourcing()                           # 7. renewals, reviews, negotiation
        self.datacollector.collect(self)                 # 8. weekly metrics

    @property
    def week(self) -> int:
        return int(self.time)

    def advance_environment(self) -> None:
        if self.environment.advance():
            self.catalogue = Catalogue.from_config(self.cfg)
            self._admit_brokers()
            for broker in self.brokers:
                broker.fee_rate = self.cfg.intermediaries.fee_rate
        self.refresh_parameters()

    def realise_demand(self) -> NDArray[np.float64]:
        f = self.cfg.firms
        vol = f.demand_volatility * self.cfg.environment.shock_volatility_multiplier
        self.demand.base = self.slots.base_demand
        return self.demand.realise(self.environment.demand_level, vol, f.demand_persistence, self.rng_demand)

    def deliver_permanent(self, demand: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        return deliver_contracts(self, demand)

    def serve_residual(self, demand: NDArray, permanent: NDArray, paid: NDArray, fee: NDArray) -> Fills:
        inhouse, need = in_house_and_residual(self, demand, permanent)
        self.market = SpotMarket.open(self.providers.view("capacity"), self.contracts.committed(self.providers.n),
                                      self.providers.view("active"))
        served, spend, fees = serve_on_call(self, need, self.market)
        on_call = served.sum(axis=1)
        return Fills(demand=demand, permanent=permanent, in_house=inhouse, on_call=on_call, unmet=need - on_call,
                     served=served, spend=spend, broker_spend=fees, permanent_paid=paid, permanent_fee=fee,
                     reserved=np.where(self.contracts.active, self.contracts.reserved, 0.0))

    def book_sales(self, provider: NDArray, revenue: NDArray, broker: NDArray, fee: NDArray) -> None:
        """Book what providers earn and what brokers earn, each on its own side of the ledger."""
        self.sales += np.bincount(provider, weights=revenue, minlength=len(self.sales))
        self.flows.provider_revenue += float(revenue.sum())
        for b, intermediary in enumerate(self.brokers):
            intermediary.income += float(fee[broker == b].sum())
        self.flows.broker_fees += float(fee.sum())

    def realise_outcomes(self, fills: Fills) -> None:
        self.fills = fills
        realise_outcomes(self, fills)

    def update_providers(self, f: Fills) -> None:
        t, n, sl, book = self.providers, self.providers.n, self.slots, self.contracts
        j = sl.cand
        used = self.market.served.copy()
        act = np.flatnonzero(book.active)
        used += np.bincount(book.provider[act], weights=f.permanent[act], minlength=n)
        revenue = self.sales + self.pending_revenue
        cross = t.region[j] != sl.region[:, None]
        cross_hours = np.bincount(j[cross], weights=f.served[cross], minlength=n)
        cross_p = act[t.region[book.provider[act]] != sl.region[act]]
        cross_hours += np.bincount(book.provider[cross_p], weights=f.permanent[cross_p], minlength=n)
        committed = book.committed(n)
        has_main = sl.main_provider >= 0  # unserved on-call work counts as asked of the firm's usual provider
        asked = self.market.served + np.bincount(sl.main_provider[has_main], weights=f.unmet[has_main], minlength=n)
        cap_before = t.view("capacity").copy()
        self.flows.max_overuse = float(np.max(used - cap_before, initial=-np.inf)) if n else 0.0
        self.flows.capacity = float(cap_before[t.view("active")].sum())
        self.flows.used = float(used.sum())
        profit = update_providers(t, self.cfg, self.environment, used, committed, asked, revenue, cross_hours,
                                  self.unit_cost)
        self.flows.provider_profit = float(profit.sum())
        self.prev_utilization = t.view("utilization").copy()
        self.pending_revenue = np.zeros(n)
        for row in exit_candidates(t, self.cfg):
            self._exit(int(row))
        if self.week == self.cfg.providers.price_hike_week:
            t.price_factor[self._largest_providers(self.cfg.providers.price_hike_count)] *= 1.0 + self.cfg.providers.price_hike
        if self.week == self.cfg.providers.failure_week:
            for row in self._largest_providers(self.cfg.providers.failure_count):
                self._exit(int(row), reason="provider failed")
        for v in entry_services(t, self.cfg, self.rng_market):
            self._enter(v)
        self.flows.active_providers = int(t.view("active").sum())
        self._refresh_service_utilization()

    def review_sourcing(self) -> None:
        self.explore()  # after providers have booked the week, so no column changes under its hours
        review(self)

    # ----------------------------------------------------------------- firms' exploration
    def explore(self) -> None:
        """A few firm-services a week swap their least preferred known provider for a random one."""
        sl, book = self.slots, self.contracts
        s = np.flatnonzero(self.rng_market.random(len(sl)) < self.cfg.choice.exploration_probability)
        if len(s) == 0:
            return
        score = np.where(sl.cand_ok[s], sl.J[s], -np.inf)
        holder = book.active[s]
        score[np.flatnonzero(holder), book.k[s[holder]]] = np.inf
        k = score.argmin(axis=1)
        j = draw_providers(self.providers, sl.service[s], self.rng_market)
        fresh = (j >= 0) & ~(sl.cand[s] == j[:, None]).any(axis=1) & np.isfinite(score[np.arange(len(s)), k])
        s, k, j = s[fresh], k[fresh], j[fresh]
        self.spells.close_column(s, k)
        replace_candidates(sl, s, k, j, self.cfg, self.catalogue)

    # ----------------------------------------------------------------- derived parameters
    def refresh_parameters(self) -> None:
        """Recompute arrays that depend on parameters and the environment (cheap, once a week)."""
        t = self.providers
        self.unit_cost = base_cost(t, self.environment, self.cfg)
        self.coordination = coordination_cost(t, self.cfg)
        self.spot_price = self.unit_cost * (1.0 + t.view("markup")) * t.view("price_factor")
        self.fee_rate = self.cfg.intermediaries.fee_rate
        self.wage_index = np.array([self.environment.wage_index[r] for r in REGIONS])
        kinds = self.catalogue.kind
        self.target_util_by_service = np.where(kinds == KPO, self.cfg.providers.target_utilization_kpo,
                                               self.cfg.providers.target_utilization_bpo)

    def _refresh_service_utilization(self) -> None:
        t = self.providers
        n = t.n
        act = t.view("active")
        used = t.view("utilization") * t.view("capacity")
        offers = t.offers[:n] & act[:, None]
        cap = (offers * t.view("capacity")[:, None]).sum(axis=0)
        self.service_utilization = np.divide((offers * used[:, None]).sum(axis=0), cap,
                                             out=self.target_util_by_service.copy(), where=cap > 0)

    def inhouse_cost_per_slot(self) -> NDArray[np.float64]:
        """A firm's own cost per hour for each of its services, following its home region's wages."""
        sl = self.slots
        return self.catalogue.inhouse_cost[sl.service] * self.wage_index[sl.region] * sl.inhouse_factor

    # ----------------------------------------------------------------- construction
    def _create_providers(self) -> None:
        cfg, cat = self.cfg, self.catalogue
        rng = self.rng_init
        for kind, count, per in ((BPO, cfg.providers.bpo_count, cfg.providers.services_per_bpo),
                                 (KPO, cfg.providers.kpo_count, cfg.providers.services_per_kpo)):
            pool = np.flatnonzero(cat.kind == kind)
            if len(pool) == 0:
                continue
            offset = rng.integers(0, len(pool))
            for i in range(count):
                offers = np.zeros(len(cat), bool)
                offers[pool[(offset + i + np.arange(min(per, len(pool)))) % len(pool)]] = True
                self._add_provider(kind, int(rng.random() < cfg.providers.offshore_share), offers, 1.0, week=0)

    def _add_provider(self, kind: int, region: int, offers: NDArray, capacity: float, week: int,
                      markup: float | None = None) -> int:
        p = self.cfg.providers
        mean = p.reliability_mean_kpo if kind == KPO else p.reliability_mean_bpo
        sd = p.reliability_sd * (2.0 if kind == KPO else 1.0)
        mean += self.cfg.regions[REGIONS[region]].reliability_offset
        rel = float(np.clip(mean + sd * self.rng_init.standard_normal(), 0.3, 1.0))
        skill = int(self.catalogue.skill[offers].max())
        initial = p.initial_markup_kpo if kind == KPO else p.initial_markup_bpo
        row = self.providers.add(kind, region, skill, offers, capacity, initial if markup is None else markup, rel, week)
        agent_cls = KPOSpecialist if kind == KPO else BPOProvider
        self.provider_agents.append(agent_cls(self, row))
        return row

    def _create_firms(self) -> None:
        f = self.cfg.firms
        rng = self.rng_init
        sizes = np.exp(f.size_log_mean + f.size_log_sd * rng.standard_normal(f.count))
        region = (rng.random(f.count) < f.offshore_home_share).astype(np.int8)
        self.slots = build_slots(self.cfg, self.catalogue, sizes, region, self.providers, rng)
        bounds = np.searchsorted(self.slots.firm, np.arange(f.count + 1))
        self.firm_agents = []
        for i in range(f.count):
            firm = Firm(self, i, float(sizes[i]), REGIONS[region[i]])
            firm.slots = np.arange(bounds[i], bounds[i + 1])
            self.firm_agents.append(firm)
        self.firm_sizes = sizes
        self.firm_regions = region

    def _size_providers(self) -> None:
        """Initial capacity: enough for the outsourced share of expected demand, split among providers."""
        t, sl, cat = self.providers, self.slots, self.catalogue
        n = t.n
        outsourced = np.bincount(sl.service, weights=sl.base_demand * (sl.mode != Mode.IN_HOUSE), minlength=len(cat))
        n_offer = np.maximum(t.offers[:n].sum(axis=0), 1)
        per = self.cfg.providers.initial_capacity_ratio * outsourced / n_offer
        t.capacity[:n] = np.maximum(t.offers[:n] @ per, 1.0)
        t.demand_ema[:n] = t.capacity[:n] * np.where(t.kind[:n] == KPO, self.cfg.providers.target_utilization_kpo,
                                                     self.cfg.providers.target_utilization_bpo)

    # ----------------------------------------------------------------- exit and entry
    def _largest_providers(self, count: int) -> NDArray[np.int64]:
        """Rows of the ``count`` largest active providers by capacity (never the last of a service)."""
        t = self.providers
        act = np.flatnonzero(t.view("active"))
        order = act[np.argsort(-t.capacity[act], kind="stable")]
        chosen, left = [], (t.offers[: t.n] & t.view("active")[:, None]).sum(axis=0)
        for row in order:
            if len(chosen) == count:
                break
            if np.all(left[t.offers[row]] > 1):
                left[t.offers[row]] -= 1
                chosen.append(row)
        return np.asarray(chosen, np.int64)

    def _admit_brokers(self) -> None:
        """Brokers entering mid-run (intermediaries.count raised by an event) win clients from incumbents."""
        target, have = self.cfg.intermediaries.count, len(self.brokers)
        if target <= have:
            return
        p = self.cfg.providers
        prior = 0.5 * (p.reliability_mean_bpo + p.reliability_mean_kpo) * (1.0 - p.late_base_rate)
        self.brokers += [Intermediary(self, b, self.cfg.intermediaries.fee_rate, prior) for b in range(have, target)]
        n_firms = len(self.firm_agents)
        moves = self.rng_market.random(n_firms) < (target - have) / target
        firm_broker = self.slots.broker[np.searchsorted(self.slots.firm, np.arange(n_firms))].copy() if have else \
            np.zeros(n_firms, np.int64)
        firm_broker[moves] = self.rng_market.integers(have, target, moves.sum())
        if have == 0:
            firm_broker[~moves] = self.rng_market.integers(0, target, (~moves).sum())
        self.slots.broker[:] = firm_broker[self.slots.firm]

    def _exit(self, row: int, reason: str = "provider exited the market") -> None:
        sl, book = self.slots, self.contracts
        self.provider_agents[row].exit_market(self.week)
        hit = np.flatnonzero(book.active & (book.provider == row))
        if len(hit):
            close_contracts(self, hit, ContractEventKind.PROVIDER_EXIT, reason)
            sl.next_review[hit] = self.week  # re-source at this week's review
        s, k = np.nonzero((sl.cand == row) & sl.cand_ok)
        self.spells.close_column(s, k)
        j = draw_providers(self.providers, sl.service[s], self.rng_market)
        ok = (j >= 0) & ~(sl.cand[s] == j[:, None]).any(axis=1)  # a provider appears once in a set
        replace_candidates(sl, s[ok], k[ok], j[ok], self.cfg, self.catalogue)
        sl.cand_ok[s[~ok], k[~ok]] = False
        self.flows.exits += 1

    def _enter(self, v: int) -> None:
        t = self.providers
        n = t.n
        incumbents = np.flatnonzero(t.active[:n] & t.offers[:n, v])
        kind = int(self.catalogue.kind[v])
        offers = np.zeros(len(self.catalogue), bool)
        offers[v] = True
        cap = 0.5 * float(np.median(t.capacity[incumbents])) if len(incumbents) else 100.0
        row = self._add_provider(kind, int(self.rng_market.random() < self.cfg.providers.offshore_share), offers, cap,
                                 self.week, markup=float(np.mean(t.markup[incumbents])) if len(incumbents) else None)
        self.prev_utilization = np.r_[self.prev_utilization, 0.0]
        self.pending_revenue = np.r_[self.pending_revenue, 0.0]
        t.demand_ema[row] = cap * 0.5
        self.refresh_parameters()
        self.flows.entries += 1

    # ----------------------------------------------------------------- running
    def run(self, steps: int | None = None) -> "OutsourcingModel":
        for _ in range(self.cfg.run.steps if steps is None else steps):
            self.step()
        return self

    def finish(self) -> None:
        """Close the books at the horizon: open spells become right-censored records."""
        self.spells.finish()

