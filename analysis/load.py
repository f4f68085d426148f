"""Loading run folders written by ``outsim`` into plain pandas tables.

The folder layouts are described in docs/run-folders.md: a single seeded run (kind ``"run"``), a set
of replications (``"replications"``, one ``rep-*/`` run folder each) and a base-versus-what-if
comparison (``"comparison"``, with ``base/`` and ``whatif/`` replication folders). This module only
reads files (``pandas.read_parquet`` and ``json``); it never imports or runs the model, so results
from any machine can be analysed.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

TABLES = ("metrics", "contracts", "relationships", "decisions", "firms", "providers")
KIND_TABLES = ("contracts", "relationships", "decisions")  # tables that get a ``kind`` column from their service

#: Columns each table must have for the analysis to work (docs/run-folders.md).
REQUIRED_COLUMNS: dict[str, tuple[str, ...]] = {
    "metrics": ("step", "permanent_share", "on_call_share", "in_house_share"),
    "contracts": ("week", "contract_id", "event", "firm_id", "provider_id", "service"),
    "relationships": ("firm_id", "provider_id", "service", "form", "channel", "start_week", "end_week",
                      "weeks", "volume_hours", "spend", "censored"),
    "decisions": ("week", "firm_id", "service", "mode_before", "choice", "outcome"),
    "firms": ("firm_id", "size_class"),
    "providers": ("provider_id", "kind", "region"),
}


class RunFolderError(ValueError):
    """A folder that is not a readable run folder; the message names the path and what is missing."""


class NotEnoughData(RuntimeError):
    """The data hold too little for a measure or figure; the message says what is missing."""


@dataclass
class RunData:
    """Everything one seeded run wrote, as loaded from its folder.

    Attributes:
        path: the run folder (None for a run built in memory by :func:`run_data_from_tables`).
        manifest: the parsed manifest.json.
        metrics, contracts, relationships, decisions, firms, providers: the Parquet tables; the
            contracts, relationships and decisions tables carry an extra ``kind`` column (bpo/kpo)
            taken from the service catalogue in the manifest's config.
    """

    path: Path | None
    manifest: dict[str, Any]
    metrics: pd.DataFrame
    contracts: pd.DataFrame
    relationships: pd.DataFrame
    decisions: pd.DataFrame
    firms: pd.DataFrame
    providers: pd.DataFrame

    @property
    def config(self) -> dict[str, Any]:
        """The resolved config the run used (empty if the manifest has none)."""
        return self.manifest.get("config") or {}

    @property
    def service_kind(self) -> dict[str, str]:
        """Service name -> kind (``"bpo"`` or ``"kpo"``) from the manifest's config."""
        return service_kinds(self.manifest)

    @property
    def steps(self) -> int:
        """Number of weeks simulated (from the manifest, else the metrics table)."""
        if self.manifest.get("steps") is not None:
            return int(self.manifest["steps"])
        return int(self.metrics["step"].max()) if len(self.metrics) else 0

    @property
    def not_recorded(self) -> frozenset[str]:
        """The tables this run wrote empty because it did not record them (see :func:`not_recorded`)."""
        return not_recorded(self.manifest)

    def recording_note(self, table: str) -> str | None:
        """Why ``table`` is empty or partial, in words for a reader; None when the run recorded it whole."""
        return recording_note(self.manifest, table)

    @property
    def label(self) -> str:
        """Short name for captions: scenario and seed."""
        scenario = self.manifest.get("scenario") or (self.path.name if self.path else "run")
        return f"{scenario} (seed {self.manifest.get('seed', '?')})"


@dataclass
class Replications:
    """A set of replications of one scenario: one :class:`RunData` per ``rep-*/`` folder."""

    path: Path
    manifest: dict[str, Any]
    runs: list[RunData]
    summary: pd.DataFrame | None = None

    @property
    def label(self) -> str:
        """Short name for captions: scenario and number of replications."""
        return f"{self.manifest.get('scenario', self.path.name)} ({len(self.runs)} replications)"


@dataclass
class Comparison:
    """A base and one or more what-ifs: replication sets run with the same seeds."""

    path: Path
    manifest: dict[str, Any]
    base: Replications
    whatifs: list[Replications]
    table: pd.DataFrame | None = None
    event_weeks: list[list[int]] = field(default_factory=list)  # per what-if

    @property
    def whatif(self) -> Replications:
        """The first what-if."""
        return self.whatifs[0]


def service_kinds(manifest: dict[str, Any]) -> dict[str, str]:
    """Map service name -> kind from ``manifest["config"]["services"]``; empty if absent."""
    services = (manifest.get("config") or {}).get("services") or {}
    return {name: str(spec.get("kind", "")) for name, spec in services.items() if isinstance(spec, dict)}


