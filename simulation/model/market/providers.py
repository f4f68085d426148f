"""Step 6 of the schedule: providers price, hire, book profits, exit and enter, vectorised over all rows.

- The spot markup moves with utilisation relative to a target (BPO ~82%, KPO ~70% billable) and is
  pulled back toward its kind's normal markup by competition, so it settles where utilisation holds it.
- Capacity moves toward (commitments + expected on-call demand) / target utilisation with a hiring lag
  (every hour needs the slack of absence, training and the bench); what each kind can hire is its
  agent class's rule (KPO specialists draw on their region's talent pool: scarce skills, slow to hire).
- A provider exits after ``exit_loss_weeks`` consecutive weeks of running losses, unless it is the
  last one offering a service; its contracts end and its clients replace it.
- New providers enter services whose incumbents earn high margins.

Legend: ``s`` slot rows, ``k`` consideration-set columns, ``j`` provider rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config
from simulation.model import kernels
from simulation.model.agents import PROVIDER_CLASSES
from simulation.model.catalogue import Catalogue
from simulation.model.codes import Kind, Region
from simulation.model.environment import Environment
from simulation.model.ledger import ContractEventKind
from simulation.model.market.fulfilment import Fills
from simulation.model.market.pricing import Prices
from simulation.model.market.spot import SpotMarket
from simulation.model.state.contracts import ContractBook, end_contracts
from simulation.model.state.providers import ProviderTable
from simulation.model.state.slots import FirmSlots, draw_providers
from simulation.model.state.spells import SpellTracker


@dataclass(frozen=True)
class WeekLoad:
    """What providers did this week, per provider row (hours/week unless said otherwise)."""

    used: NDArray[np.float64]  # permanent and on-call hours delivered
    asked: NDArray[np.float64]  # on-call hours asked of it (served, plus unserved work of clients it usually serves)
    cross_hours: NDArray[np.float64]  # hours delivered to clients in the other region, x each client's coordination factor
    committed: NDArray[np.float64]  # hours reserved by running contracts
    revenue: NDArray[np.float64]  # cu earned this week, early-exit fees of last week included


def week_load(fills: Fills, market: SpotMarket, slots: FirmSlots, book: ContractBook, table: ProviderTable,
              sales_by_provider: NDArray[np.float64]) -> WeekLoad:
    """Add the week's work up per provider."""
    n = table.n
    j = slots.provider
    used = market.served.copy()
    held = np.flatnonzero(book.active)
    used += np.bincount(book.provider[held], weights=fills.permanent[held], minlength=n)
    cross_hours = kernels.cross_region_hours(j, fills.served, slots.region, slots.coordination, table.region, n)
    held_cross = held[table.region[book.provider[held]] != slots.region[held]]
    cross_hours += np.bincount(book.provider[held_cross],
                               weights=fills.permanent[held_cross] * slots.coordination[held_cross], minlength=n)
    has_main = slots.main_provider >= 0  # unserved on-call work counts as asked of the firm's usual provider
    asked = market.served + np.bincount(slots.main_provider[has_main], weights=fills.unmet[has_main], minlength=n)
    return WeekLoad(used, asked, cross_hours, book.committed(n), sales_by_provider + table.view("fees_due"))


def capacity_and_prices(table: ProviderTable, load: WeekLoad, prices: Prices) -> dict[str, float]:
    """This week's capacity and hours used by the active providers, in all and by kind, before hiring and exits,
    and the capacity-weighted mean spot price each kind posts in each region (NaN where there is none)."""
    n = table.n
    active = table.view("active")
    capacity = table.view("capacity")
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
            price = float((prices.spot_price[posting] * capacity[posting]).sum() / weight) if weight > 0 else float("nan")
            out[f"posted_price_{label}_{region.name.lower()}"] = price
    return out


def target_utilization(table: ProviderTable, cfg: Config) -> NDArray[np.float64]:
    p = cfg.providers
    return np.where(table.kind[: table.n] == Kind.KPO, p.target_utilization_kpo, p.target_utilization_bpo)


def update_providers(table: ProviderTable, load: WeekLoad, prices: Prices, cfg: Config,
                     env: Environment) -> NDArray[np.float64]:
    """Weekly pricing, capacity and profit bookkeeping for every active provider (in place).

    Returns:
        This week's profit per provider (zero for providers that had already exited).
    """
    p = cfg.providers
    n = table.n
    act = table.active[:n]
    cap = table.capacity[:n]
    util = np.divide(load.used, cap, out=np.zeros(n), where=cap > 0)
    table.utilization[:n] = np.where(act, util, 0.0)
    target = target_utilization(table, cfg)
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
        return profit  # validation cases: capacity, prices and quality stay as set
    # Every hour of expected work, reserved or on-call, is staffed with the slack of the target utilisation
    # (absence, training, the bench); reserved hours are priced to cover it (see price_permanent).
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


