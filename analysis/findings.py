"""Key numbers of a run, the sentences the report states with them, and the calibration table.

:func:`run_numbers` computes a flat dict of named numbers from one loaded run (NaN where the data do
not allow a number). Over replications the same numbers are computed per run and shown as the mean
with the range across runs; no sentence is written without the number behind it. :func:`calibration`
sets the model's numbers beside the industry figures the baseline should sit near (ISG/TPI Index,
Everest Group, Deloitte outsourcing surveys, Aon and WTW salary surveys, NASSCOM, SPI benchmark).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import measures as M
from analysis.load import RunData
from analysis.stats import window_mean

VOICE_SERVICES = ("customer_service",)  # contact-centre (voice BPO) work in the default catalogue


def _get(d: dict, *keys, default=float("nan")):
    for k in keys:
        if not isinstance(d, dict) or k not in d:
            return default
        d = d[k]
    return d


def _share_numbers(metrics: pd.DataFrame, window: tuple[int, int]) -> dict[str, float]:
    """Window means of the form shares (all work, BPO, KPO), permanent's part of outsourced work and key metrics."""
    means = window_mean(metrics, window)
    n: dict[str, float] = {}
    for suffix, label in (("", "all"), ("_bpo", "bpo"), ("_kpo", "kpo")):
        for form in M.MODES:
            n[f"{form}_{label}"] = float(means[f"{form}_share{suffix}"])
        out = n[f"permanent_{label}"] + n[f"on_call_{label}"]
        n[f"permanent_of_outsourced_{label}"] = n[f"permanent_{label}"] / out if out > 0 else float("nan")
    for col in ("unmet_share", "loyalty_mean", "switch_rate", "provider_utilization", "offshore_share",
                "broker_share"):
        n[col] = float(means.get(col, float("nan")))
    return n


def _crossing_numbers(m: pd.DataFrame) -> dict[str, float]:
    """When the permanent share first exceeds the on-call share, how often after, and from when for good."""
    n: dict[str, float] = {}
    for label, suffix in (("all", ""), ("bpo", "_bpo"), ("kpo", "_kpo")):
        wk = M.first_week_above(m, f"permanent_share{suffix}", f"on_call_share{suffix}") if len(m) else None
        n[f"perm_above_week_{label}"] = float(wk) if wk is not None else float("nan")
        after = m[m["step"] >= wk] if wk is not None else m.iloc[0:0]
        above = (after[f"permanent_share{suffix}"] > after[f"on_call_share{suffix}"]).to_numpy()
        n[f"perm_above_after_{label}"] = float(above.mean()) if len(after) else float("nan")
        good = M.stays_above_from(m, f"permanent_share{suffix}", f"on_call_share{suffix}") if len(m) else None
        n[f"perm_above_for_good_{label}"] = float(good) if good is not None else float("nan")
    return n