def not_recorded(manifest: dict[str, Any]) -> frozenset[str]:
    """Tables a run wrote empty because it did not record them (``run.record``, ``run.record_decisions``).

    From the manifest's ``not_recorded``; a folder written before recording levels existed recorded every
    table, except the decision log when its config had ``run.record_decisions = false``.
    """
    listed = manifest.get("not_recorded")
    if isinstance(listed, list):
        return frozenset(str(t) for t in listed)
    run_config = (manifest.get("config") or {}).get("run") or {}
    return frozenset({"decisions"}) if run_config.get("record_decisions") is False else frozenset()


def recording_note(manifest: dict[str, Any], table: str) -> str | None:
    """Why a run's ``table`` is empty or holds some firms only, in words; None when it was recorded whole.

    A table not recorded is not a table of events that did not happen: readers say so instead of
    showing an empty table or figure.
    """
    if table in not_recorded(manifest):
        level = manifest.get("record")
        why, fix = ((f"run.record = {level}", "run.record=full") if level in ("summary", "metrics")
                    else ("run.record_decisions = false", "run.record_decisions=true"))
        return (f"{table}.parquet was not recorded in this run ({why}); repeat the run with "
                f"outsim run --from RUN_DIR --set {fix} to get it")
    sample = manifest.get("decision_sample")
    if table == "decisions" and isinstance(sample, dict):
        return (f"decisions.parquet holds the reviews of {sample.get('firms')} of the {sample.get('of')} firms "
                "only (run.decision_sample or run.decision_firms)")
    return None


