"""Unit tests for the mechanisms of the economics rework, on hand-made markets (tests/markets.py) and small models:
the tender cost of a new permanent contract, the pool hand-over of on-call work, relationship experience (a team
learns, the pool barely, a former team's knowledge fades), the provider's reservation capped at its spot price,
payoffs against the shortage cost avoided, the NEVER sentinel of ``last_worked`` (warm-up weeks are negative) and
the brokers' churn estimate and their known-first moves. The market's set-up is tested in test_market_setup.py."""

from __future__ import annotations

import numpy as np
import pytest

from simulation import OutsourcingModel, load_scenario
from simulation.config import Config
from simulation.model.codes import Channel, Mode, SourcingOption
from simulation.model.market.choice import logit_probabilities
from simulation.model.market.fulfilment import Fills, fulfil
from simulation.model.market.outcomes import realise_outcomes
from simulation.model.market.routing import route
from simulation.model.sourcing.costs import average_experience, nonprice_cost, pool_handover_cost
from simulation.model.sourcing.options import Due, price_options
from simulation.model.sourcing.policies import ALWAYS_PERMANENT, CostLogit
from simulation.model.sourcing.review import review
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.costs import CostTracker
from simulation.model.state.slots import NEVER

from conftest import BASELINE, SMALL
from markets import market

O = SourcingOption
TENDER = 8000.0


def options_of(m, expiring: bool = False):
    due = Due.gather(m.view(), np.array([0]), np.array([expiring]), m.inhouse_cost())
    return due, price_options(m.view(), due)


def run_review(m, policy=ALWAYS_PERMANENT):
    """Review slot 0 under ``policy``; returns the totals and the cost tracker holding the new review period."""
    m.slots.policy[0] = 1
    tracker = CostTracker(len(m.slots))
    totals = review(m.view(), m.spells, [CostLogit(), policy], m.decisions, tracker, m.inhouse_cost(),
                    np.random.default_rng(0))
    return totals, tracker


def one_week(m, demand: float = 40.0):
    """Fulfil and realise one hand-made week of slot 0; returns (fills, outcome totals)."""
    fills, _, _ = fulfil(np.array([demand]), m.slots, m.table, m.prices, m.brokers, m.book, m.spells, m.catalogue,
                         m.cfg, m.inhouse_cost(), m.week, np.random.default_rng(0))
    totals, _ = realise_outcomes(fills, m.slots, m.book, m.table, m.brokers, m.spells, m.catalogue, m.cfg,
                                 m.inhouse_cost(), np.random.default_rng(0), m.week)
    return fills, totals


# ------------------------------------------------------------------ tender cost

def test_a_new_provider_s_contract_pays_the_tender_spread_over_the_term():
    """A firm without a contract must tender: the tender lowers its reservation by T / (term x mu) per hour, so the
    Nash price falls by power x that and the weekly cost rises by (1 - power) x T / term."""
    base = market([{}], [{}])
    tendered = market([{}], [{}], overrides={"contracts": {"tender_cost": TENDER}})
    _, without = options_of(base)
    _, with_tender = options_of(tendered)
    term = base.catalogue.term_weeks[0]
    # 8000 / (104 x 40) = 1.923 cu/h off the firm's reservation; power 0.5 (balanced market, skill 1):
    # the price falls by 0.962 cu/h, the cost rises by 8000 / 104 - 0.962 x 40 = 76.92 - 38.46 = 38.46 cu/week.
    drop = 0.5 * TENDER / (term * 40.0)
    assert without.price[O.PERMANENT][0] - with_tender.price[O.PERMANENT][0] == pytest.approx(drop, rel=1e-9)
    rise = with_tender.costs[0, O.PERMANENT] - without.costs[0, O.PERMANENT]
    assert rise == pytest.approx(TENDER / term - drop * 40.0, rel=1e-9) and rise > 0


def expiring_holder(tender: float, experience: float = 0.0):
    """A firm whose direct contract with provider 0, signed in warm-up week -103 for 104 weeks, ends this week (1)."""
    m = market([{}], [{"mode": Mode.PERMANENT, "experience": experience}],
               overrides={"contracts": {"tender_cost": tender}})
    m.book.sign(-103, np.array([0]), np.array([0]), np.array([0]), np.array([17.0]), np.array([40.0]), np.array([104]),
                np.array([Channel.DIRECT]), 13.0, "test")
    assert m.book.end[0] == m.week
    return m


