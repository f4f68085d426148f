"""Mesa agents of outsim: client firms, BPO providers, KPO specialists and intermediaries.

State lives in arrays for speed (state/): each agent is a handle onto its rows, so a Mesa user reads
and changes one firm, provider or broker through its agent, and the weekly phases run vectorised over
all of them. Behaviour that belongs to one kind of agent lives on its class:

- a :class:`Firm` decides how to source each of its services at its reviews through its sourcing
  policy (sourcing/policies.py; the default is the logit over expected costs), and keeps a written
  trail of those decisions;
- a :class:`BPOProvider` hires freely (broad, pooled staff); a :class:`KPOSpecialist` hires only what
  its region's talent pool holds (scarce skills) and its base quality varies more;
- an :class:`Intermediary` learns provider quality from all its clients' outcomes and charges a fee.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import mesa
import numpy as np
from numpy.typing import NDArray

from simulation.config import Config, ProviderConfig
from simulation.model import kernels
from simulation.model.codes import REGIONS, Kind, Mode, Region
from simulation.model.ledger import Contract
from simulation.model.sourcing.policies import SourcingPolicy

if TYPE_CHECKING:
    from simulation.model.environment import Environment
    from simulation.model.state.providers import ProviderTable


class Firm(mesa.Agent):
    """A client firm: its size, home region and the services it buys (its rows of the slot table)."""

    def __init__(self, model: mesa.Model, firm_id: int, slots: NDArray[np.int64]) -> None:
        super().__init__(model)
        self.firm_id = firm_id
        self.slots = slots

    @property
    def size(self) -> float:
        return float(self.model.firms.size[self.firm_id])

    @property
    def region(self) -> Region:
        return Region(int(self.model.firms.region[self.firm_id]))

    @property
    def services(self) -> tuple[str, ...]:
        """Names of the services the firm buys, in slot order."""
        names = self.model.catalogue.names
        return tuple(names[v] for v in self.model.slots.service[self.slots])

    def slot(self, service: str) -> int:
        """The slot row of one of the firm's services (ValueError if it does not buy it)."""
        services = self.services
        if service not in services:
            raise ValueError(f"firm {self.firm_id} does not buy {service!r}; it buys {', '.join(services)}")
        return int(self.slots[services.index(service)])

    @property
    def modes(self) -> dict[str, Mode]:
        """Current sourcing mode per service."""
        return {name: Mode(int(self.model.slots.mode[s])) for name, s in zip(self.services, self.slots)}

    @property
    def contracts(self) -> dict[str, Contract]:
        """The firm's running permanent contracts, by service."""
        book = self.model.contracts
        return {name: book.contract(int(s)) for name, s in zip(self.services, self.slots) if book.holds(s)}

    @property
    def policies(self) -> dict[str, SourcingPolicy]:
        """The sourcing policy each service's reviews follow."""
        policies = self.model.sourcing_policies
        return {name: policies[int(self.model.slots.policy[s])] for name, s in zip(self.services, self.slots)}

    def follow(self, policy: SourcingPolicy, service: str | None = None) -> None:
        """From the next review on, source every service (or one) by ``policy``."""
        rows = self.slots if service is None else np.array([self.slot(service)])
        self.model.assign_policy(policy, rows)

    def decision_trail(self, last: int | None = None) -> list[dict]:
        """Every sourcing review of this firm so far (the ``last`` latest, if given), oldest first: the options
        compared, their costs and the choice."""
        return self.model.decisions.for_firm(self.firm_id, last)


class TableColumn:
    """A provider's value in one column of the provider table, read (and written) through its agent."""

    def __init__(self, field: str, doc: str, writable: bool = True) -> None:
        self.field, self.__doc__, self.writable = field, doc, writable

    def __get__(self, agent: Provider | None, owner: type) -> float | TableColumn:
        if agent is None:
            return self
        return float(getattr(agent.model.providers, self.field)[agent.row])

    def __set__(self, agent: Provider, value: float) -> None:
        if not self.writable:
            raise AttributeError(f"{self.field} is computed by the model each week; it cannot be set")
        getattr(agent.model.providers, self.field)[agent.row] = value