def exit_candidates(table: ProviderTable, cfg: Config) -> NDArray[np.intp]:
    """Rows that exit this week: sustained losses, but never the last active provider of a service."""
    if not cfg.providers.exit_enabled:
        return np.empty(0, np.intp)
    n = table.n
    losing = np.flatnonzero(table.active[:n] & (table.loss_weeks[:n] >= cfg.providers.exit_loss_weeks))
    out = []
    counts = table.offer_counts()
    for j in losing:
        served = table.offers[j]
        if np.all(counts[served] > 1):
            counts[served] -= 1
            out.append(j)
    return np.asarray(out, np.intp)


def entry_services(table: ProviderTable, cfg: Config, rng: np.random.Generator) -> list[tuple[int, int]]:
    """(service, entrants) this week: services whose incumbents together earn a high margin (running profit
    over running revenue) get a Poisson number of entrants, ``entry_probability`` a week in a market of
    scale 1 and in proportion to the market's scale."""
    p = cfg.providers
    if not p.entry_enabled:
        return []
    n = table.n
    act = table.active[:n]
    out = []
    draws = rng.poisson(p.entry_probability * cfg.run.scale, table.n_services)
    for v in range(table.n_services):
        who = act & table.offers[:n, v]
        revenue = table.revenue_ema[:n][who].sum()
        if draws[v] and revenue > 0 and table.profit_ema[:n][who].sum() / revenue > p.entry_margin:
            out.append((v, int(draws[v])))
    return out


class LeavingProviders:
    """Where a week's leaving providers sit: the slots whose contracts they hold and the (slot, column) pairs
    that know them. Each exit reads its own few positions instead of scanning every slot, which would make
    a week's exits cost (providers x slots), growing with the square of the market.

    The index stays whole while the exits go: only pairs in it are re-drawn, so a pair that draws a provider
    leaving later in the week is already in it (each read checks the pair's provider now). Positions come
    out in the order a full scan gives, so the exits draw and write the same bytes.
    """

    def __init__(self, rows: NDArray, n_providers: int, slots: FirmSlots, book: ContractBook) -> None:
        self.leaving = np.zeros(n_providers + 1, bool)  # the extra last entry answers provider -1 (none)
        self.leaving[np.asarray(rows, np.int64)] = True
        self.held = np.flatnonzero(book.active & self.leaving[book.provider])
        self.pairs = np.flatnonzero(slots.known & self.leaving[slots.provider])  # flat (slot, column) positions

    def __contains__(self, row: int) -> bool:
        return 0 <= row < len(self.leaving) - 1 and bool(self.leaving[row])

    def contracts_of(self, row: int, book: ContractBook) -> NDArray[np.intp]:
        """Slots holding a running contract with ``row``, ascending."""
        return self.held[book.active[self.held] & (book.provider[self.held] == row)]

    def pairs_of(self, row: int, slots: FirmSlots) -> tuple[NDArray[np.intp], NDArray[np.intp]]:
        """(slot, column) pairs that know ``row``, in row-major order (as ``np.nonzero`` gives them)."""
        p = self.pairs
        p = p[slots.known.ravel()[p] & (slots.provider.ravel()[p] == row)]
        return np.divmod(p, slots.provider.shape[1])


def remove_provider(row: int, table: ProviderTable, slots: FirmSlots, book: ContractBook, spells: SpellTracker,
                    catalogue: Catalogue, rng: np.random.Generator, week: int, reason: str,
                    leaving: LeavingProviders | None = None) -> int:
    """Take a provider out of the market: its contracts end (their holders re-source at this week's
    review) and every firm that knew it draws another provider of the service. Returns contracts ended.

    ``leaving`` indexes the week's leaving providers (``row`` among them); without it the slots are scanned.
    """
    if leaving is None or row not in leaving:
        leaving = LeavingProviders([row], table.n, slots, book)
    table.active[row] = False
    table.exit_week[row] = week
    hit = leaving.contracts_of(row, book)
    if len(hit):
        end_contracts(book, spells, slots, hit, ContractEventKind.PROVIDER_EXIT, reason, week)
        slots.next_review[hit] = week
    s, k = leaving.pairs_of(row, slots)
    spells.close_column(s, k)
    j = draw_providers(table, slots.service[s], slots.home_only[s], rng)
    ok = (j >= 0) & ~(slots.provider[s] == j[:, None]).any(axis=1)  # a provider appears once in a set
    slots.introduce(s[ok], k[ok], j[ok], catalogue.prior_quality, spells)
    slots.known[s[~ok], k[~ok]] = False
    return len(hit)
