"""The report of a calibration folder: how well the best parameters fit, how the search went, and which
parameters the targets identify.

:func:`write_report` reads the folder ``outsim calibrate`` writes (manifest.json, fit.csv,
trials.parquet, profiles.parquet, best.toml), draws two figures into ``figures/`` and writes one
self-contained ``report.html``:

- the fit table: per target its range or value, the achieved mean with its 95% interval over the
  replications of the best point, and whether it is within;
- the loss of every evaluation in search order, with the best so far;
- a profile per parameter: the loss as that parameter moves across its bounds with the others at the
  optimum. A flat profile (the loss changes by less than :data:`FLAT_LOSS` along the whole range)
  shows a parameter the targets cannot identify.

Run it as ``python -m analysis.calibration_report FOLDER``.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.figures import new_figure, note, save, styled
from analysis.files import write_atomic
from analysis.html import esc, page, png, table

FLAT_LOSS = 0.1  # loss units: a tenth of one range-width (or one sd) squared over all targets together


class CalibrationFolderError(ValueError):
    """Not a calibration folder, or one whose search has not finished."""


def load_calibration(folder: str | Path) -> tuple[dict, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(manifest, fit, trials, profiles) of a finished calibration folder."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError) as exc:
        raise CalibrationFolderError(f"{folder}: not a calibration folder ({exc})") from None
    if manifest.get("kind") != "calibration":
        raise CalibrationFolderError(f"{folder}: manifest.json is of a {manifest.get('kind')!r} folder, not a calibration")
    try:
        trials = pd.read_parquet(folder / "trials.parquet")
        profiles = pd.read_parquet(folder / "profiles.parquet")
    except FileNotFoundError:
        raise CalibrationFolderError(f"{folder}: the calibration has not finished (no trials.parquet yet); "
                                     "run outsim calibrate again to complete it") from None
    fit = pd.read_csv(folder / "fit.csv") if (folder / "fit.csv").is_file() else pd.DataFrame()
    return manifest, fit, trials, profiles


@styled
def loss_figure(trials: pd.DataFrame, out_dir: Path) -> Path:
    """Each evaluation's loss in search order, and the best loss so far."""
    fig, ax = new_figure(figsize=(8, 4))
    done = trials[trials["state"] == "complete"].sort_values("trial")
    if done.empty:
        note(ax, "no evaluation finished")
    else:
        ax.scatter(done["trial"], done["loss"], s=14, color="#0072B2", alpha=0.6, label="evaluation")
        ax.step(done["trial"], done["loss"].cummin(), where="post", color="#D55E00", lw=2, label="best so far")
        if (done["loss"] > 0).all() and done["loss"].max() / max(done["loss"].min(), 1e-300) > 30:
            ax.set_yscale("log")
        failed = trials[trials["state"] == "fail"]
        for x in failed["trial"]:
            ax.axvline(x, color="#999999", lw=0.8, ls=":")
        ax.set_xlabel("evaluation (trial number)")
        ax.set_ylabel("loss")
        ax.legend(loc="best")
        if len(failed):
            ax.set_title(f"{len(failed)} failed evaluation(s) marked by dotted lines", fontsize=10)
    return save(fig, out_dir, "loss")


@styled
def profile_figure(profiles: pd.DataFrame, out_dir: Path) -> Path:
    """One panel per parameter: the loss across its bounds with the others at the optimum."""
    names = list(dict.fromkeys(profiles["parameter"])) or ["(none)"]
    cols = min(3, len(names))
    rows = math.ceil(len(names) / cols)
    fig, axes = new_figure(cols, rows, figsize=(4.2 * cols, 3.3 * rows), squeeze=False)
    for ax, name in zip(axes.flat, names):
        part = profiles[profiles["parameter"] == name].sort_values("value")
        if part.empty:
            note(ax, "no profile: the search had no best point")
            continue
        ax.plot(part["value"], part["loss"], marker="o", color="#0072B2")
        best = part[part["best"]]
        ax.axvline(float(best["value"].iloc[0]), color="#D55E00", ls="--", lw=1.2, label="best")
        ax.set_xlabel(name)
        ax.set_ylabel("loss")
        if is_flat(part):
            ax.set_title("flat: not identified by the targets", fontsize=10, color="#B35900")
    for ax in list(axes.flat)[len(names):]:
        ax.set_visible(False)
    return save(fig, out_dir, "profiles")


def is_flat(profile: pd.DataFrame) -> bool:
    """Whether the loss changes by less than FLAT_LOSS along a parameter's whole range."""
    loss = profile["loss"].to_numpy(float)
    return bool(np.isfinite(loss).all() and loss.max() - loss.min() < FLAT_LOSS)


