"""The written trail of one firm: every sourcing review and every contract event, week by week.

KPO work leaves a clear written trail of how decisions were made; the model keeps one for every firm. :func:`explain` turns a run folder's decision log (decisions.parquet) and
contract ledger (contracts.parquet) into plain text for one firm, optionally one service: at each
review the options compared with their expected weekly costs (the cheapest marked), the choice, the
channel and the outcome; and each contract event with its price, reserved hours and reason.

Run it as ``python -m analysis.explain RUN_DIR FIRM_ID [SERVICE]``.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import pandas as pd

from analysis.load import RunData, load_run

OPTIONS = (("in_house", "in-house"), ("on_call", "on-call direct"), ("on_call_broker", "on-call via broker"),
           ("permanent", "permanent direct"), ("permanent_broker", "permanent via broker"))
OUTCOME_TEXT = {
    "in_house": "work kept or taken in-house", "on_call": "buys on-call directly",
    "on_call_broker": "buys on-call through a broker", "kept": "keeps its running contract",
    "renewed": "renewed the contract", "signed": "signed a new contract",
    "no_capacity": "no provider had the capacity; falls back to on-call",
    "no_deal": "no price both sides accept; falls back to on-call",
}


def _num(x, spec: str = ",.1f") -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else format(x, spec)


def _review_lines(r: pd.Series) -> list[str]:
    costs = {key: r.get(f"cost_{key}", float("nan")) for key, _ in OPTIONS}
    finite = {k: v for k, v in costs.items() if isinstance(v, (int, float)) and not math.isnan(v)}
    cheapest = min(finite, key=finite.get) if finite else None
    opts = []
    for key, label in OPTIONS:
        if key in finite:
            opts.append(f"{label} {finite[key]:,.1f}" + (" (cheapest)" if key == cheapest else ""))
        else:
            opts.append(f"{label} unavailable")
    choice = str(r["choice"])
    lines = [f"week {int(r['week']):>4}  REVIEW  {r['service']}: mode before {str(r['mode_before']).replace('_', '-')}",
             f"            options (expected cost, cu/week): {'; '.join(opts)}"]
    who = []
    if int(r.get("candidate_provider", -1)) >= 0:
        who.append(f"best direct candidate provider {int(r['candidate_provider'])}")
    if choice.endswith("broker") and int(r.get("broker_provider", -1)) >= 0:
        who.append(f"broker proposed provider {int(r['broker_provider'])}")
    if who:
        lines.append(f"            {'; '.join(who)}")
    picked = dict(OPTIONS).get(choice, choice)
    note = "" if choice == cheapest or cheapest is None else " (not the cheapest: the choice is a logit over costs)"
    outcome = str(r["outcome"])
    detail = ""
    if outcome in ("kept", "renewed", "signed") and int(r.get("provider_id", -1)) >= 0:
        detail = (f" with provider {int(r['provider_id'])} at {_num(r['price_per_hour'], '.2f')} cu/h, "
                  f"{_num(r['reserved_hours_per_week'])} h/week reserved")
    channel = "" if choice == "in_house" else f"; channel {r['channel']}"
    lines.append(f"            choice: {picked}{note}{channel}; outcome: "
                 f"{OUTCOME_TEXT.get(outcome, outcome)}{detail}")
    return lines


def _event_line(e: pd.Series) -> str:
    ends = f", runs to week {int(e['end_week'])}" if str(e["event"]) in ("signed", "renewed") else ""
    return (f"week {int(e['week']):>4}  CONTRACT #{int(e['contract_id'])} {str(e['event']).upper()}  {e['service']}: "
            f"provider {int(e['provider_id'])} ({e['channel']}), {_num(e['price_per_hour'], '.2f')} cu/h, "
            f"{_num(e['reserved_hours_per_week'])} h/week reserved{ends}; reason: {e['reason']}")


def _spell_line(run: RunData, firm_id: int, service: str) -> str:
    s = run.relationships
    s = s[(s["firm_id"] == firm_id) & (s["service"].astype(str) == service)]
    if s.empty:
        return "  no outsourced work recorded"
    parts = []
    for form, g in s.groupby(s["form"].astype(str)):
        parts.append(f"{len(g)} {form.replace('_', '-')} spell(s) with {g['provider_id'].nunique()} provider(s), "
                     f"{g['volume_hours'].sum():,.0f} h, {g['spend'].sum():,.0f} cu")
    return "  work recorded: " + "; ".join(parts)


def _recording_notes(run: RunData, firm_id: int, no_reviews: bool) -> list[str]:
    """Lines saying which of the trail's tables the run did not record, or recorded for some firms only."""
    out = []
    for table in ("decisions", "contracts", "relationships"):
        if note := run.recording_note(table):
            sampled = table == "decisions" and table not in run.not_recorded
            out.append(f"Note: {note}" + (f"; firm {firm_id} is not among them." if sampled and no_reviews else "."))
    return out


