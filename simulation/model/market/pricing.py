"""Provider costs and spot prices: what an hour of work costs each provider and what it asks for it.

A provider's unit cost per hour of output is its region's wage x a skill premium / productivity
(BPO staff pooled across clients are more productive per paid hour). Serving a client in the other
region adds a coordination cost (higher for skilled work) and, for KPO work, any compliance cost of
the provider's region; providers pass it through to the client. Firms differ in how hard they are to
serve across the border: each has a coordination factor (mean 1) that scales that cost. The spot price is the unit cost
times (1 + the provider's markup, which moves with its utilisation) times its own price factor (a
price hike). :class:`Prices` holds these for the current week.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config
from simulation.model import kernels
from simulation.model.codes import REGIONS, Kind
from simulation.model.environment import Environment
from simulation.model.state.providers import ProviderTable


def skill_premium(table: ProviderTable, cfg: Config) -> NDArray[np.float64]:
    """Wage multiplier of each provider's skill level."""
    return kernels.power(cfg.providers.skill_wage_premium, table.skill[: table.n].astype(float) - 1.0)


def unit_cost(table: ProviderTable, env: Environment, cfg: Config,
              premium: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
    """Unit cost per hour of output: regional wage x skill premium / productivity (``premium``: the
    :func:`skill_premium` if already computed)."""
    n = table.n
    wage = np.array([env.wage_per_hour(r) for r in REGIONS])[table.region[:n]]
    productivity = np.where(table.kind[:n] == Kind.KPO, cfg.providers.productivity_kpo, cfg.providers.productivity_bpo)
    return wage * (skill_premium(table, cfg) if premium is None else premium) / productivity


def coordination_cost(table: ProviderTable, cfg: Config, premium: NDArray[np.float64]) -> NDArray[np.float64]:
    """Extra cost per hour of serving a client in the other region, by provider: coordination (skilled work
    costs more to coordinate, by the :func:`skill_premium` ``premium``) plus any compliance cost on cross-border
    KPO work."""
    n = table.n
    per_region = np.array([cfg.regions[r].coordination_cost_per_hour for r in REGIONS])
    compliance = np.array([cfg.regions[r].kpo_compliance_cost_per_hour for r in REGIONS])
    region = table.region[:n]
    return per_region[region] * premium + np.where(table.kind[:n] == Kind.KPO, compliance[region], 0.0)


@dataclass
class Prices:
    """This week's cost and price terms, per provider row unless said otherwise.

    ``market_utilization`` (per service) is the utilisation of the providers offering each service at
    the end of last week: the market tightness that gives providers bargaining power.
    """

    unit_cost: NDArray[np.float64]
    coordination: NDArray[np.float64]  # cu/hour added for a client in the other region
    spot_price: NDArray[np.float64]  # cu/hour for a client in the provider's own region
    provider_region: NDArray[np.int8]
    wage_index: NDArray[np.float64]  # per region
    market_utilization: NDArray[np.float64]  # per service

    @classmethod
    def compute(cls, table: ProviderTable, env: Environment, cfg: Config,
                market_utilization: NDArray[np.float64]) -> Prices:
        premium = skill_premium(table, cfg)
        cost = unit_cost(table, env, cfg, premium)
        return cls(unit_cost=cost, coordination=coordination_cost(table, cfg, premium),
                   spot_price=cost * (1.0 + table.view("markup")) * table.view("price_factor"),
                   provider_region=table.view("region"),
                   wage_index=np.array([env.wage_index[r] for r in REGIONS]),
                   market_utilization=market_utilization)

    def for_client(self, provider: NDArray, client_region: NDArray, client_factor: NDArray | float = 1.0) -> NDArray[np.float64]:
        """Spot price per hour each provider charges a client in ``client_region`` whose coordination cost factor
        is ``client_factor`` (the coordination cost of serving it from the other region is passed on)."""
        cross = self.provider_region[provider] != client_region
        return self.spot_price[provider] + self.coordination[provider] * cross * client_factor

    def cost_for_client(self, provider: NDArray, client_region: NDArray, client_factor: NDArray | float = 1.0) -> NDArray[np.float64]:
        """Unit cost per hour of serving a client, coordination included."""
        cross = self.provider_region[provider] != client_region
        return self.unit_cost[provider] + self.coordination[provider] * cross * client_factor


def market_utilization(table: ProviderTable, default: NDArray[np.float64]) -> NDArray[np.float64]:
    """Capacity-weighted utilisation of the active providers offering each service (``default`` where none)."""
    n = table.n
    act = table.view("active")
    used = table.view("utilization") * table.view("capacity")
    offers = table.offers[:n] & act[:, None]
    cap = (offers * table.view("capacity")[:, None]).sum(axis=0)
    return np.divide((offers * used[:, None]).sum(axis=0), cap, out=default.copy(), where=cap > 0)
