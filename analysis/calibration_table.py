"""The report's calibration table: industry figures beside the model's own numbers.

The figures come from the ISG/TPI Index, Everest Group, Deloitte outsourcing surveys, Aon and WTW
salary surveys, NASSCOM and the SPI benchmark. Where a row has a calibration moment
(:mod:`analysis.moments`), the model's number is that moment over the row's window (the last year
of the run; early exits over the whole run), so the table and ``outsim calibrate`` say the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from analysis.formatting import Formatter, format_number
from analysis.load import RunData
from analysis.moments import known, moment, whole_run
from analysis.stats import YEAR


@dataclass(frozen=True)
class Target:
    """One row of the calibration table: an industry figure and the model's number(s) beside it.

    Attributes:
        measure: what is compared.
        industry: the industry figure as published.
        keys: the numbers of :func:`run_numbers` shown (a calibration moment's name where there is one).
        format: how they are shown (see :func:`analysis.formatting.format_number`).
        verdict_range: the range the verdict uses (our reading of the industry figure), or None.
        how: how the model's number is made.
        whole_run: the moments are taken over the whole run rather than the last year.
        years: otherwise, how many final years of the run the moments are taken over (renewals at term end
            are few in one year of a 1,000-firm market, so their rates take five).
    """

    measure: str
    industry: str
    keys: tuple[str, ...]
    format: str
    verdict_range: tuple[float, float] | None
    how: str
    whole_run: bool = False
    years: int = 1

    def window(self, steps: int, whole: tuple[int, int]) -> tuple[int, int]:
        """The inclusive week window of the row's moments in a run of ``steps`` weeks."""
        return whole if self.whole_run else (max(1, steps - self.years * YEAR + 1), steps)


TARGETS = (
    Target("Long-term contract term", "3–5 years (ISG: 3.5 years in 2015)", ("contract_term_years",), "years",
           (3.0, 5.0), "contract_term_years: mean (end_week - week) / 52 of contracts signed or renewed, last year"),
    Target("Relationship length, permanent BPO", "3–5 years incl. renewals", ("km_median_permanent_bpo",),
           "weeks_years", (156, 260), "Kaplan-Meier median of permanent BPO spells, whole run"),
    # The 3-5 year figure comes from BPO and IT deal data (ISG/TPI); we know no comparable published figure for
    # KPO relationships, so that row shows the model's number without a verdict.
    Target("Relationship length, permanent KPO", "—", ("km_median_permanent_kpo",), "weeks_years",
           None, "Kaplan-Meier median of permanent KPO spells, whole run"),
    Target("Renewal at term end, contact centre", "45–75%", ("renewal_rate_voice",), "pct", (0.45, 0.75),
           "renewal_rate_voice: customer_service renewals / term ends (a new contract with the same provider counts), last five years", years=5),
    Target("Renewal at term end, other work", "78–92%", ("renewal_rate_other",), "pct", (0.78, 0.92),
           "renewal_rate_other: all other services, renewals / term ends, last five years", years=5),
    Target("Net saving against in-house", "about 15% (10–40%)", ("realised_saving",), "pct", (0.10, 0.40),
           "realised_saving: mean of the weekly 1 - (payments + non-price costs + onboarding + management of the "
           "bought work) / (in-house cost of the same hours), last year"),
    Target("Firms gain from outsourcing every year", "yes", ("min_yearly_surplus_share",), "pct", (0.0, 1.0),
           "min_yearly_surplus_share: the worst year's firm surplus (saving net of unmet demand at its shortage "
           "cost and exit fees) / in-house cost of the bought work, whole run", whole_run=True),
    Target("Offshore BPO price / onshore, posted", "a quarter to a half", ("offshore_price_ratio_posted_bpo",),
           "ratio", (0.25, 0.50), "offshore_price_ratio_posted_bpo: mean offshore / domestic spot price BPO "
           "providers post, last year"),
    Target("Offshore BPO price / onshore, all-in", "—", ("offshore_price_ratio_all_in_bpo",), "ratio", None,
           "offshore_price_ratio_all_in_bpo: spend / hours clients paid offshore vs domestic BPO providers "
           "(coordination, broker fees included), last year"),
    Target("Offshore wage growth per year", "6–10%", ("wage_growth_offshore", "wage_growth_realised_offshore"), "pct",
           (0.06, 0.10), "config regions.offshore.wage_growth_per_year; realised from wage_index_offshore"),
    Target("Onshore wage growth per year", "3.5–4.5%", ("wage_growth_domestic", "wage_growth_realised_domestic"),
           "pct", (0.035, 0.045), "config regions.domestic.wage_growth_per_year; realised from wage_index_domestic"),
    Target("Provider utilisation, all", "BPO 80–85%, KPO ~70%", ("provider_utilization",), "pct", None,
           "provider_utilization: mean of the weekly metric, last year"),
    Target("Provider utilisation, BPO", "80–85%", ("utilisation_bpo",), "pct", (0.80, 0.85),
           "utilisation_bpo: sum(used_hours_bpo) / sum(capacity_hours_bpo), last year"),
    Target("Provider utilisation, KPO", "about 70%", ("utilisation_kpo",), "pct", (0.65, 0.75),
           "utilisation_kpo: sum(used_hours_kpo) / sum(capacity_hours_kpo), last year"),
    Target("Buyers who ended a contract early", "30–70%", ("early_exit_share",), "pct", (0.30, 0.70),
           "early_exit_share: firms with a terminated contract / firms that held a permanent contract, whole run",
           whole_run=True),
    Target("... of those, took work back in-house", "20–50%", ("early_exit_insourced_share",), "pct",
           (0.20, 0.50), "early_exit_insourced_share: of those, firms whose review at a termination chose in-house, "
           "whole run", whole_run=True),
    Target("Annual staff attrition", "voice BPO 30–50%, KPO 15–20%", (), "pct", None, "not modelled"),
)


def calibration_moments(run: RunData) -> dict[str, float]:
    """The calibration moments the table shows, each over its row's window: the last year (three for renewals),
    or the whole run."""
    whole = whole_run(run)
    return {key: moment(run, key, t.window(run.steps, whole)) for t in TARGETS for key in t.keys if known(key)}


def calibration(numbers: Sequence[dict[str, float]]) -> list[dict[str, str]]:
    """Rows of the calibration table: industry figure, the model's number(s), and whether they fall in range."""
    f = Formatter(numbers)
    rows = []
    for t in TARGETS:
        keys, kind, rng = t.keys, t.format, t.verdict_range
        shown = " / ".join(f(k, kind) for k in keys) if keys else "—"
        verdict = "—"
        if rng is not None and keys and f.ok(keys[0]):
            vals = [f.mean(k) for k in keys if f.ok(k)]
            inside = [rng[0] <= v <= rng[1] for v in vals]
            verdict = "within" if all(inside) else "partly" if any(inside) else \
                ("below" if all(v < rng[0] for v in vals) else "above" if all(v > rng[1] for v in vals) else "outside")
        elif keys and not f.ok(keys[0]):
            verdict = "no data"
        if rng is None:
            used = "—"
        elif kind == "weeks_years":
            used = f"{rng[0]:.0f}–{rng[1]:.0f} weeks ({rng[0] / 52:.0f}–{rng[1] / 52:.0f} years)"
        else:
            used = f"{format_number(rng[0], kind, bare=True)}–{format_number(rng[1], kind)}"
        rows.append({"measure": t.measure, "industry": t.industry, "model": shown, "range": used, "verdict": verdict,
                     "how": t.how})
    return rows


#: The unit of each number format, for calibration.csv.
UNITS = {"pct": "share (0-1)", "years": "years", "weeks_years": "weeks", "ratio": "ratio", "price": "cu/hour"}


def calibration_csv(numbers: Sequence[dict[str, float]]) -> pd.DataFrame:
    """The calibration table as data, one row per number: ``figure, unit, low, high, model, within``.

    ``model`` is the mean over runs (NaN when no run has it); ``low`` and ``high`` are the range the
    verdict uses (empty for rows without one) and ``within`` says whether ``model`` lies in it (empty
    without a range or a number). Rows with two numbers name the number after the measure.
    """
    f = Formatter(numbers)
    rows = []
    for t in TARGETS:
        for key in t.keys:
            value = f.mean(key)
            low, high = t.verdict_range if t.verdict_range else (None, None)
            inside = None if low is None or not np.isfinite(value) else bool(low <= value <= high)
            figure = t.measure if len(t.keys) == 1 else f"{t.measure} ({key})"
            rows.append({"figure": figure, "unit": UNITS.get(t.format, t.format), "low": low, "high": high,
                         "model": value, "within": inside})
    return pd.DataFrame(rows, columns=["figure", "unit", "low", "high", "model", "within"])
