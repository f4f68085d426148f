"""Building the market at week 0, and providers entering later: the state rows, not the agent handles.

Providers are spread over the services of their kind in turn, each offering a few adjacent ones; a
share of them is offshore. Firms get lognormal sizes, a home region and the services they need
(state/slots.py); providers start with enough capacity for the outsourced share of expected demand.
Every draw comes from the stream the caller passes, in a fixed order, so a run is reproducible.
"""

from __future__ import annotations

import math
import numpy as np
from numpy.typing import NDArray

from simulation.config import Config, scaled
from simulation.model import kernels
from simulation.model.agents import PROVIDER_CLASSES
from simulation.model.catalogue import Catalogue
from simulation.model.codes import Kind, Mode
from simulation.model.environment import Environment
from simulation.model.market.pricing import unit_cost
from simulation.model.state.firms import FirmTable
from simulation.model.state.providers import ProviderTable
from simulation.model.state.slots import FirmSlots


def add_provider(table: ProviderTable, kind: Kind, region: int, offers: NDArray[np.bool_], capacity: float, week: int,
                 cfg: Config, catalogue: Catalogue, rng: np.random.Generator, markup: float | None = None) -> int:
    """Append one provider of ``kind`` (its base quality drawn from ``rng``); returns its row."""
    provider_class = PROVIDER_CLASSES[kind]
    reliability = provider_class.draw_reliability(cfg, region, rng)
    skill = int(catalogue.skill[offers].max())
    initial = provider_class.normal_markup(cfg.providers) if markup is None else markup
    return table.add(kind, region, skill, offers, capacity, initial, reliability, week)


def initial_providers(table: ProviderTable, cfg: Config, catalogue: Catalogue, rng: np.random.Generator) -> None:
    """The week-0 providers: BPO providers, then KPO specialists, each offering adjacent services of its kind."""
    p = cfg.providers
    scale = cfg.run.scale
    for kind, count, per in ((Kind.BPO, scaled(p.bpo_count, scale), p.services_per_bpo),
                             (Kind.KPO, scaled(p.kpo_count, scale), p.services_per_kpo)):
        pool = np.flatnonzero(catalogue.kind == kind)
        if len(pool) == 0:
            continue
        offset = rng.integers(0, len(pool))
        for i in range(count):
            offers = np.zeros(len(catalogue), bool)
            offers[pool[(offset + i + np.arange(min(per, len(pool)))) % len(pool)]] = True
            region = int(rng.random() < p.offshore_share)
            add_provider(table, kind, region, offers, 1.0, 0, cfg, catalogue, rng)


def entrant(table: ProviderTable, service: int, week: int, cfg: Config, catalogue: Catalogue,
            region_rng: np.random.Generator, quality_rng: np.random.Generator) -> int:
    """A new provider of one service: half the median incumbent's capacity at the incumbents' mean markup."""
    n = table.n
    incumbents = np.flatnonzero(table.active[:n] & table.offers[:n, service])
    offers = np.zeros(len(catalogue), bool)
    offers[service] = True
    capacity = 0.5 * float(np.median(table.capacity[incumbents])) if len(incumbents) else 100.0
    region = int(region_rng.random() < cfg.providers.offshore_share)
    markup = float(np.mean(table.markup[incumbents])) if len(incumbents) else None
    row = add_provider(table, Kind(int(catalogue.kind[service])), region, offers, capacity, week, cfg, catalogue,
                       quality_rng, markup=markup)
    table.demand_ema[row] = capacity * 0.5
    return row


def draw_firms(cfg: Config, rng: np.random.Generator) -> FirmTable:
    """Lognormal firm sizes and home regions."""
    firms = cfg.firms
    count = scaled(firms.count, cfg.run.scale)
    sizes = kernels.exp(firms.size_log_mean + firms.size_log_sd * rng.standard_normal(count))
    region = (rng.random(count) < firms.offshore_home_share).astype(np.int8)
    return FirmTable(size=sizes, region=region)


def volatility_factor(sizes: NDArray[np.float64], cfg: Config) -> NDArray[np.float64]:
    """Each firm's demand volatility relative to the market's: (size / median size)^-elasticity."""
    firms = cfg.firms
    return kernels.power(sizes / math.exp(firms.size_log_mean), -firms.volatility_size_elasticity)


def size_providers(table: ProviderTable, slots: FirmSlots, cfg: Config, catalogue: Catalogue,
                   environment: Environment) -> None:
    """Initial capacity: the outsourced share of expected demand at the target utilisation, times
    ``providers.initial_capacity_ratio`` (room for the firms that will outsource more), split among providers."""
    n = table.n
    outsourced = np.bincount(slots.service, weights=slots.base_demand * (slots.mode != Mode.IN_HOUSE),
                             minlength=len(catalogue))
    n_offer = np.maximum(table.offers[:n].sum(axis=0), 1)
    per = cfg.providers.initial_capacity_ratio * outsourced / catalogue.target_utilization / n_offer
    table.capacity[:n] = np.maximum((table.offers[:n] * per).sum(axis=1), 1.0)  # no BLAS: see test_determinism
    target = np.where(table.kind[:n] == Kind.KPO, cfg.providers.target_utilization_kpo, cfg.providers.target_utilization_bpo)
    markup = np.where(table.kind[:n] == Kind.KPO, cfg.providers.normal_markup_kpo, cfg.providers.normal_markup_bpo)
    table.demand_ema[:n] = table.capacity[:n] * target
    # Providers start as going concerns: their running revenue and profit are those of normal times.
    cost = table.capacity[:n] * unit_cost(table, environment, cfg)
    table.revenue_ema[:n] = cost * target * (1.0 + markup)
    table.profit_ema[:n] = table.revenue_ema[:n] - cost
