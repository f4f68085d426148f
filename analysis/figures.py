"""Figures of a run folder: the shared style, figure creation and saving that every figure module uses.

Every figure function takes loaded data (a :class:`~analysis.load.RunData`, a list of them for bands
across replications, or a :class:`~analysis.load.Comparison`) and an output folder, saves the figure as
PNG and SVG under that folder and returns the PNG path. When the data hold too little to draw a figure
at all, the function raises :class:`~analysis.load.NotEnoughData` with a message for the reader; when
only a part is missing (a run without permanent contracts) it draws the rest and says so in the figure.

The figure functions live in :mod:`analysis.fig_forms` (forms, spells, loyalty, transitions),
:mod:`analysis.fig_market` (prices, capacity, concentration, surplus, brokers) and
:mod:`analysis.fig_network` (relationship network, what-if comparison); :mod:`analysis.figure_registry`
lists them in report order. Figures are stand-alone ``matplotlib.figure.Figure`` objects rendered by the Agg (PNG)
and SVG backends: no display is needed, pyplot's global state and backend are left alone.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib
from matplotlib.figure import Figure

from analysis.files import write_atomic
from analysis.load import Comparison, NotEnoughData, Replications, RunData
from analysis.stats import YEAR as YEAR_WEEKS

# Okabe-Ito colours: distinguishable with the common colour-vision deficiencies.
FORM_COLOURS = {"in_house": "#7F7F7F", "on_call": "#E69F00", "permanent": "#0072B2", "unmet": "#D55E00"}
FORM_LABELS = {"in_house": "in-house", "on_call": "on-call", "permanent": "permanent", "unmet": "unmet"}
KIND_STYLES = {"bpo": "-", "kpo": "--"}
KIND_LABELS = {"bpo": "BPO", "kpo": "KPO"}

STYLE = {
    "figure.figsize": (8, 4.5), "figure.dpi": 100, "savefig.dpi": 150, "font.size": 11,
    "axes.titlesize": 12, "axes.labelsize": 11, "legend.fontsize": 10, "xtick.labelsize": 10,
    "ytick.labelsize": 10, "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "path",
}


def styled(draw: Callable[..., Path]) -> Callable[..., Path]:
    """Decorator: run a figure function with the house style (:data:`STYLE`) in force."""
    @functools.wraps(draw)
    def wrapper(*args, **kwargs) -> Path:
        with matplotlib.rc_context(STYLE):
            return draw(*args, **kwargs)
    return wrapper


def new_figure(ncols: int = 1, nrows: int = 1, figsize: tuple[float, float] = (8, 4.5), **kwargs):
    """A stand-alone Figure (no pyplot state) with constrained layout, and its axes."""
    fig = Figure(figsize=figsize, layout="constrained")
    return fig, fig.subplots(nrows, ncols, **kwargs)


def save(fig: Figure, out_dir: str | Path, name: str, dpi: float | None = None) -> Path:
    """Save ``fig`` as ``out_dir/name.png`` (at ``dpi``, default 150) and ``.svg``; return the PNG path."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / f"{name}.png", lambda p: fig.savefig(p, format="png", dpi=dpi or STYLE["savefig.dpi"]))
    write_atomic(out / f"{name}.svg", lambda p: fig.savefig(p, format="svg"))
    return out / f"{name}.png"


def event_weeks_of(run: RunData) -> list[int]:
    """The weeks the run's scenario events start in, within the run."""
    events = run.config.get("events") or []
    return sorted({int(e["at"]) for e in events if isinstance(e, dict) and 1 <= int(e.get("at", 0)) <= run.steps})


def mark_events(ax, run: RunData, per_year: bool = False) -> None:
    """Dashed vertical lines at the run's event weeks (on a per-year axis, where the week falls in its year's bar)."""
    for i, week in enumerate(event_weeks_of(run)):
        x = (week - 1) / YEAR_WEEKS + 0.5 if per_year else week
        ax.axvline(x, color="#444444", ls="--", lw=1, label="scenario event" if i == 0 else None)


def note(ax, text: str) -> None:
    """Write a message in the middle of an axes (used for a panel that has nothing to show)."""
    ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center", fontsize=11, color="#444444",
            wrap=True, bbox={"boxstyle": "round", "facecolor": "#F4F4F4", "edgecolor": "#BBBBBB"})


def as_runs(data: RunData | Replications | Sequence[RunData]) -> list[RunData]:
    """A list of runs from one run, a replication set or a list of runs.

    Raises:
        NotEnoughData: a comparison was given, or the list is empty.
    """
    if isinstance(data, RunData):
        return [data]
    if isinstance(data, Replications):
        return list(data.runs)
    if isinstance(data, Comparison):
        raise NotEnoughData("this figure needs a run or replications, not a comparison folder")
    runs = list(data)
    if not runs:
        raise NotEnoughData("no runs given")
    return runs


def first_run(data) -> RunData:
    """The first run of ``data`` (figures that show one run use it)."""
    return as_runs(data)[0]


def percent_axis(ax, axis: str = "y") -> None:
    """Format an axis holding shares in [0, 1] as percentages."""
    from matplotlib.ticker import PercentFormatter
    (ax.yaxis if axis == "y" else ax.xaxis).set_major_formatter(PercentFormatter(1.0, decimals=0))
