"""Step 7: contracts that expire are renewed or end, due firm-services review their sourcing mode, and
new permanent contracts are signed, all vectorised over the firm-services due this week.

options.py prices the options; each firm-service's sourcing policy picks one (policies.py); this
module turns the choices into contract book changes (ledger events with reasons), modes, in-house
staff and the decision log, and returns the week's review totals.

Legend: ``s`` slot rows of the due batch, ``k`` consideration-set columns, ``j`` provider rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from simulation.model.codes import OPTIONS, Channel, Mode, ReviewOutcome, SourcingOption
from simulation.model.ledger import ContractEventKind
from simulation.model.sourcing.options import Due, MarketView, Options, price_options, remaining_weeks
from simulation.model.sourcing.policies import ReviewMenu, SourcingPolicy, choose, permanent_regions
from simulation.model.state.contracts import end_contracts
from simulation.model.state.costs import CostTracker
from simulation.model.state.decisions import DecisionLog
from simulation.model.state.spells import SpellTracker

O = SourcingOption


@dataclass(frozen=True)
class ReviewTotals:
    """Step 7's contribution to the week's totals."""

    renewed: int = 0
    signed: int = 0
    ended: int = 0
    switching_costs: float = 0.0  # cu spent rebuilding in-house staff
    contract_onboarding: float = 0.0  # knowledge transfer to the providers of newly signed contracts (cu)
    tender_costs: float = 0.0  # tendering for newly signed contracts (cu)
    exit_fees_paid: float = 0.0  # early-exit fees firms paid (cu)
    exit_fees_booked: float = 0.0  # the same fees on the providers' side (booked as next week's revenue)
    slots: NDArray[np.int64] = field(default_factory=lambda: np.empty(0, np.int64))  # the slots reviewed
    one_off: NDArray[np.float64] = field(default_factory=lambda: np.empty(0))  # what each paid at once (cu): staff
    # rebuilt, a new contract's onboarding and tender, an early-exit fee


@dataclass(frozen=True)
class Choices:
    """What the due rows chose, with the terms of the permanent option they took."""

    option: NDArray[np.intp]
    price: NDArray[np.float64]  # negotiated price per hour (NaN unless a permanent option was chosen)
    reserved: NDArray[np.float64]  # reserved hours per week
    best_k: NDArray[np.int64]  # column of the provider of the permanent option

    @property
    def permanent(self) -> NDArray[np.bool_]:
        return (self.option == O.PERMANENT) | (self.option == O.PERMANENT_BROKER)

    @property
    def channel(self) -> NDArray[np.int8]:
        brokered = (self.option == O.ON_CALL_BROKER) | (self.option == O.PERMANENT_BROKER)
        return np.where(brokered, Channel.BROKER, Channel.DIRECT).astype(np.int8)


def review(view: MarketView, spells: SpellTracker, policies: list[SourcingPolicy], decisions: DecisionLog,
           tracker: CostTracker, inhouse_cost: NDArray[np.float64], rng: np.random.Generator) -> ReviewTotals:
    """Renew or end expiring contracts and re-source every firm-service whose review is due.

    The review periods of the due slots close in ``tracker`` (their realised weekly costs go into the
    decision log) and new ones open for this week's decisions.
    """
    slots, book, week = view.slots, view.book, view.week
    expiring = book.active & (book.end <= week)
    s = np.flatnonzero((slots.next_review <= week) | expiring)
    if len(s) == 0:
        return ReviewTotals()
    interval = view.cfg.firms.review_interval_weeks
    slots.next_review[s] = np.where(slots.next_review[s] <= week, week + interval, slots.next_review[s])
    due = Due.gather(view, s, expiring[s], inhouse_cost, permanent_regions(policies, slots.policy[s]))
    opt = price_options(view, due)
    menu = ReviewMenu(opt.costs, due.mu * due.c, rng.random(len(s)), slots.firm[s], slots.service[s], due.mid_term,
                      view.cfg.firms.sourcing_choice_intensity)
    choices = _terms_of(choose(policies, slots.policy[s], menu), opt)
    return _apply(view, spells, decisions, tracker, due, opt, choices, inhouse_cost, rng)


def _terms_of(option: NDArray[np.intp], opt: Options) -> Choices:
    price, reserved = np.full(len(option), np.nan), np.zeros(len(option))
    for o in (O.PERMANENT, O.PERMANENT_BROKER):
        if o in opt.price:
            pick = option == o
            price[pick], reserved[pick] = opt.price[o][pick], opt.reserved[o][pick]
    return Choices(option, price, reserved, opt.best_k.copy())


def _apply(view: MarketView, spells: SpellTracker, decisions: DecisionLog, tracker: CostTracker, due: Due,
           opt: Options, choices: Choices, inhouse_cost: NDArray, rng: np.random.Generator) -> ReviewTotals:
    """Turn the choices into contracts, modes and staff; log the decisions and open their review periods."""
    slots, book, s = view.slots, view.book, due.s
    outcome = np.full(len(s), ReviewOutcome.NO_DEAL, np.int8)
    for option in (O.IN_HOUSE, O.ON_CALL, O.ON_CALL_BROKER):
        outcome[choices.option == option] = ReviewOutcome(option)
    holder = book.holds(s)
    mode_before = slots.mode[s].copy()
    _bring_in_broker_provider(view, spells, due, opt, choices)

    kept = choices.permanent & due.mid_term
    outcome[kept] = ReviewOutcome.KEPT
    column = np.maximum(choices.best_k, 0)
    same = (choices.permanent & holder & ~due.mid_term & (slots.provider[s, column] == book.provider[s])
            & (choices.channel == book.channel[s]))
    outcome[same] = ReviewOutcome.RENEWED
    ending = np.flatnonzero(holder & ~kept & ~same)
    exit_fee = np.where(holder & ~due.expiring, view.book.exit_fee[s], 0.0)  # owed if the contract ends now
    exit_horizon = remaining_weeks(view.book, s, view.week)
    fees_paid, fees_booked = _end_contracts(view, spells, due, ending)
    renewed = _renew(view, due, choices, np.flatnonzero(same))
    signed = _sign(view, due, choices, np.flatnonzero(choices.permanent & ~kept & ~same), holder, mode_before,
                   outcome, rng)

    # Modes follow the outcome; a permanent choice without a contract falls back to on-call.
    has = book.holds(s)
    slots.mode[s] = np.where(has, Mode.PERMANENT, np.where(choices.option == O.IN_HOUSE, Mode.IN_HOUSE, Mode.ON_CALL))
    slots.channel[s] = np.where(has, book.channel[s], choices.channel)
    back = s[(choices.option == O.IN_HOUSE) & (mode_before != Mode.IN_HOUSE)]
    switching = float((view.catalogue.inhouse_switch_weeks[slots.service[back]] * slots.demand_mean[back]
                       * inhouse_cost[back]).sum())
    slots.inhouse_staff[s] = np.where(choices.option == O.IN_HOUSE, opt.staff, 0.0)
    onboarding = _contract_onboarding(view, due, outcome)
    tender = np.where((outcome == ReviewOutcome.SIGNED) & book.holds(s), view.cfg.contracts.tender_cost, 0.0)
    rows = _log(view, decisions, due, opt, choices, mode_before, outcome) if decisions.enabled else np.full(len(s), -1)
    closed_rows, realised, weeks = tracker.close(s)
    if decisions.enabled:
        decisions.set_realised(closed_rows, realised, weeks)
    rebuild = np.where((choices.option == O.IN_HOUSE) & (mode_before != Mode.IN_HOUSE),
                       view.catalogue.inhouse_switch_weeks[slots.service[s]] * slots.demand_mean[s] * inhouse_cost[s], 0.0)
    left = np.zeros(len(s), bool)
    left[ending] = ~due.expiring[ending]  # ended before its term: the firm pays the exit fee
    tracker.open(s, rows, (rebuild + onboarding + tender) / due.term + np.where(left, exit_fee, 0.0) / exit_horizon)
    return ReviewTotals(renewed=renewed, signed=signed, ended=len(ending), switching_costs=switching,
                        contract_onboarding=float(onboarding.sum()), tender_costs=float(tender.sum()), exit_fees_paid=fees_paid, exit_fees_booked=fees_booked,
                        slots=s, one_off=rebuild + onboarding + tender + np.where(left, exit_fee, 0.0))


def _contract_onboarding(view: MarketView, due: Due, outcome: NDArray) -> NDArray[np.float64]:
    """Knowledge transfer to the provider of each contract signed with a new provider (the whole demand,
    less what the provider already knows of the client); zero for renewals and kept contracts."""
    slots, book, s = view.slots, view.book, due.s
    signed = (outcome == ReviewOutcome.SIGNED) & book.holds(s)
    k = np.maximum(book.k[s], 0)
    return np.where(signed, due.onboard * (1.0 - slots.experience[s, k]), 0.0)


def _bring_in_broker_provider(view: MarketView, spells: SpellTracker, due: Due, opt: Options, choices: Choices) -> None:
    """Permanent via broker (outside a running contract): the broker's provider joins the consideration set."""
    slots, book = view.slots, view.book
    pb = np.flatnonzero((choices.option == O.PERMANENT_BROKER) & ~due.mid_term)
    if len(pb) == 0:
        return
    col, new, _ = slots.column_for(due.s[pb], opt.broker_provider[pb], np.zeros(slots.provider.shape, bool), book.k)
    if new.any():
        slots.introduce(due.s[pb][new], col[new], opt.broker_provider[pb][new], view.catalogue.prior_quality, spells)
    choices.best_k[pb] = col


