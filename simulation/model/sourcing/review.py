"""Step 7: contracts that expire are renewed or end, due firm-services review their sourcing mode,
and new permanent contracts are signed, all vectorised over the firm-services due this week.

options.py prices the options; this module draws the choice (a logit over relative costs) and turns
it into contract book changes (ledger events with reasons), modes and the decision log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
from numpy.typing import NDArray

from simulation.model.state.decisions import OUTCOME
from simulation.model.sourcing.options import Due, price_options
from simulation.model.records import Channel, ContractEventKind, Form, Mode
from simulation.model.state.slots import column_for, replace_candidates
from simulation.model.sourcing.costs import IN_HOUSE, ON_CALL, ON_CALL_BROKER, OPTIONS, PERMANENT, PERMANENT_BROKER, choose_option

if TYPE_CHECKING:
    from simulation.model import OutsourcingModel


def review(m: "OutsourcingModel") -> None:
    """Renew or end expiring contracts and re-source every firm-service whose review is due."""
    sl, book, cfg = m.slots, m.contracts, m.cfg
    week = m.week
    expiring = book.active & (book.end <= week)
    s = np.flatnonzero((sl.next_review <= week) | expiring)
    if len(s) == 0:
        return
    sl.next_review[s] = np.where(sl.next_review[s] <= week, week + cfg.firms.review_interval_weeks, sl.next_review[s])
    due = Due.of(m, s, expiring[s])
    opt = price_options(m, due)
    choice = choose_option(opt.costs, due.mu * due.c, cfg.firms.sourcing_choice_intensity, m.rng_review.random(len(s)))
    price, reserved = np.full(len(s), np.nan), np.zeros(len(s))
    for o in (PERMANENT, PERMANENT_BROKER):
        if o in opt.price:
            pick = choice == o
            price[pick], reserved[pick] = opt.price[o][pick], opt.reserved[o][pick]
    _apply(m, s, choice, opt.staff, opt.best_k.copy(), opt.broker_provider, price, reserved, due.mid_term,
           due.expiring, opt.costs, opt.broker_top)


def _apply(m: "OutsourcingModel", s, choice, staff, best_k, jpb, price, reserved, mid_term, expiring, costs, jb) -> None:
    sl, book, cfg, cat = m.slots, m.contracts, m.cfg, m.catalogue
    week = m.week
    n = len(s)
    outcome = np.full(n, OUTCOME["no_deal"], np.int8)
    for option in (IN_HOUSE, ON_CALL, ON_CALL_BROKER):
        outcome[choice == option] = OUTCOME[OPTIONS[option]]
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
    outcome[kept] = OUTCOME["kept"]
    same = perm & holder & ~mid_term & (sl.cand[s, np.maximum(best_k, 0)] == book.provider[s]) & (chan == book.channel[s])
    renew = np.flatnonzero(same)
    outcome[renew] = OUTCOME["renewed"]
    ending = holder & ~kept & ~same
    if ending.any():
        e = np.flatnonzero(ending)
        exp_rows, term_rows = e[expiring[e]], e[~expiring[e]]
        if len(term_rows):
            fee = book.exit_fee[s[term_rows]]
            m.flows.firm_payments += fee.sum()
            booked = np.bincount(book.provider[s[term_rows]], weights=fee, minlength=len(m.pending_revenue))
            m.pending_revenue += booked  # the provider's side; it counts in next week's profit
            m.flows.provider_revenue += float(booked.sum())
            close_contracts(m, s[term_rows], ContractEventKind.TERMINATED, "ended early for a cheaper option")
        if len(exp_rows):
            close_contracts(m, s[exp_rows], ContractEventKind.EXPIRED, "not renewed at term end")
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
                      np.where(holder[ok], "replaced the previous contract at review",
                               np.where(mode_before[ok] == Mode.IN_HOUSE, "outsourced in-house work",
                                        "committed on-call work")))
            signed[ok] = True
            m.flows.signed += len(ok)
        outcome[new[fits]] = OUTCOME["signed"]
        outcome[new[~fits]] = OUTCOME["no_capacity"]

    # Modes follow the outcome; a permanent choice without a contract falls back to on-call.
    has = book.active[s]
    sl.mode[s] = np.where(has, Mode.PERMANENT, np.where(choice == IN_HOUSE, Mode.IN_HOUSE, Mode.ON_CALL))
    sl.channel[s] = np.where(has, book.channel[s], chan)
    back = (choice == IN_HOUSE) & (mode_before != Mode.IN_HOUSE)
    m.flows.switching_costs += float((cat.inhouse_switch_weeks[sl.service[s[back]]] * sl.mu[s[back]]
                                      * m.inhouse_cost_per_slot()[s[back]]).sum())
    sl.inhouse[s] = np.where(choice == IN_HOUSE, staff, 0.0)

    if m.decisions.enabled:
        cand_j = np.where(best_k >= 0, sl.cand[s, np.maximum(best_k, 0)], -1)
        m.decisions.add(week=np.full(n, week), firm_id=sl.firm[s], service=sl.service[s],
                        mode_before=mode_before,
                        **{f"cost_{o}": costs[:, i] for i, o in enumerate(OPTIONS)},
                        candidate_provider=cand_j, broker_provider=jb,
                        choice=choice, channel=sl.channel[s],
                        provider_id=np.where(has, book.provider[s], -1),
                        price_per_hour=np.where(has, book.price[s], np.nan),
                        reserved_hours_per_week=np.where(has, book.reserved[s], 0.0), outcome=outcome)


def close_contracts(m: "OutsourcingModel", slots: NDArray, kind: ContractEventKind, reason: str) -> None:
    """End contracts and their permanent spells; the firm-service drops to on-call until it re-sources."""
    book = m.contracts
    m.spells.close(Form.PERMANENT, slots, book.k[slots])
    book.close(m.week, slots, kind, reason)
    m.slots.mode[slots] = Mode.ON_CALL
    m.flows.ended += len(slots)
