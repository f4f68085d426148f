"""Calibration moments: named numbers of one run over a week window, defined once.

``outsim calibrate`` fits parameters so that these moments match industry figures, and the report's
calibration table (:mod:`analysis.calibration_table`) shows the same moments, so both say the same.
A moment is a function of a run's tables (:class:`analysis.load.RunData`) and an inclusive week
window ``(first, last)`` that returns a float: NaN when the data do not allow it (no event of the
kind in the window, a metric an older run folder lacks, a zero denominator, a table the run did not
record whole: :attr:`Moment.tables`). There are two families:

- every weekly metric (each column of metrics.parquet but ``step``) is a moment named after it: its
  mean over the window's weeks (:func:`analysis.stats.window_mean`, NaN weeks skipped), in the unit
  of :mod:`analysis.metric_units`;
- named moments for the industry figures of the calibration table (ISG/TPI Index, Everest Group,
  Deloitte outsourcing surveys, NASSCOM; definitions in docs/calibration.md): renewal at term end,
  contract term, early exits and taking work back in-house, the firms' worst year, provider
  utilisation by kind and the offshore price ratio. The realised saving against in-house work is the
  weekly metric ``realised_saving``.

The natural window is the last year of the run (:func:`analysis.stats.last_window`), except for
``early_exit_share`` and ``early_exit_insourced_share`` (the survey figures count early exits over a
buyer's whole experience) and ``min_yearly_surplus_share``: use the whole run (:func:`whole_run`).
"""

from __future__ import annotations

import difflib
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd

from analysis.load import RunData
from analysis.measures import renewal_rates
from analysis.metric_units import METRIC_UNITS, METRICS_BY_UNIT
from analysis.stats import YEAR, window_mean, window_rows
from analysis.structure import offshore_price_ratio

NAN = float("nan")
VOICE_SERVICES = ("customer_service",)  # contact-centre (voice BPO) work in the default catalogue
CONTRACT_ENDINGS = ("expired", "terminated", "provider_exit")  # ledger events that end a contract

Window = tuple[int, int]


@dataclass(frozen=True)
class Moment:
    """One calibration moment.

    Attributes:
        name: the name ``outsim calibrate`` and the report use.
        unit: the unit of its value.
        description: one line saying exactly what it is.
        compute: ``compute(run, window) -> float`` over the inclusive week window (NaN when the data do
            not allow it).
        tables: the tables it reads besides metrics, firms and providers (which every run records); it is
            NaN for a run that did not record one of them whole (``run.record``, a decision sample).
    """

    name: str
    unit: str
    description: str
    compute: Callable[[RunData, Window], float]
    tables: tuple[str, ...] = ()


def whole_run(run: RunData) -> Window:
    """The window of every week of the run, ``(1, steps)``."""
    return 1, run.steps


# ---------------------------------------------------------------- the moment functions

def metric_mean(run: RunData, window: Window, *, column: str) -> float:
    """Mean of the weekly metric ``column`` over the window's weeks (NaN weeks skipped).

    NaN if the run has no such column (an older run folder) or no week in the window with a value.
    """
    if column not in run.metrics.columns:
        return NAN
    return float(window_mean(run.metrics, window, [column])[column])


def renewal_rate(run: RunData, window: Window, *, group: str) -> float:
    """Renewal rate at term end of one group of contracts: renewed / (renewed + expired) ledger events in the window.

    Groups: ``"bpo"`` and ``"kpo"`` (the kind of the contract's service), ``"voice"`` (contact-centre
    work: the services in :data:`VOICE_SERVICES`) and ``"other"`` (every other service). Terminations
    and provider exits end contracts before their term and do not count. NaN without a term end of the
    group in the window.
    """
    contracts = run.contracts
    if group in ("voice", "other"):
        voice = contracts["service"].astype(str).isin(VOICE_SERVICES)
        groups = pd.Series(np.where(voice, "voice", "other"), index=contracts.index)
    else:
        groups = contracts["kind"].astype(str)
    rates = renewal_rates(contracts.assign(group=groups), "group", window).set_index("group")["rate"]
    return float(rates.get(group, NAN))


