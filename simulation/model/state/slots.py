"""Firm-service slots: the state of every (firm, service) pair, the unit of sourcing decisions.

Each firm needs a subset of the service catalogue; each pair it needs is one slot (one row of every
array below). A slot holds its sourcing mode, in-house staff, a consideration set of K known providers
(columns) with the firm's preference for each (J of Weisbuch, Kirman & Herreiner 2000), the
relationship-specific experience each has built with the firm, the firm's estimate of the quality each
delivers, the last week each worked for the firm (a provider that has not for half a year must be
onboarded again), and the firm's running estimates of its demand and its on-call fill rate.

Legend for array code over slots: ``s`` slot rows, ``k`` consideration-set columns, ``j`` provider rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config, scaled
from simulation.model import kernels
from simulation.model.catalogue import Catalogue
from simulation.model.codes import Channel, Mode
from simulation.model.state.providers import ProviderTable
from simulation.model.state.spells import SpellTracker

#: Rows of the slot arrays: an index array, a slice, or a (rows, columns) pair of index arrays (a cell per row).
Index = NDArray[np.intp] | slice | tuple[NDArray[np.intp], NDArray[np.intp]]
NEVER = np.iinfo(np.int64).min // 4  # last_worked of a provider that never worked for the client (weeks may be negative)


@dataclass
class FirmSlots:
    """One row per firm-service; (rows, K) arrays hold the consideration set's columns."""

    firm: NDArray[np.int64]
    service: NDArray[np.int64]
    region: NDArray[np.int8]  # the firm's home region
    base_demand: NDArray[np.float64]  # mean weekly hours at demand level 1
    inhouse_factor: NDArray[np.float64]  # the firm's in-house cost relative to the service's (scale, own skill)
    mode: NDArray[np.int8]  # Mode
    channel: NDArray[np.int8]  # Channel of on-call work (a contract's channel lives in the contract book)
    broker: NDArray[np.int64]  # the firm's broker
    inhouse_staff: NDArray[np.float64]  # hours/week of own staff (in-house mode only)
    next_review: NDArray[np.int64]  # week of the next sourcing review
    provider: NDArray[np.int64]  # (rows, K) provider row of each known provider
    known: NDArray[np.bool_]  # (rows, K) the column holds a provider
    preference: NDArray[np.float64]  # (rows, K) J: discounted past payoffs
    experience: NDArray[np.float64]  # (rows, K) E in [0, 1]: client-specific experience of the provider
    quality_estimate: NDArray[np.float64]  # (rows, K) effective quality the firm expects
    demand_mean: NDArray[np.float64]  # running estimate of weekly demand (hours)
    demand_var: NDArray[np.float64]  # running estimate of its variance
    fill_rate: NDArray[np.float64]  # running share of on-call requests served
    main_provider: NDArray[np.int64]  # the provider that did most of last week's on-call work (-1: none yet)
    last_worked: NDArray[np.int64]  # (rows, K) last week the provider worked for the client (NEVER: never)
    policy: NDArray[np.int16]  # index of the slot's sourcing policy (0: the model's default)
    coordination: NDArray[np.float64]  # the firm's coordination cost factor for work done in the other region
    home_only: NDArray[np.int8]  # the region the firm's work must stay in (-1: it may go anywhere)

    def __len__(self) -> int:
        return len(self.firm)

    @property
    def columns(self) -> int:
        """K: the size of a consideration set."""
        return self.provider.shape[1]

    def introduce(self, s: NDArray, k: NDArray, provider: NDArray, prior_quality: NDArray,
                  spells: SpellTracker) -> None:
        """Put new providers into columns ``k`` of slots ``s``, forgetting what was known of the old ones.

        The old provider's open spells end; the newcomer starts with the preference of the worst provider
        the firm knows (0 if it knows none worse: no payoff yet), no experience and the prior quality of
        its service (``prior_quality`` per service).
        """
        spells.close_column(s, k)
        self.known[s, k] = False
        others = np.where(self.known[s], self.preference[s], np.inf).min(axis=1) if len(s) else np.empty(0)
        self.provider[s, k] = provider
        self.known[s, k] = True
        self.preference[s, k] = np.minimum(others, 0.0)  # rated like the worst provider the firm knows (or 0)
        self.experience[s, k] = 0.0
        self.quality_estimate[s, k] = prior_quality[self.service[s]]
        self.last_worked[s, k] = NEVER

    def column_for(self, s: NDArray, provider: NDArray, busy: NDArray,
                   contract_k: NDArray) -> tuple[NDArray, NDArray, NDArray]:
        """Column of ``provider`` in each slot's set, or the least preferred unprotected column to replace.

        Empty columns are taken first. A column is protected when it is ``busy`` ((slots, K)) or holds the
        slot's running contract (``contract_k`` per slot, -1 without one). Returns (column, is_new, protected):
        is_new marks columns that must be replaced by the provider, protected those that may not be (when
        every column is protected). One compiled pass, :func:`kernels.column_for`.
        """
        return kernels.column_for(np.asarray(s, np.int64), np.asarray(provider, np.int64), self.provider, self.known,
                                  self.preference, busy, contract_k)

    def needs_onboarding(self, week: int, memory: int, s: Index = slice(None)) -> NDArray[np.bool_]:
        """(rows, K) whether each known provider must be onboarded before it works for the client: it never has,
        or not for more than ``memory`` weeks (per pair, for ``s`` a (rows, columns) pair of index arrays)."""
        return self.known[s] & (week - self.last_worked[s] > memory)

    def worked_with(self, s: Index) -> NDArray[np.bool_]:
        """(rows, K) whether each known provider has ever worked for the client (per pair, as above)."""
        return self.known[s] & (self.last_worked[s] > NEVER)

    def firm_bounds(self, n_firms: int) -> NDArray[np.int64]:
        """Slot rows of firm i are ``bounds[i]:bounds[i + 1]`` (slots are sorted by firm)."""
        return np.searchsorted(self.firm, np.arange(n_firms + 1))


