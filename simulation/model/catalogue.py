"""Service catalogue as arrays indexed by service (rebuilt whenever an event changes a parameter)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config, Kind


@dataclass(frozen=True)
class Catalogue:
    names: tuple[str, ...]
    kind: NDArray[np.int8]  # 0 bpo, 1 kpo
    skill: NDArray[np.int8]
    inhouse_cost: NDArray[np.float64]  # cu/hour at wage index 1
    demand_per_size: NDArray[np.float64]
    adoption: NDArray[np.float64]
    onboarding_weeks: NDArray[np.float64]
    inhouse_switch_weeks: NDArray[np.float64]
    friction: NDArray[np.float64]
    error_cost: NDArray[np.float64]
    learning: NDArray[np.float64]  # learning strength x multiplier, capped at 1
    project_rate: NDArray[np.float64]
    project_weeks: NDArray[np.float64]
    term_weeks: NDArray[np.int32]

    @classmethod
    def from_config(cls, cfg: Config) -> "Catalogue":
        s = list(cfg.services.values())

        def arr(attr: str, dtype: type = float) -> NDArray:
            return np.array([getattr(x, attr) for x in s], dtype=dtype)

        return cls(
            names=tuple(cfg.services),
            kind=np.array([1 if x.kind == Kind.KPO else 0 for x in s], np.int8),
            skill=arr("skill_level", np.int8),
            inhouse_cost=arr("inhouse_cost_per_hour"),
            demand_per_size=arr("demand_hours_per_size"),
            adoption=arr("adoption_probability"),
            onboarding_weeks=arr("onboarding_cost_weeks"),
            inhouse_switch_weeks=arr("inhouse_switch_cost_weeks"),
            friction=arr("friction_share"),
            error_cost=arr("error_cost_share"),
            learning=np.minimum(arr("learning_strength") * cfg.contracts.learning_multiplier, 1.0),
            project_rate=arr("project_rate_per_week"),
            project_weeks=arr("project_mean_weeks"),
            term_weeks=np.array([cfg.term_weeks(x.kind) for x in s], np.int32),
        )

    def __len__(self) -> int:
        return len(self.names)
