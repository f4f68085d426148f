"""Provider population: BPO providers and KPO specialists as rows of numpy arrays.

Pricing, capacity, exit and entry run vectorised over all providers once a week:
- spot markup moves with utilisation relative to a target (BPO ~82%, KPO ~70% billable);
- capacity moves toward (commitments + expected on-call demand) / target utilisation with a hiring
  lag; KPO hiring draws on the region's talent pool (scarce skills, slow to hire);
- a provider exits after ``exit_loss_weeks`` consecutive weeks of running losses, unless it is the
  last one offering a service; new providers enter services whose incumbents earn high margins.
The Mesa agents in agents.py are handles onto these rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config
from simulation.model.environment import REGIONS, Environment

BPO, KPO = 0, 1
DOMESTIC, OFFSHORE = 0, 1


class ProviderTable:
    """Growable arrays, one row per provider that ever existed (exited rows stay for the record)."""

    def __init__(self, n_services: int) -> None:
        self.n = 0
        self.n_services = n_services
        cap = 16
        self.kind = np.zeros(cap, np.int8)
        self.region = np.zeros(cap, np.int8)
        self.skill = np.zeros(cap, np.int8)
        self.offers = np.zeros((cap, n_services), bool)
        self.capacity = np.zeros(cap)
        self.markup = np.zeros(cap)
        self.reliability = np.zeros(cap)
        self.active = np.zeros(cap, bool)
        self.profit_ema = np.zeros(cap)
        self.revenue_ema = np.zeros(cap)
        self.demand_ema = np.zeros(cap)
        self.loss_weeks = np.zeros(cap, np.int32)
        self.utilization = np.zeros(cap)
        self.entry_week = np.zeros(cap, np.int32)
        self.exit_week = np.full(cap, -1, np.int32)
        self.price_factor = np.ones(cap)  # a provider's own price hike (1 = none)

    _fields = ("kind", "region", "skill", "offers", "capacity", "markup", "reliability", "active", "profit_ema",
               "revenue_ema", "demand_ema", "loss_weeks", "utilization", "entry_week", "exit_week", "price_factor")

    def add(self, kind: int, region: int, skill: int, offers: NDArray[np.bool_], capacity: float, markup: float,
            reliability: float, week: int) -> int:
        """Append one provider; returns its row."""
        if self.n == len(self.kind):
            for name in self._fields:
                arr = getattr(self, name)
                grown = np.zeros((2 * len(arr),) + arr.shape[1:], arr.dtype)
                if name == "exit_week":
                    grown[:] = -1
                if name == "price_factor":
                    grown[:] = 1.0
                grown[: len(arr)] = arr
                setattr(self, name, grown)
        j = self.n
        self.kind[j], self.region[j], self.skill[j] = kind, region, skill
        self.offers[j] = offers
        self.capacity[j], self.markup[j], self.reliability[j] = capacity, markup, reliability
        self.active[j], self.entry_week[j] = True, week
        self.demand_ema[j] = capacity * 0.5
        self.n += 1
        return j

    def view(self, name: str) -> NDArray:
        """The live rows of one field."""
        return getattr(self, name)[: self.n]


def base_cost(table: ProviderTable, env: Environment, cfg: Config) -> NDArray[np.float64]:
    """Unit cost per hour of output: regional wage x skill premium / productivity."""
    n = table.n
    wage = np.array([env.wage_per_hour(r) for r in REGIONS])[table.region[:n]]
    prod = np.where(table.kind[:n] == KPO, cfg.providers.productivity_kpo, cfg.providers.productivity_bpo)
    premium = cfg.providers.skill_wage_premium ** (table.skill[:n].astype(float) - 1.0)
    return wage * premium / prod


def coordination_cost(table: ProviderTable, cfg: Config) -> NDArray[np.float64]:
    """Extra cost per hour of serving a client in the other region, by provider: coordination (skilled work
    costs more to coordinate) plus any compliance cost on cross-border KPO work."""
    n = table.n
    per_region = np.array([cfg.regions[r].coordination_cost_per_hour for r in REGIONS])
    compliance = np.array([cfg.regions[r].kpo_compliance_cost_per_hour for r in REGIONS])
    premium = cfg.providers.skill_wage_premium ** (table.skill[:n].astype(float) - 1.0)
    region = table.region[:n]
    return per_region[region] * premium + np.where(table.kind[:n] == KPO, compliance[region], 0.0)


def target_utilization(table: ProviderTable, cfg: Config) -> NDArray[np.float64]:
    p = cfg.providers
    return np.where(table.kind[: table.n] == KPO, p.target_utilization_kpo, p.target_utilization_bpo)


def update_providers(table: ProviderTable, cfg: Config, env: Environment, used: NDArray[np.float64],
                     committed: NDArray[np.float64], spot_requested: NDArray[np.float64],
                     revenue: NDArray[np.float64], cross_hours: NDArray[np.float64],
                     unit_cost: NDArray[np.float64]) -> NDArray[np.float64]:
    """Weekly pricing, capacity and profit bookkeeping for every active provider (in place).

    Returns:
        This week's profit per provider (zero for providers that had already exited).
    """
    p = cfg.providers
    n = table.n
    act = table.active[:n]
    cap = table.capacity[:n]
    util = np.divide(used, cap, out=np.zeros(n), where=cap > 0)
    table.utilization[:n] = np.where(act, util, 0.0)
    target = target_utilization(table, cfg)
    if not p.fixed_price:
        table.markup[:n] = np.clip(table.markup[:n] + p.markup_speed * (util - target) * act, p.markup_min, p.markup_max)

    a = 1.0 / p.profit_memory_weeks
    table.demand_ema[:n] += a * (committed + spot_requested - table.demand_ema[:n])
    cost = cap * unit_cost + cross_hours * coordination_cost(table, cfg)
    profit = np.where(act, revenue - cost, 0.0)
    table.profit_ema[:n] += a * (profit - table.profit_ema[:n])
    table.revenue_ema[:n] += a * (revenue - table.revenue_ema[:n])
    table.loss_weeks[:n] = np.where(act & (table.profit_ema[:n] < 0), table.loss_weeks[:n] + 1, 0)

    if p.fixed_price:
        return profit  # validation cases: capacity, prices and quality stay as set
    desired = np.maximum(table.demand_ema[:n], committed) / np.maximum(target, 1e-6)
    lag = np.where(table.kind[:n] == KPO, p.hiring_lag_weeks_kpo, p.hiring_lag_weeks_bpo)
    change = (desired - cap) / lag
    hires = np.where(act, np.maximum(change, 0.0), 0.0)
    for r, name in enumerate(REGIONS):  # KPO hiring is limited by the regional talent pool
        kpo_r = (table.kind[:n] == KPO) & (table.region[:n] == r) & (hires > 0)
        wanted = float(hires[kpo_r].sum())
        if wanted > 0:
            hires[kpo_r] *= env.hire_from_pool(name, wanted) / wanted
    new_cap = cap + hires + np.where(act, np.minimum(change, 0.0), 0.0)
    table.capacity[:n] = np.where(act, np.maximum(new_cap, np.maximum(committed, 1.0)), cap)
    return profit


def exit_candidates(table: ProviderTable, cfg: Config) -> NDArray[np.intp]:
    """Rows that exit this week: sustained losses, but never the last active provider of a service."""
    if not cfg.providers.exit_enabled:
        return np.empty(0, np.intp)
    n = table.n
    losing = np.flatnonzero(table.active[:n] & (table.loss_weeks[:n] >= cfg.providers.exit_loss_weeks))
    out = []
    counts = (table.offers[:n] & table.active[:n, None]).sum(axis=0)
    for j in losing:
        served = table.offers[j]
        if np.all(counts[served] > 1):
            counts[served] -= 1
            out.append(j)
    return np.asarray(out, np.intp)


def entry_services(table: ProviderTable, cfg: Config, rng: np.random.Generator) -> list[int]:
    """Services that get a new provider this week (high incumbent margins, then a coin flip)."""
    p = cfg.providers
    if not p.entry_enabled:
        return []
    n = table.n
    act = table.active[:n]
    margin = np.divide(table.profit_ema[:n], table.revenue_ema[:n], out=np.zeros(n), where=table.revenue_ema[:n] > 0)
    out = []
    draws = rng.random(table.n_services)
    for v in range(table.n_services):
        who = act & table.offers[:n, v]
        if who.any() and margin[who].mean() > p.entry_margin and draws[v] < p.entry_probability:
            out.append(v)
    return out

