"""The Environment: business cycle, regional wage indices, exchange rates, KPO talent pools and the
scenario's timed events.

Parameter events (set, multiply or add any numeric parameter, optionally ramped over weeks) act on the
run's live :class:`~simulation.config.Config` through dotted keys such as
``regions.offshore.wage_growth_per_year``, at the start of their week; the model rereads what depends
on parameters after any change. Market events (a price hike, a provider failure) are handed to the
providers' phase of their week, which applies them.
"""

from __future__ import annotations

import math

from simulation.config import Config, MarketEvent, ParameterEvent, apply_action, get_value, set_value
from simulation.model.codes import REGIONS


class Environment:
    """Macro state of the market, advanced once a week before anything else."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.week = 0
        self.wage_index = {r: 1.0 for r in REGIONS}
        self.talent_pool = {r: cfg.regions[r].talent_pool_hours * cfg.run.scale for r in REGIONS}
        self.parameter_events = [e for e in cfg.events if isinstance(e, ParameterEvent)]
        self.market_events: list[MarketEvent] = [e for e in cfg.events if not isinstance(e, ParameterEvent)]
        self._ramps: list[tuple[ParameterEvent, float, float]] = []  # (event, start value, end value)
        for ev in self.parameter_events:
            get_value(cfg, ev.target)  # fail early on unknown targets

    @property
    def demand_level(self) -> float:
        """Economy-wide demand multiplier: level x trend x cycle."""
        env = self.cfg.environment
        trend = (1.0 + env.demand_trend_per_year) ** (self.week / 52.0)
        cycle = 1.0 + env.cycle_amplitude * math.sin(2.0 * math.pi * self.week / env.cycle_period_weeks)
        return env.demand_multiplier * trend * cycle

    def wage_per_hour(self, region: str) -> float:
        """Provider wage at skill 1 in home currency: base x wage index x exchange rate."""
        rc = self.cfg.regions[region]
        return rc.wage_per_hour * self.wage_index[region] * rc.exchange_rate

    def advance(self) -> bool:
        """Move one week on; apply due parameter events. Returns True if any parameter changed."""
        self.week += 1
        for r in REGIONS:
            self.wage_index[r] *= (1.0 + self.cfg.regions[r].wage_growth_per_year) ** (1.0 / 52.0)
        self.refill_talent_pools()
        changed = False
        for ev in self.parameter_events:
            if max(ev.at, 1) == self.week:  # an event at week 0 applies from the first week
                start = float(get_value(self.cfg, ev.target))
                end = apply_action(ev.action, start, ev.value)
                if ev.ramp_weeks > 0:
                    self._ramps.append((ev, start, end))
                else:
                    set_value(self.cfg, ev.target, end)
                changed = True
        still: list[tuple[ParameterEvent, float, float]] = []
        for ev, start, end in self._ramps:
            frac = min(1.0, (self.week - max(ev.at, 1) + 1) / ev.ramp_weeks)
            set_value(self.cfg, ev.target, start + frac * (end - start))
            changed = True
            if frac < 1.0:
                still.append((ev, start, end))
        self._ramps = still
        return changed

    def refill_talent_pools(self) -> None:
        """One week of the talent pools refilling toward their size."""
        for r in REGIONS:
            rc = self.cfg.regions[r]
            size = rc.talent_pool_hours * self.cfg.run.scale
            self.talent_pool[r] += rc.talent_pool_refill_per_week * (size - self.talent_pool[r])

    def due_market_events(self) -> list[MarketEvent]:
        """The market events of this week, in the order the scenario lists them."""
        return [e for e in self.market_events if e.at == self.week]

    def hire_from_pool(self, region: str, wanted: float) -> float:
        """Take up to ``wanted`` hours/week of KPO talent from a region's pool; returns what was hired."""
        got = max(0.0, min(wanted, self.talent_pool[region]))
        self.talent_pool[region] -= got
        return got
