"""The service catalogue as arrays indexed by service, rebuilt whenever an event changes a parameter."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulation.config import Config
from simulation.model.codes import Kind


@dataclass(frozen=True)
class Catalogue:
    """One entry per service; ``len(catalogue)`` services, named by ``names``."""

    names: tuple[str, ...]
    kind: NDArray[np.int8]  # Kind
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
    prior_quality: NDArray[np.float64]  # effective quality a firm expects of a provider it has not used yet
    target_utilization: NDArray[np.float64]  # what the service's providers aim for (BPO ~82%, KPO ~70% billable)

    @classmethod
    def from_config(cls, cfg: Config) -> Catalogue:
        s = list(cfg.services.values())

        def arr(attr: str, dtype: type = float) -> NDArray:
            return np.array([getattr(x, attr) for x in s], dtype=dtype)

        p = cfg.providers
        kind = np.array([Kind[x.kind.name] for x in s], np.int8)
        return cls(
            names=tuple(cfg.services),
            kind=kind,
            skill=arr("skill_level", np.int8),
            inhouse_cost=arr("inhouse_cost_per_hour"),
            demand_per_size=arr("demand_hours_per_size"),
            adoption=arr("adoption_probability"),
            onboarding_weeks=arr("onboarding_cost_weeks") * cfg.contracts.onboarding_multiplier,
            inhouse_switch_weeks=arr("inhouse_switch_cost_weeks"),
            friction=arr("friction_share"),
            error_cost=arr("error_cost_share"),
            learning=np.minimum(arr("learning_strength") * cfg.contracts.learning_multiplier, 1.0),
            project_rate=arr("project_rate_per_week"),
            project_weeks=arr("project_mean_weeks"),
            term_weeks=np.array([cfg.term_weeks(x.kind) for x in s], np.int32),
            prior_quality=np.where(kind == Kind.KPO, p.reliability_mean_kpo, p.reliability_mean_bpo) * (1.0 - p.late_base_rate),
            target_utilization=np.where(kind == Kind.KPO, p.target_utilization_kpo, p.target_utilization_bpo),
        )

    def __len__(self) -> int:
        return len(self.names)
