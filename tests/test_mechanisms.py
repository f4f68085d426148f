"""Unit tests for the mechanisms of the economics rework, on hand-made markets (tests/markets.py) and small models:
the tender cost of a new permanent contract, the pool hand-over of on-call work, payoffs against the shortage cost
avoided, the NEVER sentinel of ``last_worked`` (warm-up weeks are negative), the brokers' churn estimate and their
known-first moves, ``run.scale``, size-dependent demand volatility, the in-house cost drift, the initial preference
and entry by pooled margin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from simulation import OutsourcingModel, load_scenario
from simulation.config import Config, scaled
from simulation.model import population
from simulation.model.codes import REGIONS, Channel, Kind, Mode, SourcingOption
from simulation.model.demand import DemandProcess
from simulation.model.environment import Environment
from simulation.model.market.choice import logit_probabilities
from simulation.model.market.fulfilment import Fills, fulfil
from simulation.model.market.outcomes import realise_outcomes
from simulation.model.market.providers import entry_services
from simulation.model.market.routing import route
from simulation.model.sourcing.costs import average_experience, nonprice_cost, pool_handover_cost
from simulation.model.sourcing.options import Due, price_options
from simulation.model.sourcing.policies import ALWAYS_PERMANENT, CostLogit
from simulation.model.sourcing.review import review
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.costs import CostTracker
from simulation.model.state.providers import ProviderTable
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


def small_model(seed: int = 1, **overrides) -> OutsourcingModel:
    return OutsourcingModel(load_scenario(BASELINE, {**SMALL, **overrides}), seed=seed)


def metric_bytes(model: OutsourcingModel) -> dict[str, bytes]:
    """Every weekly metric column as raw bytes (exact equality, NaN included)."""
    df = model.datacollector.get_model_vars_dataframe()
    return {c: df[c].to_numpy().tobytes() for c in df.columns}


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
                  served=served, spend=served * spot, broker_spend=np.zeros((1, 2)), permanent_paid=zero,
                  permanent_fee=zero, reserved=zero)
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
    """After the baseline's 104-week warm-up, providers that worked for a client during it carry negative
    last-worked weeks; they count as worked with, and those within the memory need no onboarding in week 1."""
    model = small_model()
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


# ------------------------------------------------------------------ run.scale

def test_scaled_rounds_to_the_nearest_count_and_never_to_zero():
    """scaled(count, scale) is count x scale to the nearest integer, at least 1 for a positive count, 0 otherwise."""
    assert scaled(0, 5.0) == 0 and scaled(-3, 2.0) == 0
    assert scaled(1, 0.01) == 1 and scaled(2, 0.2) == 1 and scaled(3, 2.0) == 6 and scaled(100, 0.333) == 33
    for count in range(1, 120):
        for scale in (0.01, 0.1, 0.37, 0.5, 1.0, 1.5, 2.0, 3.3):
            got = scaled(count, scale)
            assert got >= 1 and isinstance(got, int)
            assert abs(got - count * scale) <= 0.5 or got == 1 > count * scale


def test_scale_two_doubles_firms_providers_brokers_and_talent_pools():
    """Scale 2 builds twice the firms, BPO providers, KPO specialists and brokers, with twice the talent pools."""
    sizes = {"firms.count": 40, "providers.bpo_count": 5, "providers.kpo_count": 3, "intermediaries.count": 3,
             "run.warmup_weeks": 0}
    one = OutsourcingModel(load_scenario(BASELINE, sizes), seed=2)
    two = OutsourcingModel(load_scenario(BASELINE, {**sizes, "run.scale": 2.0}), seed=2)
    kinds = [np.bincount(m.providers.view("kind"), minlength=2)[[Kind.BPO, Kind.KPO]].tolist() for m in (one, two)]
    assert kinds == [[5, 3], [10, 6]]
    assert (len(one.firms), len(two.firms)) == (40, 80)
    assert (len(one.brokers), len(two.brokers)) == (3, 6) and len(two.broker_agents) == 6
    assert set(np.unique(two.slots.broker)) <= set(range(6))
    assert two.slots.broker.max() >= 3  # the brokers scale 2 adds have clients
    for r in REGIONS:
        pool = one.cfg.regions[r].talent_pool_hours
        assert two.environment.talent_pool[r] == 2 * one.environment.talent_pool[r] == 2 * pool
    refilled = Environment(two.cfg)
    refilled.talent_pool = {r: 0.0 for r in REGIONS}
    refilled.refill_talent_pools()  # refills toward the scaled size
    for r in REGIONS:
        rc = two.cfg.regions[r]
        assert refilled.talent_pool[r] == pytest.approx(rc.talent_pool_refill_per_week * 2 * rc.talent_pool_hours)


def entry_table(margins: list[float]) -> ProviderTable:
    """One provider per service with the given running margin (profit over revenue of 1000 cu/week)."""
    table = ProviderTable(len(margins))
    for v, margin in enumerate(margins):
        offers = np.zeros(len(margins), bool)
        offers[v] = True
        table.add(Kind.BPO, 0, 1, offers, 100.0, 0.3, 0.9, 0)
        table.revenue_ema[v], table.profit_ema[v] = 1000.0, 1000.0 * margin
    return table


@pytest.mark.parametrize("scale", [1.0, 3.0])
def test_entrants_arrive_in_proportion_to_the_scale_where_the_pooled_margin_is_high(scale):
    """A service above the entry margin gets Poisson(entry_probability x scale) entrants a week (mean 0.5 x scale over
    5000 weeks); one below it gets none."""
    cfg = Config.model_validate({"providers": {"entry_probability": 0.5, "entry_margin": 0.1}, "run": {"scale": scale}})
    table = entry_table([0.2, 0.05])
    rng = np.random.default_rng(11)
    weeks = 5000
    counts = np.zeros(2)
    for _ in range(weeks):
        for v, count in entry_services(table, cfg, rng):
            assert count >= 1
            counts[v] += count
    lam = 0.5 * scale
    # The mean of 5000 Poisson(lam) draws has standard error sqrt(lam / 5000) (0.010 at lam 0.5, 0.017 at 1.5);
    # 5 standard errors is far below the gap to another scale (lam x (scale - 1) / scale >= 0.5 for scale 1 vs 3).
    assert abs(counts[0] / weeks - lam) < 5 * math.sqrt(lam / weeks)
    assert counts[1] == 0


def test_entry_uses_the_margin_of_a_service_s_providers_pooled():
    """Pooled margin: one provider earning 30% and one losing 25% on equal revenue make 2.5% together, below a 10%
    entry margin, so no one enters though one provider alone is above it."""
    cfg = Config.model_validate({"providers": {"entry_probability": 5.0, "entry_margin": 0.1}})
    table = entry_table([0.3])
    offers = np.ones(1, bool)
    table.add(Kind.BPO, 0, 1, offers, 100.0, 0.3, 0.9, 0)
    table.revenue_ema[1], table.profit_ema[1] = 1000.0, -250.0
    rng = np.random.default_rng(0)
    assert all(entry_services(table, cfg, rng) == [] for _ in range(50))
    table.profit_ema[1] = 0.0  # pooled 15%: entrants come (P(no entrant in 50 weeks) = exp(-250))
    assert sum(c for _ in range(50) for _, c in entry_services(table, cfg, rng)) > 0


# ------------------------------------------------------------------ size-dependent volatility

def test_small_firms_are_more_volatile_and_the_median_firm_has_the_market_s_volatility():
    """factor = (size / median)^-0.3: a quarter-size firm swings 4^0.3 = 1.516 times the market, the median firm
    exactly 1, a four-times-larger one 4^-0.3 = 0.660; elasticity 0 gives every firm the market's volatility."""
    cfg = Config.model_validate({"firms": {"size_log_mean": 0.4, "volatility_size_elasticity": 0.3}})
    median = math.exp(0.4)
    factor = population.volatility_factor(np.array([0.25, 1.0, 4.0]) * median, cfg)
    assert factor[1] == 1.0
    assert factor.tolist() == pytest.approx([4**0.3, 1.0, 4**-0.3], rel=1e-12)
    flat = Config.model_validate({"firms": {"size_log_mean": 0.4}})
    assert population.volatility_factor(np.array([0.1, 1.0, 50.0]), flat).tolist() == [1.0, 1.0, 1.0]