def _events(contracts: pd.DataFrame, window: Window, events: tuple[str, ...]) -> pd.DataFrame:
    """Ledger events of the given kinds in the window."""
    rows = window_rows(contracts, window, "week")
    return rows[rows["event"].astype(str).isin(events)]


def contract_term_years(run: RunData, window: Window) -> float:
    """Mean contracted term in years of the contracts signed or renewed in the window.

    Each ``signed`` or ``renewed`` ledger event in the window counts once with ``(end_week - week) / 52``
    (a renewal starts a new term). NaN without such an event.
    """
    starts = _events(run.contracts, window, ("signed", "renewed"))
    return float(((starts["end_week"] - starts["week"]) / YEAR).mean()) if len(starts) else NAN


def contract_holders(contracts: pd.DataFrame, window: Window) -> set[int]:
    """Firms that held a permanent contract in at least one week of the window.

    A contract is held from the week it was signed to the week of its ending event (expired,
    terminated or provider_exit; both weeks included), renewals included, or to the end of the run
    when it has not ended.
    """
    event = contracts["event"].astype(str)
    signed = contracts[event == "signed"].set_index("contract_id")
    ended = contracts[event.isin(CONTRACT_ENDINGS)].groupby("contract_id")["week"].max()
    end_week = ended.reindex(signed.index).fillna(np.inf)
    held = (signed["week"] <= window[1]) & (end_week >= window[0])
    return set(signed.loc[held, "firm_id"].astype(int))


def early_exit_share(run: RunData, window: Window) -> float:
    """Share of the firms holding a permanent contract in the window that ended one early in the window.

    Denominator: the firms of :func:`contract_holders`. Numerator: the firms with a ``terminated``
    ledger event in the window (a contract ended before its term at a review; a provider's exit does
    not count). Natural window: the whole run, since the survey figure counts early exits over a
    buyer's experience. NaN when no firm held a contract in the window.
    """
    holders = contract_holders(run.contracts, window)
    if not holders:
        return NAN
    enders = set(_events(run.contracts, window, ("terminated",))["firm_id"].astype(int))
    return len(enders & holders) / len(holders)


def early_exit_insourced_share(run: RunData, window: Window) -> float:
    """Share of the firms that ended a contract early in the window that took the work back in-house.

    A firm took the work back when, at one or more of its ``terminated`` events in the window, the
    sourcing review of the same firm, service and week chose ``in_house``. Natural window: the whole
    run. NaN when no firm ended a contract early in the window, or the run kept no decision log.
    """
    ended = _events(run.contracts, window, ("terminated",))
    if ended.empty or run.decisions.empty:
        return NAN
    keys = ["week", "firm_id", "service"]
    reviews = run.decisions[[*keys, "choice"]].astype({"service": str, "choice": str})
    at_review = ended[keys].astype({"service": str}).merge(reviews, on=keys, how="left")
    insourcers = at_review.loc[at_review["choice"] == "in_house", "firm_id"].nunique()
    return insourcers / ended["firm_id"].nunique()


def _ratio_of_sums(metrics: pd.DataFrame, window: Window, numerator: str, denominator: str) -> float:
    """Sum of one weekly metric over the window divided by the sum of another (NaN: missing column, sum <= 0)."""
    if not {numerator, denominator} <= set(metrics.columns):
        return NAN
    rows = window_rows(metrics, window)
    total = rows[denominator].sum()
    return float(rows[numerator].sum() / total) if total > 0 else NAN


