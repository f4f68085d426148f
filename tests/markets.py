"""Hand-made market states for unit tests of the phases: a few providers and firm-services, built
directly (no OutsourcingModel), the way one would test an order book with a fake owner.

``market(...)`` builds every state object a phase takes; each provider and slot is one dict whose keys
override the defaults below.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from simulation.config import Config
from simulation.model.catalogue import Catalogue
from simulation.model.codes import Channel, Kind, Mode
from simulation.model.market.pricing import Prices
from simulation.model.sourcing.options import MarketView
from simulation.model.state.brokers import BrokerBook
from simulation.model.state.contracts import ContractBook
from simulation.model.state.decisions import DecisionLog
from simulation.model.state.providers import ProviderTable
from simulation.model.state.slots import NEVER, FirmSlots
from simulation.model.state.spells import SpellTracker

#: One BPO service ("work", in-house 30 cu/h) and one KPO service ("advice", in-house 80 cu/h).
SERVICES = {
    "work": {"kind": "bpo", "skill_level": 1, "inhouse_cost_per_hour": 30.0, "onboarding_cost_weeks": 1.0,
             "friction_share": 0.1, "error_cost_share": 0.5, "learning_strength": 0.3},
    "advice": {"kind": "kpo", "skill_level": 3, "inhouse_cost_per_hour": 80.0, "onboarding_cost_weeks": 8.0,
               "friction_share": 0.25, "error_cost_share": 1.0, "learning_strength": 0.8},
}
PROVIDER = {"kind": Kind.BPO, "region": 0, "service": 0, "capacity": 100.0, "spot_price": 20.0, "unit_cost": 12.0,
            "coordination": 0.0, "reliability": 0.9, "utilization": 0.8}
SLOT = {"firm": 0, "service": 0, "region": 0, "mode": Mode.ON_CALL, "channel": Channel.DIRECT, "broker": 0,
        "known": (0,), "preference": None, "experience": 0.0, "quality": 0.9, "demand": 40.0, "demand_sd": 0.0,
        "fill_rate": 1.0, "inhouse_factor": 1.0, "inhouse_staff": 0.0, "next_review": 1, "last_worked": 0,
        "coordination": 1.0, "home_only": -1, "main_provider": -1}
# "last_worked" is the last week the known providers worked for the client (one week, or one per known column;
# NEVER: never), so by default a firm has worked with every provider it knows at week 0 and, at the market's
# week 1, none needs onboarding. "main_provider" is the provider that did most of last week's on-call work.


@dataclass
class Market:
    """Every state object of a hand-made market, and the view option pricing reads."""

    cfg: Config
    catalogue: Catalogue
    table: ProviderTable
    slots: FirmSlots
    book: ContractBook
    spells: SpellTracker
    brokers: BrokerBook
    prices: Prices
    decisions: DecisionLog
    week: int = 1

    def view(self) -> MarketView:
        return MarketView(self.slots, self.table, self.book, self.brokers, self.prices, self.catalogue, self.cfg,
                          self.week)

    def inhouse_cost(self) -> np.ndarray:
        """Each slot's own cost per hour (wage index 1)."""
        return self.catalogue.inhouse_cost[self.slots.service] * self.slots.inhouse_factor


def market(providers: list[dict], slots: list[dict], columns: int = 2, brokers: int = 0, fee_rate: float = 0.08,
           overrides: dict | None = None) -> Market:
    """A market of the given providers and firm-services (see PROVIDER and SLOT for the keys and defaults)."""
    cfg = Config.model_validate({"services": SERVICES, **(overrides or {})})
    catalogue = Catalogue.from_config(cfg)
    table = ProviderTable(len(catalogue))
    for spec in (PROVIDER | p for p in providers):
        offers = np.zeros(len(catalogue), bool)
        offers[spec["service"]] = True
        table.add(spec["kind"], spec["region"], 1, offers, spec["capacity"], 0.2, spec["reliability"], 0)
        table.utilization[table.n - 1] = spec["utilization"]
    specs = [PROVIDER | p for p in providers]
    prices = Prices(unit_cost=np.array([p["unit_cost"] for p in specs]), coordination=np.array([p["coordination"] for p in specs]),
                    spot_price=np.array([p["spot_price"] for p in specs]), provider_region=table.view("region"),
                    wage_index=np.ones(2), market_utilization=catalogue.target_utilization.copy())
    rows = [SLOT | s for s in slots]
    n = len(rows)
    provider = np.zeros((n, columns), np.int64)
    known = np.zeros((n, columns), bool)
    preference = np.zeros((n, columns))
    last_worked = np.full((n, columns), NEVER, np.int64)  # unknown columns: never worked for the client
    for i, row in enumerate(rows):
        provider[i, : len(row["known"])] = row["known"]
        known[i, : len(row["known"])] = True
        if row["preference"] is not None:
            preference[i, : len(row["preference"])] = row["preference"]
        last_worked[i, : len(row["known"])] = row["last_worked"]  # one week for all known columns, or one per column

    def col(key: str, dtype=float) -> np.ndarray:
        return np.array([row[key] for row in rows], dtype)

    demand = col("demand")
    state = FirmSlots(
        firm=col("firm", np.int64), service=col("service", np.int64), region=col("region", np.int8),
        base_demand=demand.copy(), inhouse_factor=col("inhouse_factor"), mode=col("mode", np.int8),
        channel=col("channel", np.int8), broker=col("broker", np.int64), inhouse_staff=col("inhouse_staff"),
        next_review=col("next_review", np.int64), provider=provider, known=known, preference=preference,
        experience=np.where(known, col("experience")[:, None], 0.0), quality_estimate=np.where(known, col("quality")[:, None], 0.0),
        demand_mean=demand, demand_var=col("demand_sd") ** 2, fill_rate=col("fill_rate"),
        main_provider=col("main_provider", np.int64), last_worked=last_worked, policy=np.zeros(n, np.int16),
        coordination=col("coordination"), home_only=col("home_only", np.int8))
    book = ContractBook(n)
    book.bind(state.firm, state.service, catalogue.names)
    broker_book = BrokerBook()
    if brokers:
        broker_book.add(brokers, fee_rate, 0.85)
        broker_book.apply_config_fee(fee_rate)
    return Market(cfg, catalogue, table, state, book, SpellTracker(n, columns, cfg.firms.spell_gap_weeks), broker_book,
                  prices, DecisionLog(True, catalogue.names))