def explain(run_dir: str | Path, firm_id: int, service: str | None = None) -> str:
    """The week-by-week trail of one firm's sourcing reviews and contract events.

    Args:
        run_dir: a run folder (kind "run").
        firm_id: the firm's id (firms.parquet).
        service: one service name, or None for every service the firm uses.

    Returns:
        Plain text, one block per service, events in week order: within a week, a provider's exit, then
        the review it caused, then the contract events of the review.

    Raises:
        ValueError: the firm does not exist (the message gives the valid range) or does not use the service.
        analysis.load.RunFolderError: the folder is not a run folder.
    """
    run = load_run(run_dir)
    if {"decisions", "contracts"} <= run.not_recorded:
        raise ValueError(f"nothing to explain: this run recorded neither sourcing reviews nor contract events "
                         f"(run.record = {run.manifest.get('record', '?')}); repeat it with outsim run --from "
                         f"{run.path} --set run.record=full")
    firms = run.firms.set_index("firm_id")
    if firm_id not in firms.index:
        ids = run.firms["firm_id"]
        valid = f"{ids.min()}..{ids.max()}" if len(ids) else "none (the run has no firms)"
        raise ValueError(f"firm {firm_id} does not exist in {run.path}: valid firm ids are {valid}")
    firm = firms.loc[firm_id]
    uses = [s for s in str(firm.get("services", "")).split(",") if s]
    if service is not None and service not in uses:
        raise ValueError(f"firm {firm_id} does not use service {service!r}; it uses: {', '.join(uses) or 'none'}")
    kinds = run.service_kind
    header = [f"Firm {firm_id}: size {firm.get('size', float('nan')):.2f} ({firm.get('size_class', '?')}), "
              f"region {firm.get('region', '?')}; services: "
              + ", ".join(f"{s} ({kinds.get(s, '?').upper()})" for s in uses),
              f"Run: {run.label}, {run.steps} weeks, folder {run.path}",
              ("Costs are the firm's expected weekly cost of each option at the review (price, fees, onboarding, "
               "shortage risk, coordination)."), ""]
    d = run.decisions[run.decisions["firm_id"] == firm_id]
    c = run.contracts[run.contracts["firm_id"] == firm_id]
    out = header[:2] + _recording_notes(run, firm_id, d.empty) + header[2:]
    for s in ([service] if service else uses):
        ds = d[d["service"].astype(str) == s]
        cs = c[c["service"].astype(str) == s]
        out.append(f"== {s} ({kinds.get(s, '?').upper()}): {len(ds)} review(s), {len(cs)} contract event(s) ==")
        out.append(_spell_line(run, firm_id, s))
        # The model's week: providers exit (phase 6) before the reviews they cause (phase 7), whose contract
        # events follow them.
        rows = [(int(r["week"]), 0, i, _review_lines(r)) for i, (_, r) in enumerate(ds.iterrows())]
        rows += [(int(e["week"]), -1 if e["event"] == "provider_exit" else 1, i, [_event_line(e)])
                 for i, (_, e) in enumerate(cs.iterrows())]
        for _, _, _, lines in sorted(rows, key=lambda t: t[:3]):
            out.extend(lines)
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":  # python -m analysis.explain RUN_DIR FIRM_ID [SERVICE]
    if len(sys.argv) < 3:
        sys.exit("usage: python -m analysis.explain RUN_DIR FIRM_ID [SERVICE]")
    print(explain(sys.argv[1], int(sys.argv[2]), sys.argv[3] if len(sys.argv) > 3 else None))