def run_numbers(run: RunData) -> dict[str, float]:
    """Every number the findings and calibration use, for one run (NaN where not computable)."""
    m, rel, w = run.metrics, run.relationships, M.last_window(run.steps)
    n: dict[str, float] = {"weeks": run.steps, "window_first": w[0], "window_last": w[1],
                           "firms": len(run.firms), "providers_start": int((run.providers["entry_week"] <= 0).sum()),
                           **_share_numbers(m, w), **_crossing_numbers(m)}
    ren = M.renewal_rates(run.contracts, "kind").set_index("kind")
    for kind in ("bpo", "kpo"):
        n[f"renewal_{kind}"] = float(ren.at[kind, "rate"]) if kind in ren.index else float("nan")
        n[f"renewal_events_{kind}"] = float(ren.loc[kind, ["renewed", "expired"]].sum()) if kind in ren.index else 0.0
    c = run.contracts.assign(group=np.where(run.contracts["service"].astype(str).isin(VOICE_SERVICES), "voice", "other"))
    ren = M.renewal_rates(c, "group").set_index("group")
    for g in ("voice", "other"):
        n[f"renewal_{g}"] = float(ren.at[g, "rate"]) if g in ren.index else float("nan")
    spells = M.spell_summary(rel).set_index(["form", "kind"]) if len(rel) else None
    for form in M.FORMS:
        for kind in ("bpo", "kpo"):
            has = spells is not None and (form, kind) in spells.index
            n[f"km_median_{form}_{kind}"] = float(spells.at[(form, kind), "km_median_weeks"]) if has else float("nan")
            n[f"survive52_{form}_{kind}"] = float(spells.at[(form, kind), "survive_52"]) if has else float("nan")
            n[f"spells_{form}_{kind}"] = float(spells.at[(form, kind), "spells"]) if has else 0.0
    conv = M.conversion_summary(run.decisions)
    n.update({"conversion_rate": conv["rate"], "conversion_median_weeks": conv["median_weeks"],
              "conversion_mean_weeks": conv["mean_weeks"], "conversion_firm_services": conv["firm_services"]})
    tm = M.transition_matrix(run.decisions, include_kept=False)
    total = tm.to_numpy().sum()
    n["review_mode_change"] = float((total - np.trace(tm.to_numpy())) / total) if total else float("nan")
    loyal = M.loyalty_summary(M.on_call_concentration(rel, w))
    n.update({"loyal_share": loyal["loyal_share"], "searcher_share": loyal["searcher_share"],
              "bimodality": loyal["bimodality"], "concentration_firm_services": loyal["firm_services"]})
    hhi = M.hhi_by_service(rel, w)
    for kind in ("bpo", "kpo"):
        h = hhi.loc[hhi["kind"] == kind, "hhi"]
        n[f"hhi_mean_{kind}"] = float(h.mean()) if len(h) else float("nan")
        n[f"hhi_max_{kind}"] = float(h.max()) if len(h) else float("nan")
    prices = M.price_summary(rel, ("form", "kind"), w).set_index(["form", "kind"]) if len(rel) else None
    for form in M.FORMS:
        for kind in ("bpo", "kpo"):
            has = prices is not None and (form, kind) in prices.index
            n[f"price_{form}_{kind}"] = float(prices.at[(form, kind), "mean_price"]) if has else float("nan")
            n[f"price_cv_{form}_{kind}"] = float(prices.at[(form, kind), "cv"]) if has else float("nan")
    for kind in ("bpo", "kpo"):
        n[f"offshore_price_ratio_{kind}"] = M.offshore_price_ratio(rel, run.providers, kind, w)
    util = M.utilisation_by_kind(rel, run.providers, w).set_index("kind")
    for kind in ("bpo", "kpo"):
        n[f"utilisation_{kind}"] = float(util.at[kind, "utilisation"]) if kind in util.index else float("nan")
    ee = M.entry_exit_by_year(run.providers, run.steps)
    n.update({"entries": float(ee["entries"].sum()), "exits": float(ee["exits"].sum()),
              "providers_end": float(m["active_providers"].iloc[-1]) if len(m) and "active_providers" in m else float("nan")})
    n["firm_surplus_total"] = float(m["firm_surplus"].sum()) if "firm_surplus" in m else float("nan")
    n["provider_profit_total"] = float(m["provider_profit"].sum()) if "provider_profit" in m else float("nan")
    n["onboarding_total"] = float(m["onboarding_costs"].sum()) if "onboarding_costs" in m else float("nan")
    n["firm_payments_total"] = float(m["firm_payments"].sum()) if "firm_payments" in m else float("nan")
    for by, keys in (("size_class", ("small", "medium", "large")), ("kind", ("bpo", "kpo"))):
        b = M.broker_shares(rel, run.firms, by).set_index("segment") if len(rel) else None
        for k in keys:
            has = b is not None and k in b.index
            n[f"broker_volume_{k}"] = float(b.at[k, "volume_share"]) if has else float("nan")
            n[f"broker_matches_{k}"] = float(b.at[k, "match_share"]) if has else float("nan")
    ex = M.early_exit_stats(run.contracts, run.decisions)
    n.update({"ended_early_share": ex["ended_early_share"], "took_back_share": ex["took_back_share"],
              "buyers": ex["buyers"]})
    sav = M.expected_savings(run.decisions)
    n["saving_mean"] = float(sav.mean()) if len(sav) else float("nan")
    n["saving_median"] = float(sav.median()) if len(sav) else float("nan")
    cfg = run.config
    n["term_years_bpo"] = _get(cfg, "contracts", "term_weeks_bpo") / 52
    n["term_years_kpo"] = _get(cfg, "contracts", "term_weeks_kpo") / 52
    n["wage_growth_offshore"] = _get(cfg, "regions", "offshore", "wage_growth_per_year")
    n["wage_growth_domestic"] = _get(cfg, "regions", "domestic", "wage_growth_per_year")
    for region in ("offshore", "domestic"):
        col = f"wage_index_{region}"
        n[f"wage_growth_realised_{region}"] = float(m[col].iloc[-1] ** (52 / len(m)) - 1) if col in m and len(m) \
            else float("nan")
    return n


