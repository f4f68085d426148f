"""Conservation invariants checked every week of full runs: money, volume, capacity, contract states.

Each side of the money identity is booked independently (firms pay price x (1 + fee) x hours,
providers book price x hours, brokers book price x fee x hours), so the identity is a real check.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulation import OutsourcingModel, load_scenario
from simulation.config import ParameterEvent
from simulation.model.ledger import STATUS_AFTER, VALID_TRANSITIONS, ContractEventKind, ContractStatus

from conftest import BASELINE, market_size

REL = 1e-9  # floating-point round-off on sums of thousands of terms; any real leak is orders larger


def check_week(model: OutsourcingModel) -> None:
    """Assert every conservation law for the week just simulated."""
    fl, f = model.flows, model.fills
    scale = max(fl.firm_payments, 1.0)
    assert abs(fl.firm_payments - fl.provider_revenue - fl.broker_fees) <= REL * scale, "money leaked"
    parts = f.permanent + f.in_house + f.on_call + f.unmet
    assert np.allclose(parts, f.demand, rtol=1e-9, atol=1e-9), "volume leaked"
    for name in ("permanent", "in_house", "on_call", "unmet"):
        assert np.all(getattr(f, name) >= -1e-9), f"negative {name} volume"
    assert np.all(f.permanent <= f.reserved + 1e-9), "a contract delivered beyond its reserved hours"
    t = model.providers
    assert fl.max_overuse <= 1e-6 * max(1.0, t.view("capacity").max()), "a provider served beyond capacity"


def check_ledger(model: OutsourcingModel) -> None:
    """Replay the ledger through the state machine and compare with the book's final state.

    Contracts signed in the warm-up (weeks -warmup_weeks + 1 .. 0) carry on into the run, so the ledger starts at
    the warm-up's first week, and no event is dated after the current week; a contract's events never go back in time.
    """
    status: dict[int, ContractStatus] = {}
    last_week: dict[int, int] = {}
    first = -model.cfg.run.warmup_weeks + 1
    for e in model.contracts.events:
        cur = status.get(e.contract_id, ContractStatus.NONE)
        assert e.event in VALID_TRANSITIONS[cur], f"contract {e.contract_id}: {e.event} after {cur}"
        assert first <= e.week <= model.week, f"contract {e.contract_id}: {e.event} in week {e.week}"
        assert e.week >= last_week.get(e.contract_id, first)
        status[e.contract_id] = STATUS_AFTER[e.event]
        last_week[e.contract_id] = e.week
    active_ids = set(model.contracts.contract_id[model.contracts.active].tolist())
    assert active_ids == {cid for cid, s in status.items() if s == ContractStatus.ACTIVE}


def run_checked(cfg, seed: int, steps: int) -> OutsourcingModel:
    model = OutsourcingModel(cfg, seed=seed)
    for _ in range(steps):
        model.step()
        check_week(model)
    check_ledger(model)
    return model


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_invariants_hold_every_week_of_a_scaled_baseline(seed, small_market):
    """Money, volume, capacity and contract transitions hold in every week of 260-week runs on three seeds."""
    model = run_checked(small_market, seed, 260)
    kinds = {e.event for e in model.contracts.events}
    assert {ContractEventKind.SIGNED, ContractEventKind.RENEWED, ContractEventKind.EXPIRED} <= kinds


def test_invariants_hold_every_week_of_the_full_baseline():
    """The full baseline (1,000 firms, 140 providers, 3 brokers, 520 weeks) keeps every invariant every week."""
    model = run_checked(load_scenario(BASELINE), 11, 520)
    assert model.flows.active_providers > 0 and len(model.contracts.events) > 1000


def test_invariants_hold_through_a_recession_with_exits():
    """A deep recession (many exits and early terminations) keeps every invariant."""
    cfg = load_scenario(BASELINE, {**market_size(200), "providers.exit_loss_weeks": 8})
    cfg = cfg.model_copy(update={"events": [ParameterEvent(at=60, action="multiply", target="environment.demand_multiplier",
                                                           value=0.4, ramp_weeks=4)]})
    model = run_checked(cfg, 5, 200)
    kinds = {e.event for e in model.contracts.events}
    assert ContractEventKind.PROVIDER_EXIT in kinds or ContractEventKind.TERMINATED in kinds


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(firms=st.integers(5, 60), bpo=st.integers(1, 8), kpo=st.integers(1, 5), volatility=st.floats(0.0, 0.8),
       beta=st.floats(0.0, 5.0), brokers=st.integers(0, 3), in_house=st.floats(0.0, 1.0), seed=st.integers(0, 10_000),
       k=st.integers(1, 6), permanent=st.booleans())
def test_invariants_hold_on_random_small_markets(firms, bpo, kpo, volatility, beta, brokers, in_house, seed, k, permanent):
    """Random small markets (hypothesis) keep money, volume, capacity and contract-state invariants for 60 weeks."""
    cfg = load_scenario(BASELINE, {"firms.count": firms, "providers.bpo_count": bpo, "providers.kpo_count": kpo,
                                   "firms.demand_volatility": volatility, "choice.beta": beta,
                                   "intermediaries.count": brokers, "firms.initial_in_house_share": in_house,
                                   "choice.consideration_set_size": k, "contracts.allow_permanent": permanent})
    run_checked(cfg, seed, 60)
