"""The figures of the report, in report order, and drawing them all with a reason for each one left out.

Each :class:`FigureSpec` names a figure function of :mod:`analysis.fig_forms`, :mod:`analysis.fig_market`
or :mod:`analysis.fig_network` (their contract is in :mod:`analysis.figures`) with its title, caption and
the kind of data it needs; :func:`draw_all` draws those a folder allows.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from analysis import fig_forms as f
from analysis import fig_market as m
from analysis import fig_network as n
from analysis.figures import first_run
from analysis.load import NotEnoughData


@dataclass(frozen=True)
class FigureSpec:
    """One registered figure: file name, what it shows, and what it needs."""

    name: str
    title: str
    caption: str
    draw: Callable[..., Path]
    needs: str = "run"  # "run" (a run, or runs for bands) or "comparison"
    all_runs: bool = False  # drawn from every replication given (else from the first one only)
    tables: tuple[str, ...] = ()  # tables it draws from besides metrics, firms and providers (always recorded)


def _registry() -> list[FigureSpec]:
    return [
        FigureSpec("emergence", "Emergence of sourcing forms", "Share of demand (hours) served in-house, on-call and "
                   "under permanent contracts, week by week, for BPO and KPO work.", f.emergence, all_runs=True),
        FigureSpec("transitions", "Sourcing-mode transitions", "Sourcing mode before and after every review "
                   "(counts and row shares).", f.transitions, tables=("decisions",)),
        FigureSpec("survival", "Relationship survival", "Kaplan-Meier survival of firm-provider spells by form "
                   "and kind (right-censored spells handled).", f.survival, tables=("relationships",)),
        FigureSpec("loyalty", "Loyalty: concentration of on-call spend", "Share of each firm-service's on-call "
                   "spend with its top provider in the last year, the empirical counterpart of loyalty y.",
                   f.loyalty, tables=("relationships",)),
        FigureSpec("segments", "Outsourced volume by form and segment", "Permanent vs on-call share of outsourced "
                   "volume in the last year by firm size class and provider region.", f.segments,
                   tables=("relationships",)),
        FigureSpec("prices", "Prices by form and kind", "Mean price paid per hour (quarterly), on-call vs "
                   "permanent, BPO and KPO.", m.prices, tables=("relationships",)),
        FigureSpec("capacity", "Utilisation and providers", "Provider utilisation, active providers, and entry and "
                   "exit per year.", m.capacity),
        FigureSpec("concentration", "Market concentration", "Herfindahl-Hirschman index of provider volume per "
                   "service in the last year.", m.concentration, tables=("relationships",)),
        FigureSpec("surplus", "Surplus split", "Firm surplus and provider profit per year.", m.surplus),
        FigureSpec("brokers", "Intermediaries", "Broker share of matches and of volume by firm size class and by "
                   "service kind.", m.brokers, tables=("relationships",)),
        FigureSpec("network", "Firm-provider network", "Active relationships of a sample of firms at two weeks, "
                   "coloured by form.", n.network, tables=("relationships",)),
        FigureSpec("whatif", "What-if against baseline", "Key metrics of the base and what-if scenarios with bands "
                   "across replications and the event weeks.", n.whatif, needs="comparison", all_runs=True),
    ]


def figure_specs() -> list[FigureSpec]:
    """Every registered figure, in report order."""
    return _registry()


@dataclass(frozen=True)
class DrawnFigure:
    """The result of drawing one registered figure: its PNG, or the reason it could not be drawn."""

    spec: FigureSpec
    png: Path | None
    message: str | None = None


def draw_all(data, out_dir: str | Path, needs: Sequence[str] = ("run",)) -> list[DrawnFigure]:
    """Draw every registered figure whose ``needs`` is in ``needs``; NotEnoughData becomes a message, and so
    does a table the run did not record (run.record): an empty figure would say that nothing happened."""
    drawn = []
    for spec in figure_specs():
        if spec.needs not in needs:
            continue
        if note := _not_recorded(spec, data):
            drawn.append(DrawnFigure(spec, None, note))
            continue
        try:
            drawn.append(DrawnFigure(spec, spec.draw(data, out_dir)))
        except NotEnoughData as exc:
            drawn.append(DrawnFigure(spec, None, str(exc)))
    return drawn


def _not_recorded(spec: FigureSpec, data) -> str | None:
    """Why the run a figure is drawn from lacks a table the figure needs, or None."""
    try:
        run = first_run(data)
    except NotEnoughData:  # a comparison, or no run: the figure says so itself
        return None
    missing = [t for t in spec.tables if t in run.not_recorded]
    return run.recording_note(missing[0]) if missing else None
