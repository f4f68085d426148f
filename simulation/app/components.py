"""Plot-ready data from a live OutsourcingModel, for the dashboard's panels (issue 6).

Every function here is pure: it reads a model (never steps or changes it, never draws from its random
streams) and returns a small :data:`Table` or dict that a chart or a text panel shows as it is. The
dashboard (panels.py) turns the tables into the charts' JSON and HTML tables; tests check them without a
browser (``pd.DataFrame(table)`` for pandas' tools).

A :data:`Table` is a dict of columns, not a DataFrame: a step of the dashboard builds about fifteen small
tables, and pandas' fixed cost per frame and per column was most of a step's work (issue 13).

- :func:`form_shares`: share of demand served in-house, on-call, permanent (and unmet) per week, BPO and KPO.
- :func:`loyalty_histogram`: the loyalty order parameter y of Weisbuch, Kirman & Herreiner (2000),
  y_i = sum_j J_ij^2 / (sum_j J_ij)^2, over the firm-services that buy outside, as searchers, mixed and loyal.
- :func:`week_snapshot` / :func:`history_frame`: what firms pay per hour by form and kind, provider
  utilisation and counts by kind, one row per week (the weekly metrics only hold the overall figures).
- :func:`network_sample`: a readable bipartite sample of firms and the providers they worked with this week.
- :func:`event_feed`, :func:`decision_trail`, :func:`firm_summary`: the contract ledger and a firm's
  written trail of sourcing reviews (options compared, expected weekly costs, the choice).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from simulation.config.recording import record_level
from simulation.model.codes import OPTIONS, REGIONS, Channel, Kind, Mode, labels
from simulation.model.market.choice import loyalty

if TYPE_CHECKING:
    from simulation.model import OutsourcingModel

KINDS = labels(Kind)  # ("bpo", "kpo")
FORM_LABELS = {"in_house": "in-house", "on_call": "on-call", "permanent": "permanent", "unmet": "unmet"}
OPTION_LABELS = {"in_house": "in-house", "on_call": "on-call", "on_call_broker": "on-call via broker",
                 "permanent": "permanent", "permanent_broker": "permanent via broker"}
LABEL_LIMIT = 45  # providers named one by one in the network sample up to this many
SEARCHER_BELOW, LOYAL_AT = 0.5, 0.8  # y cut-offs, the same as analysis.measures uses for top shares

#: A small table: column name -> numpy array or list, all of one length, in the order shown.
Table = dict[str, Any]


def table_rows(table: Table) -> int:
    """The number of rows of ``table`` (0 without columns)."""
    return len(next(iter(table.values()), ()))


def kinds_present(model: OutsourcingModel) -> tuple[str, ...]:
    """The service kinds ("bpo", "kpo") that the model's catalogue has, in that order."""
    codes = set(model.catalogue.kind.tolist())
    return tuple(k for code, k in enumerate(KINDS) if code in codes)


def form_shares(model: OutsourcingModel, max_points: int = 260) -> Table:
    """Share of each kind's demand by form, per week (columns week, kind, form, share).

    Unmet demand is the remainder. Long runs are thinned to at most ``max_points`` weeks per series,
    always keeping the latest week.
    """
    mv = model.datacollector.model_vars
    weeks = np.asarray(mv.get("step", []), dtype=np.int64)
    keep = _thin(len(weeks), max_points)
    kinds, forms, shares = [], [], []
    for kind in kinds_present(model):
        parts = {f: np.asarray(mv[f"{f}_share_{kind}"], dtype=float)[keep] for f in ("in_house", "on_call", "permanent")}
        parts["unmet"] = np.clip(1.0 - sum(parts.values()), 0.0, 1.0)
        for form, share in parts.items():
            kinds.append(kind.upper())
            forms.append(FORM_LABELS[form])
            shares.append(share)
    n = len(keep)
    return {"week": np.tile(weeks[keep], len(shares)), "kind": np.repeat(np.array(kinds, dtype=object), n),
            "form": np.repeat(np.array(forms, dtype=object), n),
            "share": np.concatenate(shares) if shares else np.empty(0)}