def _end_contracts(view: MarketView, spells: SpellTracker, due: Due, ending: NDArray) -> tuple[float, float]:
    """End replaced contracts: at term end they expire; before it the firm pays the early-exit fee.

    Returns the fees paid by firms and booked by providers.
    """
    book, table = view.book, view.table
    paid = booked = 0.0
    if len(ending) == 0:
        return paid, booked
    early, at_term = ending[~due.expiring[ending]], ending[due.expiring[ending]]
    if len(early):
        rows = due.s[early]
        fee = book.exit_fee[rows]
        paid = fee.sum()
        owed = np.bincount(book.provider[rows], weights=fee, minlength=table.n)
        table.fees_due[: table.n] += owed  # the provider's side; it counts in next week's profit
        booked = float(owed.sum())
        end_contracts(book, spells, view.slots, rows, ContractEventKind.TERMINATED, "ended early for a cheaper option",
                      view.week)
    if len(at_term):
        end_contracts(book, spells, view.slots, due.s[at_term], ContractEventKind.EXPIRED, "not renewed at term end",
                      view.week)
    return paid, booked


def _renew(view: MarketView, due: Due, choices: Choices, renew: NDArray) -> int:
    """Renew the incumbent's contract on the newly negotiated terms (never beyond the provider's capacity)."""
    if len(renew) == 0:
        return 0
    book, table, cat = view.book, view.table, view.catalogue
    rows = due.s[renew]
    free = table.capacity[book.provider[rows]] - book.committed(table.n)[book.provider[rows]]
    choices.reserved[renew] = np.minimum(choices.reserved[renew], free + book.reserved[rows])
    book.renew(view.week, rows, choices.price[renew], choices.reserved[renew], cat.term_weeks[view.slots.service[rows]],
               view.cfg.contracts.early_exit_fee_weeks, "renewed at term end")
    return len(renew)