def fit_html(fit: pd.DataFrame) -> str:
    if fit.empty:
        return "<p class='missing'>No evaluation finished, so there is no fit to show.</p>"
    rows = []
    for r in fit.to_dict("records"):
        goal = f"{r['low']:.4g} to {r['high']:.4g}" if pd.notna(r["low"]) else f"{r['value']:.4g} ± {r['sd']:.3g}"
        rows.append({"target": r["moment"], "weeks": f"{int(r['window_first'])}–{int(r['window_last'])}",
                     "goal": goal, "achieved": r["mean"], "95% interval": f"{r['ci_low']:.4g} to {r['ci_high']:.4g}",
                     "within": "yes" if r["within"] else "no", "weight": r["weight"], "loss": r["loss"]})
    return table(pd.DataFrame(rows), {"achieved": ".4g", "loss": ".3g", "weight": "g"}, left=("target", "within"))


def summary_html(manifest: dict, trials: pd.DataFrame, profiles: pd.DataFrame) -> str:
    best = (manifest.get("summary") or {}).get("best")
    done, failed = int((trials["state"] == "complete").sum()), int((trials["state"] == "fail").sum())
    lines = [f"<p>{esc(manifest.get('description', ''))}</p>",
             f"<p>File <code>{esc(manifest.get('calibration_file'))}</code> on base scenario "
             f"<code>{esc(manifest.get('base_scenario'))}</code>: {done} evaluations finished, {failed} failed "
             f"(budget {manifest.get('budget')}), each {manifest.get('replications')} replications of "
             f"{manifest.get('steps')} weeks on common seeds; {esc(manifest.get('sampler'))} sampler.</p>"]
    if best:
        flat = [n for n in dict.fromkeys(profiles["parameter"]) if is_flat(profiles[profiles["parameter"] == n])]
        lines.append(f"<p>Best: evaluation {best['trial']}, loss {best['loss']:.4g}; {best['within']} of "
                     f"{best['targets']} targets within. <code>best.toml</code> extends the base with these values.</p>")
        params = pd.DataFrame([{"parameter": k, "best": v} for k, v in best["parameters"].items()])
        lines.append(table(params, {"best": ".6g"}, left=("parameter",)))
        if flat:
            lines.append(f"<p class='missing'>Flat profile (not identified by these targets): {esc(', '.join(flat))}. "
                         "Its value in best.toml is one of many that fit equally well.</p>")
        lines.append(better_profile_html(profiles, float(best["loss"])))
    return "\n".join(lines)


def provenance(manifest: dict) -> str:
    """The invocations that made the folder: when, how many evaluations and runs, how long."""
    rows = [{"started (UTC)": i.get("started_utc"), "evaluations": i.get("evaluations"),
             "runs computed": i.get("runs_computed"), "runs reused": i.get("runs_reused"),
             "seconds": i.get("seconds"), "interrupted": "yes" if i.get("interrupted") else "no"}
            for i in manifest.get("invocations", [])]
    return ("<h2>Provenance</h2>" + (table(pd.DataFrame(rows), {"seconds": ",.1f"}, left=("started (UTC)",)) if rows
                                      else "<p>No invocation recorded.</p>"))


def better_profile_html(profiles: pd.DataFrame, best_loss: float) -> str:
    """A note when a profile point fits better than the search's best point: the search has not converged."""
    finite = profiles[np.isfinite(profiles["loss"].to_numpy(float))]
    if finite.empty or finite["loss"].min() >= best_loss:
        return ""
    row = finite.loc[finite["loss"].idxmin()]
    return (f"<p class='missing'>A profile point fits better than the best point of the search: loss "
            f"{row['loss']:.4g} with {esc(row['parameter'])} = {row['value']:.6g} (the others at their best values). "
            "The search has not converged; a larger budget (<code>--budget</code>) would likely improve the fit.</p>")


def write_report(folder: str | Path) -> Path:
    """Write report.html (and its figures) for a calibration folder; returns its path."""
    folder = Path(folder)
    manifest, fit, trials, profiles = load_calibration(folder)
    figures = folder / "figures"
    body = (f"<h1>Calibration: {esc(manifest.get('name', folder.name))}</h1>"
            f"{summary_html(manifest, trials, profiles)}"
            f"<h2>Fit of the best point</h2><p class='sub'>Each target's moment averaged over the replications of the "
            f"best point, with its 95% t interval across them.</p>{fit_html(fit)}"
            f"<h2>Search</h2><figure>{png(loss_figure(trials, figures), 'loss')}<figcaption>The loss of each "
            f"evaluation and the best so far.</figcaption></figure>"
            f"<h2>Profiles</h2><figure>{png(profile_figure(profiles, figures), 'profiles')}<figcaption>The loss as "
            f"each parameter moves across its bounds with the others at the best point; a flat profile is a "
            f"parameter the targets cannot identify.</figcaption></figure>")
    body += provenance(manifest)
    out = folder / "report.html"
    text = page(f"Calibration {manifest.get('name', '')}", body)
    write_atomic(out, lambda p: p.write_text(text, encoding="utf-8"))
    return out


if __name__ == "__main__":  # pragma: no cover
    print(write_report(sys.argv[1]))