def test_demand_swings_with_the_volatility_factor():
    """Log demand of a firm with factor 1.516 has sd 1.516 x the market's 0.15; the median firm's has 0.15."""
    factor = np.array([4**0.3, 1.0])
    process = DemandProcess(np.array([10.0, 10.0]), np.zeros(2), np.ones(2), factor, np.random.default_rng(5))
    rng = np.random.default_rng(6)
    logs = np.log([process.realise(1.0, 0.15, 0.0, rng) for _ in range(20_000)])
    # Without persistence the weekly log demands are iid normal; the sample sd of 20,000 has relative standard
    # error 1 / sqrt(2 x 20,000) = 0.5%: 3% is six standard errors.
    assert logs.std(axis=0) == pytest.approx(0.15 * factor, rel=0.03)


def test_the_model_gives_each_firm_service_its_firm_s_volatility_factor():
    """The baseline's elasticity (0.3) reaches the demand process: each slot carries its firm's factor."""
    model = small_model(**{"run.warmup_weeks": 0})
    want = population.volatility_factor(model.firms.size, model.cfg)[model.slots.firm]
    np.testing.assert_array_equal(model.demand.volatility_factor, want)
    smallest, largest = model.firms.size.argmin(), model.firms.size.argmax()
    assert want[model.slots.firm == smallest][0] > 1.0 > want[model.slots.firm == largest][0]