def _sign(view: MarketView, due: Due, choices: Choices, new: NDArray, holder: NDArray, mode_before: NDArray,
          outcome: NDArray, rng: np.random.Generator) -> int:
    """Sign new contracts where the provider still has the reserved hours free (in random order per provider)."""
    if len(new) == 0:
        return 0
    slots, book, table, cat = view.slots, view.book, view.table, view.catalogue
    rows = due.s[new]
    j = slots.provider[rows, choices.best_k[new]]
    free = table.capacity[: table.n] - book.committed(table.n)
    order = np.lexsort((rng.random(len(new)), j))
    cum = np.zeros(len(new))
    js, ks = j[order], choices.reserved[new][order]
    starts = np.r_[0, np.flatnonzero(np.diff(js)) + 1]
    csum = np.cumsum(ks)
    cum[order] = csum - np.repeat(np.r_[0.0, csum[starts[1:] - 1]], np.diff(np.r_[starts, len(js)]))
    fits = cum <= free[j] + 1e-9
    ok = new[fits]
    if len(ok):
        so = due.s[ok]
        reason = np.where(holder[ok], "replaced the previous contract at review",
                          np.where(mode_before[ok] == Mode.IN_HOUSE, "outsourced in-house work", "committed on-call work"))
        book.sign(view.week, so, choices.best_k[ok], slots.provider[so, choices.best_k[ok]], choices.price[ok],
                  choices.reserved[ok], cat.term_weeks[slots.service[so]], choices.channel[ok],
                  view.cfg.contracts.early_exit_fee_weeks, reason)
        slots.last_worked[so, choices.best_k[ok]] = view.week  # onboarded at signing (booked by the review)
    outcome[new[fits]] = ReviewOutcome.SIGNED
    outcome[new[~fits]] = ReviewOutcome.NO_CAPACITY
    return len(ok)


def _log(view: MarketView, decisions: DecisionLog, due: Due, opt: Options, choices: Choices, mode_before: NDArray,
         outcome: NDArray) -> NDArray[np.int64]:
    slots, book, s = view.slots, view.book, due.s
    has = book.holds(s)
    candidate = np.where(choices.best_k >= 0, slots.provider[s, np.maximum(choices.best_k, 0)], -1)
    return decisions.add(week=np.full(len(s), view.week), firm_id=slots.firm[s], service=slots.service[s],
                  mode_before=mode_before, **{f"cost_{o}": opt.costs[:, i] for i, o in enumerate(OPTIONS)},
                  candidate_provider=candidate, broker_provider=opt.broker_top, choice=choices.option,
                  channel=slots.channel[s], provider_id=np.where(has, book.provider[s], -1),
                  price_per_hour=np.where(has, book.price[s], np.nan),
                  reserved_hours_per_week=np.where(has, book.reserved[s], 0.0), outcome=outcome)