def test_renewing_with_the_incumbent_skips_the_tender():
    """At term end, the incumbent's renewal is priced and realised without the tender: the same price and cost
    whatever the tender cost, the contract is renewed, and no tender is paid."""
    _, free = options_of(expiring_holder(0.0), expiring=True)
    _, costly = options_of(expiring_holder(TENDER), expiring=True)
    assert costly.costs[0, O.PERMANENT] == free.costs[0, O.PERMANENT]
    assert costly.price[O.PERMANENT][0] == free.price[O.PERMANENT][0]
    m = expiring_holder(TENDER)
    totals, tracker = run_review(m)
    assert totals.renewed == 1 and totals.signed == 0 and totals.tender_costs == 0.0
    assert m.book.events[-1].event.value == "renewed" and tracker.one_off[0] == 0.0


def test_a_renewal_is_priced_without_the_onboarding_it_does_not_pay():
    """The incumbent's team stays at a renewal, so neither the option nor the review charges onboarding: with
    experience 0.5 a new contract would carry 1 week x 40 h x 30 cu/h x 0.5 = 600 cu of it; the renewal's price
    and weekly cost are those of a set-up of zero, and nothing is booked at the renewal."""
    _, renewal = options_of(expiring_holder(0.0, experience=0.5), expiring=True)
    _, new = options_of(market([{}], [{"mode": Mode.PERMANENT, "experience": 0.5}]))
    assert new.costs[0, O.PERMANENT] > renewal.costs[0, O.PERMANENT]
    # Same provider, same experience: the only difference is the set-up, whose share (1 - power) stays with the
    # firm after the Nash split lowers the price by power x set-up per reserved hour.
    assert renewal.price[O.PERMANENT][0] > new.price[O.PERMANENT][0]
    m = expiring_holder(0.0, experience=0.5)
    totals, tracker = run_review(m)
    assert totals.renewed == 1 and totals.contract_onboarding == 0.0 and tracker.one_off[0] == 0.0


def test_the_tender_is_realised_at_signing_as_priced_over_the_term():
    """Signing with a new provider pays the tender once, at signing; the decision's one-off costs per week of its
    review period (onboarding + tender) / term are exactly the set-up term of the option's weekly cost."""
    m = market([{}], [{}], overrides={"contracts": {"tender_cost": TENDER}})
    _, opt = options_of(m)
    term = m.catalogue.term_weeks[0]
    price = opt.price[O.PERMANENT][0]
    setup = (1.0 * 40.0 * 30.0 + TENDER) / term  # onboarding 1 week x 40 h x 30 cu/h, plus the tender: 88.46 cu/week
    nonprice = nonprice_cost(30.0, 0.1, 0.3, average_experience(0.0, m.cfg.contracts.learning_rate_per_week, term),
                             0.5, 0.9)
    mgmt = m.cfg.firms.direct_management_cost_per_week
    assert opt.costs[0, O.PERMANENT] == pytest.approx(price * 40.0 + 40.0 * nonprice + setup + mgmt, rel=1e-12)
    totals, tracker = run_review(m)
    assert totals.signed == 1 and totals.tender_costs == TENDER and totals.contract_onboarding == pytest.approx(1200.0)
    assert tracker.one_off[0] == pytest.approx(setup, rel=1e-12)


# ------------------------------------------------------------------ pool hand-over

def test_the_pool_hand_over_priced_per_on_call_hour_is_what_a_week_realises():
    """A provider that knows the client still hands ``pool_rotation`` of its on-call hours to staff new to the client:
    on-call is priced 0.1 x 1 week x 30 cu/h x (1 - 0.5) = 1.5 cu/h dearer, and a week of 40 h realises 60 cu."""
    rotation = 0.1
    slot = {"experience": 0.5}
    steady = {"experience_decay_per_week": 0.0, "on_call_learning_fraction": 0.0}  # E stays 0.5 over the period
    _, still = options_of(market([{}], [slot], overrides={"contracts": steady}))
    m = market([{}], [slot], overrides={"contracts": {**steady, "pool_rotation": rotation}})
    _, rotating = options_of(m)
    expected_hour = (rotating.costs[0, O.ON_CALL] - still.costs[0, O.ON_CALL]) / 40.0
    assert expected_hour == pytest.approx(float(pool_handover_cost(30.0, 1.0, 0.5, rotation)), rel=1e-12)
    assert expected_hour == pytest.approx(1.5, rel=1e-12)
    fills, totals = one_week(m)
    assert fills.served[0, 0] == pytest.approx(40.0)
    assert totals.onboarding_costs / fills.served[0, 0] == pytest.approx(expected_hour, rel=1e-12)