class Formatter:
    """Formats one named number over one or several runs: the value, or the mean with the range."""

    def __init__(self, numbers: Sequence[dict[str, float]]):
        self.numbers = list(numbers)

    def values(self, key: str) -> np.ndarray:
        """The number across runs, NaN where a run lacks it."""
        return np.array([float(n.get(key, float("nan"))) for n in self.numbers])

    def ok(self, *keys: str) -> bool:
        """True when every key has a finite value in at least one run."""
        return all(np.isfinite(self.values(k)).any() for k in keys)

    def mean(self, key: str) -> float:
        """Mean across runs (NaN-skipping)."""
        v = self.values(key)
        return float(np.nanmean(v)) if np.isfinite(v).any() else float("nan")

    def __call__(self, key: str, kind: str = "pct") -> str:
        v = self.values(key)
        v = v[np.isfinite(v)]
        if not len(v):
            return "n/a"
        one = _fmt(float(v.mean()), kind)
        if len(self.numbers) == 1:
            return one
        missing = f", {len(self.numbers) - len(v)} without it" if len(v) < len(self.numbers) else ""
        lo, hi = _fmt(float(v.min()), kind, bare=True), _fmt(float(v.max()), kind, bare=True)
        if lo == hi:
            return f"{one} (same in all {len(v)} runs{missing})"
        dash = " to " if v.min() < 0 else "–"
        return f"{one} ({lo}{dash}{hi} over {len(v)} runs{missing})"


def _fmt(x: float, kind: str, bare: bool = False) -> str:
    """One number as text; ``bare`` drops the unit words (for ranges: "11–15")."""
    if not math.isfinite(x):
        return "n/a"
    if kind == "pct":
        return f"{x:.0%}" if abs(x) >= 0.1 or x == 0 else f"{x:.1%}"
    if kind in ("week", "weeks"):
        if bare:
            return f"{x:.0f}"
        return f"week {x:.0f}" if kind == "week" else f"{x:.0f} week{'s' if round(x) != 1 else ''}"
    if kind == "weeks_years":
        return f"{x:.0f}" if bare else f"{x:.0f} weeks ({x / 52:.1f} years)"
    if kind == "money":
        return f"{x / 1e6:,.0f}" if bare else f"{x / 1e6:,.0f} M cu"
    if kind == "price":
        return f"{x:.1f}" if bare else f"{x:.1f} cu/h"
    if kind == "ratio":
        return f"{x:.2f}"
    if kind == "years":
        return f"{x:.1f}" if bare else f"{x:.1f} years"
    return f"{x:,.0f}"


def _compare(f: Formatter, a: str, b: str, words: tuple[str, str, str] = ("higher", "lower", "the same")) -> str:
    x, y = f.mean(a), f.mean(b)
    if not (math.isfinite(x) and math.isfinite(y)):
        return "not comparable"
    return words[0] if x > y else words[1] if x < y else words[2]