def build_slots(cfg: Config, cat: Catalogue, sizes: NDArray, firm_region: NDArray, table: ProviderTable,
                rng: np.random.Generator) -> FirmSlots:
    """Draw which services each firm needs, its starting modes and its initial consideration sets."""
    n_firms, n_serv = len(sizes), len(cat)
    need = rng.random((n_firms, n_serv)) < cat.adoption[None, :]
    none = ~need.any(axis=1)  # every firm needs at least one service
    need[np.flatnonzero(none), rng.integers(0, n_serv, none.sum())] = True
    firm, service = np.nonzero(need)
    rows, K = len(firm), cfg.choice.consideration_set_size
    base = sizes[firm] * cat.demand_per_size[service]

    mode = np.full(rows, Mode.ON_CALL, np.int8)
    if cfg.contracts.allow_in_house:
        mode[rng.random(rows) < cfg.firms.initial_in_house_share] = Mode.IN_HOUSE
    firms = cfg.firms
    inhouse_factor = (kernels.power(sizes, -firms.inhouse_scale_elasticity)
                      * kernels.exp(firms.inhouse_cost_dispersion * rng.standard_normal(n_firms)))
    firm_broker = rng.integers(0, max(scaled(cfg.intermediaries.count, cfg.run.scale), 1), n_firms)
    sd = firms.coordination_dispersion
    coordination = kernels.exp(sd * rng.standard_normal(n_firms) - 0.5 * sd * sd)  # mean 1
    home_only = np.where(rng.random(n_firms) < firms.domestic_only_share, firm_region, -1).astype(np.int8)[firm]
    provider = np.zeros((rows, K), np.int64)
    known = np.zeros((rows, K), bool)
    for (v, only), of_service in _groups(service, home_only):
        offering = table.offering(v, only)
        size = min(K, len(offering))
        order = first_of_random_order(len(of_service), len(offering), size, rng)
        provider[of_service[:, None], np.arange(size)[None, :]] = offering[order]
        known[of_service, :size] = True
    preference = np.zeros((rows, K))
    preference[:, 0] = np.where(known[:, 0], cfg.choice.initial_preference, 0.0)  # a loyal start, if asked for
    return FirmSlots(
        firm=firm.astype(np.int64), service=service.astype(np.int64), region=firm_region[firm].astype(np.int8),
        base_demand=base, inhouse_factor=inhouse_factor[firm], mode=mode, channel=np.full(rows, Channel.DIRECT, np.int8),
        broker=firm_broker[firm], inhouse_staff=np.where(mode == Mode.IN_HOUSE, base * 1.2, 0.0),
        next_review=rng.integers(1, cfg.firms.review_interval_weeks + 1, rows),
        provider=provider, known=known, preference=preference, experience=np.zeros((rows, K)),
        quality_estimate=np.repeat(cat.prior_quality[service][:, None], K, axis=1),
        demand_mean=base.copy(), demand_var=np.zeros(rows), fill_rate=np.ones(rows),
        main_provider=np.full(rows, -1, np.int64),
        last_worked=np.where(known & (mode == Mode.ON_CALL)[:, None], 0, NEVER),  # on-call buyers know their providers
        policy=np.zeros(rows, np.int16), coordination=coordination[firm], home_only=home_only,
    )


