"""Weekly fulfilment, vectorised over all firm-services: steps 3 to 5 of the schedule.

3. Permanent contracts deliver up to their reserved capacity; firms pay the take-or-pay fee.
4. Residual demand goes to in-house staff, then to on-call requests. Each request picks a provider by
   the logit rule over the firm's consideration set (or its broker picks one); providers serve on-call
   work only from capacity left after permanent commitments; what no one serves is unmet.
5. Outcomes: quality depends on the provider's load and the client-specific experience; firms update
   preferences J and their estimates; experience grows under a dedicated (permanent) team, a little
   under on-call work, and fades otherwise (the hold-up mechanism, Williamson 1985).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from simulation.model.market.choice import loyalty, logit_probabilities, sample_rows, update_preferences
from simulation.model.agents import Intermediary
from simulation.model.market.spot import SpotMarket, deliver_permanent
from simulation.model.market.outcomes import delivered_quality, on_time_share
from simulation.model.records import Channel, Form, Mode
from simulation.model.state.slots import column_for, replace_candidates
from simulation.model.sourcing.costs import nonprice_cost

if TYPE_CHECKING:
    from simulation.model import OutsourcingModel

EPS = 1e-9


@dataclass
class Fills:
    """What each firm-service got this week, by source (hours) and what it paid (cu)."""

    demand: NDArray[np.float64]
    permanent: NDArray[np.float64]
    in_house: NDArray[np.float64]
    on_call: NDArray[np.float64]  # per slot
    unmet: NDArray[np.float64]
    served: NDArray[np.float64]  # on-call hours per (slot, column)
    spend: NDArray[np.float64]  # on-call payments per (slot, column), fees included
    broker_spend: NDArray[np.float64]  # fees part of spend, per (slot, column)
    permanent_paid: NDArray[np.float64]  # take-or-pay payment per slot, fees included
    permanent_fee: NDArray[np.float64]
    reserved: NDArray[np.float64]  # reserved hours per slot at delivery time (zero without a contract)


def pair_prices(m: "OutsourcingModel", s: NDArray, j: NDArray) -> NDArray[np.float64]:
    """Spot price per hour that provider j charges the firm of slot s (coordination passed through)."""
    cross = m.providers.region[j] != m.slots.region[s]
    return m.spot_price[j] + m.coordination[j] * cross


def column_prices(m: "OutsourcingModel", s: NDArray) -> NDArray[np.float64]:
    """Spot price of every consideration-set column of the given slots."""
    cand = m.slots.cand[s]
    cross = m.providers.region[cand] != m.slots.region[s][:, None]
    return m.spot_price[cand] + m.coordination[cand] * cross


def deliver_contracts(m: "OutsourcingModel", demand: NDArray[np.float64]) -> tuple[NDArray, NDArray, NDArray]:
    """Step 3: permanent delivery and take-or-pay payments; returns (delivered, paid, fee) per slot."""
    book = m.contracts
    delivered = np.where(book.active, deliver_permanent(demand, book.reserved), 0.0)
    fee_rate = np.where(book.channel == Channel.BROKER, m.fee_rate, 0.0)
    base = np.where(book.active, book.price * book.reserved, 0.0)
    act = np.flatnonzero(book.active)
    m.book_sales(book.provider[act], book.price[act] * book.reserved[act], m.slots.broker[act],
                 book.price[act] * book.reserved[act] * fee_rate[act])
    # The firm side is priced on its own (price x (1 + fee)), not as the sum of the two bookings above,
    # so the weekly money invariant (payments = provider revenue + broker fees) is a real check.
    return delivered, book.price * book.reserved * (1.0 + fee_rate) * book.active, base * fee_rate


def serve_on_call(m: "OutsourcingModel", need: NDArray[np.float64], market: SpotMarket) -> tuple[NDArray, NDArray, NDArray]:
    """Step 4: rounds of on-call requests; returns served hours, spend and broker fees per (slot, column)."""
    sl, cfg = m.slots, m.cfg
    S, K = sl.cand.shape
    served = np.zeros((S, K))
    spend = np.zeros((S, K))
    fees = np.zeros((S, K))
    tried = np.zeros((S, K), bool)
    need = need.copy()
    for rnd in range(cfg.choice.spot_rounds):
        s = np.flatnonzero(need > EPS)
        if len(s) == 0:
            break
        via_broker = (sl.channel[s] == Channel.BROKER) & (len(m.brokers) > 0)
        sd, sb = s[~via_broker], s[via_broker]
        allowed = sl.cand_ok[sd] & ~tried[sd]
        if rnd > 0:
            allowed &= market.available[sl.cand[sd]] > EPS
        kd = sample_rows(logit_probabilities(sl.J[sd], cfg.choice.beta, allowed), m.rng_choice.random(len(sd)))
        kb = broker_columns(m, sb, market.available, tried)
        ss = np.concatenate([sd, sb])
        kk = np.concatenate([kd, kb])
        asked = kk >= 0
        ss, kk = ss[asked], kk[asked]
        if len(ss) == 0:
            break
        j = sl.cand[ss, kk]
        got = market.ration(j, need[ss])
        price = pair_prices(m, ss, j)
        fee_rate = np.where(sl.channel[ss] == Channel.BROKER, m.fee_rate, 0.0)
        np.add.at(served, (ss, kk), got)
        np.add.at(spend, (ss, kk), got * price * (1.0 + fee_rate))
        np.add.at(fees, (ss, kk), got * price * fee_rate)
        m.book_sales(j, got * price, sl.broker[ss], got * price * fee_rate)
        tried[ss, kk] = True
        need[ss] -= got
    return served, spend, fees


def broker_columns(m: "OutsourcingModel", s: NDArray, available: NDArray, busy: NDArray) -> NDArray[np.int64]:
    """Brokers route each request to a provider; the provider joins the firm's consideration set.

    A broker keeps routing a client to the provider it used last while that provider has spare
    capacity (account continuity: no new onboarding), and re-picks with its logit otherwise, or with
    probability ``intermediaries.reassign_probability`` a week. Columns under a permanent contract or
    already used this week (``busy``) are never replaced; a request whose set has no free column is
    left for the next round.
    """
    if len(s) == 0:
        return np.empty(0, np.int64)
    sl, t = m.slots, m.providers
    j = np.full(len(s), -1, np.int64)
    u = m.rng_choice.random(len(s))
    prev = sl.main_provider[s]
    last = np.maximum(prev, 0)
    stay = ((prev >= 0) & (m.rng_choice.random(len(s)) >= m.cfg.intermediaries.reassign_probability)
            & t.active[last] & (available[last] > EPS) & t.offers[last, sl.service[s]])
    j[stay] = prev[stay]
    table = broker_pick_table(m, available > EPS) if not stay.all() else None
    for rows, b, v, region in broker_groups(m, s[~stay]):
        rows = np.flatnonzero(~stay)[rows]
        prob = table[b, v, region]
        if prob.sum() > 0:
            cdf = np.cumsum(prob)
            j[rows] = np.minimum(np.searchsorted(cdf, u[rows] * cdf[-1], side="right"), len(prob) - 1)
    has = j >= 0
    k = np.full(len(s), -1, np.int64)
    if has.any():
        protected = busy.copy()
        act = np.flatnonzero(m.contracts.active)
        protected[act, m.contracts.k[act]] = True
        col, new = column_for(sl, s[has], j[has], protected)
        blocked = new & protected[s[has], col]
        new &= ~blocked
        col = np.where(blocked, -1, col)
        if new.any():
            ns, nk = s[has][new], col[new]
            m.spells.close_column(ns, nk)
            replace_candidates(sl, ns, nk, j[has][new], m.cfg, m.catalogue)
        k[has] = col
    return k


def broker_groups(m: "OutsourcingModel", s: NDArray):
    """Yield (rows, broker, service, client region) for the firm-services ``s`` that share a broker pick."""
    if not m.brokers or len(s) == 0:
        return
    sl = m.slots
    key = (sl.broker[s] * len(m.catalogue) + sl.service[s]) * 2 + sl.region[s]
    for g in np.unique(key):
        b, rest = divmod(int(g), 2 * len(m.catalogue))
        v, region = divmod(rest, 2)
        yield np.flatnonzero(key == g), b, v, region


def broker_pick_table(m: "OutsourcingModel", eligible_extra: NDArray) -> NDArray[np.float64]:
    """Every broker's pick probabilities, shape (broker, service, client region, provider), in one pass.

    A broker rates each provider by its expected all-in cost per hour for the service (price with
    coordination for the client's region, plus generic friction and the error cost at the quality the
    broker has learned) and picks by a logit over relative cost among eligible providers.
    """
    t, cat = m.providers, m.catalogue
    n = t.n
    q = np.stack([broker.estimates(n) for broker in m.brokers])  # (B, n)
    region = np.arange(2)
    price = m.spot_price[None, :] + m.coordination[None, :] * (t.region[None, :n] != region[:, None])  # (2, n)
    c = cat.inhouse_cost[:, None]
    nonprice = nonprice_cost(c[None, :, :], cat.friction[None, :, None], cat.learning[None, :, None], 0.0,
                             cat.error_cost[None, :, None], q[:, None, :])  # (B, V, n)
    cost = price[None, None, :, :] + nonprice[:, :, None, :]  # (B, V, 2, n)
    eligible = (t.active[:n] & eligible_extra[:n])[None, :] & t.offers[:n].T  # (V, n)
    eligible = np.broadcast_to(eligible[None, :, None, :], cost.shape)
    prob = Intermediary.pick_distribution(cost.reshape(-1, n), eligible.reshape(-1, n),
                                          m.cfg.intermediaries.choice_intensity)
    return prob.reshape(cost.shape)


def realise_outcomes(m: "OutsourcingModel", f: Fills) -> None:
    """Step 5: quality, preferences, experience, estimates, spells and the week's totals."""
    sl, cfg, cat, t = m.slots, m.cfg, m.catalogue, m.providers
    S, K = sl.cand.shape
    serv = sl.service
    c = m.inhouse_cost_per_slot()

    # Work done per (slot, column): on-call plus permanent delivery at the contract's column.
    book = m.contracts
    work = f.served.copy()
    paid = f.spend.copy()
    ps = np.flatnonzero(book.active)
    work[ps, book.k[ps]] += f.permanent[ps]
    paid[ps, book.k[ps]] += f.permanent_paid[ps]

    used_s, used_k = np.nonzero(work > EPS)
    j = sl.cand[used_s, used_k]
    load = np.maximum(m.prev_utilization[j] - cfg.providers.overload_threshold, 0.0)
    noise = cfg.providers.quality_noise_sd * m.rng_outcome.standard_normal(len(j))
    v = serv[used_s]
    E = sl.E[used_s, used_k]
    quality = delivered_quality(t.reliability[j], load, E, cat.learning[v], noise, cfg.providers)
    on_time = on_time_share(load, E, cat.learning[v], cfg.providers)
    q = quality * on_time  # late work costs the firm as much as faulty work
    cs = c[used_s]
    per_hour = paid[used_s, used_k] / work[used_s, used_k]
    nonprice = nonprice_cost(cs, cat.friction[v], cat.learning[v], E, cat.error_cost[v], q)
    share = work[used_s, used_k] / np.maximum(f.demand[used_s], EPS)
    payoff = np.zeros((S, K))
    payoff[used_s, used_k] = share * (1.0 - (per_hour + nonprice) / cs)
    update_preferences(sl.J, payoff, cfg.choice.gamma)
    a = 0.2
    sl.Qf[used_s, used_k] += a * (q - sl.Qf[used_s, used_k])

    # Relationship-specific experience: a dedicated team learns, the shared pool barely, otherwise it fades.
    lr = cfg.contracts.learning_rate_per_week
    rate = np.zeros((S, K))
    rate[used_s, used_k] = lr * cfg.contracts.on_call_learning_fraction
    rate[ps, book.k[ps]] = lr  # a dedicated team keeps learning the client while the contract runs
    decay = cfg.contracts.experience_decay_per_week
    sl.E[:] = np.where(rate > 0, sl.E + rate * (1.0 - sl.E), sl.E * (1.0 - decay))

    # Brokers learn from every outcome of their clients' brokered work.
    via = sl.channel[used_s] == Channel.BROKER
    for b, broker in enumerate(m.brokers):
        mine = via & (sl.broker[used_s] == b)
        if mine.any():
            broker.learn(j[mine], q[mine], cfg.intermediaries.learning_rate, t.n)

    # Spells: on-call pairs and permanent contracts; new on-call spells cost onboarding.
    oc_s, oc_k = np.nonzero(f.served > EPS)
    new = m.spells.record(m.week, Form.ON_CALL, oc_s, oc_k, sl.cand[oc_s, oc_k], f.served[oc_s, oc_k],
                          f.spend[oc_s, oc_k], sl.channel[oc_s])
    ns = oc_s[new]
    first_hours = f.served[ns, oc_k[new]]  # knowledge transfer scales with the work handed over
    onboarding = cat.onboarding_weeks[serv[ns]] * first_hours * c[ns] * (1.0 - sl.E[ns, oc_k[new]])
    m.spells.record(m.week, Form.PERMANENT, ps, book.k[ps], book.provider[ps], f.permanent[ps],
                    f.permanent_paid[ps], book.channel[ps].astype(np.int8))
    m.spells.close_idle(m.week)

    # Running estimates.
    alpha = 1.0 / cfg.firms.estimate_memory_weeks
    dev = f.demand - sl.mu
    sl.mu += alpha * dev
    sl.var += alpha * (dev * dev - sl.var)
    asked = f.on_call + f.unmet
    req = asked > EPS
    sl.fill[req] += alpha * (f.on_call[req] / asked[req] - sl.fill[req])
    opened = np.bincount(ns, weights=first_hours, minlength=S)
    sl.new_spell_hours += alpha * (opened - sl.new_spell_hours)

    # Switching: a buyer whose main on-call provider differs from the last one it used.
    bought = np.flatnonzero(f.on_call > EPS)
    main = sl.cand[bought, f.served[bought].argmax(axis=1)]
    prev = sl.main_provider[bought]
    seen = prev >= 0
    switch = float(np.mean(main[seen] != prev[seen])) if seen.any() else float("nan")
    sl.main_provider[bought] = main

    hours = work[used_s, used_k]
    if hours.sum() > 0:
        m.flows.quality = float(np.average(quality, weights=hours))
        m.flows.on_time = float(np.average(on_time, weights=hours))
    _add_totals(m, f, c, j, used_s, used_k, work, paid, nonprice, onboarding, switch)


