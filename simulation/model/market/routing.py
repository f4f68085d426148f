"""Brokers route their clients' on-call requests to providers (the broker side of step 4).

A broker rates every provider by its expected all-in cost per hour for a service (price with
coordination for the client's region, plus generic friction and the cost of errors at the quality the
broker has learned across all its clients) and picks by a logit over relative cost among eligible
providers (:meth:`Intermediary.pick_distribution`). It keeps routing a client to the provider it used
last while that provider has spare capacity (account continuity: no new onboarding). When that provider
is full, it moves the client to the best-rated provider the client has worked with lately (no onboarding
either), and only when there is none to a new pick. With probability ``reassign_probability`` a week it
re-picks from all providers anyway (it explores). A picked provider joins the client's consideration set.

Legend: ``s`` slot rows, ``k`` consideration-set columns, ``j`` provider rows, ``b`` brokers,
``v`` services.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numpy.typing import NDArray

from simulation.model.agents import Intermediary
from simulation.model.catalogue import Catalogue
from simulation.model.codes import Region
from simulation.model.market.choice import sample_rows
from simulation.model.market.pricing import Prices
from simulation.model.sourcing.costs import nonprice_cost
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.contracts import ContractBook
from simulation.model.state.providers import ProviderTable
from simulation.model.state.slots import FirmSlots
from simulation.model.state.spells import SpellTracker

EPS = 1e-9


def pick_table(table: ProviderTable, prices: Prices, brokers: BrokerBook, catalogue: Catalogue,
               eligible: NDArray[np.bool_], intensity: float) -> NDArray[np.float64]:
    """Every broker's pick probabilities, shape (broker, service, client region, provider), in one pass.

    Args:
        eligible: per provider row, whether it may be picked at all (besides being active and offering
            the service), e.g. whether it has spare capacity left this week.
        intensity: the brokers' logit intensity over relative cost.
    """
    n = table.n
    quality = brokers.estimates(n)  # (B, n)
    regions = np.array(list(Region))
    price = prices.for_client(np.arange(n)[None, :], regions[:, None])  # (2, n)
    c = catalogue.inhouse_cost[:, None]
    nonprice = nonprice_cost(c[None, :, :], catalogue.friction[None, :, None], catalogue.learning[None, :, None], 0.0,
                             catalogue.error_cost[None, :, None], quality[:, None, :])  # (B, V, n)
    cost = price[None, None, :, :] + nonprice[:, :, None, :]  # (B, V, 2, n)
    offered = (table.active[:n] & eligible[:n])[None, :] & table.offers[:n].T  # (V, n)
    offered = np.broadcast_to(offered[None, :, None, :], cost.shape)
    prob = Intermediary.pick_distribution(cost.reshape(-1, n), offered.reshape(-1, n), intensity)
    return prob.reshape(cost.shape)


def broker_groups(slots: FirmSlots, s: NDArray, n_brokers: int,
                  n_services: int) -> Iterator[tuple[NDArray[np.intp], int, int, int, bool]]:
    """Yield (positions in ``s``, broker, service, client region, whether the work must stay in that region)
    for slots that share one broker pick."""
    if n_brokers == 0 or len(s) == 0:
        return
    regions = len(Region)
    key = ((slots.broker[s] * n_services + slots.service[s]) * regions + slots.region[s]) * 2 + (slots.home_only[s] >= 0)
    for group in np.unique(key):
        rest, home = divmod(int(group), 2)
        b, rest = divmod(rest, regions * n_services)
        v, region = divmod(rest, regions)
        yield np.flatnonzero(key == group), b, v, region, bool(home)


def home_mask(probabilities: NDArray[np.float64], provider_region: NDArray, region: int, home: bool) -> NDArray[np.float64]:
    """A broker's pick probabilities for a client whose work must stay in ``region`` (unchanged otherwise)."""
    return probabilities * (provider_region == region) if home else probabilities


