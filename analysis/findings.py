"""Key numbers of a run, the sentences the report states with them, and checks on the run's data.

:func:`run_numbers` computes a flat dict of named numbers from one loaded run (NaN where the data do
not allow a number), among them the calibration moments the calibration table shows
(:mod:`analysis.calibration_table`). Over replications the same numbers are computed per run and
shown as the mean with the range across runs; no sentence is written without the number behind it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pandas as pd

from analysis import measures as M
from analysis.calibration_table import calibration_moments
from analysis.formatting import Formatter
from analysis.load import RunData
from analysis.moments import moment, whole_run
from analysis.stats import window_mean


def providers_at_start(providers) -> int:
    """Providers active in week 1: entered by week 0 (the warm-up's entrants included), not exited before week 1."""
    exit_week = providers["exit_week"]
    return int(((providers["entry_week"] <= 0) & (exit_week.isna() | (exit_week >= 1))).sum())


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
    for col in ("unmet_share", "loyalty_mean", "switch_rate", "offshore_share", "broker_share"):
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
    """Every number the findings and calibration use, for one run (NaN where not computable).

    Numbers from a table the run did not record (``run.record``) are left out, so they read as NaN, not
    as zero; ``recorded_<table>`` is 1 for a table recorded and 0 for one not.
    """
    m, w = run.metrics, M.last_window(run.steps)
    n: dict[str, float] = {"weeks": run.steps, "window_first": w[0], "window_last": w[1],
                           "firms": len(run.firms), "providers_start": providers_at_start(run.providers),
                           **_share_numbers(m, w), **_crossing_numbers(m)}
    for table, numbers in (("contracts", _contract_numbers), ("relationships", _spell_numbers),
                           ("decisions", _decision_numbers)):
        n[f"recorded_{table}"] = float(table not in run.not_recorded)
        if table not in run.not_recorded:
            n.update(numbers(run, w))
    ee = M.entry_exit_by_year(run.providers, run.steps)
    n.update({"entries": float(ee["entries"].sum()), "exits": float(ee["exits"].sum()),
              "providers_end": float(m["active_providers"].iloc[-1]) if len(m) and "active_providers" in m else float("nan")})
    n["firm_surplus_total"] = float(m["firm_surplus"].sum()) if "firm_surplus" in m else float("nan")
    n["provider_profit_total"] = float(m["provider_profit"].sum()) if "provider_profit" in m else float("nan")
    n["onboarding_total"] = float(m["onboarding_costs"].sum()) if "onboarding_costs" in m else float("nan")
    n["firm_payments_total"] = float(m["firm_payments"].sum()) if "firm_payments" in m else float("nan")
    n.update(calibration_moments(run))
    for name in ("offshore_price_ratio_posted_kpo", "offshore_price_ratio_all_in_kpo"):  # the table shows BPO only
        n[name] = moment(run, name, w)
    cfg = run.config
    n["wage_growth_offshore"] = _get(cfg, "regions", "offshore", "wage_growth_per_year")
    n["wage_growth_domestic"] = _get(cfg, "regions", "domestic", "wage_growth_per_year")
    for region in ("offshore", "domestic"):
        col = f"wage_index_{region}"
        n[f"wage_growth_realised_{region}"] = float(m[col].iloc[-1] ** (52 / len(m)) - 1) if col in m and len(m) \
            else float("nan")
    return n


def _contract_numbers(run: RunData, w: tuple[int, int]) -> dict[str, float]:
    """Renewal rates and the term ends they rest on (contracts.parquet)."""
    n: dict[str, float] = {}
    ren = M.renewal_rates(run.contracts, "kind").set_index("kind")
    for kind in ("bpo", "kpo"):
        n[f"renewal_{kind}"] = moment(run, f"renewal_rate_{kind}", whole_run(run))
        n[f"renewal_events_{kind}"] = float(ren.loc[kind, ["renewed", "expired"]].sum()) if kind in ren.index else 0.0
    return n


def _spell_numbers(run: RunData, w: tuple[int, int]) -> dict[str, float]:
    """Spell durations, loyalty, concentration, prices and broker shares (relationships.parquet)."""
    n: dict[str, float] = {}
    rel = run.relationships
    spells = M.spell_summary(rel).set_index(["form", "kind"]) if len(rel) else None
    for form in M.FORMS:
        for kind in ("bpo", "kpo"):
            has = spells is not None and (form, kind) in spells.index
            n[f"km_median_{form}_{kind}"] = float(spells.at[(form, kind), "km_median_weeks"]) if has else float("nan")
            n[f"survive52_{form}_{kind}"] = float(spells.at[(form, kind), "survive_52"]) if has else float("nan")
            n[f"spells_{form}_{kind}"] = float(spells.at[(form, kind), "spells"]) if has else 0.0
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
    for by, keys in (("size_class", ("small", "medium", "large")), ("kind", ("bpo", "kpo"))):
        b = M.broker_shares(rel, run.firms, by).set_index("segment") if len(rel) else None
        for k in keys:
            has = b is not None and k in b.index
            n[f"broker_volume_{k}"] = float(b.at[k, "volume_share"]) if has else float("nan")
            n[f"broker_matches_{k}"] = float(b.at[k, "match_share"]) if has else float("nan")
    return n


def _decision_numbers(run: RunData, w: tuple[int, int]) -> dict[str, float]:
    """Conversions from on-call to permanent and mode changes at reviews (decisions.parquet)."""
    conv = M.conversion_summary(run.decisions)
    n = {"conversion_rate": conv["rate"], "conversion_median_weeks": conv["median_weeks"],
         "conversion_mean_weeks": conv["mean_weeks"], "conversion_firm_services": conv["firm_services"]}
    tm = M.transition_matrix(run.decisions, include_kept=False)
    total = tm.to_numpy().sum()
    n["review_mode_change"] = float((total - np.trace(tm.to_numpy())) / total) if total else float("nan")
    return n


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
        out.append(f"Renewal at term end (the client kept its provider): {f('renewal_kpo')} for KPO contracts vs "
                   f"{f('renewal_bpo')} for BPO ({_compare(f, 'renewal_kpo', 'renewal_bpo')} for KPO; "
                   f"{f('renewal_events_kpo', 'num')} and {f('renewal_events_bpo', 'num')} term ends).")
    elif f.ok("renewal_bpo") or f.ok("renewal_kpo"):
        out.append(f"Renewal at term end: BPO {f('renewal_bpo')}, KPO {f('renewal_kpo')} (one kind had no term ends).")
    elif _recorded(numbers, "contracts"):
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
    if f.ok("offshore_price_ratio_all_in_bpo"):
        out.append(f"In the last year clients paid offshore BPO providers {f('offshore_price_ratio_all_in_bpo', 'ratio')} "
                   f"times the domestic price per hour, all in (posted spot prices: "
                   f"{f('offshore_price_ratio_posted_bpo', 'ratio')}); KPO: {f('offshore_price_ratio_all_in_kpo', 'ratio')} "
                   f"({f('offshore_price_ratio_posted_kpo', 'ratio')}).")
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
    if f.ok("early_exit_share"):
        out.append(f"Over the run, {f('early_exit_share')} of the firms that held a permanent contract ended one early; "
                   f"{f('early_exit_insourced_share')} of those took the work back in-house at such a review.")
    return out + _unrecorded_statements(numbers)


#: What the findings lose when a run does not record a table (run.record).
UNRECORDED = {"contracts": "renewals and early exits", "relationships": "spell durations, on-call loyalty, "
              "concentration, prices paid and broker shares", "decisions": "conversions and mode changes at reviews"}


def _recorded(numbers: Sequence[dict[str, float]], table: str) -> bool:
    """True when every run recorded ``table`` (runs from before recording levels did)."""
    return all(n.get(f"recorded_{table}", 1.0) == 1.0 for n in numbers)


def _unrecorded_statements(numbers: Sequence[dict[str, float]]) -> list[str]:
    """One sentence per table the runs did not record, naming the findings left out for it."""
    return [f"{table}.parquet was not recorded in this run, so nothing is said here about {what}."
            for table, what in UNRECORDED.items() if not _recorded(numbers, table)]


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
    out += [f"{note}." for table in UNRECORDED if (note := run.recording_note(table))]
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