class Provider(mesa.Agent):
    """A provider of outsourced work; its state is row ``row`` of the provider table.

    Subclasses say what is particular to their kind: how base quality varies, the starting markup and
    how hiring is limited.
    """

    kind: ClassVar[Kind]

    def __init__(self, model: mesa.Model, row: int) -> None:
        super().__init__(model)
        self.row = row

    # ---- kind-specific behaviour, vectorised over every provider of the kind
    @classmethod
    def reliability_prior(cls, p: ProviderConfig) -> tuple[float, float]:
        """Mean and standard deviation of the base quality of a new provider of this kind."""
        raise NotImplementedError

    @classmethod
    def normal_markup(cls, p: ProviderConfig) -> float:
        raise NotImplementedError

    @classmethod
    def limit_hiring(cls, hires: NDArray[np.float64], table: ProviderTable, environment: Environment) -> None:
        """Cut this kind's planned hires (hours/week per provider row, in place) to what can be hired."""

    @classmethod
    def draw_reliability(cls, cfg: Config, region: int, rng: np.random.Generator) -> float:
        """Base quality of a new provider of this kind in ``region``."""
        mean, sd = cls.reliability_prior(cfg.providers)
        mean += cfg.regions[REGIONS[region]].reliability_offset
        return float(np.clip(mean + sd * rng.standard_normal(), 0.3, 1.0))

    # ---- one provider's state
    @property
    def provider_id(self) -> int:
        return self.row

    capacity = TableColumn("capacity", "Hours of work per week it can deliver.")
    markup = TableColumn("markup", "Spot markup over unit cost; it moves with utilisation each week, and posted "
                                   "spot prices follow it at the start of the next week.")
    reliability = TableColumn("reliability", "Base quality of its work (0-1) before load and client experience.")
    utilization = TableColumn("utilization", "Share of capacity used last week.", writable=False)

    @property
    def region(self) -> Region:
        return Region(int(self.model.providers.region[self.row]))

    @property
    def skill_level(self) -> int:
        return int(self.model.providers.skill[self.row])

    @property
    def services(self) -> tuple[str, ...]:
        offers = self.model.providers.offers[self.row]
        return tuple(name for name, on in zip(self.model.catalogue.names, offers) if on)

    @property
    def active(self) -> bool:
        return bool(self.model.providers.active[self.row])

    @property
    def spot_price(self) -> float:
        """This week's on-call price per hour for a client in its own region."""
        return float(self.model.prices.spot_price[self.row])

    @property
    def committed_hours(self) -> float:
        """Hours per week reserved by its running permanent contracts."""
        book = self.model.contracts
        mine = book.active & (book.provider == self.row)
        return float(book.reserved[mine].sum())

    @property
    def clients(self) -> tuple[int, ...]:
        """Firms holding a permanent contract with it."""
        book = self.model.contracts
        mine = book.active & (book.provider == self.row)
        return tuple(sorted(set(self.model.slots.firm[mine].tolist())))

    def raise_prices(self, rise: float) -> None:
        """Raise all its prices by ``rise`` (a share): the lowest contract price it accepts at once, its posted
        spot prices when prices are next set (at the start of each week)."""
        self.model.providers.price_factor[self.row] *= 1.0 + rise

    def exit_market(self, reason: str = "provider exited the market") -> int:
        """Leave the market now: its contracts end, its clients replace it and re-source. Returns contracts ended."""
        ended = self.model.remove_provider(self.row, reason)
        self.remove()
        return ended


class BPOProvider(Provider):
    """Broad, cheap, high-capacity task provider whose pooled staff serve many clients; hires freely."""

    kind = Kind.BPO

    @classmethod
    def reliability_prior(cls, p: ProviderConfig) -> tuple[float, float]:
        return p.reliability_mean_bpo, p.reliability_sd

    @classmethod
    def normal_markup(cls, p: ProviderConfig) -> float:
        return p.normal_markup_bpo


class KPOSpecialist(Provider):
    """Narrow, skilled, scarce expertise provider: its quality varies twice as much, and it can only hire
    what its region's talent pool holds, so it is slow to grow."""

    kind = Kind.KPO

    @classmethod
    def reliability_prior(cls, p: ProviderConfig) -> tuple[float, float]:
        return p.reliability_mean_kpo, p.reliability_sd * 2.0

    @classmethod
    def normal_markup(cls, p: ProviderConfig) -> float:
        return p.normal_markup_kpo

    @classmethod
    def limit_hiring(cls, hires: NDArray[np.float64], table: ProviderTable, environment: Environment) -> None:
        """Each region's specialists share its talent pool, in proportion to what they want."""
        n = table.n
        for region, name in enumerate(REGIONS):
            wanting = (table.kind[:n] == cls.kind) & (table.region[:n] == region) & (hires > 0)
            wanted = float(hires[wanting].sum())
            if wanted > 0:
                hires[wanting] *= environment.hire_from_pool(name, wanted) / wanted


PROVIDER_CLASSES: dict[Kind, type[Provider]] = {Kind.BPO: BPOProvider, Kind.KPO: KPOSpecialist}


class Intermediary(mesa.Agent):
    """A broker: learns provider quality from all its clients' outcomes and picks providers for a fee.

    Its state is row ``broker_id`` of the broker book; its clients are the firms assigned to it.
    """

    def __init__(self, model: mesa.Model, broker_id: int) -> None:
        super().__init__(model)
        self.broker_id = broker_id

    @property
    def fee_rate(self) -> float:
        """Share it adds to what its clients pay providers."""
        return float(self.model.brokers.fee_rate[self.broker_id])

    @fee_rate.setter
    def fee_rate(self, value: float) -> None:
        self.model.brokers.fee_rate[self.broker_id] = value

    @property
    def income(self) -> float:
        """Fees earned over the run so far."""
        return float(self.model.brokers.income[self.broker_id])

    def quality_estimates(self) -> NDArray[np.float64]:
        """Its estimate of the effective quality of every provider row (the prior where never observed)."""
        return self.model.brokers.estimates(self.model.providers.n)[self.broker_id].copy()

    @staticmethod
    def pick_distribution(cost_per_hour: NDArray[np.float64], eligible: NDArray[np.bool_],
                          intensity: float) -> NDArray[np.float64]:
        """How a broker picks a provider: a logit over cost relative to the cheapest eligible provider.

        Args:
            cost_per_hour: (rows, providers) expected all-in cost of each provider.
            eligible: (rows, providers) which providers can be picked.
            intensity: logit intensity over relative cost.
        """
        exponent = kernels.relative_cost_exponent(np.ascontiguousarray(cost_per_hour, np.float64),
                                                  np.ascontiguousarray(eligible, np.bool_), float(intensity))
        return kernels.softmax_rows(exponent)  # the logit of -(cost / cheapest), in compiled passes

    @property
    def clients(self) -> tuple[int, ...]:
        """Firms that buy through it when they use a broker."""
        slots = self.model.slots
        return tuple(sorted(set(slots.firm[slots.broker == self.broker_id].tolist())))