def read_manifest(path: str | Path) -> dict[str, Any]:
    """Parse ``path/manifest.json``.

    Raises:
        RunFolderError: the path does not exist, is not a folder, or has no readable manifest.
    """
    path = Path(path)
    if not path.exists():
        raise RunFolderError(f"{path}: no such folder")
    if not path.is_dir():
        raise RunFolderError(f"{path}: not a folder (a run folder is a directory with manifest.json)")
    mf = path / "manifest.json"
    if not mf.is_file():
        raise RunFolderError(f"{path}: not a run folder: manifest.json is missing")
    try:
        manifest = json.loads(mf.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RunFolderError(f"{mf}: cannot be read as JSON ({exc})") from exc
    if not isinstance(manifest, dict):
        raise RunFolderError(f"{mf}: expected a JSON object, found {type(manifest).__name__}")
    return manifest


def folder_kind(path: str | Path) -> str:
    """The folder's ``manifest["kind"]``: ``"run"``, ``"replications"`` or ``"comparison"``.

    A manifest without ``kind`` (folders written before the field existed) counts as ``"run"``.

    Raises:
        RunFolderError: no manifest, or an unknown kind.
    """
    kind = read_manifest(path).get("kind", "run")
    if kind not in ("run", "replications", "comparison"):
        raise RunFolderError(f"{path}: manifest kind {kind!r} is not one of 'run', 'replications', 'comparison'")
    return kind


def add_kind(df: pd.DataFrame, service_kind: dict[str, str]) -> pd.DataFrame:
    """Return ``df`` with a ``kind`` column (bpo/kpo, ``"unknown"`` if unmapped) from its ``service``."""
    out = df.copy()
    out["kind"] = out["service"].astype(str).map(service_kind).fillna("unknown").astype(object)
    return out


def _active_as_missing(providers: pd.DataFrame) -> pd.DataFrame:
    """``exit_week`` as a nullable integer, missing for providers still active. Folders written before the
    warm-up existed marked them -1 in a plain integer column (no exit could happen before week 1 then)."""
    if "exit_week" not in providers.columns:
        return providers
    exit_week = providers["exit_week"]
    if not isinstance(exit_week.dtype, pd.Int64Dtype):
        exit_week = exit_week.astype("Int64")
        if not exit_week.isna().any() and len(exit_week) and exit_week.min() >= -1:
            exit_week = exit_week.mask(exit_week == -1)
    return providers.assign(exit_week=exit_week)


def run_data_from_tables(tables: dict[str, pd.DataFrame], manifest: dict[str, Any],
                         path: Path | None = None) -> RunData:
    """A :class:`RunData` from a run's tables as they are in memory, enriched as loading a folder does.

    This is the one place where a run's tables are checked and enriched: :func:`load_run` reads the
    folder's files and hands them here, and a caller that holds a finished run's tables (a
    calibration worker, say) gets the same RunData without writing a folder.

    Args:
        tables: one DataFrame per name in :data:`TABLES` (the tables of a run folder); not modified.
        manifest: the run's manifest (its ``config`` gives the service kinds).
        path: the folder the tables were read from, if any (error messages name its files).

    Returns:
        The tables and the manifest; contracts, relationships and decisions get a ``kind`` column.

    Raises:
        RunFolderError: a table is missing or lacks required columns.
    """
    where = str(path) if path else "run tables"
    missing = [name for name in TABLES if name not in tables]
    if missing:
        raise RunFolderError(f"{where}: missing table(s) {', '.join(missing)}")
    files = manifest.get("files") or {}
    for name in TABLES:
        lacking = [c for c in REQUIRED_COLUMNS[name] if c not in tables[name].columns]
        if lacking:
            source = path / files.get(name, f"{name}.parquet") if path else f"{name} table"
            raise RunFolderError(f"{source}: missing column(s) {', '.join(lacking)}")
    kinds = service_kinds(manifest)
    enriched = {name: add_kind(tables[name], kinds) if name in KIND_TABLES else tables[name] for name in TABLES}
    enriched["providers"] = _active_as_missing(enriched["providers"])
    return RunData(path=path, manifest=manifest, **enriched)


def load_run(path: str | Path) -> RunData:
    """Load one run folder (kind ``"run"``).

    Args:
        path: the folder holding manifest.json and the six Parquet tables.

    Returns:
        The tables and the manifest; contracts, relationships and decisions get a ``kind`` column
        (see :func:`run_data_from_tables`).

    Raises:
        RunFolderError: the folder is not a run folder, a table is missing or lacks required columns.
    """
    path = Path(path)
    manifest = read_manifest(path)
    kind = manifest.get("kind", "run")
    if kind != "run":
        raise RunFolderError(f"{path}: is a {kind!r} folder, not a single run; use analysis.load.load()")
    files = manifest.get("files") or {}
    missing = [name for name in TABLES if not (path / files.get(name, f"{name}.parquet")).is_file()]
    if missing:
        raise RunFolderError(f"{path}: not a complete run folder: missing {', '.join(f'{m}.parquet' for m in missing)}")
    tables = {}
    for name in TABLES:
        file = path / files.get(name, f"{name}.parquet")
        try:
            tables[name] = pd.read_parquet(file)
        except Exception as exc:  # pyarrow raises several types for a corrupt file
            raise RunFolderError(f"{file}: cannot be read as Parquet ({exc})") from exc
    return run_data_from_tables(tables, manifest, path)


def load_replications(path: str | Path) -> Replications:
    """Load a replications folder: each replication as a run, plus ``summary.parquet`` if present.

    The replications are those the manifest lists under ``"replications"`` (failed ones are not
    listed), or every ``rep-*/`` subfolder when the manifest has no such list.

    Raises:
        RunFolderError: no manifest, or no ``rep-*/`` run folder inside.
    """
    path = Path(path)
    manifest = read_manifest(path)
    listed = manifest.get("replications")
    if listed:  # the runner lists the replications that finished; failed ones are left out
        reps = [path / name for name in listed]
        missing = [p.name for p in reps if not p.is_dir()]
        if missing:
            raise RunFolderError(f"{path}: manifest lists replication folder(s) that are missing: {', '.join(missing)}")
    else:
        reps = sorted(p for p in path.glob("rep-*") if p.is_dir())
    if not reps:
        raise RunFolderError(f"{path}: replications folder without any rep-*/ run folder")
    summary_file = path / "summary.parquet"
    summary = pd.read_parquet(summary_file) if summary_file.is_file() else None
    return Replications(path=path, manifest=manifest, runs=[load_run(p) for p in reps], summary=summary)


def load_comparison(path: str | Path) -> Comparison:
    """Load a comparison folder: ``base/``, each what-if's folder and ``comparison.parquet``.

    The what-if folders are listed in ``manifest["whatifs"]`` (``whatif/`` alone in older folders). Event
    weeks come from the manifest if present, else from the ``at`` week of every event in each what-if's
    config (first replication).

    Raises:
        RunFolderError: no manifest, or ``base/`` or a what-if folder missing.
    """
    path = Path(path)
    manifest = read_manifest(path)
    listed = manifest.get("whatifs") or [{"folder": "whatif", "event_weeks": manifest.get("event_weeks")}]
    for sub in ("base", *(w["folder"] for w in listed)):
        if not (path / sub).is_dir():
            raise RunFolderError(f"{path}: comparison folder without its {sub}/ folder")
    base = _as_replications(path / "base")
    whatifs = [_as_replications(path / w["folder"]) for w in listed]
    table_file = path / "comparison.parquet"
    table = pd.read_parquet(table_file) if table_file.is_file() else None
    weeks = []
    for entry, side in zip(listed, whatifs):
        found = entry.get("event_weeks")
        if found is None:
            events = (side.runs[0].config.get("events") or []) if side.runs else []
            found = [e["at"] for e in events if isinstance(e, dict) and "at" in e]
        weeks.append(sorted({int(w) for w in found}))
    return Comparison(path=path, manifest=manifest, base=base, whatifs=whatifs, table=table, event_weeks=weeks)


def _as_replications(path: Path) -> Replications:
    """A replications folder as is, or a single run wrapped as one replication."""
    if folder_kind(path) == "run":
        run = load_run(path)
        return Replications(path=path, manifest=run.manifest, runs=[run])
    return load_replications(path)


def load(path: str | Path) -> RunData | Replications | Comparison:
    """Load any outsim folder, dispatching on ``manifest["kind"]``."""
    kind = folder_kind(path)
    if kind == "replications":
        return load_replications(path)
    if kind == "comparison":
        return load_comparison(path)
    return load_run(path)
