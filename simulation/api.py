"""The public API used by the CLI, the tests and notebooks alike.

    cfg = load_scenario("scenarios/baseline.toml", {"firms.count": 500})
    result = run(cfg, seed=1)
    save_run(result, "outputs/my-run")
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import partial
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd

from simulation.config import Config
from simulation.model import OutsourcingModel
from pydantic import ValidationError

from simulation.scenario import _MISSING, Problem, ScenarioError, load_scenario, problems_from

__all__ = ["RunResult", "export_csv", "load_run_config", "load_scenario", "run", "save_run", "OutsourcingModel"]

DATA_FILES = ("metrics", "contracts", "relationships", "decisions", "firms", "providers")


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
        return {
            "kind": "run",
            "origin": self.origin,
            "scenario": self.config.name,
            "description": self.config.description,
            "seed": self.seed,
            "steps": int(self.config.run.steps),
            "config": self.config.model_dump(mode="json"),
            "versions": _versions(),
            "git_revision": _git_revision(),
            "timings_seconds": self.timings,
            "created_utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
            "files": {name: f"{name}.parquet" for name in DATA_FILES},
        }


def run(cfg: Config, seed: int = 0, steps: int | None = None,
        on_week: Callable[[OutsourcingModel], None] | None = None) -> RunResult:
    """Run one configuration with one seed and return its results (nothing is written to disk).

    Args:
        cfg: a validated config (see :func:`load_scenario`).
        seed: the run seed; every random stream is derived from it.
        steps: weeks to run; defaults to ``cfg.run.steps``.
        on_week: called after every week (progress bars, invariant checks, live views).
    """
    if steps is not None:
        cfg = cfg.with_steps(steps)
    t0 = time.perf_counter()
    model = OutsourcingModel(cfg, seed=seed)
    t1 = time.perf_counter()
    for _ in range(cfg.run.steps):
        model.step()
        if on_week is not None:
            on_week(model)
    model.finish()
    t2 = time.perf_counter()
    result = collect(model, cfg)
    result.timings = {"setup": round(t1 - t0, 3), "run": round(t2 - t1, 3), "collect": round(time.perf_counter() - t2, 3)}
    return result


def collect(model: OutsourcingModel, cfg: Config) -> RunResult:
    """Turn a finished model into tables (the recorder)."""
    metrics = model.datacollector.get_model_vars_dataframe().reset_index(drop=True)
    metrics["step"] = metrics["step"].astype("int64")
    t = model.providers
    n = t.n
    names = np.array(model.catalogue.names, dtype=object)
    providers = pd.DataFrame({
        "provider_id": np.arange(n, dtype=np.int64),
        "kind": np.where(t.kind[:n] == 1, "kpo", "bpo"),
        "region": np.where(t.region[:n] == 1, "offshore", "domestic"),
        "skill_level": t.skill[:n].astype(np.int64),
        "services": [",".join(names[t.offers[j]]) for j in range(n)],
        "reliability": t.reliability[:n],
        "capacity_hours_final": t.capacity[:n],
        "entry_week": t.entry_week[:n].astype(np.int64),
        "exit_week": t.exit_week[:n].astype(np.int64),
    })
    sizes = model.firms.size
    q = np.quantile(sizes, [1 / 3, 2 / 3])
    firms = pd.DataFrame({
        "firm_id": np.arange(len(sizes), dtype=np.int64),
        "size": sizes,
        "size_class": np.select([sizes <= q[0], sizes <= q[1]], ["small", "medium"], "large"),
        "region": np.where(model.firms.region == 1, "offshore", "domestic"),
        "services": [",".join(names[model.slots.service[f.slots]]) for f in model.firm_agents],
    })
    return RunResult(config=cfg, seed=model.seed, metrics=metrics, contracts=model.contracts.to_frame(),
                     relationships=model.spells.to_frame(model.slots.firm, model.slots.service, model.catalogue.names),
                     decisions=model.decisions.to_frame(), firms=firms, providers=providers)


def save_run(result: RunResult, out_dir: str | Path) -> Path:
    """Write a run folder: manifest.json plus one Parquet file per table. Files are written atomically."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    for name in DATA_FILES:
        write_atomic(out / f"{name}.parquet", partial(getattr(result, name).to_parquet, index=False))
    write_atomic(out / "manifest.json",
            lambda p: p.write_text(json.dumps(result.manifest(), indent=2, sort_keys=True) + "\n", encoding="utf-8"))
    return out


def load_run_config(run_dir: str | Path) -> tuple[Config, int]:
    """The resolved config and seed a run folder was made with, so the run can be repeated exactly.

    Raises:
        ScenarioError: if the folder has no readable manifest or its config no longer validates.
    """
    path = Path(run_dir) / "manifest.json"
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        config, seed = manifest["config"], int(manifest["seed"])
    except FileNotFoundError:
        raise ScenarioError([Problem(str(run_dir), "manifest.json", _MISSING, "not a run folder (no manifest.json)")]) from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ScenarioError([Problem(str(path), "config", _MISSING, f"unreadable manifest ({exc})")]) from None
    try:
        return Config.model_validate(config), seed
    except ValidationError as exc:
        raise ScenarioError(problems_from(exc, str(path), {})) from None


def export_csv(run_dir: str | Path) -> list[Path]:
    """Write a CSV copy of every Parquet table in a run folder (for spreadsheets); returns the files."""
    folder = Path(run_dir)
    tables = sorted(folder.glob("*.parquet"))
    if not tables:
        raise ScenarioError([Problem(str(folder), "parquet", _MISSING, "no Parquet tables to export (is this a run folder?)")])
    out = []
    for table in tables:
        target = table.with_suffix(".csv")
        write_atomic(target, partial(pd.read_parquet(table).to_csv, index=False))
        out.append(target)
    return out


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file and rename it into place, so no reader sees a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("outsim", "mesa", "numpy", "pandas", "pyarrow", "pydantic", "scipy"):
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def _git_revision() -> str | None:
    try:
        here = Path(__file__).resolve().parent
        rev = subprocess.run(["git", "-C", str(here), "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5)
        if rev.returncode != 0:
            return None
        dirty = subprocess.run(["git", "-C", str(here), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=5).stdout.strip()
        return rev.stdout.strip() + ("-dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None
