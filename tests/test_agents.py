"""Unit tests for simulation/model/agents.py: firms, providers and brokers are handles onto the model's
state, through which a user reads and changes one of them, and each kind carries its own behaviour."""

from __future__ import annotations

import numpy as np
import pytest

from simulation import OutsourcingModel, load_scenario
from simulation.config import Config
from simulation.config.schema import scaled
from simulation.model import (ALWAYS_PERMANENT, NEVER_OUTSOURCE, BPOProvider, Firm, Intermediary, KPOSpecialist, Kind,
                              Mode, Region)
from simulation.model.environment import Environment
from simulation.model.ledger import Contract
from simulation.model.state.providers import ProviderTable

from conftest import BASELINE, market_size

SMALL = market_size(100)


@pytest.fixture
def model():
    """A small baseline market after 30 weeks."""
    return OutsourcingModel(load_scenario(BASELINE, SMALL), seed=3).run(30)


def test_every_firm_provider_and_broker_has_an_agent_registered_with_mesa(model):
    """Mesa's agent sets hold one Firm per firm, one agent per provider row of its kind, one Intermediary per broker
    (brokers scale with the market)."""
    assert len(model.agents_by_type[Firm]) == len(model.firms) == 100
    active_bpo = (model.providers.view("kind") == Kind.BPO) & model.providers.view("active")
    assert len(model.agents_by_type[BPOProvider]) == active_bpo.sum()  # exited providers leave Mesa's sets
    assert all(isinstance(a, KPOSpecialist) == (a.kind == Kind.KPO) for a in model.provider_agents)
    assert len(model.agents_by_type[Intermediary]) == scaled(model.cfg.intermediaries.count, model.cfg.run.scale)


def test_a_firm_reads_its_services_modes_and_contracts_from_the_state(model):
    """Firm properties agree with the slot table and the contract book."""
    holder = int(model.slots.firm[np.flatnonzero(model.contracts.active)[0]])
    firm = model.firm_agents[holder]
    assert firm.size == model.firms.size[holder] and firm.region is Region.DOMESTIC
    assert firm.services == tuple(model.catalogue.names[v] for v in model.slots.service[firm.slots])
    assert set(firm.modes) == set(firm.services) and all(isinstance(m, Mode) for m in firm.modes.values())
    contract = next(iter(firm.contracts.values()))
    assert isinstance(contract, Contract) and contract.firm_id == holder
    assert model.provider_agents[contract.provider_id].committed_hours >= contract.reserved_hours_per_week
    assert holder in model.provider_agents[contract.provider_id].clients


def test_a_firm_told_to_follow_a_policy_sources_by_it_from_its_next_review(model):
    """A firm told never to outsource has all its services in-house after one review cycle."""
    insourcer = model.firm_agents[0]
    insourcer.follow(NEVER_OUTSOURCE)
    assert set(insourcer.policies.values()) == {NEVER_OUTSOURCE}
    model.run(model.cfg.firms.review_interval_weeks + 1)
    assert set(insourcer.modes.values()) == {Mode.IN_HOUSE}
    assert model.firm_agents[1].policies == {s: model.sourcing_policies[0] for s in model.firm_agents[1].services}


def test_a_segment_that_always_goes_permanent_takes_every_permanent_deal_on_the_table(model):
    """Firms 0-19 always go permanent: every review of theirs with a permanent deal priced chooses it, while
    the rest of the market, on the default logit, sometimes prefers another option to a priced deal."""
    segment = model.slots.firm < 20
    model.assign_policy(ALWAYS_PERMANENT, segment)
    start = model.week
    model.run(model.cfg.firms.review_interval_weeks + 1)
    log = model.decisions.to_frame()
    mine = log[(log["week"] > start) & (log["firm_id"] < 20)]
    offered = mine[["cost_permanent", "cost_permanent_broker"]].notna().any(axis=1)
    assert len(mine) > 20 and mine.loc[offered, "choice"].isin(["permanent", "permanent_broker"]).all()
    others = log[(log["week"] > start) & (log["firm_id"] >= 20)]
    priced = others[["cost_permanent", "cost_permanent_broker"]].notna().any(axis=1)
    assert not others.loc[priced, "choice"].isin(["permanent", "permanent_broker"]).all()


def test_an_unknown_service_or_a_non_policy_is_refused_with_a_clear_error(model):
    """Asking a firm for a service it does not buy, or assigning something that is not a policy, raises."""
    firm = model.firm_agents[0]
    missing = next(name for name in model.catalogue.names if name not in firm.services)
    with pytest.raises(ValueError, match="does not buy"):
        firm.slot(missing)
    with pytest.raises(TypeError, match="SourcingPolicy"):
        model.assign_policy("permanent", firm.slots)


def test_changing_a_provider_through_its_agent_changes_the_market(model):
    """Capacity and reliability set on the agent are the table's; a price rise shows once prices are next set."""
    provider = model.provider_agents[0]
    provider.capacity = 1234.0
    provider.reliability = 0.5
    assert model.providers.capacity[0] == 1234.0 and model.providers.reliability[0] == 0.5
    model.refresh_prices()
    before = provider.spot_price
    provider.raise_prices(0.5)
    assert provider.spot_price == before  # posted prices change when prices are next set
    model.refresh_prices()
    assert provider.spot_price == pytest.approx(1.5 * before, rel=1e-12)


def test_a_provider_leaving_ends_its_contracts_and_its_clients_replace_it(model):
    """exit_market ends every contract with the reason given, and no firm keeps it in its consideration set."""
    row = int(np.bincount(model.contracts.provider[model.contracts.active]).argmax())
    agent = model.provider_agents[row]
    held = int(np.sum(model.contracts.active & (model.contracts.provider == row)))
    assert agent.exit_market("test exit") == held > 0
    assert not agent.active and agent not in model.agents
    assert not np.any((model.slots.provider == row) & model.slots.known)
    ended = [e for e in model.contracts.events if e.provider_id == row and e.reason == "test exit"]
    assert len(ended) == held


def test_kpo_specialists_hire_only_what_the_talent_pool_holds():
    """Two domestic specialists wanting 100 h each share a 50 h pool; a BPO provider's hires are left alone."""
    cfg = Config.model_validate({"regions": {"domestic": {"talent_pool_hours": 50.0}}})
    table = ProviderTable(2)
    for kind in (Kind.KPO, Kind.KPO, Kind.BPO):
        table.add(kind, 0, 3, np.array([True, False]), 10.0, 0.2, 0.9, 0)
    hires = np.array([100.0, 100.0, 100.0])
    environment = Environment(cfg)
    BPOProvider.limit_hiring(hires, table, environment)
    KPOSpecialist.limit_hiring(hires, table, environment)
    assert hires.tolist() == [25.0, 25.0, 100.0] and environment.talent_pool["domestic"] == 0.0


def test_brokers_earn_the_fees_their_clients_pay_and_a_fee_set_on_one_broker_holds():
    """Broker incomes add up to the broker fees of the weekly metrics; a broker set to charge nothing earns nothing more."""
    model = OutsourcingModel(load_scenario(BASELINE, SMALL), seed=4)
    model.run(40)
    fees = model.datacollector.get_model_vars_dataframe()["broker_fees"].sum()
    assert sum(b.income for b in model.broker_agents) == pytest.approx(fees, rel=1e-9)
    broker = model.broker_agents[0]
    broker.fee_rate = 0.0
    before = broker.income
    model.run(20)
    assert broker.income == before and broker.fee_rate == 0.0
    assert broker.quality_estimates().shape == (model.providers.n,)