def loyalty_values(model: OutsourcingModel) -> np.ndarray:
    """Loyalty y of every firm-service that buys outside (on-call or permanent) and has learnt a preference."""
    sl = model.slots
    y = loyalty(sl.preference, sl.known)
    return y[(sl.mode != Mode.IN_HOUSE) & np.isfinite(y)]


def loyalty_group(y: np.ndarray) -> np.ndarray:
    """"searcher" (y < 0.5), "loyal" (y >= 0.8) or "mixed" for each value."""
    return np.select([y < SEARCHER_BELOW, y >= LOYAL_AT], ["searcher", "loyal"], "mixed")


def loyalty_histogram(model: OutsourcingModel, bins: int = 20) -> Table:
    """Counts of firm-services by loyalty y in ``bins`` equal bins over [0, 1], coloured by group.

    Returns columns bin_start, bin_end, group, count (one row per non-empty bin).
    """
    y = loyalty_values(model)
    edges = np.linspace(0.0, 1.0, bins + 1)
    idx = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, bins - 1)
    counts = np.bincount(idx, minlength=bins)
    mids = 0.5 * (edges[:-1] + edges[1:])
    keep = counts > 0
    return {"bin_start": edges[:-1][keep], "bin_end": edges[1:][keep], "group": loyalty_group(mids)[keep],
            "count": counts[keep]}


def loyalty_summary(model: OutsourcingModel) -> dict[str, float]:
    """Firm-services counted, how many are searchers, mixed or loyal, the mean y and the uniform-spread y (1/K)."""
    y = loyalty_values(model)
    groups = loyalty_group(y)
    k = model.slots.known.sum(axis=1)
    uniform = float(1.0 / np.mean(k[k > 0])) if np.any(k > 0) else float("nan")
    return {"n": len(y), "searchers": int(np.sum(groups == "searcher")), "mixed": int(np.sum(groups == "mixed")),
            "loyal": int(np.sum(groups == "loyal")), "mean": float(np.mean(y)) if len(y) else float("nan"),
            "uniform": uniform}


def week_snapshot(model: OutsourcingModel) -> dict[str, float]:
    """This week's prices paid per hour by form and kind (fees included), utilisation and provider counts by kind.

    Keys: week, price_on_call_<kind>, price_permanent_<kind>, utilization_<kind>, providers_<kind>
    (NaN where nothing was bought). Call after a step; before the first step prices are NaN.
    """
    out: dict[str, float] = {"week": model.week}
    slot_kind = model.catalogue.kind[model.slots.service]
    fills = getattr(model, "fills", None)
    t, n = model.providers, model.providers.n
    active = t.view("active")
    for code, kind in enumerate(KINDS):
        on_call = permanent = float("nan")
        if fills is not None:
            mask = slot_kind == code
            hours, spend = fills.served[mask].sum(), fills.spend[mask].sum()
            on_call = spend / hours if hours > 0 else float("nan")
            reserved, paid = fills.reserved[mask].sum(), fills.permanent_paid[mask].sum()
            permanent = paid / reserved if reserved > 0 else float("nan")
        mine = active & (t.kind[:n] == code)
        cap = t.view("capacity")[mine]
        used = (t.view("utilization")[mine] * cap).sum()
        out[f"price_on_call_{kind}"] = float(on_call)
        out[f"price_permanent_{kind}"] = float(permanent)
        out[f"utilization_{kind}"] = float(used / cap.sum()) if cap.sum() > 0 else float("nan")
        out[f"providers_{kind}"] = float(mine.sum())
    return out