# ------------------------------------------------------------------ in-house cost drift

def test_the_in_house_cost_drift_preserves_the_mean():
    """Ten years of the drift (sd 0.08 per year) over ~8,400 firm-services: the mean factor stays where it was,
    the median falls by the lognormal correction and the log spread grows as 0.08 x sqrt(10)."""
    model = OutsourcingModel(load_scenario(BASELINE, {"firms.count": 3000, "run.warmup_weeks": 0,
                                                      "firms.inhouse_cost_drift": 0.08}), seed=4)
    start = model.slots.inhouse_factor.copy()
    for _ in range(520):
        model.drift_capabilities()
    ratio = model.slots.inhouse_factor / start
    n, var = len(ratio), 0.08**2 * 10  # log variance after ten years: 0.064
    # E[ratio] = 1 and sd(ratio) = sqrt(exp(0.064) - 1) = 0.257, so the mean of n ratios has standard error
    # 0.257 / sqrt(n) ~ 0.0028; 4 standard errors (~0.011) against a missing lognormal correction (+0.033).
    assert abs(ratio.mean() - 1.0) < 4 * math.sqrt(math.expm1(var) / n)
    logs = np.log(ratio)
    # The mean log is -var / 2 = -0.032 with standard error 0.253 / sqrt(n) ~ 0.0028 (4 of them allowed); the
    # sample sd has relative standard error 1 / sqrt(2 n) ~ 0.8%, 4% allowed (a weekly sd of 0.08 would be 7x).
    assert abs(logs.mean() + var / 2) < 4 * math.sqrt(var / n)
    assert logs.std() == pytest.approx(math.sqrt(var), rel=0.04)


def test_zero_drift_is_no_drift_and_the_drift_shifts_no_other_random_stream(monkeypatch):
    """Drift 0 gives the same bytes of metrics as a model without the drift step; a positive drift changes the
    market but, drawing from its own stream, not the demand the firms face (warm-up weeks included)."""
    short = {"run.warmup_weeks": 26}
    zero = small_model(**short, **{"firms.inhouse_cost_drift": 0.0})
    drifting = small_model(**short, **{"firms.inhouse_cost_drift": 0.5})
    assert zero.fills.demand.tobytes() == drifting.fills.demand.tobytes()  # the warm-up's last week
    for _ in range(40):
        zero.step()
        drifting.step()
        assert zero.fills.demand.tobytes() == drifting.fills.demand.tobytes()
    assert not np.array_equal(zero.slots.inhouse_factor, drifting.slots.inhouse_factor)
    assert metric_bytes(drifting) != metric_bytes(zero)
    monkeypatch.setattr(OutsourcingModel, "drift_capabilities", lambda self: None)
    without = small_model(**short, **{"firms.inhouse_cost_drift": 0.0}).run(40)
    assert metric_bytes(without) == metric_bytes(zero)


# ------------------------------------------------------------------ initial preference

def test_the_initial_preference_goes_to_the_first_known_provider_only():
    """choice.initial_preference sets J of column 0 of every consideration set that has one (a domestic-only firm
    may find no provider in its region) and nothing else; 0 is no prior."""
    loyal = small_model(**{"run.warmup_weeks": 0, "choice.initial_preference": 5.0})
    plain = small_model(**{"run.warmup_weeks": 0})
    J, known = loyal.slots.preference, loyal.slots.known
    assert known[:, 0].mean() > 0.9 and (J[:, 0] == np.where(known[:, 0], 5.0, 0.0)).all() and (J[:, 1:] == 0.0).all()
    assert (plain.slots.preference == 0.0).all()


def test_an_initial_preference_makes_firms_start_with_their_first_provider():
    """With J = 5 (beta x J = 7.5) a firm picks column 0 with probability e^7.5 / (e^7.5 + 3) > 0.99 in its first
    week; without a prior, column 0 gets about a share 1 / K (K <= 4 known providers) of the first requests."""
    def first_column_share(preference: float) -> float:
        model = small_model(**{"run.warmup_weeks": 0, "choice.initial_preference": preference, "choice.spot_rounds": 1})
        model.step()
        slots = model.slots
        direct = (slots.mode == Mode.ON_CALL) & (slots.channel == Channel.DIRECT) & (model.fills.on_call > 0)
        served = model.fills.served[direct]
        return float((served[:, 0] > 0).mean())

    # Hundreds of direct on-call buyers: the share is a binomial mean with sd <= 0.5 / sqrt(200) ~ 0.035, so the
    # loyal share (expected > 0.99) is far above 0.9 and the plain one (expected ~0.25-0.35) far below 0.5.
    assert first_column_share(5.0) > 0.9
    assert first_column_share(0.0) < 0.5
