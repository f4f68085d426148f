"""Market structure from run tables: concentration, prices, entry and exit.

Spells (relationships.parquet) hold a total volume and spend over their weeks, not a weekly series.
Where a measure needs a time window (the last year, a quarter), a spell's volume and spend are spread
evenly over its weeks ``start_week..end_week`` and the part inside the window is kept ("pro-rating").
That is exact for permanent spells (reserved hours are paid weekly) and an approximation for on-call
spells, whose work is uneven from week to week.

Windows are inclusive (first, last) pairs of weeks, as everywhere in analysis/ (:mod:`analysis.stats`).

Prices are what the firm paid per hour of work, ``spend / volume_hours``, broker fees included.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analysis.stats import YEAR


def overlap_fraction(spells: pd.DataFrame, first: int, last: int) -> np.ndarray:
    """Share of each spell's weeks that fall inside ``first..last`` (inclusive)."""
    lo = np.maximum(spells["start_week"].to_numpy(), first)
    hi = np.minimum(spells["end_week"].to_numpy(), last)
    weeks = (spells["end_week"] - spells["start_week"] + 1).to_numpy()
    return np.clip(hi - lo + 1, 0, None) / np.maximum(weeks, 1)


def in_window(spells: pd.DataFrame, window: tuple[int, int] | None) -> pd.DataFrame:
    """Spells overlapping ``window`` with ``volume_hours`` and ``spend`` cut to their part inside it.

    ``window=None`` keeps every spell whole.
    """
    if window is None:
        return spells
    frac = overlap_fraction(spells, *window)
    out = spells.loc[frac > 0].copy()
    out["volume_hours"] = out["volume_hours"] * frac[frac > 0]
    out["spend"] = out["spend"] * frac[frac > 0]
    return out


def weekly_profile(spells: pd.DataFrame, column: str, steps: int) -> np.ndarray:
    """Total of ``column`` per week 1..steps with each spell's amount spread evenly over its weeks."""
    diff = np.zeros(steps + 2)
    if len(spells):
        start = spells["start_week"].to_numpy().clip(1, steps)
        end = spells["end_week"].to_numpy().clip(1, steps)
        per_week = spells[column].to_numpy() / np.maximum(end - start + 1, 1)
        np.add.at(diff, start, per_week)
        np.add.at(diff, end + 1, -per_week)
    return np.cumsum(diff)[1:steps + 1]


def hhi(volumes: np.ndarray | pd.Series) -> float:
    """Herfindahl-Hirschman index of the given volumes, on the usual 0-10,000 scale (NaN if no volume)."""
    v = np.asarray(volumes, dtype=float)
    total = v.sum()
    return float(10_000 * np.sum((v / total) ** 2)) if total > 0 else float("nan")


def hhi_by_service(spells: pd.DataFrame, window: tuple[int, int] | None = None) -> pd.DataFrame:
    """Concentration of providers per service, from the volume each provider served (all forms).

    Returns:
        One row per service: ``kind`` (if present), ``providers`` (with volume), ``hhi`` (0-10,000)
        and ``equivalent_providers`` (10,000 / HHI: the number of equal-sized providers with that HHI).
    """
    s = in_window(spells, window)
    rows = []
    for service, g in s.groupby("service", observed=True, sort=True):
        vol = g.groupby("provider_id")["volume_hours"].sum()
        vol = vol[vol > 0]
        h = hhi(vol)
        row = {"service": str(service), "providers": len(vol), "hhi": h,
               "equivalent_providers": 10_000 / h if h > 0 else float("nan")}
        if "kind" in g:
            row["kind"] = str(g["kind"].iloc[0])
        rows.append(row)
    return pd.DataFrame(rows, columns=["service", "kind", "providers", "hhi", "equivalent_providers"])


def with_provider_region(spells: pd.DataFrame, providers: pd.DataFrame) -> pd.DataFrame:
    """Spells with the provider's ``region`` (domestic/offshore) attached."""
    region = providers.set_index("provider_id")["region"]
    out = spells.copy()
    out["region"] = out["provider_id"].map(region).fillna("unknown").astype(object)
    return out