#: Above this many candidates, :func:`first_of_random_order` draws position by position instead of sorting.
SORT_LIMIT = 256


def first_of_random_order(rows: int, n: int, size: int, rng: np.random.Generator,
                          chunk_values: int = 1 << 24) -> NDArray[np.int64]:
    """(rows, size): the first ``size`` of a uniform random order of ``range(n)`` per row.

    Up to :data:`SORT_LIMIT` candidates, the order of a row is the argsort of ``n`` uniforms, of which only
    the ``size`` smallest are sorted (``argpartition``), drawn in chunks of about ``chunk_values`` uniforms.
    Above it, drawing a uniform per candidate would make the work grow with rows x n, so position i is
    drawn uniformly among the n - i candidates not drawn yet (:func:`sample_distinct`): the same
    distribution from fewer random numbers.
    """
    if n > SORT_LIMIT:
        return sample_distinct(rows, n, size, rng)
    out = np.empty((rows, size), np.int64)
    step = max(1, chunk_values // max(n, 1))
    for lo in range(0, rows, step):
        u = rng.random((min(step, rows - lo), n))
        if size < n:
            part = np.argpartition(u, size - 1, axis=1)[:, :size]
            out[lo:lo + len(u)] = np.take_along_axis(part, np.argsort(np.take_along_axis(u, part, axis=1), axis=1), axis=1)
        else:
            out[lo:lo + len(u)] = np.argsort(u, axis=1)[:, :size]
    return out


def sample_distinct(rows: int, n: int, size: int, rng: np.random.Generator) -> NDArray[np.int64]:
    """(rows, size) draws from ``range(n)``, each row an ordered uniform sample without replacement.

    Draw i of a row is uniform over the n - i values the row has not drawn yet: a uniform index into
    them, shifted past each earlier draw in increasing order. O(rows x size^2), whatever ``n``.
    """
    if size > n:
        raise ValueError(f"cannot draw {size} distinct values from {n}")
    out = np.empty((rows, size), np.int64)
    for i in range(size):
        x = rng.integers(0, n - i, rows)
        for earlier in np.sort(out[:, :i], axis=1).T:  # the row's earlier draws, smallest first
            x += x >= earlier
        out[:, i] = x
    return out


def _groups(service: NDArray, home_only: NDArray) -> list[tuple[tuple[int, int], NDArray[np.intp]]]:
    """Rows by (service, region they must stay in or -1), in a fixed order."""
    key = service * 3 + (home_only + 1)
    return [((int(k) // 3, int(k) % 3 - 1), np.flatnonzero(key == k)) for k in np.unique(key)]


def draw_providers(table: ProviderTable, service: NDArray, home_only: NDArray, rng: np.random.Generator) -> NDArray[np.int64]:
    """One active provider offering each requested service (in the region a request must stay in, if any),
    uniformly at random (-1 if none): per (service, region) group one draw of indices into its providers in row
    order (one compiled pass, :func:`kernels.draw_providers`)."""
    n = table.n
    return kernels.draw_providers(rng, np.asarray(service, np.int64), np.asarray(home_only, np.int64), table.offers[:n],
                                  table.active[:n], table.region[:n])