def history_frame(rows: list[dict[str, float]], prefix: str, max_points: int = 260) -> Table:
    """Long table (week, form or kind, value) of the snapshot keys starting with ``prefix``.

    ``history_frame(rows, "price_")`` gives series such as "on-call BPO"; ``"utilization_"`` and
    ``"providers_"`` give one series per kind. Rows with NaN values are dropped.
    """
    keep = _thin(len(rows), max_points)
    picked = [rows[i] for i in keep]
    weeks = np.array([r["week"] for r in picked], dtype=np.int64)
    week, series, value = [], [], []
    for key in (k for k in (rows[0] if rows else {}) if k.startswith(prefix)):
        values = np.array([r[key] for r in picked], dtype=float)
        ok = np.isfinite(values)
        week.append(weeks[ok])
        series.append(np.full(int(ok.sum()), _series_label(key[len(prefix):]), dtype=object))
        value.append(values[ok])
    if not week:
        return {"week": np.empty(0, np.int64), "series": np.empty(0, object), "value": np.empty(0)}
    return {"week": np.concatenate(week), "series": np.concatenate(series), "value": np.concatenate(value)}


def network_sample(model: OutsourcingModel, n_firms: int = 30) -> tuple[Table, Table]:
    """A bipartite sample: ``n_firms`` firms spread over the size ranking and the providers they used this week.

    The sample is deterministic (every k-th firm by size), so the same firms stay on screen week after
    week. Returns (nodes, edges). nodes: node, side ("firm" or "provider"), id, label, group (size class
    of a firm, kind of a provider), region, labelled (False for providers when there are more than
    ``LABEL_LIMIT``: the chart then names provider groups instead), x (0 firms, 1 providers), y (0 at the
    top; both sides spread evenly over :func:`network_rows` rows). edges: firm_id, provider_id, form
    ("on-call" or "permanent"), hours (delivered this week), y_firm, y_provider.
    """
    sizes = model.firms.size
    order = np.argsort(-sizes, kind="stable")
    pick = order[np.unique(np.linspace(0, len(order) - 1, min(n_firms, len(order))).round().astype(int))]
    sl, book, fills = model.slots, model.contracts, getattr(model, "fills", None)
    slots = np.flatnonzero(np.isin(sl.firm, pick))
    act = slots[book.holds(slots)]
    firm_ids, provider_ids, forms, hours = [sl.firm[act]], [book.provider[act]], [np.ones(len(act), np.int64)], \
        [fills.permanent[act] if fills is not None else book.reserved[act]]
    if fills is not None:
        s, k = np.nonzero(fills.served[slots] > 0)
        firm_ids.append(sl.firm[slots[s]])
        provider_ids.append(sl.provider[slots[s], k])
        forms.append(np.zeros(len(s), np.int64))
        hours.append(fills.served[slots[s], k])
    edges = _edge_hours(*(np.concatenate(parts) for parts in (firm_ids, provider_ids, forms, hours)))
    t = model.providers
    used = np.unique(edges["provider_id"].astype(np.int64))
    used = used[np.lexsort((used, t.region[used], t.kind[used]))]
    n_f, n_p = len(pick), len(used)
    rows = network_rows(n_f, n_p)
    y_firm, y_provider = np.full(len(sizes), np.nan), np.full(t.n, np.nan)
    y_firm[pick], y_provider[used] = _spread(n_f, rows), _spread(n_p, rows)
    kind, region = [KINDS[k].upper() for k in t.kind[used]], [REGIONS[r] for r in t.region[used]]
    nodes = {  # one table, firms then providers
        "side": ["firm"] * n_f + ["provider"] * n_p, "id": np.r_[pick, used].astype(int),
        "group": [*model.firms.size_class()[pick].tolist(), *kind],
        "region": [*(REGIONS[r] for r in model.firms.region[pick]), *region],
        "label": [*(f"firm {i}" for i in pick), *(f"P{j} {k} {r[:3]}" for j, k, r in zip(used, kind, region))],
        "labelled": [True] * n_f + [n_p <= LABEL_LIMIT] * n_p, "y": np.r_[y_firm[pick], y_provider[used]],
        "x": np.r_[np.zeros(n_f), np.ones(n_p)], "node": [*(f"f{i}" for i in pick), *(f"p{j}" for j in used)]}
    edges["y_firm"] = y_firm[edges["firm_id"].astype(np.int64)]
    edges["y_provider"] = y_provider[edges["provider_id"].astype(np.int64)]
    return nodes, edges


