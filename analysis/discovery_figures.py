"""What a scenario discovery (:mod:`analysis.discovery`) prints and writes: the boxes as text, two tables and
two figures, each file written atomically.

- ``discovery.csv``: one row per parameter the chosen box restricts (its range in the box and the full range,
  its quasi-p-value), each with the box's coverage, density, mass, points and cases, the condition and the
  outcome; a box that restricts nothing gets one row with an empty ``parameter``.
- ``discovery_trajectory.csv``: every box of the peeling trajectory (coverage, density, mass, points, cases,
  the parameters it restricts and the limits of each parameter), to pick another with ``--box``.
- ``discovery_tradeoff.png``: the peeling trajectory, coverage against density, the chosen box marked.
- ``discovery_box.png``: the chosen box's ranges against the full ranges, over the design points (cases and
  others) that lie in the box on every other parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from analysis.files import write_atomic
from analysis.sweep_figures import parameter_label, pyplot, save_png

if TYPE_CHECKING:
    from analysis.discovery import Box, Discovery

SHOWN_BOXES = 12  # rows of the trajectory printed (every box is in discovery_trajectory.csv)


def _fmt(v: float) -> str:
    return f"{v:.4g}"


def _restricted_list(d: Discovery, box: Box) -> list[str]:
    mask = box.restricted(d.cases.full_lower, d.cases.full_upper)
    return [p for p, m in zip(d.cases.parameters, mask) if m]


def format_discovery(d: Discovery) -> str:
    """The discovery as text: the cases, a sample of the peeling trajectory and the chosen box's ranges."""
    c, y = d.cases, d.y
    s = d.settings
    lines = [f"Scenario discovery (PRIM) for {d.condition}",
             f"  outcome: {c.source}",
             f"  cases: {int(y.sum())} of {len(y)} design points (base rate {y.mean():.3f})",
             *(f"  note: {n}" for n in c.notes),
             f"Peeling trajectory (alpha {s['alpha']:g}, minimum mass {s['min_mass']:g}): {len(d.trajectory)} boxes; "
             "all in discovery_trajectory.csv, pick one with --box I",
             f"  {'box':>4}  {'coverage':>8}  {'density':>8}  {'points':>6}  restricted"]
    for b in _shown(d.trajectory, d.peeled.index):
        mark = "  <- chosen" if b.index == d.peeled.index else ""
        lines.append(f"  {b.index:>4}  {b.coverage:>8.3f}  {b.density:>8.3f}  {b.n_points:>6}  "
                     f"{', '.join(_restricted_list(d, b)) or '-'}{mark}")
    b = d.box
    grown = ", then pasted" if b.pasted else (", pasting added nothing" if s["pasting"] else "")
    lines += [f"Chosen box {d.peeled.index} ({d.why}{grown}): coverage {b.coverage:.3f}, density {b.density:.3f}, "
              f"{b.n_points} of {len(y)} points ({b.n_cases} cases)"]
    rows = discovery_table(d)
    if rows["parameter"].eq("").all():
        lines.append("  it restricts no parameter: the condition holds about as often everywhere")
        return "\n".join(lines)
    width = max(len(p) for p in rows["parameter"])
    lines.append(f"  {'parameter':<{width}}  {'box':<21}  {'full range':<21}  quasi-p")
    for r in rows.to_dict("records"):
        lines.append(f"  {r['parameter']:<{width}}  {_range(r['box_low'], r['box_high']):<21}  "
                     f"{_range(r['full_low'], r['full_high']):<21}  {r['quasi_p']:.2g}")
    return "\n".join(lines)


def _range(low: float, high: float) -> str:
    return f"[{_fmt(low)}, {_fmt(high)}]"


def _shown(trajectory: list[Box], chosen: int) -> list[Box]:
    """At most SHOWN_BOXES boxes, evenly spread over the trajectory, always with the first, last and chosen."""
    picks = set(np.linspace(0, len(trajectory) - 1, min(SHOWN_BOXES, len(trajectory))).round().astype(int)) | {chosen}
    return [trajectory[i] for i in sorted(picks)]


def discovery_table(d: Discovery) -> pd.DataFrame:
    """discovery.csv: one row per restricted parameter of the chosen box, with the box's statistics on each."""
    c, b = d.cases, d.box
    mask = b.restricted(c.full_lower, c.full_upper)
    stats = {"condition": str(d.condition), "outcome": c.source, "box": d.peeled.index, "pasted": b.pasted,
             "coverage": b.coverage, "density": b.density, "mass": b.mass, "n_points": b.n_points,
             "n_cases": b.n_cases, "total_points": len(d.y), "total_cases": int(d.y.sum())}
    rows = [{"parameter": p, "box_low": b.lower[j], "box_high": b.upper[j], "full_low": c.full_lower[j],
             "full_high": c.full_upper[j], "quasi_p": d.qp[j], **stats}
            for j, p in enumerate(c.parameters) if mask[j]]
    rows = rows or [{"parameter": "", "box_low": np.nan, "box_high": np.nan, "full_low": np.nan, "full_high": np.nan,
                     "quasi_p": np.nan, **stats}]
    return pd.DataFrame(rows)


