"""OutsourcingModel: wires the market together and runs the weekly schedule.

The model only wires and schedules. State lives in state/ (firm-service slots, the provider table,
the contract book, spells, brokers), behaviour in the agents (agents.py), the market (market/) and
sourcing (sourcing/); each phase takes the state it needs and returns what it produced, and the week's
totals are added up in one place (metrics.week_flows). One random source: every component draws from
its own stream spawned from ``numpy.random.SeedSequence(seed)``, so demand shocks do not shift when
choice rules change (common random numbers across scenarios).
"""

from __future__ import annotations

from collections.abc import Iterable

import mesa
import numpy as np
from numpy.typing import NDArray

from simulation.config import Config, PriceHikeEvent, scaled
from simulation.config.recording import decision_firm_count, recorded_tables
from simulation.model import kernels, population
from simulation.model.agents import PROVIDER_CLASSES, Firm, Intermediary, Provider
from simulation.model.catalogue import Catalogue
from simulation.model.codes import Kind
from simulation.model.demand import DemandProcess
from simulation.model.environment import Environment
from simulation.model.market.fulfilment import Fills, Sales, fulfil
from simulation.model.market.outcomes import SlotOutcomes, realise_outcomes
from simulation.model.market.pricing import Prices, market_utilization
from simulation.model.market.providers import (LeavingProviders, capacity_and_prices, entry_services, exit_candidates,
                                              remove_provider, update_providers, week_load)
from simulation.model.market.spot import SpotMarket
from simulation.model.market.shortlists import broker_panel_size, refresh_shortlists
from simulation.model.metrics import REPORTERS, KindSplit, ProviderTotals, WeekFlows, week_flows
from simulation.model.sourcing.options import MarketView
from simulation.model.sourcing.policies import CostLogit, SourcingPolicy
from simulation.model.sourcing.review import ReviewTotals, review
from simulation.model.state.brokers import BrokerBook, prior_quality
from simulation.model.state.contracts import ContractBook
from simulation.model.state.costs import CostTracker
from simulation.model.state.decisions import DecisionLog, sample_firms
from simulation.model.state.providers import ProviderTable
from simulation.model.state.slots import NEVER, build_slots, draw_providers
from simulation.model.state.spells import SpellTracker

STREAMS = ("init", "demand", "choice", "outcome", "review", "market", "capability")


