"""Brokers' shortlists in large markets: which providers a broker rates and routes to.

A broker rating every provider of a service costs brokers x providers per pick, which grows with the
square of ``run.scale``. In a large market each broker keeps, per service and client group (client
region, and whether the client's work must stay in it), the providers it rates cheapest
(docs/ODD.md, Section 7.13). The shortlists live in :class:`BrokerBook` (``panel``); this module keeps
them, rating providers by :func:`kernels.rated_cost`, the rating the picks (:func:`routing.pick_table`) use too.

Legend: ``b`` brokers, ``v`` services, ``g`` client groups, ``j`` provider rows.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config, scaled
from simulation.model import kernels
from simulation.model.catalogue import Catalogue
from simulation.model.market.pricing import Prices
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.providers import ProviderTable

#: Above this many providers at the start (scaled), brokers keep shortlists unless intermediaries.panel_size is set.
PANEL_AUTO_PROVIDERS, PANEL_AUTO_SIZE = 1_000, 100
#: The client groups of a shortlist: client region, and whether the client's work must stay in it.
GROUP_REGION = np.array([0, 0, 1, 1])
GROUP_HOME = np.array([False, True, False, True])


def broker_panel_size(cfg: Config) -> int:
    """The brokers' shortlist size in effect: ``intermediaries.panel_size``, or when unset 0 (every provider) in
    a market that starts with at most :data:`PANEL_AUTO_PROVIDERS` providers and :data:`PANEL_AUTO_SIZE` above."""
    if cfg.intermediaries.panel_size is not None:
        return cfg.intermediaries.panel_size
    p = cfg.providers
    providers = scaled(p.bpo_count, cfg.run.scale) + scaled(p.kpo_count, cfg.run.scale)
    return 0 if providers <= PANEL_AUTO_PROVIDERS else PANEL_AUTO_SIZE


def waiting_places(seats: int) -> int:
    """How many providers a broker keeps on a group's waiting list: a quarter of the seats, at least one."""
    return max(1, seats // 4)


def refresh_shortlists(brokers: BrokerBook, table: ProviderTable, prices: Prices, catalogue: Catalogue, seats: int,
                       week: int, every_weeks: int) -> None:
    """Keep each broker's shortlists: per service and client group (client region, and whether the work
    must stay in it), the ``seats`` providers it rates cheapest, sorted by provider row (-1: empty seat).

    Where no more providers than seats can serve a group, all of them are on the shortlist, at once (an
    entrant joins the same week): the broker then rates every provider, as without shortlists. Otherwise
    a broker re-rates a group every ``every_weeks`` weeks (brokers staggered) and when it has none yet,
    keeping the next :func:`waiting_places` best as a waiting list; a provider that leaves hands its seat
    to the next active provider on that list, and a group is re-rated early only when its list has run
    out. No random number is drawn. ``seats`` 0: no shortlists."""
    brokers.seats = seats
    if seats == 0:
        return
    shape = (len(brokers), table.n_services, len(GROUP_REGION), seats)
    if brokers.panel.shape != shape:  # new brokers or a new size: rate everyone afresh
        brokers.panel = np.full(shape, -1, np.int64)
        brokers.waiting = np.full(shape[:3] + (waiting_places(seats),), -1, np.int64)
    panel, waiting = brokers.panel, brokers.waiting
    stale = kernels.fill_vacancies(panel, waiting, table.active) | (panel[..., 0] < 0)
    due = (week + np.arange(len(brokers))) % every_weeks == 0
    quality, provider_region = brokers.estimates(table.n), table.view("region")
    for v in range(table.n_services):
        offering = table.offering(v)
        for g, (region, home) in enumerate(zip(GROUP_REGION, GROUP_HOME, strict=True)):
            cand = offering[provider_region[offering] == region] if home else offering
            if len(cand) <= seats:
                panel[:, v, g], waiting[:, v, g] = -1, -1
                panel[:, v, g, :len(cand)] = cand
                continue
            rows = np.flatnonzero(due | stale[:, v, g])
            if len(rows):
                cost = kernels.shortlist_costs(rows, cand, region, v, quality, prices.spot_price, prices.coordination,
                                               prices.provider_region, catalogue.inhouse_cost, catalogue.friction,
                                               catalogue.learning, catalogue.error_cost)
                panel[rows, v, g], waiting[rows, v, g] = rank_shortlist(cost, cand, seats, waiting.shape[3])


def rank_shortlist(cost: NDArray[np.float64], cand: NDArray[np.int64], seats: int,
                   places: int) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """From each row's ``cost`` of the providers ``cand`` (more than ``seats``, sorted by row), the ``seats``
    cheapest sorted by provider row, and the next ``places`` cheapest best first (-1 where there are too few);
    ties go to the lower provider row (at the cut itself, to the one numpy's partition keeps)."""
    keep = min(seats + places, len(cand))
    if keep < len(cand):  # the keep cheapest, in candidate order (cand is sorted by row), then stably by cost
        best = np.sort(np.argpartition(cost, keep - 1, axis=1)[:, :keep], axis=1)
    else:
        best = np.tile(np.arange(keep), (len(cost), 1))
    order = np.argsort(np.take_along_axis(cost, best, axis=1), axis=1, kind="stable")
    ranked = cand[np.take_along_axis(best, order, axis=1)]
    waiting = np.full((len(cost), places), -1, np.int64)
    waiting[:, :keep - seats] = ranked[:, seats:]
    return np.sort(ranked[:, :seats], axis=1), waiting
