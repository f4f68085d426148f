"""Analysis of a finished sweep folder (it reads nothing else): what ``outsim sweep --analyze`` writes.

The sweep's design decides what is drawn (docs/sweeps.md, "Analysis"): sensitivity indices for
Sobol and Morris designs (:mod:`analysis.sensitivity`), phase diagrams for grids and scatter plots
for sampled designs (:mod:`analysis.sweep_figures`), and the WKH loyalty curve when the grid varies
choice.beta alone, or with the loyal start choice.initial_preference, and keeps loyalty_mean
(:mod:`analysis.wkh`). Everything is written into the folder.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path

from analysis.sensitivity import sensitivity
from analysis.sweep_figures import phase_figures, scatter_figures
from analysis.sweep_results import load_results
from analysis.wkh import wkh_curve


class AnalysisError(RuntimeError):
    """The folder cannot be analysed (not a sweep folder, or no finished runs)."""


def analyze(folder: str | Path, units: Mapping[str, str] | None = None) -> tuple[list[str], list[Path]]:
    """Write every analysis the sweep's design allows into ``folder``; returns (notes, files written).

    Args:
        folder: a sweep folder.
        units: dotted parameter key -> unit, for axis labels (the sweep command passes the config
            schema's ``parameter_units()``); parameters without one are labelled "-".

    Raises:
        AnalysisError: not a sweep folder, or no finished run in it.
    """
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise AnalysisError(f"{folder}: not a sweep folder (no readable manifest.json)") from None
    if manifest.get("kind") != "sweep":
        raise AnalysisError(f"{folder}: manifest kind is {manifest.get('kind')!r}, not 'sweep'")
    results = load_results(folder)
    if results.empty:
        raise AnalysisError(f"{folder}: no finished runs to analyse")
    units = units or {}
    params = [p["key"] for p in manifest["parameters"]]
    outputs = manifest["outputs"]["final"]
    notes: list[str] = []
    files: list[Path] = []
    missing = manifest["design"]["points"] - results["point"].nunique()
    if missing:
        notes.append(f"{missing} design point(s) have no finished run yet; figures show the others")
    kind = manifest["design"]["kind"]
    if kind in ("sobol", "morris"):
        files += sensitivity(folder, manifest, results, notes)
    setup = (f"means of the last {manifest['outputs']['final_window']} of {manifest['base_config']['run']['steps']} weeks; "
             f"{len(manifest['design']['seeds'])} seed(s) per point")
    if kind == "grid":
        files += phase_figures(folder, results, params, outputs, setup, units)
    else:
        files += scatter_figures(folder, results, params, outputs, f"{kind} design points; {setup}", units)
    if params in (["choice.beta"], ["choice.beta", "choice.initial_preference"]) and "loyalty_mean" in outputs \
            and kind == "grid":
        files += wkh_curve(folder, manifest, results, notes)
    return notes, files