def _form_statements(f: Formatter, window: str) -> list[str]:
    """Sentences on the forms of sourcing: shares by form and kind, and when permanent overtook on-call."""
    out = []
    no_perm = f.ok("permanent_all") and f.mean("permanent_all") == 0 and f.mean("permanent_of_outsourced_all") == 0
    if f.ok("permanent_all"):
        out.append(f"In {window}, {f('permanent_all')} of demand (hours) was served under permanent contracts, "
                   f"{f('on_call_all')} on-call and {f('in_house_all')} in-house; {f('unmet_share')} went unmet.")
    if no_perm:
        out.append("No work was done under permanent contracts in this run.")
    elif f.ok("permanent_all"):
        out.append(f"KPO work: {f('permanent_kpo')} of its volume was permanent in the last year vs {f('permanent_bpo')} "
                   f"of BPO work ({_compare(f, 'permanent_kpo', 'permanent_bpo')} for KPO); of outsourced volume only, "
                   f"{f('permanent_of_outsourced_kpo')} (KPO) vs {f('permanent_of_outsourced_bpo')} (BPO) was permanent.")
    for label, name in (("all", "all work"), ("bpo", "BPO"), ("kpo", "KPO")):
        if f.ok(f"perm_above_week_{label}"):
            tail = (f"it has stayed above since {f(f'perm_above_for_good_{label}', 'week')}"
                    if f.ok(f"perm_above_for_good_{label}") else "it is not above at the end of the run")
            out.append(f"Permanent share first exceeded on-call share in {f(f'perm_above_week_{label}', 'week')} "
                       f"for {name} and was above it in {f(f'perm_above_after_{label}')} of the weeks after; {tail}.")
        elif f.ok("permanent_all") and not no_perm:
            out.append(f"Permanent share never exceeded on-call share for {name}.")
    return out


