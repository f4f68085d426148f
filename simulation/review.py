"""Step 7: contracts that expire are renewed or end, due firm-services review their sourcing mode,
and new permanent contracts are negotiated, all vectorised over the firm-services due this week.

The option costs come from sourcing.py, prices from negotiation.py; this module turns choices into
contract book changes (ledger events with reasons) and the decision log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from simulation.choice import logit_probabilities
from simulation.fulfilment import broker_pick_distribution, column_prices, pair_prices
from simulation.negotiation import bargaining_power, nash_price, provider_reservation
from simulation.records import Channel, ContractEventKind, Form, Mode
from simulation.slots import column_for, replace_candidates
from simulation.sourcing import (IN_HOUSE, ON_CALL, ON_CALL_BROKER, OPTIONS, PERMANENT, PERMANENT_BROKER,
                                 average_experience, choose_option, expected_shortfall, in_house_cost,
                                 permanent_terms)

if TYPE_CHECKING:
    from simulation.model import OutsourcingModel

_OUTCOME_OF_CHOICE = {IN_HOUSE: "in_house", ON_CALL: "on_call", ON_CALL_BROKER: "on_call_broker"}


def review(m: "OutsourcingModel") -> None:
    sl, book, cfg, cat = m.slots, m.contracts, m.cfg, m.catalogue
    week = m.week
    expiring = book.active & (book.end <= week)
    s = np.flatnonzero((sl.next_review <= week) | expiring)
    if len(s) == 0:
        return
    sl.next_review[s] = np.where(sl.next_review[s] <= week, week + cfg.firms.review_interval_weeks, sl.next_review[s])
    n, K = len(s), sl.cand.shape[1]
    v = sl.service[s]
    c = m.inhouse_cost_per_slot()[s]
    mu = np.maximum(sl.mu[s], 1e-6)
    sigma = np.sqrt(np.maximum(sl.var[s], 0.0))
    penalty = cfg.firms.shortage_penalty_factor * c
    mgmt = cfg.firms.direct_management_cost_per_week
    onboard = cat.onboarding_weeks[v] * mu * c
    fr, err, ls = cat.friction[v], cat.error_cost[v], cat.learning[v]
    term = cat.term_weeks[v].astype(float)
    t = m.providers
    costs = np.full((n, len(OPTIONS)), np.nan)

    # On-call, direct: the firm's own logit mix over its consideration set.
    cand = sl.cand[s]
    valid = sl.cand_ok[s] & t.active[cand]
    price_k = column_prices(m, s)
    allin_k = price_k + c[:, None] * (fr[:, None] * (1 - ls[:, None] * sl.E[s]) + err[:, None] * (1 - sl.Qf[s]))
    P = logit_probabilities(sl.J[s], cfg.choice.beta, valid)
    has_oc = P.sum(axis=1) > 0
    oc_hour = np.where(has_oc, (P * np.where(valid, allin_k, 0.0)).sum(axis=1), np.nan) + (1 - sl.fill[s]) * penalty
    costs[:, ON_CALL] = mu * oc_hour + onboard * sl.new_spell_rate[s] + mgmt

    # On-call through the firm's broker: its pick mix, its quality estimates, its fee.
    jb = np.full(n, -1, np.int64)
    qb = np.zeros(n)
    ob_hour = np.full(n, np.nan)
    if m.brokers:
        key = (sl.broker[s] * len(cat) + v) * 2 + sl.region[s]
        for g in np.unique(key):
            rows = np.flatnonzero(key == g)
            b, rest = divmod(int(g), 2 * len(cat))
            vv, region = divmod(rest, 2)
            prob = broker_pick_distribution(m, b, vv, region, np.ones(t.n, bool))
            if prob.sum() == 0:
                continue
            q = m.brokers[b].estimates(t.n)
            price = m.spot_price + m.coordination * (t.region[: t.n] != region)
            jb[rows] = int(prob.argmax())
            qb[rows] = q[jb[rows]]
            ob_hour[rows] = (prob * price).sum() * (1 + m.fee_rate) + c[rows] * (
                cat.friction[vv] + cat.error_cost[vv] * (1 - (prob * q).sum()))
        ob_hour += (1 - sl.fill[s]) * penalty
        costs[:, ON_CALL_BROKER] = mu * ob_hour + onboard * sl.new_spell_rate[s]

    overflow_hour = np.fmin(oc_hour, ob_hour)
    staff = np.zeros(n)
    if cfg.contracts.allow_in_house:
        staff, costs[:, IN_HOUSE] = in_house_cost(mu, sigma, c, np.where(np.isfinite(overflow_hour), overflow_hour, penalty))
    alt_hour = np.nanmin(costs[:, :3], axis=1) / mu

    # Permanent, direct: negotiate with every known provider, keep the cheapest deal.
    holder = book.active[s]
    mid_term = holder & ~expiring[s]
    power = bargaining_power(m.service_utilization[v], m.target_util_by_service[v], cat.skill[v], cfg.negotiation)
    best_k = np.full(n, -1, np.int64)
    price_best = np.full(n, np.nan)
    res_best = np.zeros(n)
    jpb = np.full(n, -1, np.int64)
    if cfg.contracts.allow_permanent:
        lr = cfg.contracts.learning_rate_per_week
        cross = t.region[cand] != sl.region[s][:, None]
        rp = provider_reservation(m.unit_cost[cand] + m.coordination[cand] * cross, t.utilization[cand], cfg.negotiation)
        ebar = average_experience(sl.E[s], lr, term[:, None])
        nonprice = c[:, None] * (fr[:, None] * (1 - ls[:, None] * ebar) + err[:, None] * (1 - sl.Qf[s]))
        terms = permanent_terms(mu[:, None], sigma[:, None], overflow_hour[:, None], alt_hour[:, None], nonprice,
                                onboard[:, None] * (1 - sl.E[s]), term[:, None], rp, power[:, None], 0.0, nash_price)
        wk = np.where(valid, terms.weekly_cost + mgmt, np.nan)
        any_deal = np.isfinite(wk).any(axis=1)
        best_k = np.where(any_deal, np.argmin(np.where(np.isfinite(wk), wk, np.inf), axis=1), -1)
        r = np.flatnonzero(any_deal)
        costs[r, PERMANENT] = wk[r, best_k[r]]
        price_best[r], res_best[r] = terms.price[r, best_k[r]], terms.reserved[r, best_k[r]]

        if m.brokers:  # permanent through the broker: its best-rated provider, no history with the firm
            okb = jb >= 0
            jj = np.maximum(jb, 0)
            crossb = t.region[jj] != sl.region[s]
            rpb = provider_reservation(m.unit_cost[jj] + m.coordination[jj] * crossb, t.utilization[jj], cfg.negotiation)
            eb0 = average_experience(np.zeros(n), lr, term)
            npb = c * (fr * (1 - ls * eb0) + err * (1 - qb))
            tb = permanent_terms(mu, sigma, overflow_hour, alt_hour, npb, onboard, term, rpb, power, m.fee_rate, nash_price)
            costs[:, PERMANENT_BROKER] = np.where(okb, tb.weekly_cost, np.nan)
            jpb = jb.copy()
            price_b, res_b = tb.price.copy(), tb.reserved.copy()
            # A brokered contract at term end can be renewed with the incumbent, experience and all.
            r = np.flatnonzero(holder & ~mid_term & (book.channel[s] == Channel.BROKER))
            if len(r):
                ss, kk = s[r], book.k[s[r]]
                ji = book.provider[ss]
                crossi = t.region[ji] != sl.region[ss]
                rpi = provider_reservation(m.unit_cost[ji] + m.coordination[ji] * crossi, t.utilization[ji], cfg.negotiation)
                ebi = average_experience(sl.E[ss, kk], lr, term[r])
                npi = c[r] * (fr[r] * (1 - ls[r] * ebi) + err[r] * (1 - sl.Qf[ss, kk]))
                ti = permanent_terms(mu[r], sigma[r], overflow_hour[r], alt_hour[r], npi, onboard[r] * (1 - sl.E[ss, kk]),
                                     term[r], rpi, power[r], m.fee_rate, nash_price)
                better = np.isfinite(ti.weekly_cost) & ~(ti.weekly_cost >= costs[r, PERMANENT_BROKER])
                rb = r[better]
                costs[rb, PERMANENT_BROKER] = ti.weekly_cost[better]
                jpb[rb], price_b[rb], res_b[rb] = ji[better], ti.price[better], ti.reserved[better]

    # Holders mid-term can keep their contract as it is, or leave and pay the early-exit fee.
    if mid_term.any():
        r = np.flatnonzero(mid_term)
        ss = s[r]
        chan = book.channel[ss]
        fee = np.where(chan == Channel.BROKER, m.fee_rate, 0.0)
        kk = book.k[ss]
        ebar = average_experience(sl.E[ss, kk], cfg.contracts.learning_rate_per_week, (book.end[ss] - week).astype(float))
        nonprice = c[r] * (fr[r] * (1 - ls[r] * ebar) + err[r] * (1 - sl.Qf[ss, kk]))
        short = expected_shortfall(mu[r], sigma[r], book.reserved[ss])
        keep = (book.price[ss] * (1 + fee) * book.reserved[ss] + short * overflow_hour[r]
                + (mu[r] - short) * nonprice + np.where(chan == Channel.DIRECT, mgmt, 0.0))
        leave = book.exit_fee[ss] / cfg.firms.review_interval_weeks
        costs[r] += leave[:, None]
        costs[r, PERMANENT] = np.where(chan == Channel.DIRECT, keep, np.nan)
        costs[r, PERMANENT_BROKER] = np.where(chan == Channel.BROKER, keep, np.nan)
        best_k[r] = kk

    choice = choose_option(costs, mu * c, cfg.firms.sourcing_choice_intensity, m.rng_review.random(n))
    if m.brokers and cfg.contracts.allow_permanent:
        pb = choice == PERMANENT_BROKER
        price_best[pb], res_best[pb] = price_b[pb], res_b[pb]
    _apply(m, s, choice, staff, best_k, jpb, price_best, res_best, mid_term, expiring[s], costs, jb)


def _apply(m: "OutsourcingModel", s, choice, staff, best_k, jpb, price, reserved, mid_term, expiring, costs, jb) -> None:
    sl, book, cfg, cat = m.slots, m.contracts, m.cfg, m.catalogue
    week = m.week
    n = len(s)
    m.pending_before = float(m.pending_revenue.sum())
    outcome = np.array([_OUTCOME_OF_CHOICE.get(int(o), "") for o in choice], dtype=object)
    perm = (choice == PERMANENT) | (choice == PERMANENT_BROKER)
    chan = np.where((choice == ON_CALL_BROKER) | (choice == PERMANENT_BROKER), Channel.BROKER, Channel.DIRECT)
    holder = book.active[s]
    mode_before = sl.mode[s].copy()

    # Permanent via broker: the broker's provider joins the consideration set.
    pb = np.flatnonzero((choice == PERMANENT_BROKER) & ~mid_term)
    if len(pb):
        protected = np.zeros(sl.cand.shape, bool)
        act = np.flatnonzero(book.active)
        protected[act, book.k[act]] = True
        col, new = column_for(sl, s[pb], jpb[pb], protected)
        if new.any():
            m.spells.close_column(s[pb][new], col[new])
            replace_candidates(sl, s[pb][new], col[new], jpb[pb][new], cfg, cat)
        best_k[pb] = col

    kept = perm & mid_term
    outcome[kept] = "kept"
    same = perm & holder & ~mid_term & (sl.cand[s, np.maximum(best_k, 0)] == book.provider[s]) & (chan == book.channel[s])
    renew = np.flatnonzero(same)
    outcome[renew] = "renewed"
    ending = holder & ~kept & ~same
    if ending.any():
        e = np.flatnonzero(ending)
        exp_rows, term_rows = e[expiring[e]], e[~expiring[e]]
        if len(term_rows):
            fee = book.exit_fee[s[term_rows]]
            m.flows.firm_payments += fee.sum()
            np.add.at(m.pending_revenue, book.provider[s[term_rows]], fee)  # counts in next week's profit
            m.flows.provider_revenue += float(m.pending_revenue.sum() - m.pending_before)
            _close(m, s[term_rows], ContractEventKind.TERMINATED, "ended early for a cheaper option")
        if len(exp_rows):
            _close(m, s[exp_rows], ContractEventKind.EXPIRED, "not renewed at term end")
    if len(renew):
        ss = s[renew]
        free = m.providers.capacity[book.provider[ss]] - book.committed(m.providers.n)[book.provider[ss]]
        reserved[renew] = np.minimum(reserved[renew], free + book.reserved[ss])  # never beyond capacity
        book.renew(week, ss, price[renew], reserved[renew], cat.term_weeks[sl.service[ss]], cfg.contracts.early_exit_fee_weeks,
                   "renewed at term end")
        m.flows.renewed += len(renew)

    new = np.flatnonzero(perm & ~kept & ~same)
    signed = np.zeros(n, bool)
    if len(new):
        ss = s[new]
        j = sl.cand[ss, best_k[new]]
        free = m.providers.capacity[: m.providers.n] - book.committed(m.providers.n)
        order = np.lexsort((m.rng_review.random(len(new)), j))
        cum = np.zeros(len(new))
        js, ks = j[order], reserved[new][order]
        starts = np.r_[0, np.flatnonzero(np.diff(js)) + 1]
        csum = np.cumsum(ks)
        cum[order] = csum - np.repeat(np.r_[0.0, csum[starts[1:] - 1]], np.diff(np.r_[starts, len(js)]))
        fits = cum <= free[j] + 1e-9
        ok = new[fits]
        if len(ok):
            so = s[ok]
            book.sign(week, so, best_k[ok], sl.cand[so, best_k[ok]], price[ok], reserved[ok],
                      cat.term_weeks[sl.service[so]], chan[ok], cfg.contracts.early_exit_fee_weeks,
                      "signed after sourcing review" if not holder[ok].any() else "signed at review")
            signed[ok] = True
            m.flows.signed += len(ok)
        outcome[new[fits]] = "signed"
        outcome[new[~fits]] = "no_capacity"

    # Modes follow the outcome; a permanent choice without a contract falls back to on-call.
    has = book.active[s]
    sl.mode[s] = np.where(has, Mode.PERMANENT, np.where(choice == IN_HOUSE, Mode.IN_HOUSE, Mode.ON_CALL))
    sl.channel[s] = np.where(has, book.channel[s], chan)
    sl.inhouse[s] = np.where(choice == IN_HOUSE, staff, 0.0)
    no_deal = perm & ~has
    outcome[(outcome == "")] = "no_deal"
    outcome[no_deal & (outcome == "signed")] = "no_capacity"

    if m.decisions.enabled:
        cand_j = np.where(best_k >= 0, sl.cand[s, np.maximum(best_k, 0)], -1)
        m.decisions.add(week=np.full(n, week), firm_id=sl.firm[s], service=sl.service[s],
                        mode_before=np.array([Mode(x).name.lower() for x in mode_before], dtype=object),
                        **{f"cost_{o}": costs[:, i] for i, o in enumerate(OPTIONS)},
                        candidate_provider=cand_j, broker_provider=jb,
                        choice=np.array(OPTIONS, dtype=object)[choice],
                        channel=np.array([Channel(x).name.lower() for x in sl.channel[s]], dtype=object),
                        provider_id=np.where(has, book.provider[s], -1),
                        price_per_hour=np.where(has, book.price[s], np.nan),
                        reserved_hours_per_week=np.where(has, book.reserved[s], 0.0), outcome=outcome)


def _close(m: "OutsourcingModel", slots: NDArray, kind: ContractEventKind, reason: str) -> None:
    """End contracts and their permanent spells; the firm-service drops to on-call until it re-sources."""
    book = m.contracts
    m.spells.close(Form.PERMANENT, slots, book.k[slots])
    book.close(m.week, slots, kind, reason)
    m.slots.mode[slots] = Mode.ON_CALL
    m.flows.ended += len(slots)