def test_a_provider_to_onboard_pays_the_full_knowledge_transfer_not_the_hand_over():
    """A provider that never worked for the client is onboarded on all the hours it takes (1 week x 40 h x 30 cu/h
    x (1 - 0.5) = 600 cu), instead of the hand-over of a provider that knows the client (60 cu)."""
    m = market([{}], [{"experience": 0.5, "last_worked": NEVER}], overrides={"contracts": {"pool_rotation": 0.1}})
    _, totals = one_week(m)
    assert totals.onboarding_costs == pytest.approx(600.0, rel=1e-12)


# ------------------------------------------------------------------ experience: teams learn, pools barely, knowledge fades

def test_on_call_work_lets_a_former_team_s_experience_fade_and_a_team_under_contract_learns():
    """A week of on-call work with a provider whose contract ended: E = 0.8 x (1 - 0.05) + 0.02 x 0.1 x (1 - 0.8);
    a week under contract: E = 0.8 + 0.02 x (1 - 0.8)."""
    on_call = market([{}], [{"experience": 0.8}])
    one_week(on_call)
    assert on_call.slots.experience[0, 0] == pytest.approx(0.8 * 0.95 + 0.002 * 0.2, rel=1e-12)
    held = market([{}], [{"mode": Mode.PERMANENT, "experience": 0.8}])
    held.book.sign(0, np.array([0]), np.array([0]), np.array([0]), np.array([15.0]), np.array([40.0]),
                   np.array([156]), np.array([Channel.DIRECT]), 13.0, "test")
    one_week(held)
    assert held.slots.experience[0, 0] == pytest.approx(0.8 + 0.02 * 0.2, rel=1e-12)


def test_the_on_call_option_prices_the_experience_it_will_have_on_average_over_the_period():
    """The on-call option of a firm whose provider knows it well (E = 0.8) is priced with the mean E over the
    13-week review period as it fades, not with today's E: the same cost as a market where E stays at that mean."""
    cfg = Config()
    mean = float(average_experience(0.8, cfg.contracts.learning_rate_per_week * cfg.contracts.on_call_learning_fraction,
                                    cfg.firms.review_interval_weeks, cfg.contracts.experience_decay_per_week))
    _, fading = options_of(market([{}], [{"experience": 0.8}]))
    steady = {"experience_decay_per_week": 0.0, "on_call_learning_fraction": 0.0}
    _, at_mean = options_of(market([{}], [{"experience": mean}], overrides={"contracts": steady}))
    _, today = options_of(market([{}], [{"experience": 0.8}], overrides={"contracts": steady}))
    assert 0.4 < mean < 0.8
    assert fading.costs[0, O.ON_CALL] == pytest.approx(at_mean.costs[0, O.ON_CALL], rel=1e-12)
    assert fading.costs[0, O.ON_CALL] > today.costs[0, O.ON_CALL]


def test_a_provider_asks_no_more_for_a_reserved_hour_than_its_spot_price():
    """Full cost plus margin (unit cost / 0.82 x 1.12: 16.4 and 18.4 cu/h for unit costs 12 and 13.5) above the spot
    price (15): the provider's reservation is the spot price either way, so the two sign at the same price; below
    it (unit cost 10: 13.7 cu/h) the full cost sets a lower reservation and a lower price."""
    def price(unit_cost: float) -> float:
        m = market([{"spot_price": 15.0, "unit_cost": unit_cost, "utilization": 1.0}], [{"experience": 1.0, "fill_rate": 0.8}])
        _, opt = options_of(m)
        return float(opt.price[O.PERMANENT][0])

    assert price(12.0) == price(13.5)
    assert price(10.0) < price(12.0)


# ------------------------------------------------------------------ payoffs against the shortage cost

def hand_made_week(spot: float):
    """Slot 0 knows providers 0 (worked with) and 1 (never tried), J = 0 for both; provider 0 serves all 40 hours at
    ``spot`` cu/h. No quality noise, so the effective quality is 0.9 x (1 - 0.05 lateness) = 0.855."""
    m = market([{"spot_price": spot}, {}], [{"known": (0, 1), "last_worked": (0, NEVER)}],
               overrides={"providers": {"quality_noise_sd": 0.0}})
    served = np.array([[40.0, 0.0]])
    zero = np.zeros(1)
    fills = Fills(demand=np.array([40.0]), permanent=zero, in_house=zero, on_call=np.array([40.0]), unmet=zero,
                  served=served, spend=served * spot, permanent_paid=zero, reserved=zero)
    realise_outcomes(fills, m.slots, m.book, m.table, m.brokers, m.spells, m.catalogue, m.cfg, m.inhouse_cost(),
                     np.random.default_rng(0), m.week)
    return m