def statements(numbers: Sequence[dict[str, float]]) -> list[str]:
    """Key findings as sentences, each stating the numbers it rests on (means and ranges over runs)."""
    f = Formatter(numbers)
    window = f"weeks {f('window_first', 'num')}–{f('window_last', 'num')}" if len(numbers) == 1 else "the last 52 weeks"
    out = _form_statements(f, window)
    if f.ok("renewal_bpo", "renewal_kpo"):
        out.append(f"Renewal at term end (renewed / (renewed + expired)): {f('renewal_kpo')} for KPO contracts vs "
                   f"{f('renewal_bpo')} for BPO ({_compare(f, 'renewal_kpo', 'renewal_bpo')} for KPO; "
                   f"{f('renewal_events_kpo', 'num')} and {f('renewal_events_bpo', 'num')} term ends).")
    elif f.ok("renewal_bpo") or f.ok("renewal_kpo"):
        out.append(f"Renewal at term end: BPO {f('renewal_bpo')}, KPO {f('renewal_kpo')} (one kind had no term ends).")
    else:
        out.append("No permanent contract reached its term end, so there is no renewal rate.")
    if f.ok("km_median_permanent_bpo") or f.ok("km_median_permanent_kpo"):
        out.append(f"Permanent relationships last a median of {f('km_median_permanent_bpo', 'weeks')} (BPO) and "
                   f"{f('km_median_permanent_kpo', 'weeks')} (KPO), renewals included (Kaplan-Meier, censored spells "
                   f"counted); on-call spells a median of {f('km_median_on_call_bpo', 'weeks')} (BPO) and "
                   f"{f('km_median_on_call_kpo', 'weeks')} (KPO).")
    elif f.ok("km_median_on_call_bpo"):
        out.append(f"There were no permanent relationships; on-call spells lasted a median of "
                   f"{f('km_median_on_call_bpo', 'weeks')} (BPO) and {f('km_median_on_call_kpo', 'weeks')} (KPO).")
    if f.ok("conversion_rate"):
        wait = (f"; the median wait from the first on-call review to the signing was "
                f"{f('conversion_median_weeks', 'weeks')} (0 = signed at that very review; mean "
                f"{f('conversion_mean_weeks', 'weeks')})"
                if f.ok("conversion_median_weeks") else "")
        out.append(f"{f('conversion_rate')} of the firm-services that were reviewed while on-call later signed a "
                   f"permanent contract{wait}.")
    if f.ok("review_mode_change"):
        out.append(f"At reviews that could change the mode (mid-term 'kept' reviews left out), "
                   f"{f('review_mode_change')} changed it.")
    if f.ok("loyal_share"):
        bimodal = "suggests two modes" if f.mean("bimodality") > 5 / 9 else "does not suggest two modes"
        out.append(f"Mean loyalty y (model, last year) was {f('loyalty_mean', 'ratio')} and the weekly switching rate "
                   f"(buyers whose main on-call provider changed) {f('switch_rate')}; on-call spend per "
                   f"firm-service: {f('searcher_share')} searchers (top provider < 50%), {f('loyal_share')} loyal "
                   f"(≥ 80%), bimodality coefficient {f('bimodality', 'ratio')} ({bimodal}; threshold 0.56).")
    if f.ok("hhi_mean_bpo", "hhi_mean_kpo"):
        out.append(f"Provider concentration in the last year: mean HHI {f('hhi_mean_kpo', 'num')} over KPO services "
                   f"(max {f('hhi_max_kpo', 'num')}) vs {f('hhi_mean_bpo', 'num')} over BPO services.")
    for kind, name in (("bpo", "BPO"), ("kpo", "KPO")):
        if f.ok(f"price_on_call_{kind}", f"price_permanent_{kind}"):
            out.append(f"{name} prices in the last year: on-call {f(f'price_on_call_{kind}', 'price')} vs permanent "
                       f"{f(f'price_permanent_{kind}', 'price')} (volume-weighted, broker fees included).")
    if f.ok("offshore_price_ratio_bpo"):
        out.append(f"Offshore BPO providers charged {f('offshore_price_ratio_bpo', 'ratio')} times the domestic "
                   f"price per hour (KPO: {f('offshore_price_ratio_kpo', 'ratio')}).")
    if f.ok("provider_utilization"):
        out.append(f"Provider utilisation averaged {f('provider_utilization')} in the last year; "
                   f"providers entering over the run: {f('entries', 'num')}, exiting: {f('exits', 'num')}, leaving "
                   f"{f('providers_end', 'num')} active at the end (from {f('providers_start', 'num')}).")
    if f.ok("firm_surplus_total"):
        out.append(f"Over the run, firm surplus totalled {f('firm_surplus_total', 'money')} and provider profit "
                   f"{f('provider_profit_total', 'money')}; onboarding costs, counted in firm surplus, were "
                   f"{f('onboarding_total', 'money')} (firm payments: {f('firm_payments_total', 'money')}).")
    if f.ok("broker_volume_small", "broker_volume_large"):
        out.append(f"Brokers carried {f('broker_volume_small')} of small firms' outsourced volume vs "
                   f"{f('broker_volume_large')} of large firms' ({_compare(f, 'broker_volume_small', 'broker_volume_large')}"
                   f" for small firms), and {f('broker_volume_kpo')} of KPO vs {f('broker_volume_bpo')} of BPO volume.")
    if f.ok("ended_early_share"):
        out.append(f"{f('ended_early_share')} of the firms that signed a contract ended one early; "
                   f"{f('took_back_share')} of those took the work back in-house at that review.")
    return out


