"""The outsourcing market model: agents, state, market, sourcing, environment and metrics, wired in model.py.

This package imports only itself and :mod:`simulation.config`. Its public face:

- :class:`OutsourcingModel`, the Mesa model;
- the agents :class:`Firm`, :class:`BPOProvider`, :class:`KPOSpecialist` and :class:`Intermediary`;
- sourcing policies: :class:`SourcingPolicy` to subclass, :class:`CostLogit` (the default) and the
  fixed strategies :data:`ALWAYS_PERMANENT`, :data:`ON_CALL_ONLY` and :data:`NEVER_OUTSOURCE`;
- the codes arrays hold (:mod:`simulation.model.codes`).
"""

from simulation.model.agents import BPOProvider, Firm, Intermediary, KPOSpecialist, Provider
from simulation.model.codes import Channel, Form, Kind, Mode, Region, ReviewOutcome, SourcingOption
from simulation.model.model import OutsourcingModel
from simulation.model.sourcing.policies import (ALWAYS_PERMANENT, NEVER_OUTSOURCE, ON_CALL_ONLY, CostLogit, ReviewMenu,
                                                SourcingPolicy)

__all__ = ["ALWAYS_PERMANENT", "BPOProvider", "Channel", "CostLogit", "Firm", "Form", "Intermediary", "KPOSpecialist",
           "Kind", "Mode", "NEVER_OUTSOURCE", "ON_CALL_ONLY", "OutsourcingModel", "Provider", "Region", "ReviewMenu",
           "ReviewOutcome", "SourcingOption", "SourcingPolicy"]
