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
from simulation.model.market.fulfilment import Fills, Sales
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
              sales: list[Sales]) -> WeekLoad:
    """Add the week's work up per provider (one compiled pass, :func:`kernels.week_load`): hours delivered, on-call
    hours asked of it (unserved on-call work counts as asked of the firm's usual provider), hours delivered
    across regions and revenue (the week's sales and last week's early-exit fees); and the hours reserved
    (:meth:`ContractBook.committed`)."""
    used, asked, cross, revenue = kernels.week_load(
        table.n, np.concatenate([b.provider for b in sales]), np.concatenate([b.revenue for b in sales]),
        np.cumsum([len(b.provider) for b in sales]), table.view("fees_due"), market.served, slots.provider,
        fills.served, slots.region, slots.coordination, slots.main_provider, fills.unmet, book.contract_id,
        book.provider, fills.permanent, table.region)
    return WeekLoad(used, asked, cross, book.committed(table.n), revenue)


#: The names of :func:`kernels.market_before`'s values, in its order.
MARKET_BEFORE = ("capacity", "used", "max_overuse", *(
    name for kind in Kind for name in (f"capacity_{kind.name.lower()}", f"used_{kind.name.lower()}", *(
        f"posted_price_{kind.name.lower()}_{region.name.lower()}" for region in Region))))


def capacity_and_prices(table: ProviderTable, load: WeekLoad, prices: Prices) -> dict[str, float]:
    """This week's capacity and hours used by the active providers, in all and by kind, before hiring and exits,
    and the capacity-weighted mean spot price each kind posts in each region (NaN where there is none)."""
    values = kernels.market_before(table.view("active"), table.view("capacity"), table.view("kind"),
                                   table.view("region"), prices.spot_price, load.used)
    return dict(zip(MARKET_BEFORE, values.tolist(), strict=True))


def update_providers(table: ProviderTable, load: WeekLoad, prices: Prices, cfg: Config,
                     env: Environment) -> NDArray[np.float64]:
    """Weekly pricing, capacity and profit bookkeeping for every active provider (in place): utilisation, the
    spot markup, running demand, profit and revenue and the weeks of losses in one compiled pass
    (:func:`kernels.book_week`), then hiring as each kind can hire (its agent class's rule).

    Returns:
        This week's profit per provider (zero for providers that had already exited).
    """
    p = cfg.providers
    n = table.n
    params = (p.target_utilization_bpo, p.target_utilization_kpo, p.fixed_price, p.normal_markup_bpo,
              p.normal_markup_kpo, p.markup_speed, p.markup_reversion, p.markup_min, p.markup_max,
              1.0 / p.profit_memory_weeks, p.hiring_lag_weeks_bpo, p.hiring_lag_weeks_kpo, p.downsizing_lag_weeks)
    profit, hires, change = kernels.book_week(
        table.view("active"), table.view("capacity"), table.view("kind"), table.view("markup"),
        table.view("demand_ema"), table.view("profit_ema"), table.view("revenue_ema"), table.view("loss_weeks"),
        table.view("utilization"), table.view("fees_due"), prices.unit_cost, prices.coordination, load.used,
        load.asked, load.cross_hours, load.committed, load.revenue, tuple(float(x) for x in params))
    if p.fixed_price:
        return profit  # validation cases: capacity, prices and quality stay as set
    # Every hour of expected work, reserved or on-call, is staffed with the slack of the target utilisation
    # (absence, training, the bench); reserved hours are priced to cover it (see price_permanent).
    for provider_class in PROVIDER_CLASSES.values():
        provider_class.limit_hiring(hires, table, env)
    act, cap = table.active[:n], table.capacity[:n]
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
        return self.held[book.holds(self.held) & (book.provider[self.held] == row)]

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
