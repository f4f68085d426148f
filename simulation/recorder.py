"""The recorder: turns a finished model into the tables of a run (:class:`RunResult`).

It reads the model's state once, after the last week, and writes nothing to disk; saving the tables
as a run folder is :mod:`simulation.runfolder`'s job. A run that writes its folder as it goes
(:func:`simulation.api.run_to_folder`) streams relationships and decisions (:mod:`simulation.streaming`)
and collects only the small tables here (:func:`collect_small`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from simulation.config import Config
from simulation.model import OutsourcingModel
from simulation.model.codes import REGIONS, Kind, labels
from simulation.runfolder import run_manifest


@dataclass
class RunResult:
    """Everything a run produces: weekly metrics, the contract ledger, relationship spells and more."""

    config: Config
    seed: int
    metrics: pd.DataFrame
    contracts: pd.DataFrame
    relationships: pd.DataFrame
    decisions: pd.DataFrame
    firms: pd.DataFrame
    providers: pd.DataFrame
    timings: dict[str, float] = field(default_factory=dict)
    origin: dict[str, Any] = field(default_factory=dict)  # how the config was made: file, overrides, --from

    def manifest(self) -> dict[str, Any]:
        """The run folder's manifest.json: config, seed, origin, versions, git revision and timings."""
        return run_manifest(self.config, self.seed, self.timings, self.origin)


def collect(model: OutsourcingModel, cfg: Config) -> RunResult:
    """Turn a finished model into tables (the recorder)."""
    return RunResult(config=cfg, seed=model.seed, **collect_small(model),
                     relationships=model.spells.to_frame(model.slots.firm, model.slots.service, model.catalogue.names),
                     decisions=model.decisions.to_frame())


def collect_small(model: OutsourcingModel) -> dict[str, pd.DataFrame]:
    """The tables of a finished model that are not streamed: metrics, contracts, firms and providers."""
    metrics = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    metrics["step"] = metrics["step"].astype("int64")
    table, n = model.providers, model.providers.n
    names = np.array(model.catalogue.names, dtype=object)
    providers = pd.DataFrame({
        "provider_id": np.arange(n, dtype=np.int64),
        "kind": np.array(labels(Kind))[table.kind[:n]],
        "region": np.array(REGIONS)[table.region[:n]],
        "skill_level": table.skill[:n].astype(np.int64),
        "services": [",".join(names[table.offers[j]]) for j in range(n)],
        "reliability": table.reliability[:n],
        "capacity_hours_final": table.capacity[:n],
        "entry_week": table.entry_week[:n].astype(np.int64),
        # Still active: missing (a warm-up exit has a week <= 0, so no week number can mean "active").
        "exit_week": pd.array(np.where(table.active[:n], None, table.exit_week[:n]), dtype="Int64"),
    })
    firms = pd.DataFrame({
        "firm_id": np.arange(len(model.firms), dtype=np.int64),
        "size": model.firms.size,
        "size_class": model.firms.size_class(),
        "region": np.array(REGIONS)[model.firms.region],
        "services": [",".join(names[model.slots.service[f.slots]]) for f in model.firm_agents],
    })
    return {"metrics": metrics, "contracts": model.contracts.to_frame(), "firms": firms, "providers": providers}