class OutsourcingModel(mesa.Model):
    """The outsourcing market. ``OutsourcingModel(cfg, seed=1).run()`` or step it week by week."""

    def __init__(self, cfg: Config, seed: int = 0) -> None:
        super().__init__(rng=seed)
        self._warmup_week: int | None = None  # the week during the warm-up (None once the run starts)
        self._leaving: LeavingProviders | None = None  # where this week's leaving providers sit, while they leave
        self.cfg = cfg.model_copy(deep=True)  # live parameters: scenario events change this copy only
        self.seed = seed
        for name, child in zip(STREAMS, np.random.SeedSequence(seed).spawn(len(STREAMS))):
            setattr(self, f"rng_{name}", np.random.default_rng(child))
        self.environment = Environment(self.cfg)
        self.catalogue = Catalogue.from_config(self.cfg)
        self.providers = ProviderTable(len(self.catalogue))
        population.initial_providers(self.providers, self.cfg, self.catalogue, self.rng_init)
        self.firms = population.draw_firms(self.cfg, self.rng_init)
        self.slots = build_slots(self.cfg, self.catalogue, self.firms.size, self.firms.region, self.providers,
                                 self.rng_init)
        self.slot_kinds = KindSplit.of(self.catalogue.kind[self.slots.service])  # fixed: slots keep their service
        self.brokers = BrokerBook()
        kept = recorded_tables(self.cfg)  # what the run records (run.record); the market is the same either way
        self.contracts = ContractBook(len(self.slots), keep_events="contracts" in kept)
        self.contracts.bind(self.slots.firm, self.slots.service, self.catalogue.names)
        self.spells = SpellTracker(len(self.slots), self.slots.columns, self.cfg.firms.spell_gap_weeks,
                                   keep="relationships" in kept)
        sample = sample_firms(len(self.firms), decision_firm_count(self.cfg), self.cfg.run.decision_firms, seed)
        self.decisions = DecisionLog("decisions" in kept, self.catalogue.names, sample)
        self.costs = CostTracker(len(self.slots))
        self.demand = DemandProcess(self.slots.base_demand, self.catalogue.project_rate[self.slots.service],
                                    self.catalogue.project_weeks[self.slots.service],
                                    population.volatility_factor(self.firms.size, self.cfg)[self.slots.firm], self.rng_demand)
        self.slots.demand_var[:] = self.demand.stationary_sd(self.cfg.firms.demand_volatility) ** 2
        population.size_providers(self.providers, self.slots, self.cfg, self.catalogue, self.environment)
        self.sourcing_policies: list[SourcingPolicy] = [CostLogit()]
        self.provider_agents: list[Provider] = [self._provider_agent(row) for row in range(self.providers.n)]
        bounds = self.slots.firm_bounds(len(self.firms))
        self.firm_agents = [Firm(self, i, np.arange(bounds[i], bounds[i + 1])) for i in range(len(self.firms))]
        self.prices = Prices.compute(self.providers, self.environment, self.cfg, self.catalogue.target_utilization.copy())
        self.broker_agents: list[Intermediary] = []
        self._admit_brokers()
        self.fills: Fills | None = None  # last week's hours per slot, by source
        self.slot_outcomes: SlotOutcomes | None = None  # last week's costs and deliveries per slot
        self.reviewed = ReviewTotals()  # last week's reviews, with what each reviewed slot paid at once
        self.flows = WeekFlows()
        self.datacollector = mesa.DataCollector(model_reporters=REPORTERS)
        self.warm_up(self.cfg.run.warmup_weeks)

    # ----------------------------------------------------------------- the weekly schedule
    def step(self) -> None:
        self.advance_environment()                               # 1. environment and parameter events
        self.trade()                                             # 2-7. the market's week
        self.datacollector.collect(self)                         # 8. weekly metrics

    def trade(self) -> None:
        """Phases 2-7 of a week; the week's totals go to ``flows``."""
        self.drift_capabilities()
        own_cost = self.inhouse_cost_per_slot()  # the same all week: wages and skills move only before it
        demand = self.realise_demand()                           # 2. demand per firm-service
        fills, market, sales = fulfil(demand, self.slots, self.providers, self.prices, self.brokers,  # 3-4.
                                      self.contracts, self.spells, self.catalogue, self.cfg, own_cost, self.week,
                                      self.rng_choice)
        self.brokers.earn(np.concatenate([s.broker for s in sales]), np.concatenate([s.fee for s in sales]))
        self.brokers.close_week(self.cfg.firms.estimate_memory_weeks, self.cfg.intermediaries.reassign_probability)
        outcomes, per_slot = realise_outcomes(fills, self.slots, self.contracts, self.providers,  # 5.
                                              self.brokers, self.spells, self.catalogue, self.cfg,
                                              own_cost, self.rng_outcome, self.week)
        self.costs.add_week(per_slot.costs.total)
        providers = self.update_providers(fills, market, sales)  # 6. prices, capacity, exit, entry
        reviewed = self.review_sourcing(own_cost)                # 7. renewals, reviews, negotiation
        self.fills, self.slot_outcomes, self.reviewed = fills, per_slot, reviewed
        self.flows = week_flows(fills, self.slot_kinds, sales, outcomes, providers, reviewed)

    @property
    def week(self) -> int:
        """The current week: 1..steps in a run; 0 or below during the warm-up."""
        return int(self.time) if self._warmup_week is None else self._warmup_week

    def warm_up(self, weeks: int) -> None:
        """Let the market run ``weeks`` weeks (numbered -weeks+1 .. 0) in the conditions of week 0: no events,
        no trend, no wage growth. Contracts signed and relationships begun carry on into the run; the weeks
        themselves are not recorded (no metrics, no decision log)."""
        if weeks <= 0:
            return
        self.slots.next_review -= weeks
        self.slots.last_worked[self.slots.last_worked > NEVER] -= weeks
        logging, self.decisions.enabled = self.decisions.enabled, False
        for w in range(-weeks + 1, 1):
            self._warmup_week = w
            self.environment.refill_talent_pools()
            self.refresh_prices()
            self.trade()
        self._warmup_week = None
        self.decisions.enabled = logging
        self.brokers.income[:] = 0.0  # what brokers earn is counted from week 1, as every flow

    def advance_environment(self) -> None:
        if self.environment.advance():
            self.catalogue = Catalogue.from_config(self.cfg)
            self._admit_brokers()
        self.refresh_prices()

    def drift_capabilities(self) -> None:
        """Each firm-service's own in-house cost takes a mean-preserving random-walk step (new managers,
        automation, lost know-how): what the firm could do itself changes over the years."""
        drift = self.cfg.firms.inhouse_cost_drift
        if drift > 0:
            kernels.drift_factors(self.rng_capability, self.slots.inhouse_factor, float(drift / np.sqrt(52.0)))

    def realise_demand(self) -> NDArray[np.float64]:
        firms = self.cfg.firms
        volatility = firms.demand_volatility * self.cfg.environment.shock_volatility_multiplier
        return self.demand.realise(self.environment.demand_level, volatility, firms.demand_persistence, self.rng_demand)

    def update_providers(self, fills: Fills, market: SpotMarket, sales: list[Sales]) -> ProviderTotals:
        """Step 6: book the week for every provider, then exits, market events and entries."""
        table = self.providers
        load = week_load(fills, market, self.slots, self.contracts, table, sales)
        before = capacity_and_prices(table, load, self.prices)
        profit = update_providers(table, load, self.prices, self.cfg, self.environment)
        leaving = exit_candidates(table, self.cfg)
        ended, exits = self._exit(leaving), len(leaving)
        for event in self.environment.due_market_events():
            largest = table.largest(scaled(event.providers, self.cfg.run.scale))
            if isinstance(event, PriceHikeEvent):
                for row in largest:
                    self.provider_agents[row].raise_prices(event.rise)
            else:
                ended += self._exit(largest, "provider failed")
                exits += len(largest)
        entering = [service for service, count in entry_services(table, self.cfg, self.rng_market) for _ in range(count)]
        self._enter(entering)
        entries = len(entering)
        self.refresh_shortlists()
        self.prices.market_utilization = market_utilization(table, self.catalogue.target_utilization)
        return ProviderTotals(**before, provider_profit=float(profit.sum()),
                              active_providers=int(table.view("active").sum()), entries=entries, exits=exits, ended=ended)

    def review_sourcing(self, own_cost: NDArray[np.float64] | None = None) -> ReviewTotals:
        """Step 7; ``own_cost`` is this week's :meth:`inhouse_cost_per_slot` if already computed."""
        self.explore()  # after providers have booked the week, so no column changes under its hours
        view = MarketView(self.slots, self.providers, self.contracts, self.brokers, self.prices, self.catalogue,
                          self.cfg, self.week)
        return review(view, self.spells, self.sourcing_policies, self.decisions, self.costs,
                      self.inhouse_cost_per_slot() if own_cost is None else own_cost, self.rng_review)

    def explore(self) -> None:
        """A few firm-services a week swap their least preferred known provider for a random one."""
        slots, book = self.slots, self.contracts
        s = np.flatnonzero(self.rng_market.random(len(slots)) < self.cfg.choice.exploration_probability)
        if len(s) == 0:
            return
        score = np.where(slots.known[s], slots.preference[s], -np.inf)
        holder = book.holds(s)
        score[np.flatnonzero(holder), book.k[s[holder]]] = np.inf
        k = score.argmin(axis=1)
        j = draw_providers(self.providers, slots.service[s], slots.home_only[s], self.rng_market)
        fresh = (j >= 0) & ~(slots.provider[s] == j[:, None]).any(axis=1) & np.isfinite(score[np.arange(len(s)), k])
        slots.introduce(s[fresh], k[fresh], j[fresh], self.catalogue.prior_quality, self.spells)

    # ----------------------------------------------------------------- derived values
    def refresh_prices(self) -> None:
        """Recompute this week's costs and spot prices (after parameter changes, entries or price changes)."""
        self.prices = Prices.compute(self.providers, self.environment, self.cfg, self.prices.market_utilization)
        self.brokers.apply_config_fee(self.cfg.intermediaries.fee_rate)

    def inhouse_cost_per_slot(self) -> NDArray[np.float64]:
        """A firm's own cost per hour for each of its services, following its home region's wages."""
        slots = self.slots
        return self.catalogue.inhouse_cost[slots.service] * self.prices.wage_index[slots.region] * slots.inhouse_factor

    # ----------------------------------------------------------------- policies, agents, entry and exit
    def assign_policy(self, policy: SourcingPolicy, slots: Iterable[int] | NDArray[np.bool_]) -> None:
        """From their next review on, the given firm-service slots (rows, or a mask over all) source by ``policy``."""
        if not isinstance(policy, SourcingPolicy):
            raise TypeError(f"a sourcing policy must subclass SourcingPolicy, got {type(policy).__name__}")
        if policy not in self.sourcing_policies:
            self.sourcing_policies.append(policy)
        rows = np.asarray(slots if isinstance(slots, np.ndarray) else list(slots))
        self.slots.policy[rows] = self.sourcing_policies.index(policy)

    def _exit(self, rows: NDArray, *reason: str) -> int:
        """Providers ``rows`` leave in turn through their agents' ``exit_market``; returns contracts ended."""
        if len(rows) == 0:
            return 0
        self._leaving = LeavingProviders(rows, self.providers.n, self.slots, self.contracts)
        try:
            return sum(self.provider_agents[row].exit_market(*reason) for row in rows)
        finally:
            self._leaving = None

    def remove_provider(self, row: int, reason: str) -> int:
        """Take provider ``row`` out of the market (through its agent's ``exit_market``); returns contracts ended."""
        return remove_provider(row, self.providers, self.slots, self.contracts, self.spells, self.catalogue,
                               self.rng_market, self.week, reason, self._leaving)

    def _provider_agent(self, row: int) -> Provider:
        return PROVIDER_CLASSES[Kind(int(self.providers.kind[row]))](self, row)

    def _admit_brokers(self) -> None:
        """Brokers at the start, and brokers entering mid-run (intermediaries.count raised by an event), who
        win clients from the incumbents."""
        target, have = scaled(self.cfg.intermediaries.count, self.cfg.run.scale), len(self.brokers)
        if target <= have:
            return
        p = self.cfg.providers
        self.brokers.add(target - have, self.cfg.intermediaries.fee_rate,
                         prior_quality(p.reliability_mean_bpo, p.reliability_mean_kpo, p.late_base_rate))
        self.broker_agents += [Intermediary(self, b) for b in range(have, target)]
        self.refresh_shortlists()
        if self.time == 0 and self._warmup_week is None:  # the brokers of the initial market
            return
        n_firms = len(self.firms)
        moves = self.rng_market.random(n_firms) < (target - have) / target
        firm_broker = self.slots.broker[self.slots.firm_bounds(n_firms)[:-1]].copy() if have else np.zeros(n_firms, np.int64)
        firm_broker[moves] = self.rng_market.integers(have, target, moves.sum())
        if have == 0:
            firm_broker[~moves] = self.rng_market.integers(0, target, (~moves).sum())
        self.slots.broker[:] = firm_broker[self.slots.firm]

    def refresh_shortlists(self) -> None:
        """Brokers update their shortlists, if they keep any (after exits and entries)."""
        refresh_shortlists(self.brokers, self.providers, self.prices, self.catalogue, broker_panel_size(self.cfg),
                           self.week, self.cfg.firms.review_interval_weeks)

    def _enter(self, services: list[int]) -> None:
        """One new provider of each of ``services``, in turn (each sized on the incumbents, earlier entrants
        included); the prices are recomputed once, after the last (nothing between reads them)."""
        for service in services:
            row = population.entrant(self.providers, service, self.week, self.cfg, self.catalogue, self.rng_market,
                                     self.rng_init)
            self.provider_agents.append(self._provider_agent(row))
        if services:
            self.refresh_prices()

    # ----------------------------------------------------------------- running
    def run(self, steps: int | None = None) -> OutsourcingModel:
        for _ in range(self.cfg.run.steps if steps is None else steps):
            self.step()
        return self

    def settled_decision_rows(self) -> int:
        """Decision-log rows below this one are final: no open review period will fill in their realised cost."""
        open_rows = self.costs.row[self.costs.row >= 0]
        return int(open_rows.min()) if len(open_rows) else self.decisions.rows

    def finish(self) -> None:
        """Close the books at the horizon: open spells become right-censored records, and the last review
        period of every slot closes (its realised cost goes into the decision log)."""
        self.spells.finish()
        if self.decisions.enabled:
            self.decisions.set_realised(*self.costs.close(np.arange(len(self.slots))))