def route(s: NDArray[np.int64], slots: FirmSlots, table: ProviderTable, prices: Prices, brokers: BrokerBook,
          book: ContractBook, spells: SpellTracker, catalogue: Catalogue, available: NDArray[np.float64],
          busy: NDArray[np.bool_], rng: np.random.Generator, reassign_probability: float,
          intensity: float, spill: NDArray[np.bool_] | None = None, week: int = 0,
          memory: int | None = None) -> NDArray[np.int64]:
    """Consideration-set column each brokered request of slots ``s`` goes to this round (-1: none).

    A provider "knows" the client when it worked for it within the last ``memory`` weeks before
    ``week`` (ever, when ``memory`` is None).

    Columns under a permanent contract or already used this week (``busy``) are never replaced; a
    request whose set has no free column is left for the next round. Spill-over requests (``spill``)
    stay with the provider the broker used last, or are not routed: a broker does not bring in a new
    provider for spill-over.
    """
    if len(s) == 0:
        return np.empty(0, np.int64)
    j = np.full(len(s), -1, np.int64)
    u = rng.random(len(s))
    prev = slots.main_provider[s]
    last = np.maximum(prev, 0)
    def knows(rows: NDArray[np.int64]) -> NDArray[np.bool_]:
        if memory is None:
            return slots.worked_with(rows)
        return slots.known[rows] & ~slots.needs_onboarding(week, memory, rows)

    explore = rng.random(len(s)) < reassign_probability
    stay = ((prev >= 0) & ~explore & table.active[last] & (available[last] > EPS) & table.offers[last, slots.service[s]])
    j[stay] = prev[stay]
    if spill is not None:
        stay |= spill  # spill-over that cannot stay is not re-routed (j stays -1)
    probabilities = pick_table(table, prices, brokers, catalogue, available > EPS, intensity) if not stay.all() else None
    moving = np.flatnonzero(~stay)
    for rows, b, v, region, home in broker_groups(slots, s[moving], len(brokers), len(catalogue)):
        rows = moving[rows]
        prob = home_mask(probabilities[b, v, region], table.view("region"), region, home)
        pick = sample_rows(prob, u[rows])
        j[rows] = np.where(pick >= 0, pick, j[rows])
        forced = rows[~explore[rows]]
        if len(forced):
            j[forced] = _known_fallback(s[forced], slots, prob, busy, j[forced], knows(s[forced]))
    k = _join_sets(s, j, slots, book, spells, catalogue, busy)
    continuing = np.flatnonzero((prev >= 0) & (k >= 0))
    brokers.count_routing(slots.broker[s[continuing]], ~knows(s[continuing])[np.arange(len(continuing)), k[continuing]])
    return k


def _known_fallback(s: NDArray[np.int64], slots: FirmSlots, prob: NDArray[np.float64], busy: NDArray[np.bool_],
                    picked: NDArray[np.int64], knows: NDArray[np.bool_]) -> NDArray[np.int64]:
    """For clients the broker must move: the provider it rates best (``prob``, its pick probabilities, zero
    where not eligible or full) among those that know the client (``knows``, per column) and were not used
    yet this week; the new pick ``picked`` where there is none."""
    cand = slots.provider[s]
    score = np.where(knows & ~busy[s], prob[cand], 0.0)
    best = score.argmax(axis=1)
    found = score[np.arange(len(s)), best] > 0
    return np.where(found, cand[np.arange(len(s)), best], picked)


def _join_sets(s: NDArray[np.int64], j: NDArray[np.int64], slots: FirmSlots, book: ContractBook,
               spells: SpellTracker, catalogue: Catalogue, busy: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Columns of the routed providers, bringing newcomers into the sets where a column is free."""
    has = j >= 0
    k = np.full(len(s), -1, np.int64)
    if has.any():
        protected = busy.copy()
        act = np.flatnonzero(book.active)
        protected[act, book.k[act]] = True
        col, new = slots.column_for(s[has], j[has], protected)
        blocked = new & protected[s[has], col]
        new &= ~blocked
        col = np.where(blocked, -1, col)
        if new.any():
            slots.introduce(s[has][new], col[new], j[has][new], catalogue.prior_quality, spells)
        k[has] = col
    return k