def _add_totals(m: "OutsourcingModel", f: Fills, c, j, used_s, used_k, work, paid, nonprice, onboarding, switch) -> None:
    sl, cat, t, fl = m.slots, m.catalogue, m.providers, m.flows
    kpo = cat.kind[sl.service] == 1
    fl.demand, fl.in_house, fl.permanent = f.demand.sum(), f.in_house.sum(), f.permanent.sum()
    fl.on_call, fl.unmet = f.on_call.sum(), f.unmet.sum()
    fl.demand_bpo, fl.demand_kpo = f.demand[~kpo].sum(), f.demand[kpo].sum()
    fl.permanent_bpo, fl.permanent_kpo = f.permanent[~kpo].sum(), f.permanent[kpo].sum()
    fl.on_call_bpo, fl.on_call_kpo = f.on_call[~kpo].sum(), f.on_call[kpo].sum()
    fl.in_house_bpo, fl.in_house_kpo = f.in_house[~kpo].sum(), f.in_house[kpo].sum()
    hours = work[used_s, used_k]
    cross = t.region[j] != sl.region[used_s]
    fl.offshore_volume = hours[cross].sum()
    broker_hours = np.where(sl.channel == Channel.BROKER, f.on_call, 0.0) + np.where(
        m.contracts.channel == Channel.BROKER, f.permanent, 0.0)
    fl.broker_volume = broker_hours.sum()
    fl.firm_payments = f.spend.sum() + f.permanent_paid.sum()  # firm side; provider and broker sides are booked apart
    kv = kpo[used_s]
    fl.hours_bpo, fl.hours_kpo = hours[~kv].sum(), hours[kv].sum()
    pv = paid[used_s, used_k]
    fl.spend_bpo, fl.spend_kpo = pv[~kv].sum(), pv[kv].sum()
    fl.on_call_hours, fl.on_call_spend = f.on_call.sum(), f.spend.sum()
    fl.permanent_hours_paid = m.contracts.reserved[m.contracts.active].sum()
    fl.permanent_spend = f.permanent_paid.sum()
    fl.loyalty_mean = float(np.nanmean(y)) if np.isfinite(y := loyalty(sl.J, sl.cand_ok)).any() else float("nan")
    fl.switch_rate = switch
    fl.onboarding_costs = float(onboarding.sum())
    fl.firm_surplus = float((c[used_s] * hours).sum() - pv.sum() - (nonprice * hours).sum() - fl.onboarding_costs)


def in_house_and_residual(m: "OutsourcingModel", demand: NDArray, permanent: NDArray) -> tuple[NDArray, NDArray]:
    """Residual after permanent delivery goes to in-house staff first; returns (in-house, on-call need)."""
    residual = demand - permanent
    inhouse = np.minimum(residual, np.where(m.slots.mode == Mode.IN_HOUSE, m.slots.inhouse, 0.0))
    return inhouse, residual - inhouse