def test_a_provider_cheaper_than_a_shortage_earns_a_positive_preference():
    """Served at 36 cu/h, dearer than the firm's own 30 cu/h but below the shortage cost 1.5 x 30 = 45 cu/h: the
    payoff is 1.5 - (36 + 5.175) / 30 = 0.1275 > 0 (non-price 30 x (0.1 + 0.5 x 0.145) = 5.175 cu/h; against the
    in-house cost it would be -0.3725), so the provider ranks above the one the firm has never tried (J = 0)."""
    m = hand_made_week(36.0)
    J = m.slots.preference[0]
    assert J[0] == pytest.approx(1.5 - (36.0 + 5.175) / 30.0, rel=1e-12) and J[0] > 0.0
    assert J[1] == 0.0
    p = logit_probabilities(m.slots.preference, m.cfg.choice.beta, m.slots.known)[0]
    assert p[0] > 0.5 > p[1]


def test_a_provider_dearer_than_a_shortage_earns_a_negative_preference():
    """Served at 45 cu/h, all-in 50.175 cu/h is above the shortage cost 45 cu/h: payoff 1.5 - 1.6725 = -0.1725, so
    it ranks below the never-tried provider."""
    m = hand_made_week(45.0)
    J = m.slots.preference[0]
    assert J[0] == pytest.approx(1.5 - (45.0 + 5.175) / 30.0, rel=1e-12) and J[0] < J[1] == 0.0


# ------------------------------------------------------------------ NEVER: warm-up weeks are negative

def test_a_provider_worked_with_in_a_warm_up_week_is_not_treated_as_never_worked():
    """Provider 0 last worked in warm-up week -5; provider 1 never did. In week -3, provider 0 has worked with the
    client and needs no onboarding (2 weeks < 26 of memory): it costs only the pool hand-over (0.1 x 40 h x 30 cu/h
    = 120 cu), provider 1 would need onboarding; the week's work is dated -3."""
    m = market([{}, {}], [{"known": (0, 1), "preference": (50.0, 0.0), "last_worked": (-5, NEVER)}],
               overrides={"contracts": {"pool_rotation": 0.1}})
    m.week = -3
    s = np.array([0])
    assert m.slots.worked_with(s).tolist() == [[True, False]]
    assert m.slots.needs_onboarding(m.week, m.cfg.firms.knowledge_memory_weeks, s).tolist() == [[False, True]]
    fills, totals = one_week(m)
    assert fills.served[0].tolist() == [40.0, 0.0]  # beta x J = 75: provider 0 for certain
    assert totals.onboarding_costs == pytest.approx(0.1 * 40.0 * 30.0, rel=1e-12)
    assert m.slots.last_worked[0].tolist() == [-3, NEVER]


def test_never_worked_and_forgotten_providers_need_onboarding():
    """NEVER is far below any week, so week - NEVER never overflows int64 (a wrapped difference would be negative
    and read as 'worked lately'); a provider idle for more than the memory must be onboarded again, one idle for
    exactly the memory need not."""
    memory = 26
    m = market([{}, {}, {}], [{"known": (0, 1, 2), "last_worked": (NEVER, -30, -29)}], columns=3)
    s = np.array([0])
    assert m.slots.needs_onboarding(-3, memory, s).tolist() == [[True, True, False]]
    assert m.slots.worked_with(s).tolist() == [[False, True, True]]
    for week in (-10**6, 10**6, 10**12):  # far before any warm-up and far beyond any horizon
        assert m.slots.needs_onboarding(week, memory, s)[0, 0]


def test_the_warm_up_leaves_relationships_dated_in_negative_weeks():
    """After the baseline's warm-up, providers that worked for a client during it carry negative
    last-worked weeks; they count as worked with, and those within the memory need no onboarding in week 1."""
    model = OutsourcingModel(load_scenario(BASELINE, SMALL), seed=1)
    lw, known = model.slots.last_worked, model.slots.known
    warm = known & (lw > NEVER) & (lw <= 0)
    # The initial on-call buyers' week 0 moves to -104, the week before the warm-up's first (-103).
    assert warm.sum() > 100 and lw[warm].min() >= -model.cfg.run.warmup_weeks
    rows = np.arange(len(model.slots))
    assert model.slots.worked_with(rows)[warm].all()
    recent = warm & (1 - lw <= model.cfg.firms.knowledge_memory_weeks)
    need = model.slots.needs_onboarding(1, model.cfg.firms.knowledge_memory_weeks, rows)
    assert recent.any() and not need[recent].any()


# ------------------------------------------------------------------ brokers: churn and known-first moves