def network_rows(n_firms: int, n_providers: int) -> int:
    """Rows of the network chart: the longer side rounded up to a multiple of 10 (so the layout changes
    rarely), at most ``LABEL_LIMIT`` rounded up (beyond that providers share rows and are named by group)."""
    return max(10, -(-min(max(n_firms, n_providers), LABEL_LIMIT) // 10) * 10)


def network_groups(nodes: Table) -> Table:
    """One label per provider group (kind and region) at the middle of its rows: label, y, x, providers."""
    ys: dict[tuple[str, str], list[float]] = {}  # first appearance order, as the chart lists them
    for side, g, r, y in zip(nodes["side"], nodes["group"], nodes["region"], nodes["y"].tolist()):
        if side == "provider":
            ys.setdefault((g, r), []).append(y)
    return {"label": [f"{g} {r} ({len(v)})" for (g, r), v in ys.items()],
            "y": [float(np.mean(v)) for v in ys.values()], "x": [1.0] * len(ys),
            "providers": [len(v) for v in ys.values()]}


def event_feed(model: OutsourcingModel, n: int = 12) -> Table:
    """The ``n`` latest permanent-contract events, newest first (price per hour, reserved hours per week, reason)."""
    rows = [(e.week, e.event.value.replace("_", " "), e.firm_id, e.provider_id, e.service.replace("_", " "),
             Channel(e.channel).name.lower(), e.price_per_hour, e.reserved_hours_per_week, e.reason)
            for e in reversed(model.contracts.last_events(n))]
    cols = ["week", "event", "firm", "provider", "service", "channel", "price (cu/h)", "reserved (h/week)", "reason"]
    return {c: [r[i] for r in rows] for i, c in enumerate(cols)}


def decisions_note(model: OutsourcingModel, firm_id: int) -> str | None:
    """Why a firm's decision trail stays empty whatever happens: the run records no sourcing reviews, or
    records those of some firms only and not this one's; None when its reviews are recorded."""
    log = model.decisions
    if not log.enabled:
        why = (f"run.record = {record_level(model.cfg)}" if model.cfg.run.record_decisions
               else "run.record_decisions = false")
        return f"This run does not record sourcing reviews ({why})."
    if log.keep_firms is not None and 0 <= firm_id < len(log.keep_firms) and not log.keep_firms[firm_id]:
        return (f"This run records the sourcing reviews of {int(log.keep_firms.sum())} firms only "
                f"(run.decision_sample or run.decision_firms); firm {firm_id} is not among them.")
    return None


def decision_trail(model: OutsourcingModel, firm_id: int, n: int = 8) -> Table:
    """The firm's ``n`` latest sourcing reviews, newest first: the options' expected weekly costs and the choice.

    Columns: week, service, before, one column per option label (cu/week, NaN = unavailable), cheapest,
    choice, outcome, provider, "price (cu/h)". Empty when the run does not record decisions.
    """
    cols = ["week", "service", "before", *OPTION_LABELS.values(), "cheapest", "choice", "outcome", "provider",
            "price (cu/h)"]
    out: Table = {c: [] for c in cols}
    if not model.decisions.enabled or not 0 <= firm_id < len(model.firm_agents):
        return out
    for r in model.firm_agents[firm_id].decision_trail(n)[::-1] if n > 0 else []:
        costs = {OPTION_LABELS[o]: float(r[f"cost_{o}"]) for o in OPTIONS}
        finite = {k: v for k, v in costs.items() if math.isfinite(v)}
        row = {"week": int(r["week"]), "service": str(r["service"]).replace("_", " "),
               "before": str(r["mode_before"]).replace("_", "-"), **costs,
               "cheapest": min(finite, key=finite.get) if finite else "",
               "choice": OPTION_LABELS.get(str(r["choice"]), str(r["choice"])),
               "outcome": str(r["outcome"]).replace("_", " "), "provider": int(r["provider_id"]),
               "price (cu/h)": float(r["price_per_hour"])}
        for c in cols:
            out[c].append(row[c])
    return out


def firm_summary(model: OutsourcingModel, firm_id: int) -> Table:
    """Where a firm stands now, one row per service: kind, mode, channel, contract provider and loyalty y."""
    cols = ["service", "kind", "mode", "channel", "provider", "price (cu/h)", "loyalty y"]
    if not 0 <= firm_id < len(model.firm_agents):
        return {c: [] for c in cols}
    firm, sl, cat = model.firm_agents[firm_id], model.slots, model.catalogue
    s = firm.slots
    contracts = firm.contracts
    return {
        "service": [name.replace("_", " ") for name in firm.services],
        "kind": [KINDS[cat.kind[v]].upper() for v in sl.service[s]],
        "mode": [mode.name.lower().replace("_", "-") for mode in firm.modes.values()],
        "channel": [Channel(int(c)).name.lower() for c in sl.channel[s]],
        "provider": [contracts[name].provider_id if name in contracts else -1 for name in firm.services],
        "price (cu/h)": [contracts[name].price_per_hour if name in contracts else np.nan for name in firm.services],
        "loyalty y": loyalty(sl.preference[s], sl.known[s]),
    }


def headline(model: OutsourcingModel) -> dict[str, Any]:
    """The latest week's key numbers for the page's status line (NaN before the first week)."""
    mv = model.datacollector.model_vars

    def last(name: str) -> float:
        values = mv.get(name, [])
        return float(values[-1]) if values else float("nan")

    out: dict[str, Any] = {"week": model.week, "firms": len(model.firm_agents),
                           "active_providers": int(model.providers.view("active").sum())}
    for kind in kinds_present(model):
        out[f"permanent_share_{kind}"] = last(f"permanent_share_{kind}")
    for name in ("on_call_share", "in_house_share", "loyalty_mean", "mean_price_bpo", "mean_price_kpo",
                 "provider_utilization", "unmet_share", "demand_level"):
        out[name] = last(name)
    out["active_contracts"] = int(np.count_nonzero(model.contracts.active))
    return out


def _thin(n: int, max_points: int) -> np.ndarray:
    """Indices of at most ``max_points`` evenly spaced items out of ``n``, always including the last."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.r_[np.linspace(0, n - 1, max_points).round().astype(int), n - 1])


def _spread(n: int, rows: int) -> np.ndarray:
    """``n`` positions spread evenly over rows 0 .. rows - 1, each in the middle of its share."""
    return (np.arange(n) + 0.5) * rows / max(n, 1) - 0.5


def _edge_hours(firm: np.ndarray, provider: np.ndarray, form: np.ndarray, hours: np.ndarray) -> Table:
    """Hours summed per (firm, provider, form), positive only, sorted by firm, provider, form (0 on-call,
    1 permanent): columns firm_id, provider_id, form ("on-call" / "permanent"), hours."""
    keep = hours > 0
    firm, provider, form, hours = firm[keep], provider[keep], form[keep], hours[keep]
    key = (firm.astype(np.int64) * (int(provider.max(initial=0)) + 1) + provider) * 2 + form
    uniq, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return {"firm_id": firm[first], "provider_id": provider[first],
            "form": np.array(["on-call", "permanent"], dtype=object)[form[first]],
            "hours": np.bincount(inverse, weights=hours, minlength=len(uniq))}


def _series_label(key: str) -> str:
    """"on_call_bpo" -> "on-call BPO", "bpo" -> "BPO"."""
    *form, kind = key.split("_")
    return " ".join([*(["-".join(form)] if form else []), kind.upper()]).strip()
