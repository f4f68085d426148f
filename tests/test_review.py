"""Unit tests for simulation/model/sourcing/options.py and review.py on hand-made markets (no full model):
what each option costs, and how a review turns choices into contracts, modes, fees and the decision log."""

from __future__ import annotations

import numpy as np
import pytest

from simulation.model.codes import Mode, SourcingOption
from simulation.model.sourcing.costs import average_experience, nonprice_cost
from simulation.model.sourcing.options import Due, price_options
from simulation.model.sourcing.policies import ALWAYS_PERMANENT, NEVER_OUTSOURCE, ON_CALL_ONLY, CostLogit
from simulation.model.sourcing.review import review
from simulation.model.state.costs import CostTracker

from markets import market

O = SourcingOption


def options_of(m, slot: int = 0):
    due = Due.gather(m.view(), np.array([slot]), np.array([False]), m.inhouse_cost())
    return due, price_options(m.view(), due)


def test_on_call_and_in_house_costs_follow_their_formulas():
    """On-call: demand x (price + non-price cost) + management; in-house: staff at own cost plus the rebuild spread over the term."""
    m = market([{"spot_price": 20.0}], [{"demand": 40.0}])
    _, opt = options_of(m)
    # The pool learns a little over the 13-week period from E = 0 (rate 0.02 x 0.1, decay 0.05): mean E 0.0098, so
    # the non-price cost is a hair under 30 x (0.1 + 0.5 x 0.1) = 4.5 cu/h.
    c = m.cfg.contracts
    ebar = average_experience(0.0, c.learning_rate_per_week * c.on_call_learning_fraction, m.cfg.firms.review_interval_weeks,
                              c.experience_decay_per_week)
    nonprice = nonprice_cost(30.0, 0.1, 0.3, ebar, 0.5, 0.9)
    mgmt = m.cfg.firms.direct_management_cost_per_week
    assert opt.costs[0, O.ON_CALL] == pytest.approx(40.0 * (20.0 + nonprice) + mgmt)
    rebuild = m.catalogue.inhouse_switch_weeks[0] * 40.0 * 30.0 / m.catalogue.term_weeks[0]
    assert opt.costs[0, O.IN_HOUSE] == pytest.approx(40.0 * 30.0 + rebuild)  # steady demand: staff = demand
    assert np.isnan(opt.costs[0, O.ON_CALL_BROKER]) and np.isnan(opt.costs[0, O.PERMANENT_BROKER])  # no brokers


def test_a_permanent_deal_reserves_steady_demand_and_prices_between_both_reservations():
    """Steady demand reserves all of it; the Nash price lies between the provider's reservation (the full cost of a
    staffed reserved hour plus its margin) and the firm's (what a reserved hour saves, less the set-up per hour)."""
    m = market([{"spot_price": 20.0, "unit_cost": 12.0}], [{"demand": 40.0}])
    due, opt = options_of(m)
    price, reserved = opt.price[O.PERMANENT][0], opt.reserved[O.PERMANENT][0]
    assert reserved == pytest.approx(40.0)
    neg, term = m.cfg.negotiation, m.catalogue.term_weeks[0]
    # Provider: a reserved hour is staffed with the slack of the target utilisation, 12 / 0.82 = 14.634 cu/h, times
    # (1 + min margin 0.12 - guaranteed-load value 0.15 x idle share 0.2) = 1.09: 15.951 cu/h.
    provider_floor = 12.0 / 0.82 * (1 + neg.min_margin - neg.guaranteed_load_value * 0.2)
    # Firm: a reserved hour replaces an overflow hour with the same provider (fill rate 1: spot 20 plus the same
    # non-price cost), cheaper than its best alternative (on-call at 26 cu/h), so it saves 20 cu/h before its price,
    # less the onboarding (1 week x 40 h x 30 cu/h, no tender cost) spread over 104 weeks x 40 h:
    # 20 - 1200 / 4160 = 19.712 cu/h.
    firm_ceiling = 20.0 - 1.0 * 40.0 * 30.0 / (term * 40.0)
    on_call_hour = opt.costs[0, O.ON_CALL] / 40.0 - m.cfg.firms.direct_management_cost_per_week / 40.0
    assert provider_floor < price < firm_ceiling < on_call_hour
    # Balanced market (utilisation at target, skill 1): power 0.5, so 15.951 + 0.5 x (19.712 - 15.951) = 17.831 cu/h.
    assert price == pytest.approx(provider_floor + 0.5 * (firm_ceiling - provider_floor), rel=1e-12)
    ebar = average_experience(0.0, m.cfg.contracts.learning_rate_per_week, float(term))
    nonprice = nonprice_cost(30.0, 0.1, 0.3, ebar, 0.5, 0.9)
    onboarding = m.catalogue.onboarding_weeks[0] * 40.0 * 30.0 / term
    expected = price * 40.0 + 40.0 * nonprice + onboarding + m.cfg.firms.direct_management_cost_per_week
    assert opt.costs[0, O.PERMANENT] == pytest.approx(expected)