def price_summary(spells: pd.DataFrame, by: tuple[str, ...] = ("form", "kind"),
                  window: tuple[int, int] | None = None) -> pd.DataFrame:
    """Price level and dispersion per group of spells (cu per hour, broker fees included).

    Columns: ``spells``, ``volume_hours``, ``mean_price`` (volume-weighted: total spend / total
    hours), ``median_price``, ``p10_price``, ``p90_price`` (over spells, unweighted) and ``cv``
    (volume-weighted standard deviation of spell prices over the mean price).
    """
    s = in_window(spells, window)
    s = s[s["volume_hours"] > 0]
    rows = []
    for key, g in s.groupby(list(by), observed=True, sort=True):
        price = (g["spend"] / g["volume_hours"]).to_numpy()
        w = g["volume_hours"].to_numpy()
        mean = g["spend"].sum() / w.sum()
        sd = np.sqrt(np.average((price - mean) ** 2, weights=w))
        key = key if isinstance(key, tuple) else (key,)
        rows.append({**dict(zip(by, key)), "spells": len(g), "volume_hours": float(w.sum()), "mean_price": mean,
                     "median_price": float(np.median(price)), "p10_price": float(np.quantile(price, 0.1)),
                     "p90_price": float(np.quantile(price, 0.9)), "cv": sd / mean})
    return pd.DataFrame(rows, columns=[*by, "spells", "volume_hours", "mean_price", "median_price", "p10_price",
                                       "p90_price", "cv"])


def prices_over_time(spells: pd.DataFrame, steps: int, bin_weeks: int = 13,
                     by: tuple[str, ...] = ("form", "kind")) -> pd.DataFrame:
    """Mean price per period and group: pro-rated spend over pro-rated hours in each ``bin_weeks`` period.

    Returns:
        Long table with ``week`` (the period's last week), the ``by`` columns, ``volume_hours`` and
        ``price`` (NaN in periods without volume).
    """
    edges = np.arange(0, steps, bin_weeks)
    rows = []
    for key, g in spells.groupby(list(by), observed=True, sort=True):
        vol = np.add.reduceat(weekly_profile(g, "volume_hours", steps), edges)
        spend = np.add.reduceat(weekly_profile(g, "spend", steps), edges)
        key = key if isinstance(key, tuple) else (key,)
        with np.errstate(invalid="ignore", divide="ignore"):
            price = np.where(vol > 0, spend / vol, np.nan)
        rows.append(pd.DataFrame({"week": np.minimum(edges + bin_weeks, steps), **dict(zip(by, key)),
                                  "volume_hours": vol, "price": price}))
    if not rows:
        return pd.DataFrame(columns=["week", *by, "volume_hours", "price"])
    return pd.concat(rows, ignore_index=True)


def offshore_price_ratio(spells: pd.DataFrame, providers: pd.DataFrame, kind: str = "bpo",
                         window: tuple[int, int] | None = None) -> float:
    """Volume-weighted mean price of offshore providers over that of domestic ones, for one kind.

    NaN if either region served no volume of that kind in the window.
    """
    s = in_window(with_provider_region(spells[spells["kind"] == kind], providers), window)
    totals = s.groupby("region")[["spend", "volume_hours"]].sum()
    if not {"offshore", "domestic"} <= set(totals.index) or (totals["volume_hours"] <= 0).any():
        return float("nan")
    price = totals["spend"] / totals["volume_hours"]
    return float(price["offshore"] / price["domestic"])


def entry_exit_by_year(providers: pd.DataFrame, steps: int) -> pd.DataFrame:
    """Provider entries and exits per year of the run (year 1 = weeks 1-52), by kind.

    Providers present at the start (``entry_week`` 0, or below for the warm-up's entrants) are not entries;
    exits before week 1 (in the warm-up) are not counted; ``exit_week`` missing means still active.
    """
    years = np.arange(1, (steps - 1) // YEAR + 2)
    kinds = sorted(providers["kind"].astype(str).unique()) or ["bpo", "kpo"]
    out = pd.DataFrame([(y, k) for y in years for k in kinds], columns=["year", "kind"])
    p = providers.assign(kind=providers["kind"].astype(str))
    entered = p[p["entry_week"] > 0].assign(year=lambda d: (d["entry_week"] - 1) // YEAR + 1)
    exited = p[p["exit_week"].notna() & (p["exit_week"] >= 1)]
    exited = exited.assign(year=lambda d: (d["exit_week"].astype(int) - 1) // YEAR + 1)
    for name, df in (("entries", entered), ("exits", exited)):
        counts = df.groupby(["year", "kind"]).size().rename(name)
        out = out.merge(counts, on=["year", "kind"], how="left")
        out[name] = out[name].fillna(0).astype(int)
    return out