def min_yearly_surplus_share(run: RunData, window: Window) -> float:
    """The worst year for firms: the lowest, over the window's whole years (weeks ``first + 52 y`` to
    ``first + 52 y + 51``), of that year's ``sum(firm_surplus) / sum(outsourced_inhouse_cost)``. Its sign is
    the sign of the year's firm surplus, so a positive value means firms gained from outsourcing in every
    year. Natural window: the whole run. NaN without a whole year in the window or without the metrics."""
    if not {"firm_surplus", "outsourced_inhouse_cost"} <= set(run.metrics.columns):
        return NAN
    rows = window_rows(run.metrics, window)
    years = (window[1] - window[0] + 1) // YEAR
    year = (rows["step"] - window[0]) // YEAR
    sums = rows[year < years].groupby(year[year < years])[["firm_surplus", "outsourced_inhouse_cost"]].sum()
    if years < 1 or len(sums) < years or (sums["outsourced_inhouse_cost"] <= 0).any():
        return NAN
    return float((sums["firm_surplus"] / sums["outsourced_inhouse_cost"]).min())


def utilisation(run: RunData, window: Window, *, kind: str) -> float:
    """Utilisation of the providers of one kind: ``sum(used_hours_<kind>) / sum(capacity_hours_<kind>)`` over the window.

    Hours delivered (on-call and permanent) over the capacity of the active providers of the kind,
    both summed over the window's weeks (a ratio of sums, so weeks with more capacity weigh more).
    NaN if the run lacks these metrics or the kind had no capacity.
    """
    return _ratio_of_sums(run.metrics, window, f"used_hours_{kind}", f"capacity_hours_{kind}")


def offshore_price_ratio_posted(run: RunData, window: Window, *, kind: str) -> float:
    """Posted offshore price over posted domestic price for one kind, as the providers quote it.

    ``mean(posted_price_<kind>_offshore) / mean(posted_price_<kind>_domestic)``, each the mean over
    the window's weeks of the capacity-weighted spot price the active providers of the kind and
    region post (weeks without such providers skipped). NaN if either mean is missing.
    """
    columns = [f"posted_price_{kind}_offshore", f"posted_price_{kind}_domestic"]
    if not set(columns) <= set(run.metrics.columns):
        return NAN
    offshore, domestic = window_mean(run.metrics, window, columns)
    return float(offshore / domestic) if domestic > 0 else NAN


def offshore_price_ratio_all_in(run: RunData, window: Window, *, kind: str) -> float:
    """All-in price per hour clients paid offshore providers of one kind over what they paid domestic ones.

    Each region's price is spend / hours of the relationship spells with its providers, pro-rated into
    the window (:func:`analysis.structure.offshore_price_ratio`): what the clients paid, so the
    coordination cost a provider adds for a client in the other region, take-or-pay and broker fees
    are included. NaN if either
    region served no hours of the kind in the window.
    """
    return offshore_price_ratio(run.relationships, run.providers, kind, window)


# ---------------------------------------------------------------- the registry

SHARE = "share (0-1)"
PRICE_RATIO = "ratio (offshore / domestic)"

KINDS = ("bpo", "kpo")
RENEWAL_GROUPS = {"bpo": "BPO contracts", "kpo": "KPO contracts", "voice": "contact-centre (customer_service) contracts",
                  "other": "contracts of all other services"}