def brokered(last_worked=(0, 0), reassign: float = 0.0, seed: int = 0):
    """A brokered client whose last provider 0 is full this week; it knows providers 0 and 2 (spot 14 cu/h) and
    ``last_worked`` says which it has worked with; the broker's cheapest is provider 1 (10 cu/h), new to it.
    Returns (market, provider it is routed to)."""
    m = market([{}, {"spot_price": 10.0}, {"spot_price": 14.0}],
               [{"known": (0, 2), "channel": Channel.BROKER, "main_provider": 0, "last_worked": last_worked}],
               brokers=1)
    k = route(np.array([0]), m.slots, m.table, m.prices, m.brokers, m.book, m.spells, m.catalogue,
              np.array([0.0, 100.0, 100.0]), np.zeros((1, 2), bool), np.random.default_rng(seed), reassign,
              m.cfg.intermediaries.choice_intensity)
    return m, int(m.slots.provider[0, k[0]])


def test_a_broker_moves_a_client_off_a_full_provider_to_one_it_has_worked_with_first():
    """Known first: the client goes to provider 2, which it has worked with, though the broker rates the new
    provider 1 better; with no such provider it goes to the broker's pick, and exploring re-picks from all."""
    assert brokered((0, 0))[1] == 2
    assert brokered((0, NEVER))[1] == 1
    assert brokered((0, 0), reassign=1.0)[1] == 1


def test_a_provider_the_client_has_forgotten_is_not_a_known_fallback():
    """Known first means known now: provider 2 last worked for the client 101 weeks ago (memory 26 weeks), so it
    would have to be onboarded again; the broker moves the client to its own pick, and that move is churn."""
    m = market([{}, {"spot_price": 10.0}, {"spot_price": 14.0}],
               [{"known": (0, 2), "channel": Channel.BROKER, "main_provider": 0, "last_worked": (0, -100)}],
               brokers=1)
    k = route(np.array([0]), m.slots, m.table, m.prices, m.brokers, m.book, m.spells, m.catalogue,
              np.array([0.0, 100.0, 100.0]), np.zeros((1, 2), bool), np.random.default_rng(0), 0.0,
              m.cfg.intermediaries.choice_intensity, week=1, memory=26)
    assert int(m.slots.provider[0, k[0]]) == 1
    m.brokers.close_week(26.0, 0.05)
    assert m.brokers.churn[0] == pytest.approx(1.0 / 26.0, rel=1e-12)


def test_moves_to_providers_new_to_the_client_raise_the_broker_s_churn():
    """Moving the client to provider 1 (new to it) counts as churn: 1 / 26 after a week (memory 26 weeks); moving it
    to a provider it has worked with does not."""
    memory, explore = 26.0, 0.05
    m, to = brokered((0, NEVER))
    m.brokers.close_week(memory, explore)
    assert to == 1 and m.brokers.churn[0] == pytest.approx(1.0 / memory, rel=1e-12)
    m, to = brokered((0, 0))
    m.brokers.close_week(memory, explore)
    assert to == 2 and m.brokers.churn[0] == 0.0


def test_without_routing_the_churn_relaxes_toward_the_exploration_rate():
    """Weeks with no continuing clients pull churn toward reassign_probability: after n weeks the gap is
    (1 - 1/26)^n of what it was, from above and from below."""
    book = BrokerBook()
    book.add(2, 0.08, 0.85)
    book.count_routing(np.array([0, 0, 0, 0]), np.array([True, True, False, False]))
    book.close_week(26.0, 0.05)
    start = book.churn.copy()
    assert start.tolist() == pytest.approx([0.5 / 26.0, 0.05 / 26.0], rel=1e-12)  # broker 1 had no clients
    for _ in range(52):
        book.close_week(26.0, 0.05)
    assert book.churn == pytest.approx(0.05 + (start - 0.05) * (1 - 1 / 26.0) ** 52, rel=1e-12)
    for _ in range(2000):
        book.close_week(26.0, 0.05)
    assert book.churn == pytest.approx([0.05, 0.05], rel=1e-12)


def test_the_broker_s_churn_is_priced_in_brokered_on_call():
    """Each hour through a broker that moves 10% of its clients' work to providers new to them costs 0.1 x 1 week x
    30 cu/h = 3 cu of onboarding more: 120 cu/week on 40 hours."""
    m = market([{}], [{"channel": Channel.BROKER}], brokers=1)
    _, calm = options_of(m)
    m.brokers.churn[:] = 0.1
    _, churning = options_of(m)
    assert churning.costs[0, O.ON_CALL_BROKER] - calm.costs[0, O.ON_CALL_BROKER] == pytest.approx(120.0, rel=1e-9)
