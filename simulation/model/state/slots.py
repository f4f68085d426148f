"""State of every firm-service pair ("slot"): the unit of sourcing decisions.

Each firm needs a subset of the service catalogue. For each service it holds a sourcing mode, in-house
staff, a consideration set of known providers with preferences J (Weisbuch, Kirman & Herreiner 2000),
relationship-specific experience E and quality estimates per known provider, and running estimates of
its demand, on-call fill rate and the weekly hours it hands to providers it has not worked with lately.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.model.catalogue import Catalogue
from simulation.config import Config
from simulation.model.market.providers import KPO, ProviderTable
from simulation.model.records import Channel, Mode


@dataclass
class FirmSlots:
    firm: NDArray[np.int64]
    service: NDArray[np.int64]
    region: NDArray[np.int8]
    base_demand: NDArray[np.float64]
    inhouse_factor: NDArray[np.float64]
    mode: NDArray[np.int8]
    channel: NDArray[np.int8]
    broker: NDArray[np.int64]
    inhouse: NDArray[np.float64]
    next_review: NDArray[np.int64]
    cand: NDArray[np.int64]
    cand_ok: NDArray[np.bool_]
    J: NDArray[np.float64]
    E: NDArray[np.float64]
    Qf: NDArray[np.float64]
    mu: NDArray[np.float64]
    var: NDArray[np.float64]
    fill: NDArray[np.float64]
    new_spell_hours: NDArray[np.float64]
    main_provider: NDArray[np.int64]

    def __len__(self) -> int:
        return len(self.firm)


def prior_quality(kind: NDArray, cfg: Config) -> NDArray[np.float64]:
    p = cfg.providers
    return np.where(kind == KPO, p.reliability_mean_kpo, p.reliability_mean_bpo) * (1.0 - p.late_base_rate)


def build_slots(cfg: Config, cat: Catalogue, sizes: NDArray, firm_region: NDArray, table: ProviderTable,
                rng: np.random.Generator) -> FirmSlots:
    """Draw which services each firm needs, its starting modes and its initial consideration sets."""
    n_firms, n_serv = len(sizes), len(cat)
    need = rng.random((n_firms, n_serv)) < cat.adoption[None, :]
    none = ~need.any(axis=1)  # every firm needs at least one service
    need[np.flatnonzero(none), rng.integers(0, n_serv, none.sum())] = True
    firm, service = np.nonzero(need)
    S, K = len(firm), cfg.choice.consideration_set_size
    base = sizes[firm] * cat.demand_per_size[service]

    mode = np.full(S, Mode.ON_CALL, np.int8)
    if cfg.contracts.allow_in_house:
        mode[rng.random(S) < cfg.firms.initial_in_house_share] = Mode.IN_HOUSE
    cand = np.zeros((S, K), np.int64)
    ok = np.zeros((S, K), bool)
    n = table.n
    for v in range(n_serv):
        rows = np.flatnonzero(service == v)
        offer = np.flatnonzero(table.offers[:n, v] & table.active[:n])
        if len(rows) == 0:
            continue
        m = min(K, len(offer))
        order = np.argsort(rng.random((len(rows), len(offer))), axis=1)[:, :m]
        cand[rows[:, None], np.arange(m)[None, :]] = offer[order]
        ok[rows, :m] = True
    f = cfg.firms
    inhouse_factor = sizes ** (-f.inhouse_scale_elasticity) * np.exp(f.inhouse_cost_dispersion * rng.standard_normal(n_firms))
    n_brokers = max(cfg.intermediaries.count, 1)
    firm_broker = rng.integers(0, n_brokers, n_firms)
    return FirmSlots(
        firm=firm.astype(np.int64), service=service.astype(np.int64), region=firm_region[firm].astype(np.int8),
        base_demand=base, inhouse_factor=inhouse_factor[firm], mode=mode, channel=np.full(S, Channel.DIRECT, np.int8), broker=firm_broker[firm],
        inhouse=np.where(mode == Mode.IN_HOUSE, base * 1.2, 0.0),
        next_review=rng.integers(1, cfg.firms.review_interval_weeks + 1, S),
        cand=cand, cand_ok=ok, J=np.zeros((S, K)), E=np.zeros((S, K)),
        Qf=np.repeat(prior_quality(cat.kind[service], cfg)[:, None], K, axis=1),
        mu=base.copy(), var=np.zeros(S), fill=np.ones(S), new_spell_hours=base / 26.0,
        main_provider=np.full(S, -1, np.int64),
    )


def replace_candidates(slots: FirmSlots, s: NDArray, k: NDArray, provider: NDArray, cfg: Config, cat: Catalogue) -> None:
    """Put new providers into consideration-set columns, forgetting what was known of the old ones."""
    slots.cand[s, k] = provider
    slots.cand_ok[s, k] = True
    slots.J[s, k] = 0.0
    slots.E[s, k] = 0.0
    slots.Qf[s, k] = prior_quality(cat.kind[slots.service[s]], cfg)


def column_for(slots: FirmSlots, s: NDArray, provider: NDArray, protected: NDArray) -> tuple[NDArray, NDArray]:
    """Column of ``provider`` in each slot's set, or the least preferred unprotected column to replace.

    Returns (column, is_new) where is_new marks columns that must be replaced by the provider.
    """
    match = (slots.cand[s] == provider[:, None]) & slots.cand_ok[s]
    has = match.any(axis=1)
    score = np.where(slots.cand_ok[s], slots.J[s], -np.inf)  # empty columns are taken first
    score = np.where(protected[s], np.inf, score)
    k = np.where(has, match.argmax(axis=1), score.argmin(axis=1))
    return k.astype(np.int64), ~has


def draw_providers(table: ProviderTable, service: NDArray, rng: np.random.Generator) -> NDArray[np.int64]:
    """One active provider offering each requested service, uniformly at random (-1 if none)."""
    out = np.full(len(service), -1, np.int64)
    n = table.n
    for v in np.unique(service):
        rows = np.flatnonzero(service == v)
        offer = np.flatnonzero(table.offers[:n, v] & table.active[:n])
        if len(offer):
            out[rows] = offer[rng.integers(0, len(offer), len(rows))]
    return out
