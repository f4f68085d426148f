"""The calibration folder: stored run results, the Optuna study, the manifest and the output files.

Layout (``outputs/calibrations/<name>/`` by default)::

    manifest.json        kind "calibration", the file, its signature, invocations, the best trial
    study.journal        the Optuna study (journal storage): every trial's parameters, state and loss
    runs/<key>.json      one finished evaluation run: its seed and measured moments
    trials.parquet       every evaluation: parameters, moments (replication means), loss, state
    profiles.parquet     the loss along each parameter with the others at the optimum
    fit.csv              per target: range or value, achieved mean with its 95% interval, within or not
    best.toml            a scenario extending the base with the best parameters
    report.html          the calibration report (written by analysis/)

Only the client process writes here, each file atomically, so an interrupted calibration leaves
nothing half-written; a rerun of the same file reuses every stored run.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from simulation.runfolder import write_atomic, write_json
from simulation.scenario import Problem, ScenarioError, shown_path
from simulation.calibrate.evaluate import Evaluated


class CalibrationStore:
    """Read and write one calibration folder."""

    def __init__(self, folder: str | Path) -> None:
        self.folder = Path(folder)
        self.runs_dir = self.folder / "runs"

    @property
    def journal(self) -> Path:
        return self.folder / "study.journal"

    @property
    def manifest_path(self) -> Path:
        return self.folder / "manifest.json"

    def prepare(self, signature: dict[str, Any], source: str) -> dict[str, Any]:
        """Create the folder, or check that it holds a calibration of the same file; returns the manifest.

        Raises:
            ScenarioError: the folder holds another calibration (a different base, parameters, targets,
                sampler, seeds or replications); only the budget may change between invocations.
        """
        self.runs_dir.mkdir(parents=True, exist_ok=True)
        for tmp in self.folder.rglob(".*.tmp-*"):
            tmp.unlink(missing_ok=True)
        manifest = self.manifest()
        if manifest and manifest.get("signature") != json.loads(json.dumps(signature)):
            raise ScenarioError([Problem(shown_path(self.folder), "manifest.json", source,
                                         "this folder holds a calibration of another file or settings (only the budget "
                                         "may change); give another --out or remove the folder")])
        return manifest or {"kind": "calibration", "signature": signature, "invocations": []}

    def manifest(self) -> dict[str, Any]:
        try:
            return json.loads(self.manifest_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}

    def write_manifest(self, manifest: dict[str, Any]) -> None:
        write_json(self.manifest_path, manifest)

    def result(self, key: str, labels: list[str]) -> dict[str, float] | None:
        """A stored run's moments, if it was run and measured every label asked for."""
        try:
            stored = json.loads((self.runs_dir / f"{key}.json").read_text(encoding="utf-8"))["moments"]
        except (FileNotFoundError, ValueError, KeyError):
            return None
        return stored if all(label in stored for label in labels) else None

    def store(self, result: Evaluated) -> None:
        """Keep a finished run's moments (merged with what was measured before under the same key)."""
        path = self.runs_dir / f"{result.task.key}.json"
        old = self.result(result.task.key, []) or {}
        data = {"seed": result.task.seed, "seconds": round(result.seconds, 3), "moments": {**old, **result.values}}
        write_atomic(path, lambda p: p.write_text(json.dumps(data, sort_keys=True) + "\n", encoding="utf-8"))
