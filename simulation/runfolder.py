"""Run folders on disk: atomic writes, the manifest, and reading a run's config back (docs/run-folders.md).

Every file is written through a temporary name (``.<name>.tmp-<pid>``) and renamed into place, so no
reader ever sees a half-written file; the sweep store removes such leftovers when it starts. A run
folder is built whole under ``.<name>.partial-<pid>`` and renamed into place, so a run folder that
exists is complete. It holds ``manifest.json`` (what was run, with which seed, versions, git revision
and the SHA-256 of each table) and one Parquet file per table in :data:`DATA_FILES`.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import shutil
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache, partial
from importlib import metadata
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import ValidationError

from simulation.config import Config
from simulation.config.recording import TABLES, decision_firm_count, record_level, recorded_tables
from simulation.config.schema import scaled
from simulation.scenario import MISSING, Problem, ScenarioError, problems_from

DATA_FILES = TABLES  # ("metrics", "contracts", "relationships", "decisions", "firms", "providers")
MANIFEST = "manifest.json"
VERSIONED_PACKAGES = ("outsim", "mesa", "numpy", "pandas", "pyarrow", "pydantic", "scipy")


@lru_cache(maxsize=1)
def outsim_version() -> str:
    """The installed outsim version (part of every run key: a new version recomputes)."""
    try:
        return metadata.version("outsim")
    except metadata.PackageNotFoundError:
        return "unknown"


def run_key(config: dict[str, Any], seed: int, version: str | None = None) -> str:
    """sha256 (first 16 hex digits) of the resolved config JSON (sorted keys), the seed and the outsim version."""
    text = json.dumps({"config": config, "seed": int(seed), "version": version or outsim_version()},
                      sort_keys=True, separators=(",", ":"), allow_nan=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def write_atomic(path: Path, write: Callable[[Path], None]) -> None:
    """Write through a temporary file and rename it into place, so no reader sees a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        write(tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def write_json(path: Path, data: Mapping[str, Any], indent: int = 2) -> None:
    """Write ``data`` as JSON with sorted keys and a final newline, atomically."""
    text = json.dumps(data, indent=indent, sort_keys=True) + "\n"
    write_atomic(path, lambda p: p.write_text(text, encoding="utf-8"))


def utc_now() -> str:
    """The current time in UTC to the second, ISO 8601 (the ``created_utc`` of manifests)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def write_manifest(folder: Path, data: Mapping[str, Any]) -> None:
    """Write ``folder/manifest.json`` for a folder of many runs, stamped with ``created_utc``."""
    write_json(folder / MANIFEST, {**data, "created_utc": utc_now()})


def run_manifest(config: Config, seed: int, timings: dict[str, float], origin: dict[str, Any]) -> dict[str, Any]:
    """The manifest of one seeded run: scenario, resolved config, seed, versions, git revision, timings.

    Args:
        config: the resolved config the run used.
        seed: the run seed.
        timings: seconds spent in setup, run and collect.
        origin: how the config was made (scenario file, overrides, ``--from`` folder), if known.
    """
    return {
        "kind": "run",
        "origin": origin,
        "scenario": config.name,
        "description": config.description,
        "seed": seed,
        "steps": int(config.run.steps),
        "market": market_size(config),
        "config": config.model_dump(mode="json"),
        "versions": versions(),
        "git_revision": git_revision(),
        "timings_seconds": timings,
        "created_utc": utc_now(),
        "files": {name: f"{name}.parquet" for name in DATA_FILES},
        **recording(config),
    }


def recording(config: Config) -> dict[str, Any]:
    """What a run of ``config`` records, for its manifest (docs/run-folders.md).

    ``record`` is the level (``run.record`` with ``auto`` resolved), ``not_recorded`` the tables written
    empty because the run did not keep them (so a reader can tell "not recorded" from "none happened"),
    and ``decision_sample`` says how many of the firms' reviews the decision log holds when it holds
    some only (``{"firms": 30, "of": 300}``), else None.
    """
    kept, count = recorded_tables(config), decision_firm_count(config)
    sample = None if count is None or "decisions" not in kept else {"firms": count, "of": market_size(config)["firms"]}
    return {"record": record_level(config), "not_recorded": [t for t in DATA_FILES if t not in kept],
            "decision_sample": sample}


def market_size(config: Config) -> dict[str, int]:
    """The agent counts a run starts with, after ``run.scale`` (the config holds the unscaled counts)."""
    scale = config.run.scale
    return {"firms": scaled(config.firms.count, scale), "bpo_providers": scaled(config.providers.bpo_count, scale),
            "kpo_providers": scaled(config.providers.kpo_count, scale),
            "brokers": scaled(config.intermediaries.count, scale)}


def write_run_folder(out_dir: str | Path, tables: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any]) -> Path:
    """Write one Parquet file per table and manifest.json (with each table's SHA-256); returns the folder.

    The folder is built under a temporary name beside ``out_dir`` and renamed into place (see
    :func:`building_run_folder`), so an interrupted write never leaves a folder that looks like a run.

    Raises:
        FileExistsError: ``out_dir`` holds files that are not a run folder's.
    """
    with building_run_folder(out_dir) as partial:
        finish_run_folder(partial, tables, manifest, tuple(tables))
    return Path(out_dir)


@contextmanager
def building_run_folder(out_dir: str | Path) -> Iterator[Path]:
    """Build a run folder under ``.<name>.partial-<pid>`` beside ``out_dir``; yields that folder.

    When the block ends normally, the folder is renamed to ``out_dir`` (an existing empty folder or run
    folder there is replaced); when it raises, the partial folder is removed. A killed process leaves
    only the hidden partial folder, never a folder that looks like a run.

    Raises:
        FileExistsError: ``out_dir`` holds files that are not a run folder's (checked before the block runs).
    """
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()) and _kind(out) != "run":
        raise FileExistsError(f"{out}: not empty and not a run folder; refusing to replace it")
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_name(f".{out.name}.partial-{os.getpid()}")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        partial.mkdir()
        yield partial
        if out.exists():
            _swap_into_place(partial, out)
        else:
            os.rename(partial, out)
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def finish_run_folder(folder: Path, tables: Mapping[str, pd.DataFrame], manifest: Mapping[str, Any],
                      names: Sequence[str] = DATA_FILES) -> None:
    """Write ``tables`` into ``folder`` (the other tables of ``names`` are there already), then manifest.json
    with the SHA-256 of every table of ``names``: the last step of building a run folder."""
    for name, table in tables.items():
        table.to_parquet(folder / f"{name}.parquet", index=False)
    sums = {name: file_sha256(folder / f"{name}.parquet") for name in names}
    write_json(folder / MANIFEST, {**manifest, "sha256": sums})


def _swap_into_place(new: Path, out: Path) -> None:
    """Replace the folder ``out`` by ``new``: the old one is moved aside, then deleted."""
    old = out.with_name(f".{out.name}.old-{os.getpid()}")
    os.rename(out, old)
    os.rename(new, out)
    shutil.rmtree(old, ignore_errors=True)


def _kind(folder: Path) -> str | None:
    try:
        return json.loads((folder / MANIFEST).read_text(encoding="utf-8")).get("kind")
    except (OSError, ValueError, AttributeError):
        return None


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified_run(run_dir: Path, config: Mapping[str, Any], seed: int) -> bool:
    """True if ``run_dir`` is a complete run of ``config`` and ``seed`` by this outsim version, every
    table intact (its SHA-256 matches the manifest's): a finished replication that need not run again."""
    try:
        manifest = json.loads((run_dir / MANIFEST).read_text(encoding="utf-8"))
        sums = manifest["sha256"]
        return (manifest.get("kind") == "run" and manifest.get("config") == config and manifest.get("seed") == seed
                and manifest.get("versions", {}).get("outsim") == outsim_version()
                and set(sums) == set(DATA_FILES)
                and all(file_sha256(run_dir / f"{name}.parquet") == sums[name] for name in DATA_FILES))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return False


def remove_partial_folders(folder: Path) -> None:
    """Delete the ``.<name>.partial-<pid>`` and ``.<name>.old-<pid>`` folders an interrupted writer left."""
    for leftover in [*folder.glob(".*.partial-*"), *folder.glob(".*.old-*")]:
        shutil.rmtree(leftover, ignore_errors=True)


def load_run_config(run_dir: str | Path) -> tuple[Config, int]:
    """The resolved config and seed a run folder was made with, so the run can be repeated exactly.

    Raises:
        ScenarioError: if the folder has no readable manifest or its config no longer validates.
    """
    path = Path(run_dir) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        config, seed = manifest["config"], int(manifest["seed"])
    except FileNotFoundError:
        raise ScenarioError([Problem(str(run_dir), MANIFEST, MISSING, "not a run folder (no manifest.json)")]) from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise ScenarioError([Problem(str(path), "config", MISSING, f"unreadable manifest ({exc})")]) from None
    try:
        return Config.model_validate(config), seed
    except ValidationError as exc:
        raise ScenarioError(problems_from(exc, str(path), {})) from None


def export_csv(run_dir: str | Path) -> list[Path]:
    """Write a CSV copy of every Parquet table in a run folder (for spreadsheets); returns the files.

    Raises:
        ScenarioError: the folder has no manifest or holds no Parquet table.
    """
    folder = Path(run_dir)
    if not (folder / MANIFEST).is_file():
        raise ScenarioError([Problem(str(folder), MANIFEST, MISSING, "not a run folder (no manifest.json)")])
    tables = sorted(folder.glob("*.parquet"))
    if not tables:
        raise ScenarioError([Problem(str(folder), "parquet", MISSING, "no Parquet tables to export (is this a run folder?)")])
    out = []
    for table in tables:
        target = table.with_suffix(".csv")
        write_atomic(target, partial(pd.read_parquet(table).to_csv, index=False))
        out.append(target)
    return out


def versions() -> dict[str, str]:
    """Python's version and those of outsim and the packages that shape its results."""
    out = {"python": platform.python_version()}
    for pkg in VERSIONED_PACKAGES:
        try:
            out[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            out[pkg] = "unknown"
    return out


def git_revision() -> str | None:
    """The git commit of the outsim source tree, with ``-dirty`` if tracked files changed; None outside git."""
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