#: (label, target text, number key(s), format, range used for the verdict or None, how the model's number is made)
TARGETS = (
    ("Long-term contract term", "3–5 years (ISG: 3.5 years in 2015)", ("term_years_bpo", "term_years_kpo"), "years",
     (3.0, 5.0), "config contracts.term_weeks_bpo / _kpo"),
    ("Relationship length, permanent", "3–5 years incl. renewals", ("km_median_permanent_bpo", "km_median_permanent_kpo"),
     "weeks_years", (156, 260), "Kaplan-Meier median of permanent spells (BPO, KPO)"),
    ("Renewal at term end, contact centre", "under 50–75%", ("renewal_voice",), "pct", (0.0, 0.75),
     "customer_service: renewed / (renewed + expired)"),
    ("Renewal at term end, other work", "about 85%", ("renewal_other",), "pct", (0.8, 0.9),
     "all other services: renewed / (renewed + expired)"),
    ("Net saving against in-house", "about 15% (10–40%)", ("saving_mean", "saving_median"), "pct", (0.10, 0.40),
     "mean and median of 1 - cost(choice) / cost(in-house) at reviews that outsourced (expected costs)"),
    ("Offshore BPO price / onshore", "about 1/3", ("offshore_price_ratio_bpo",), "ratio", (0.25, 0.45),
     "volume-weighted price per hour paid to offshore vs domestic BPO providers, last year"),
    ("Offshore wage growth per year", "6–10%", ("wage_growth_offshore", "wage_growth_realised_offshore"), "pct",
     (0.06, 0.10), "config regions.offshore.wage_growth_per_year; realised from wage_index_offshore"),
    ("Onshore wage growth per year", "3.5–4.5%", ("wage_growth_domestic", "wage_growth_realised_domestic"), "pct",
     (0.035, 0.045), "config regions.domestic.wage_growth_per_year; realised from wage_index_domestic"),
    ("Provider utilisation, all", "BPO 80–85%, KPO ~70%", ("provider_utilization",), "pct", None,
     "metric provider_utilization, last-year mean"),
    ("Provider utilisation, BPO", "80–85%", ("utilisation_bpo",), "pct", (0.80, 0.85),
     "approximate: hours served / final capacity, last year"),
    ("Provider utilisation, KPO", "about 70%", ("utilisation_kpo",), "pct", (0.65, 0.75),
     "approximate: hours served / final capacity, last year"),
    ("Buyers who ended a contract early", "about half", ("ended_early_share",), "pct", (0.4, 0.6),
     "firms with a terminated event / firms that signed a contract"),
    ("... of those, took work back in-house", "about a third", ("took_back_share",), "pct", (0.25, 0.42),
     "terminating reviews that chose in-house"),
    ("Annual staff attrition", "voice BPO 30–50%, KPO 15–20%", (), "pct", None, "not modelled"),
)


def calibration(numbers: Sequence[dict[str, float]]) -> list[dict[str, str]]:
    """Rows of the calibration table: industry figure, the model's number(s), and whether they fall in range."""
    f = Formatter(numbers)
    rows = []
    for label, target, keys, kind, rng, how in TARGETS:
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
            used = f"{_fmt(rng[0], kind, bare=True)}–{_fmt(rng[1], kind)}"
        rows.append({"measure": label, "industry": target, "model": shown, "range": used, "verdict": verdict,
                     "how": how})
    return rows


def data_checks(run: RunData) -> list[str]:
    """Consistency checks on the run's own tables, stated with their numbers (for the report's data notes)."""
    m, out = run.metrics, []
    if {"firm_payments", "provider_revenue", "broker_fees"} <= set(m.columns) and len(m):
        gap = (m["firm_payments"] - m["provider_revenue"] - m["broker_fees"]).abs().max()
        out.append(f"Money conservation: largest weekly |firm payments - provider revenue - broker fees| = {gap:.3g} cu.")
    parts = ["in_house_hours", "permanent_hours", "on_call_hours", "unmet_hours"]
    if {"demand_hours", *parts} <= set(m.columns) and len(m):
        gap = (m["demand_hours"] - m[parts].sum(axis=1)).abs().max()
        out.append(f"Hours conservation: largest weekly |demand - in-house - permanent - on-call - unmet| = {gap:.3g} h.")
    rel = run.relationships
    if len(rel) and "on_call_hours" in m:
        for form in M.FORMS:
            col = f"{form}_hours"
            spell = rel.loc[rel["form"].astype(str) == form, "volume_hours"].sum()
            out.append(f"{form.replace('_', '-')} hours: spells {spell:,.0f} h vs weekly metric {m[col].sum():,.0f} h.")
        gap = int(_get(run.config, "firms", "spell_gap_weeks", default=8))
        s = rel.sort_values(["firm_id", "provider_id", "service", "form", "start_week"])
        prev = s.groupby(["firm_id", "provider_id", "service", "form"], observed=True)["end_week"].shift()
        close = (s["start_week"] - prev <= gap) & (s["form"].astype(str) == "on_call")
        oc = int((s["form"].astype(str) == "on_call").sum())
        out.append(f"On-call spells that restart within spell_gap_weeks ({gap}) of an earlier spell of the same "
                   f"firm-provider-service: {int(close.sum()):,} of {oc:,} ({close.sum() / max(oc, 1):.0%}); "
                   f"spell counts and durations count these as separate relationships.")
    return out