def trajectory_table(d: Discovery) -> pd.DataFrame:
    """discovery_trajectory.csv: every peeling box with its statistics and the limits of every parameter."""
    rows = []
    for b in d.trajectory:
        row = {"box": b.index, "coverage": b.coverage, "density": b.density, "mass": b.mass, "n_points": b.n_points,
               "n_cases": b.n_cases, "restricted": "; ".join(_restricted_list(d, b)), "chosen": b.index == d.peeled.index}
        for j, p in enumerate(d.cases.parameters):
            row[f"{p}:low"], row[f"{p}:high"] = b.lower[j], b.upper[j]
        rows.append(row)
    return pd.DataFrame(rows)


def tradeoff_figure(d: Discovery, path: Path) -> Path:
    """Coverage against density along the peeling trajectory, coloured by restricted parameters; chosen box marked."""
    plt = pyplot()
    t = d.trajectory
    dims = [len(_restricted_list(d, b)) for b in t]
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.plot([b.density for b in t], [b.coverage for b in t], "-", color="#bbbbbb", lw=1, zorder=1)
    most = max(max(dims), 1)
    sc = ax.scatter([b.density for b in t], [b.coverage for b in t], c=dims, cmap=plt.get_cmap("viridis", most + 1),
                    s=22, zorder=2, vmin=-0.5, vmax=most + 0.5)
    fig.colorbar(sc, ax=ax, label="parameters restricted", ticks=range(most + 1))
    p = d.peeled
    ax.scatter([p.density], [p.coverage], s=160, facecolors="none", edgecolors="#c44e52", lw=2, zorder=3,
               label=f"chosen box {p.index}: coverage {p.coverage:.2f}, density {p.density:.2f}")
    if d.box.pasted:
        ax.scatter([d.box.density], [d.box.coverage], marker="*", s=160, color="#c44e52", zorder=3,
                   label=f"after pasting: coverage {d.box.coverage:.2f}, density {d.box.density:.2f}")
    ax.axvline(d.settings["threshold"], color="#555555", ls="--", lw=1, label=f"density threshold {d.settings['threshold']:g}")
    ax.axvline(d.y.mean(), color="#555555", ls=":", lw=1, label=f"base rate {d.y.mean():.2f} (every point)")
    ax.set_xlabel("density: share of the box's design points that are cases")
    ax.set_ylabel("coverage: share of all cases inside the box")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.05)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(f"PRIM peeling trajectory for {d.condition}\n{d.cases.source}", fontsize=9)
    return save_png(fig, path)


def box_figure(d: Discovery, path: Path, units: Mapping[str, str] | None = None) -> Path:
    """Each restricted range against its full range, over the design points inside the box on the other parameters."""
    plt = pyplot()
    c, b = d.cases, d.box
    idx = np.flatnonzero(b.restricted(c.full_lower, c.full_upper))
    fig, axes = plt.subplots(max(len(idx), 1), 1, figsize=(7.5, 0.9 + 1.1 * max(len(idx), 1)), squeeze=False)
    rng = np.random.default_rng(0)  # vertical jitter of the dots only
    for ax, j in zip(axes[:, 0], idx):
        within = (c.x >= b.lower) & (c.x <= b.upper)
        others = np.delete(within, j, axis=1).all(axis=1)
        jitter = rng.uniform(-0.25, 0.25, len(c.x))
        ax.axvspan(c.full_lower[j], c.full_upper[j], color="#eeeeee", zorder=0)
        ax.axvspan(b.lower[j], b.upper[j], color="#4c72b0", alpha=0.25, zorder=1)
        for is_case, colour, label in ((False, "#999999", "other design points"), (True, "#c44e52", "cases")):
            pick = others & (d.y == is_case)
            ax.scatter(c.x[pick, j], jitter[pick], s=9, color=colour, zorder=2, label=label)
        pad = 0.02 * (c.full_upper[j] - c.full_lower[j])
        ax.set_xlim(c.full_lower[j] - pad, c.full_upper[j] + pad)
        ax.set_ylim(-0.5, 0.5)
        ax.set_yticks([])
        ax.set_xlabel(f"{parameter_label(c.parameters[j], units or {})}: box [{_fmt(b.lower[j])}, {_fmt(b.upper[j])}] "
                      f"of [{_fmt(c.full_lower[j])}, {_fmt(c.full_upper[j])}], quasi-p {d.qp[j]:.2g}", fontsize=8)
    if len(idx):
        axes[0, 0].legend(fontsize=7, loc="lower right", bbox_to_anchor=(1.0, 1.0), ncol=2, frameon=False)
    else:
        axes[0, 0].text(0.5, 0.5, "the box restricts no parameter", ha="center", va="center")
        axes[0, 0].set_axis_off()
    fig.suptitle(f"Box for {d.condition}: coverage {b.coverage:.2f}, density {b.density:.2f}, {b.n_points} points "
                 f"({b.n_cases} cases)\nshaded: the box within the full range; dots: design points inside the box on "
                 "every other parameter", fontsize=9)
    return save_png(fig, path)


def write_discovery(d: Discovery, out: Path, units: Mapping[str, str] | None = None) -> list[Path]:
    """Write discovery.csv, discovery_trajectory.csv and both figures into ``out``; returns their paths."""
    out.mkdir(parents=True, exist_ok=True)
    files = []
    for name, table in (("discovery.csv", discovery_table(d)), ("discovery_trajectory.csv", trajectory_table(d))):
        write_atomic(out / name, lambda p, t=table: t.to_csv(p, index=False))
        files.append(out / name)
    files.append(tradeoff_figure(d, out / "discovery_tradeoff.png"))
    files.append(box_figure(d, out / "discovery_box.png", units))
    return files
