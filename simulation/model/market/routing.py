"""Brokers route their clients' on-call requests to providers (the broker side of step 4).

A broker rates every provider of a service (in a large market, those on its shortlist for the
client's group: :mod:`simulation.model.market.shortlists`) by its expected all-in cost per hour (price with
coordination for the client's region, plus generic friction and the cost of errors at the quality the
broker has learned across all its clients) and picks by a logit over relative cost among eligible
providers (:meth:`Intermediary.pick_distribution`). It keeps routing a client to the provider it used
last while that provider has spare capacity (account continuity: no new onboarding). When that provider
is full, it moves the client to the best-rated provider the client has worked with lately (no onboarding
either), and only when there is none to a new pick. With probability ``reassign_probability`` a week it
re-picks from all it rates anyway (it explores). A picked provider joins the client's consideration set.

Legend: ``s`` slot rows, ``k`` consideration-set columns, ``j`` provider rows, ``b`` brokers,
``v`` services.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.model import kernels
from simulation.model.agents import Intermediary
from simulation.model.catalogue import Catalogue
from simulation.model.market.pricing import Prices
from simulation.model.market.shortlists import GROUP_REGION
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.contracts import ContractBook
from simulation.model.state.providers import ProviderTable
from simulation.model.state.slots import FirmSlots
from simulation.model.state.spells import SpellTracker

EPS = 1e-9


@dataclass(frozen=True)
class Picks:
    """Every broker's pick probabilities over the providers it rates.

    Attributes:
        panel: (broker, service, group, seat) provider rows (-1: empty seat); see :meth:`BrokerBook.panels`.
        prob: the same shape: pick probabilities.
    """

    panel: NDArray[np.int64]
    prob: NDArray[np.float64]


def pick_table(table: ProviderTable, prices: Prices, brokers: BrokerBook, catalogue: Catalogue,
               eligible: NDArray[np.bool_], intensity: float) -> Picks:
    """Every broker's pick probabilities over the providers it rates, for every service and client group, in
    one pass.

    Args:
        eligible: per provider row, whether it may be picked at all (besides being active and offering
            the service), e.g. whether it has spare capacity left this week.
        intensity: the brokers' logit intensity over relative cost.
    """
    panel = brokers.panels(len(catalogue), table.n)
    prob = _pick_rows(np.arange(int(np.prod(panel.shape[:3]))), panel, table, prices, brokers, catalogue, eligible,
                      intensity)
    return Picks(panel, prob.reshape(panel.shape))


def picks_for(slots: FirmSlots, s: NDArray[np.int64], table: ProviderTable, prices: Prices, brokers: BrokerBook,
              catalogue: Catalogue, eligible: NDArray[np.bool_],
              intensity: float) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    """(rows, seats) providers and pick probabilities of the broker of each slot in ``s``, for its service and
    client group; zero for providers outside the region of a client whose work must stay there. Only the
    groups of the slots ``s`` are rated (a third or less of them in a week's round); each group's numbers are
    those of :func:`pick_table`."""
    panel = brokers.panels(len(catalogue), table.n)
    b, v, g, region, home = _client_groups(slots, s, panel)
    groups, at = np.unique((b * panel.shape[1] + v) * panel.shape[2] + g, return_inverse=True)
    prob = _pick_rows(groups, panel, table, prices, brokers, catalogue, eligible, intensity)
    members = panel[b, v, g]
    away = home[:, None] & (table.view("region")[np.maximum(members, 0)] != region[:, None])
    return members, np.where(away, 0.0, prob[at])


def broker_mixes(slots: FirmSlots, s: NDArray[np.int64], table: ProviderTable, prices: Prices, brokers: BrokerBook,
                 catalogue: Catalogue, eligible: NDArray[np.bool_], intensity: float) -> tuple[NDArray, ...]:
    """What the broker of each slot in ``s`` would give it on call, from the picks :func:`picks_for` makes: per
    slot, the picks' total probability, the mean spot price without and the mean extra with the coordination
    cost of the other region, the mean quality the broker expects, and its most likely provider with that
    quality. Computed in one compiled pass per slot (:func:`kernels.brokered_mix`)."""
    panel = brokers.panels(len(catalogue), table.n)
    b, v, g, region, home = _client_groups(slots, s, panel)
    return kernels.brokered_mix(panel, b, v, g, region, home, brokers.estimates(table.n), table.active, eligible,
                                table.offers, prices.spot_price, prices.coordination, prices.provider_region,
                                _group_regions(panel), table.view("region"), catalogue.inhouse_cost, catalogue.friction,
                                catalogue.learning, catalogue.error_cost, float(intensity))


def _client_groups(slots: FirmSlots, s: NDArray[np.int64], panel: NDArray[np.int64]) -> tuple[NDArray, ...]:
    """Per slot of ``s``: its broker, service, group in ``panel``, region and whether its work must stay there."""
    b, v, region, home = slots.broker[s], slots.service[s], slots.region[s], slots.home_only[s] >= 0
    return b, v, region if panel.shape[2] == 2 else 2 * region + home, region, home


def _group_regions(panel: NDArray[np.int64]) -> NDArray[np.int64]:
    """The client region of each group of ``panel``."""
    return np.arange(2) if panel.shape[2] == 2 else GROUP_REGION


def _pick_rows(groups: NDArray[np.int64], panel: NDArray[np.int64], table: ProviderTable, prices: Prices,
               brokers: BrokerBook, catalogue: Catalogue, eligible: NDArray[np.bool_],
               intensity: float) -> NDArray[np.float64]:
    """(len(groups), seats) pick probabilities of the flat (broker, service, group) rows ``groups`` of ``panel``."""
    cost, offered = kernels.broker_ratings(  # kernels.rated_cost of every seat of the groups, (groups, P)
        panel, groups, brokers.estimates(table.n), table.active, eligible, table.offers, prices.spot_price,
        prices.coordination, prices.provider_region, _group_regions(panel), catalogue.inhouse_cost, catalogue.friction,
        catalogue.learning, catalogue.error_cost)
    return Intermediary.pick_distribution(cost, offered, intensity)


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
    def knows(at: NDArray[np.int64] | tuple[NDArray[np.int64], NDArray[np.int64]]) -> NDArray[np.bool_]:
        """Per row of ``at`` (rows, every column) or per (row, column) pair of ``at``."""
        if memory is None:
            return slots.worked_with(at)
        return slots.known[at] & ~slots.needs_onboarding(week, memory, at)

    explore = rng.random(len(s)) < reassign_probability
    stay = ((prev >= 0) & ~explore & table.active[last] & (available[last] > EPS) & table.offers[last, slots.service[s]])
    j[stay] = prev[stay]
    if spill is not None:
        stay |= spill  # spill-over that cannot stay is not re-routed (j stays -1)
    moving = np.flatnonzero(~stay)
    if len(moving) and len(brokers):  # each moved request's pick and fallback in one compiled pass
        panel = brokers.panels(len(catalogue), table.n)
        b, v, g, region, home = _client_groups(slots, s[moving], panel)
        groups, of_group = np.unique((b * panel.shape[1] + v) * panel.shape[2] + g, return_inverse=True)
        prob = _pick_rows(groups, panel, table, prices, brokers, catalogue, available > EPS, intensity)
        j[moving] = kernels.route_picks(moving, s, b, v, g, region, home, panel, prob, of_group.astype(np.int64),
                                        table.view("region"), u, explore, slots.provider, knows(s[moving]), busy)
    k = _join_sets(s, j, slots, book, spells, catalogue, busy)
    continuing = np.flatnonzero((prev >= 0) & (k >= 0))
    brokers.count_routing(slots.broker[s[continuing]], ~knows((s[continuing], k[continuing])))
    return k


def _join_sets(s: NDArray[np.int64], j: NDArray[np.int64], slots: FirmSlots, book: ContractBook,
               spells: SpellTracker, catalogue: Catalogue, busy: NDArray[np.bool_]) -> NDArray[np.int64]:
    """Columns of the routed providers, bringing newcomers into the sets where a column is free."""
    has = j >= 0
    k = np.full(len(s), -1, np.int64)
    if has.any():
        col, new, protected = slots.column_for(s[has], j[has], busy, book.k)
        blocked = new & protected
        new &= ~blocked
        col = np.where(blocked, -1, col)
        if new.any():
            slots.introduce(s[has][new], col[new], j[has][new], catalogue.prior_quality, spells)
        k[has] = col
    return k
