"""The report's calibration table: industry figures beside the model's own numbers.

The figures come from the ISG/TPI Index, Everest Group, Deloitte outsourcing surveys, Aon and WTW
salary surveys, NASSCOM and the SPI benchmark. Where a row has a calibration moment
(:mod:`analysis.moments`), the model's number is that moment over the row's window (the last year
of the run; early exits over the whole run), so the table and ``outsim calibrate`` say the same.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from analysis.formatting import Formatter, format_number
from analysis.load import RunData
from analysis.moments import known, moment, whole_run
from analysis.stats import last_window


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
    """

    measure: str
    industry: str
    keys: tuple[str, ...]
    format: str
    verdict_range: tuple[float, float] | None
    how: str
    whole_run: bool = False


TARGETS = (
    Target("Long-term contract term", "3–5 years (ISG: 3.5 years in 2015)", ("contract_term_years",), "years",
           (3.0, 5.0), "contract_term_years: mean (end_week - week) / 52 of contracts signed or renewed, last year"),
    Target("Relationship length, permanent", "3–5 years incl. renewals",
           ("km_median_permanent_bpo", "km_median_permanent_kpo"), "weeks_years", (156, 260),
           "Kaplan-Meier median of permanent spells (BPO, KPO)"),
    Target("Renewal at term end, contact centre", "under 50–75%", ("renewal_rate_voice",), "pct", (0.0, 0.75),
           "renewal_rate_voice: customer_service renewed / (renewed + expired), last year"),
    Target("Renewal at term end, other work", "about 85%", ("renewal_rate_other",), "pct", (0.8, 0.9),
           "renewal_rate_other: all other services, renewed / (renewed + expired), last year"),
    Target("Net saving against in-house", "about 15% (10–40%)", ("realised_saving",), "pct", (0.10, 0.40),
           "realised_saving: firm surplus / in-house cost of all outsourced work (sum(firm_surplus) / "
           "sum(outsourced_inhouse_cost)), last year"),
    Target("Offshore BPO price / onshore", "about 1/3",
           ("offshore_price_ratio_posted_bpo", "offshore_price_ratio_all_in_bpo"), "ratio", (0.25, 0.45),
           "posted: mean offshore / domestic spot price BPO providers post; all-in: spend / hours clients paid "
           "offshore vs domestic BPO providers (coordination, broker fees included); last year"),
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
    Target("Buyers who ended a contract early", "about half", ("early_exit_share",), "pct", (0.4, 0.6),
           "early_exit_share: firms with a terminated contract / firms that held a permanent contract, whole run",
           whole_run=True),
    Target("... of those, took work back in-house", "about a third", ("early_exit_insourced_share",), "pct",
           (0.25, 0.42), "early_exit_insourced_share: of those, firms whose review at a termination chose in-house, "
           "whole run", whole_run=True),
    Target("Annual staff attrition", "voice BPO 30–50%, KPO 15–20%", (), "pct", None, "not modelled"),
)


def calibration_moments(run: RunData) -> dict[str, float]:
    """The calibration moments the table shows, each over its row's window: the last year, or the whole run."""
    windows = {False: last_window(run.steps), True: whole_run(run)}
    return {key: moment(run, key, windows[t.whole_run]) for t in TARGETS for key in t.keys if known(key)}


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