def run_review(m, policy, slots=(0,)):
    m.slots.policy[list(slots)] = 1
    return review(m.view(), m.spells, [CostLogit(), policy], m.decisions, CostTracker(len(m.slots)), m.inhouse_cost(),
                  np.random.default_rng(0))


def test_a_firm_that_always_goes_permanent_signs_a_contract_and_the_review_is_logged():
    """ALWAYS_PERMANENT signs with the provider for the reserved hours; mode, ledger and decision log follow."""
    m = market([{}], [{}])
    totals = run_review(m, ALWAYS_PERMANENT)
    assert totals.signed == 1 and m.book.active[0] and m.book.provider[0] == 0
    assert m.slots.mode[0] == Mode.PERMANENT and m.book.reserved[0] == pytest.approx(40.0)
    assert m.book.events[-1].reason == "committed on-call work"
    log = m.decisions.to_frame()
    assert log["choice"].tolist() == ["permanent"] and log["outcome"].tolist() == ["signed"]
    assert m.slots.next_review[0] == 1 + m.cfg.firms.review_interval_weeks


def test_bringing_work_in_house_staffs_it_and_pays_the_rebuild():
    """NEVER_OUTSOURCE moves the work in-house with staff for steady demand, paying the rebuild cost once."""
    m = market([{}], [{}])
    totals = run_review(m, NEVER_OUTSOURCE)
    assert m.slots.mode[0] == Mode.IN_HOUSE and m.slots.inhouse_staff[0] == pytest.approx(40.0)
    assert totals.switching_costs == pytest.approx(m.catalogue.inhouse_switch_weeks[0] * 40.0 * 30.0)


def test_leaving_a_contract_early_costs_the_exit_fee_on_both_sides():
    """A mid-term holder that goes on-call terminates: the firm pays the fee, the provider books it next week."""
    m = market([{}], [{}], overrides={"contracts": {"early_exit_fee_weeks": 13.0}})
    m.book.sign(0, np.array([0]), np.array([0]), np.array([0]), np.array([18.0]), np.array([30.0]), np.array([104]),
                np.array([0]), 13.0, "test")
    totals = run_review(m, ON_CALL_ONLY)
    fee = 13.0 * 18.0 * 30.0
    assert totals.ended == 1 and totals.exit_fees_paid == pytest.approx(fee) and totals.exit_fees_booked == pytest.approx(fee)
    assert m.table.fees_due[0] == pytest.approx(fee) and not m.book.active[0]
    assert m.book.events[-1].event.value == "terminated" and m.slots.mode[0] == Mode.ON_CALL


def test_contracts_beyond_the_provider_s_free_capacity_are_refused():
    """Two firms want 40 reserved hours each of a 60-hour provider: one signs, the other stays on-call."""
    m = market([{"capacity": 60.0}], [{}, {"firm": 1}])
    totals = run_review(m, ALWAYS_PERMANENT, slots=(0, 1))
    assert totals.signed == 1 and m.book.active.sum() == 1
    assert sorted(m.decisions.to_frame()["outcome"].tolist()) == ["no_capacity", "signed"]
    assert m.slots.mode[~m.book.active][0] == Mode.ON_CALL
