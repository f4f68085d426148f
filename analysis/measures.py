"""Measures of which relationships emerge, for whom and why: pure functions on run tables.

Every function takes pandas DataFrames shaped like the run-folder tables (docs/run-folders.md) and
returns a DataFrame or a number; none reads files or touches a model, so each can be tested on a few
hand-made rows. The spell-survival and market-structure measures live in :mod:`analysis.survival` and
:mod:`analysis.structure`, the week windows in :mod:`analysis.stats`; they are re-exported here.

Sourcing modes are ``in_house``, ``on_call`` and ``permanent``. Form shares from metrics are shares of
all demand (hours); shares computed from relationships.parquet are shares of *outsourced* volume only,
because in-house work is not recorded per spell.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats import YEAR, last_window, window_rows  # noqa: F401
from analysis.structure import (  # noqa: F401
    entry_exit_by_year,
    hhi,
    hhi_by_service,
    in_window,
    offshore_price_ratio,
    price_summary,
    prices_over_time,
    weekly_profile,
    with_provider_region,
)
from analysis.survival import Survival, kaplan_meier, spell_summary, survival_by  # noqa: F401

MODES = ("in_house", "on_call", "permanent")
FORMS = ("on_call", "permanent")
LOYAL_AT, SEARCHER_BELOW = 0.8, 0.5

# Decision outcome -> sourcing mode after the review (simulation/model/sourcing/review.py: a permanent choice that
# ends without a contract falls back to on-call).
MODE_AFTER = {"kept": "permanent", "renewed": "permanent", "signed": "permanent", "in_house": "in_house",
              "on_call": "on_call", "on_call_broker": "on_call", "no_deal": "on_call", "no_capacity": "on_call"}


# ---------------------------------------------------------------- form shares

def form_shares(metrics: pd.DataFrame, kind: str | None = None) -> pd.DataFrame:
    """Weekly share of demand (hours) by mode, for all work or one kind (``"bpo"``/``"kpo"``).

    Returns:
        ``step`` and one column per mode, plus ``unmet`` (demand no one served: the remainder).
    """
    suffix = f"_{kind}" if kind else ""
    out = pd.DataFrame({"step": metrics["step"].to_numpy()})
    for mode in MODES:
        out[mode] = metrics[f"{mode}_share{suffix}"].to_numpy()
    out["unmet"] = (1.0 - out[list(MODES)].sum(axis=1)).clip(lower=0.0)
    return out


def first_week_above(metrics: pd.DataFrame, above: str, below: str) -> int | None:
    """First week in which metric ``above`` exceeds metric ``below`` (None if it never does)."""
    hit = metrics.loc[metrics[above] > metrics[below], "step"]
    return int(hit.iloc[0]) if len(hit) else None


def stays_above_from(metrics: pd.DataFrame, above: str, below: str) -> int | None:
    """First week from which metric ``above`` exceeds ``below`` in every week to the end (None if not at the end)."""
    a = (metrics[above] > metrics[below]).to_numpy()
    if not len(a) or not a[-1]:
        return None
    not_above = np.flatnonzero(~a)
    return int(metrics["step"].iloc[not_above[-1] + 1 if len(not_above) else 0])


def segment_form_shares(spells: pd.DataFrame, firms: pd.DataFrame, providers: pd.DataFrame, by: str,
                        window: tuple[int, int] | None = None) -> pd.DataFrame:
    """Share of *outsourced* volume by form within each segment (in-house work is not in spells).

    Args:
        spells: relationships.
        firms, providers: agent tables (for the firm's ``size_class`` or the provider's ``region``).
        by: ``"size_class"`` (of the buying firm), ``"region"`` (of the provider) or ``"kind"``.
        window: optional (first, last) weeks; spell volumes are pro-rated into it.

    Returns:
        One row per segment: ``on_call`` and ``permanent`` shares (summing to 1) and ``volume_hours``.
    """
    s = in_window(spells, window)
    if by == "size_class":
        s = s.assign(size_class=s["firm_id"].map(firms.set_index("firm_id")["size_class"]))
    elif by == "region":
        s = with_provider_region(s, providers)
    vol = s.groupby([by, "form"], observed=True)["volume_hours"].sum().unstack("form")
    vol = vol.reindex(columns=list(FORMS)).fillna(0.0)
    total = vol.sum(axis=1)
    out = vol.div(total.where(total > 0), axis=0)
    out["volume_hours"] = total
    out.columns.name = None
    return out.reset_index().rename(columns={by: "segment"})


# ---------------------------------------------------------------- transitions and renewals

def mode_after(decisions: pd.DataFrame) -> pd.Series:
    """Sourcing mode after each review, from its outcome (see ``MODE_AFTER``)."""
    return decisions["outcome"].astype(str).map(MODE_AFTER)


def on_call_mode_by_segment(decisions: pd.DataFrame, firms: pd.DataFrame, window: tuple[int, int],
                            by: str = "size_class") -> pd.DataFrame:
    """Among firm-services that outsource, the share whose chosen mode is on-call, per firm segment.

    Each firm-service counts once, with the mode after its last review in the window (see ``mode_after``:
    a permanent choice that got no contract is on-call). Columns: ``segment``, ``outsourcing`` (firm-services
    in permanent or on-call mode) and ``on_call_mode_share``.
    """
    d = decisions[(decisions["week"] >= window[0]) & (decisions["week"] <= window[1])]
    last = d.sort_values("week", kind="stable").groupby(["firm_id", "service"], observed=True).tail(1)
    mode = mode_after(last)
    out = last.assign(mode=mode.to_numpy(), segment=last["firm_id"].map(firms.set_index("firm_id")[by]).to_numpy())
    out = out[out["mode"] != "in_house"]
    table = out.groupby("segment", observed=True)["mode"].agg(
        outsourcing="size", on_call_mode_share=lambda m: float((m == "on_call").mean()))
    return table.reset_index()


def transition_matrix(decisions: pd.DataFrame, include_kept: bool = True) -> pd.DataFrame:
    """Counts of mode before -> mode after over all sourcing reviews (rows: before; columns: after).

    Args:
        decisions: the decision log.
        include_kept: count mid-term reviews that kept a running contract (permanent -> permanent).
    """
    d = decisions if include_kept else decisions[decisions["outcome"].astype(str) != "kept"]
    table = pd.crosstab(d["mode_before"].astype(str), mode_after(d))
    table = table.reindex(index=list(MODES), columns=list(MODES)).fillna(0).astype(int)
    table.index.name, table.columns.name = "mode_before", "mode_after"
    return table


def conversion_times(decisions: pd.DataFrame) -> pd.DataFrame:
    """On-call -> permanent conversion per firm-service.

    For each firm-service with at least one review in on-call mode, the week of its first on-call
    review and of its first permanent signing at or after it (NaN if none: not converted by the
    horizon, a right-censored wait).

    Returns:
        ``firm_id, service, first_on_call_week, first_signed_week, weeks_to_permanent``.
    """
    d = decisions[["week", "firm_id", "service", "mode_before", "outcome"]].copy()
    d["service"] = d["service"].astype(str)
    oc = d[d["mode_before"].astype(str) == "on_call"].groupby(["firm_id", "service"])["week"].min()
    oc = oc.rename("first_on_call_week").reset_index()
    signed = d[d["outcome"].astype(str) == "signed"].merge(oc, on=["firm_id", "service"])
    signed = signed[signed["week"] >= signed["first_on_call_week"]]
    first = signed.groupby(["firm_id", "service"])["week"].min().rename("first_signed_week").reset_index()
    out = oc.merge(first, on=["firm_id", "service"], how="left")
    out["weeks_to_permanent"] = out["first_signed_week"] - out["first_on_call_week"]
    return out


def conversion_summary(decisions: pd.DataFrame) -> dict[str, float]:
    """Share of on-call firm-services that signed a permanent contract later, and how long it took.

    Returns:
        ``firm_services`` (with an on-call review), ``converted``, ``rate``, ``median_weeks`` and
        ``mean_weeks`` (among the converted; NaN if none).
    """
    c = conversion_times(decisions)
    done = c["weeks_to_permanent"].dropna()
    n = len(c)
    return {"firm_services": n, "converted": len(done), "rate": len(done) / n if n else float("nan"),
            "median_weeks": float(done.median()) if len(done) else float("nan"),
            "mean_weeks": float(done.mean()) if len(done) else float("nan")}


def renewal_rates(contracts: pd.DataFrame, by: str = "kind", window: tuple[int, int] | None = None) -> pd.DataFrame:
    """Renewal rate at term end per group: renewals / (renewals + expiries), from the ledger.

    A renewal is a ``renewed`` event, or an ``expired`` one followed in the same week by a ``signed`` contract
    of the same firm and service with the same provider (a brokered contract the firm renews directly with
    the provider, or the reverse): the client kept its provider. Terminations and provider exits happen
    before term end and are not counted.

    Args:
        contracts: the contract ledger.
        by: the column that names the groups (``kind``, ``service``, ...).
        window: optional (first, last) weeks: only events in those weeks count (default: all).

    Returns:
        One row per group with events: ``renewed``, ``expired`` (counts) and ``rate``.
    """
    ev = contracts if window is None else window_rows(contracts, window, "week")
    event = ev["event"].astype(str)
    keys = ["week", "firm_id", "service", "provider_id"]
    resigned = pd.MultiIndex.from_frame(ev.loc[event == "signed", keys].astype({"service": str}))
    kept = pd.MultiIndex.from_frame(ev[keys].astype({"service": str})).isin(resigned) & (event == "expired").to_numpy()
    ev = ev.assign(event=event.where(~kept, "renewed"))[event.isin(["renewed", "expired"])]
    t = pd.crosstab(ev[by].astype(str), ev["event"]).reindex(columns=["renewed", "expired"]).fillna(0)
    t["rate"] = t["renewed"] / (t["renewed"] + t["expired"])
    t.columns.name = None
    return t.reset_index()


# ---------------------------------------------------------------- loyalty

def on_call_concentration(spells: pd.DataFrame, window: tuple[int, int] | None = None) -> pd.DataFrame:
    """Per firm-service: how concentrated its on-call spend is on its top provider.

    This is the empirical counterpart of the loyalty order parameter y (Weisbuch, Kirman & Herreiner
    2000), which the model does not save per firm: ``top_share`` is the share of the firm-service's
    on-call spend that went to its most-used provider, ``hhi_share`` the sum of squared provider shares
    (the same formula as y, with spend in place of the preference J). Permanent work is left out.

    Returns:
        ``firm_id, service, spend, providers, top_share, hhi_share``, one row per firm-service with
        on-call spend in the window.
    """
    s = in_window(spells[spells["form"].astype(str) == "on_call"], window)
    s = s[s["spend"] > 0]
    cols = ["firm_id", "service", "spend", "providers", "top_share", "hhi_share"]
    if s.empty:
        return pd.DataFrame(columns=cols)
    by_p = s.assign(service=s["service"].astype(str)).groupby(["firm_id", "service", "provider_id"])["spend"].sum()
    g = by_p.groupby(level=["firm_id", "service"])
    total = g.sum()
    share = by_p / total.reindex(by_p.index.droplevel("provider_id")).to_numpy()
    out = pd.DataFrame({"spend": total, "providers": g.size(), "top_share": g.max() / total,
                        "hhi_share": (share ** 2).groupby(level=["firm_id", "service"]).sum()})
    return out.reset_index()[cols]


def bimodality_coefficient(x: np.ndarray | pd.Series) -> float:
    """Sarle's bimodality coefficient b = (g^2 + 1) / (k + 3 (n-1)^2 / ((n-2)(n-3))).

    g is the sample skewness and k the sample excess kurtosis, both bias-corrected (as in SAS). b ranges
    over (0, 1]; values above 5/9 (that of a uniform distribution) suggest two modes. NaN when n < 4 or
    the values do not vary.
    """
    v = np.asarray(x, dtype=float)
    v = v[np.isfinite(v)]
    n = len(v)
    if n < 4:
        return float("nan")
    d = v - v.mean()
    m2, m3, m4 = (d ** 2).mean(), (d ** 3).mean(), (d ** 4).mean()
    if m2 <= 0:
        return float("nan")
    g = np.sqrt(n * (n - 1)) / (n - 2) * m3 / m2 ** 1.5
    k = (n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * (m4 / m2 ** 2 - 3) + 6)
    return float((g ** 2 + 1) / (k + 3 * (n - 1) ** 2 / ((n - 2) * (n - 3))))


def loyalty_summary(concentration: pd.DataFrame) -> dict[str, float]:
    """Loyal firm-services (top share >= 0.8), searchers (< 0.5) and the bimodality coefficient."""
    top = concentration["top_share"].to_numpy(dtype=float)
    n = len(top)
    return {"firm_services": n,
            "loyal_share": float(np.mean(top >= LOYAL_AT)) if n else float("nan"),
            "searcher_share": float(np.mean(top < SEARCHER_BELOW)) if n else float("nan"),
            "mean_top_share": float(top.mean()) if n else float("nan"),
            "bimodality": bimodality_coefficient(top)}


# ---------------------------------------------------------------- surplus and brokers

def surplus_by_year(metrics: pd.DataFrame) -> pd.DataFrame:
    """Firm surplus and provider profit summed per year of the run (cu), and the provider's share of the sum."""
    m = metrics.assign(year=(metrics["step"] - 1) // YEAR + 1)
    out = m.groupby("year")[["firm_surplus", "provider_profit"]].sum()
    total = out["firm_surplus"] + out["provider_profit"]
    out["provider_share"] = out["provider_profit"] / total.where(total > 0)
    return out.reset_index()


def broker_shares(spells: pd.DataFrame, firms: pd.DataFrame, by: str = "size_class") -> pd.DataFrame:
    """Broker share of matches (spells through a broker / all spells) and of volume, per segment.

    Args:
        spells: relationships (``channel`` is ``direct`` or ``broker``).
        firms: firm table, for ``by="size_class"``.
        by: ``"size_class"`` (of the buying firm), ``"kind"`` or ``"form"``.
    """
    s = spells
    if by == "size_class":
        s = s.assign(size_class=s["firm_id"].map(firms.set_index("firm_id")["size_class"]))
    s = s.assign(broker=s["channel"].astype(str) == "broker", seg=s[by].astype(str))
    s = s.assign(broker_volume=s["volume_hours"].where(s["broker"], 0.0))
    g = s.groupby("seg")
    out = pd.DataFrame({"spells": g.size(), "broker_spells": g["broker"].sum(),
                        "volume_hours": g["volume_hours"].sum(), "broker_volume": g["broker_volume"].sum()})
    out["match_share"] = out["broker_spells"] / out["spells"]
    out["volume_share"] = out["broker_volume"] / out["volume_hours"].where(out["volume_hours"] > 0)
    return out.reset_index().rename(columns={"seg": "segment"})