NAMED_MOMENTS = (
    *(Moment(f"renewal_rate_{group}", SHARE, f"{label} at term end that kept their provider: renewed "
             "contracts, and expired ones signed again with the same provider that week, over all term ends in the "
             "window", partial(renewal_rate, group=group), ("contracts",)) for group, label in RENEWAL_GROUPS.items()),
    Moment("contract_term_years", "years", "mean (end_week - week) / 52 of the contracts signed or renewed in the "
           "window", contract_term_years, ("contracts",)),
    Moment("early_exit_share", SHARE, "firms that held a permanent contract in the window and ended one early "
           "(terminated) in it, over those holders; natural window: the whole run", early_exit_share, ("contracts",)),
    Moment("early_exit_insourced_share", SHARE, "of the firms that ended a contract early in the window, those whose "
           "review at a termination chose in-house; natural window: the whole run", early_exit_insourced_share,
           ("contracts", "decisions")),
    Moment("min_yearly_surplus_share", "share of the in-house cost", "the lowest, over the window's whole years, of "
           "the year's sum(firm_surplus) / sum(outsourced_inhouse_cost) (positive: firms gained from outsourcing in "
           "every year); natural window: the whole run", min_yearly_surplus_share),
    *(Moment(f"utilisation_{kind}", "share of capacity", f"sum(used_hours_{kind}) / sum(capacity_hours_{kind}) over "
             "the window", partial(utilisation, kind=kind)) for kind in KINDS),
    *(Moment(f"offshore_price_ratio_posted_{kind}", PRICE_RATIO, f"mean posted_price_{kind}_offshore / mean "
             f"posted_price_{kind}_domestic over the window (spot prices {kind.upper()} providers quote)",
             partial(offshore_price_ratio_posted, kind=kind)) for kind in KINDS),
    *(Moment(f"offshore_price_ratio_all_in_{kind}", PRICE_RATIO, f"spend / hours paid to offshore over domestic "
             f"{kind.upper()} providers, spells pro-rated into the window (coordination and broker fees included)",
             partial(offshore_price_ratio_all_in, kind=kind), ("relationships",)) for kind in KINDS),
)

METRIC_MOMENTS = tuple(Moment(name, unit, f"mean of the weekly metric {name} over the window's weeks",
                              partial(metric_mean, column=name)) for name, unit in METRIC_UNITS.items())

#: Every moment by name: the named ones first, then one per weekly metric.
MOMENTS: dict[str, Moment] = {m.name: m for m in (*NAMED_MOMENTS, *METRIC_MOMENTS)}
if len(MOMENTS) != len(NAMED_MOMENTS) + len(METRIC_MOMENTS):
    raise RuntimeError("a named moment has the name of a weekly metric")


def known(name: str) -> bool:
    """True when ``name`` is a moment (named or a weekly metric)."""
    return name in MOMENTS


def moment(run: RunData, name: str, window: Window) -> float:
    """The value of moment ``name`` for ``run`` over the inclusive week window ``(first, last)``.

    Raises:
        KeyError: ``name`` is not a moment (the message suggests close names).
        ValueError: the window's first week is after its last.
    """
    if name not in MOMENTS:
        close = difflib.get_close_matches(name, MOMENTS, n=3)
        hint = f"; did you mean {', '.join(close)}?" if close else "; list_moments() lists them"
        raise KeyError(f"unknown moment {name!r}{hint}")
    first, last = window
    if first > last:
        raise ValueError(f"window ({first}, {last}): the first week is after the last")
    if any(run.recording_note(table) for table in MOMENTS[name].tables):  # not recorded, or some firms only
        return NAN
    return float(MOMENTS[name].compute(run, (first, last)))


def list_moments(width: int = 110) -> str:
    """The moments as a text table: each named moment with unit and description, then the metric moments by unit."""
    name_width = max(len(m.name) for m in NAMED_MOMENTS) + 2
    unit_width = max(len(m.unit) for m in NAMED_MOMENTS) + 2
    indent = " " * (name_width + unit_width)
    lines = ["Named moments (natural window: the last year of the run unless noted)", "",
             f"{'name':<{name_width}}{'unit':<{unit_width}}description"]
    for m in NAMED_MOMENTS:
        text = textwrap.wrap(m.description, max(width - len(indent), 30))
        lines.append(f"{m.name:<{name_width}}{m.unit:<{unit_width}}{text[0]}")
        lines += [indent + more for more in text[1:]]
    lines += ["", *textwrap.wrap("Weekly metrics: each column of metrics.parquet but step is a moment, its mean "
                                 "over the window's weeks (NaN weeks skipped); by unit:", width)]
    for unit, names in METRICS_BY_UNIT.items():
        lines += textwrap.wrap(", ".join(names), width, initial_indent=f"  [{unit}] ", subsequent_indent="      ")
    return "\n".join(lines)
