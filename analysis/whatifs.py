"""Several what-ifs against one base, phase by phase: effects in their units, verdicts in plain words.

A what-if's events split its run into phases (:func:`phases`): ``before`` its first event, ``during``
its events (from the first start to the last end of a ramp, at least a quarter long), and ``after``
them. Each key metric is compared with the base on common seeds in each phase (the paired comparison
of :func:`analysis.replications.compare`, Holm-adjusted over the metrics of a phase), and its effect is
stated in its unit (:func:`effect_unit`): percentage points for shares, cu/h for prices, and percent
of the base for everything else. :func:`recovery_week` finds when a lasting effect has faded, and
:func:`verdict` says it all in one line.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from analysis.metric_units import METRIC_UNITS, UNIT_INTERVAL_METRICS
from analysis.replications import compare, metrics_of
from analysis.stats import CONFIDENCE, t_half_width

PHASES = ("before", "during", "after")
MIN_DURING_WEEKS = 13  # a single-week shock is judged over the quarter it starts
RECOVERY_SMOOTHING = 13  # weeks of the trailing mean the recovery test looks at
VERDICT_METRIC = "permanent_share"
RunSource = Path | pd.DataFrame  # a run folder, or its metrics table already read


def phases(events: Sequence[dict], steps: int) -> list[tuple[str, int, int]]:
    """(phase, first week, last week) of a run of ``steps`` weeks with these events (``at``, ``ramp_weeks``).

    Without events the whole run is one phase, ``all``.
    """
    spans = [(int(e["at"]), int(e["at"]) + max(int(e.get("ramp_weeks") or 0), 1) - 1) for e in events if "at" in e]
    spans = [(a, b) for a, b in spans if a <= steps]
    if not spans:
        return [("all", 1, steps)]
    first = max(1, min(a for a, _ in spans))
    end = min(steps, max(max(b for _, b in spans), first + MIN_DURING_WEEKS - 1))
    out = [("before", 1, first - 1)] if first > 1 else []
    out.append(("during", first, end))
    if end < steps:
        out.append(("after", end + 1, steps))
    return out


def effect_unit(metric: str) -> str:
    """How an effect on ``metric`` is stated: ``pp`` (shares), ``cu/h`` (prices) or ``%`` (of the base)."""
    unit = METRIC_UNITS.get(metric, "")
    if metric in UNIT_INTERVAL_METRICS or unit.startswith("share"):
        return "pp"
    return "cu/h" if unit == "cu/hour" else "%"


def compare_phases(base_dirs: Sequence[RunSource], whatif_dirs: Sequence[RunSource], events: Sequence[dict], steps: int,
                   whatif: str) -> pd.DataFrame:
    """The paired comparison of one what-if with the base in each of its phases.

    Returns:
        One row per (metric, phase): ``whatif, phase, first_week, last_week``, the columns of
        :func:`analysis.replications.compare`, then ``unit, effect, effect_lo, effect_hi`` (the mean
        difference and its interval in the unit; ``%`` is relative to the base mean).
    """
    frames = []
    for phase, first, last in phases(events, steps):
        table = compare(list(base_dirs), list(whatif_dirs), (first, last))
        frames.append(table.assign(whatif=whatif, phase=phase, first_week=first, last_week=last))
    return _in_unit(pd.concat(frames, ignore_index=True))


def _in_unit(table: pd.DataFrame) -> pd.DataFrame:
    """Add ``unit, effect, effect_lo, effect_hi`` to comparison rows and put the identifying columns first."""
    out = table.copy()
    out["unit"] = out["metric"].map(effect_unit)
    scale = np.select([out["unit"] == "pp", out["unit"] == "%"],
                      [100.0, 100.0 / out["base_mean"].where(out["base_mean"] != 0)], 1.0)
    for col, src in (("effect", "diff_mean"), ("effect_lo", "diff_lo"), ("effect_hi", "diff_hi")):
        out[col] = out[src] * scale
    first = ["whatif", "metric", "phase", "first_week", "last_week"]
    return out[first + [c for c in out.columns if c not in first]]


def compare_whatifs(whatifs: Sequence[tuple[str, Sequence[dict], Sequence[tuple[Path, Path]]]], steps: int,
                    window: tuple[int, int] | None = None) -> tuple[pd.DataFrame, list[str]]:
    """Every what-if against the base, phase by phase (and over ``window`` if given), with one verdict each.

    Args:
        whatifs: per what-if its name, its events (config dicts with ``at`` and ``ramp_weeks``) and its
            (base run folder, what-if run folder) seed pairs.
        steps: weeks run.
        window: an extra inclusive (first, last) window, reported as the phase ``window``.

    Returns:
        The long table of :func:`compare_phases` for all what-ifs, and the verdicts in what-if order.
    """
    tables, verdicts = [], []
    for name, events, pairs in whatifs:  # each run's metrics read once, for every phase and the recovery
        base_dirs, whatif_dirs = [metrics_of(b) for b, _ in pairs], [metrics_of(w) for _, w in pairs]
        table = compare_phases(base_dirs, whatif_dirs, events, steps, name)
        after = table[(table["phase"] == "after") & (table["metric"] == VERDICT_METRIC)]
        since = int(after["first_week"].iloc[0]) if len(after) else steps + 1
        verdicts.append(verdict(table, recovery_week(base_dirs, whatif_dirs, VERDICT_METRIC, since), steps))
        if window is not None:
            table = pd.concat([table, _in_unit(compare(base_dirs, whatif_dirs, window).assign(
                whatif=name, phase="window", first_week=window[0], last_week=window[1]))], ignore_index=True)
        tables.append(table)
    return pd.concat(tables, ignore_index=True), verdicts


def weekly_differences(base_dirs: Sequence[RunSource], whatif_dirs: Sequence[RunSource], metric: str) -> pd.DataFrame:
    """What-if minus base of a weekly metric, one column per seed pair, indexed by week."""
    def series(d: RunSource) -> pd.Series:
        return metrics_of(d).set_index("step")[metric]

    return pd.DataFrame({i: series(w) - series(b) for i, (b, w) in enumerate(zip(base_dirs, whatif_dirs))})


def recovery_week(base_dirs: Sequence[RunSource], whatif_dirs: Sequence[RunSource], metric: str,
                  since: int) -> int | None:
    """The first week from ``since`` on after which the what-if's effect is gone for good: the 95% interval of
    the mean paired difference (over a trailing quarter) includes 0 in that week and every later one.

    Returns:
        The week, or None if the effect lasts to the end.
    """
    diffs = weekly_differences(base_dirs, whatif_dirs, metric).rolling(RECOVERY_SMOOTHING, min_periods=1).mean()
    diffs = diffs[diffs.index >= since]
    if diffs.empty:
        return None
    n = diffs.notna().sum(axis=1).to_numpy()
    half = t_half_width(diffs.std(axis=1, ddof=1).to_numpy(), n)
    mean = diffs.mean(axis=1).to_numpy()
    covers = np.abs(mean) <= np.nan_to_num(half, nan=np.inf)
    if not covers[-1]:
        return None
    lasting = np.flatnonzero(~covers)
    return int(diffs.index[lasting[-1] + 1]) if len(lasting) else int(diffs.index[0])


def format_effect(row) -> str:
    """``-0.4 pp [-1.1, +0.3]``: an effect with its 95% interval in its unit."""
    if not np.isfinite(row.effect):
        return "n/a"
    digits, unit = (2, " cu/h") if row.unit == "cu/h" else (1, " pp" if row.unit == "pp" else "%")
    interval = (f" [{row.effect_lo:+.{digits}f}, {row.effect_hi:+.{digits}f}]"
                if np.isfinite(row.effect_lo) and np.isfinite(row.effect_hi) else "")
    return f"{row.effect:+.{digits}f}{unit}{interval}"


def _change(row, when: str) -> str:
    """``unchanged during the events (-0.4 pp [-1.1, +0.3])`` or ``18.0 pp lower after them (...)``."""
    if not row.significant:
        return f"unchanged {when} ({format_effect(row)})"
    size = f"{abs(row.effect):.{2 if row.unit == 'cu/h' else 1}f}{' pp' if row.unit == 'pp' else row.unit}"
    return f"{size} {'higher' if row.effect > 0 else 'lower'} {when} ({format_effect(row)})"


def metric_words(metric: str) -> str:
    """A metric's name as words: ``on_call_share_kpo`` -> ``on-call share KPO``."""
    words = metric.replace("on_call", "on-call").split("_")
    return " ".join(w.upper() if w in ("bpo", "kpo") else w for w in words)


PHASE_WORDS = {"before": "before the events", "during": "during the events", "after": "after them",
               "all": "over the run", "window": "in the chosen window"}


def verdict(table: pd.DataFrame, recovered: int | None, steps: int, metric: str = VERDICT_METRIC) -> str:
    """One line on one what-if: the verdict metric in each phase from the first event on, when it recovers,
    and the strongest other effect (smallest Holm-adjusted p-value) in the last phase.

    Args:
        table: the rows of one what-if from :func:`compare_phases`.
        recovered: :func:`recovery_week` of the verdict metric after the events.
    """
    rows = table[(table["metric"] == metric) & table["phase"].isin(("during", "after", "all"))]
    clauses = [_change(r, PHASE_WORDS[r.phase]) for r in rows.itertuples()]
    text = f"{table['whatif'].iloc[0]}: {metric_words(metric)} " + "; ".join(clauses)
    after = rows[rows["phase"] == "after"]
    if len(after) and after["significant"].iloc[0]:  # only an effect that lasts after the events can recover
        text += f"; recovers by week {recovered}" if recovered is not None else f"; not recovered by week {steps}"
    final_phase = rows["phase"].iloc[-1] if len(rows) else table["phase"].iloc[-1]
    others = table[(table["phase"] == final_phase) & (table["metric"] != metric) & table["significant_holm"]]
    if len(others):
        strongest = others.sort_values("p_holm", kind="stable").iloc[0]
        text += (f". Strongest other effect {PHASE_WORDS[final_phase]}: {metric_words(strongest.metric)} "
                 f"{format_effect(strongest)}")
    return text + "."


def effects_pivot(table: pd.DataFrame) -> pd.DataFrame:
    """The effects as text, a row per (phase, metric) in phase order and a column per what-if; ``*`` marks an
    effect significant after Holm's adjustment, ``-`` a phase the what-if does not have."""
    names = list(dict.fromkeys(table["whatif"]))
    order = {p: i for i, p in enumerate((*PHASES, "all", "window"))}
    cells = table.assign(text=[format_effect(r) + ("*" if r.significant_holm else "") for r in table.itertuples()])
    wide = cells.pivot_table(index=["phase", "metric"], columns="whatif", values="text", aggfunc="first", sort=False)
    metric_order = {m: i for i, m in enumerate(dict.fromkeys(table["metric"]))}
    wide = wide.reindex(columns=names).fillna("-").reset_index()
    wide = wide.sort_values(["phase", "metric"], key=lambda c: c.map(order if c.name == "phase" else metric_order))
    return wide.rename_axis(columns=None).reset_index(drop=True)


def holm_footnote(table: pd.DataFrame) -> str:
    return (f"* significant after Holm's adjustment over the {table['metric'].nunique()} metrics of a phase "
            f"(the chance of any false * among them is at most {1 - CONFIDENCE:.0%})")


def format_whatifs(table: pd.DataFrame, verdicts: Sequence[str]) -> str:
    """The terminal table: a column per what-if, a row per (phase, metric), then the verdicts."""
    pivot = effects_pivot(table)
    names = [c for c in pivot.columns if c not in ("phase", "metric")]
    lines = [f"Paired comparison with the base on {int(table['n'].max())} common seeds (95% t intervals; "
             "pp = percentage points, % = of the base):"]
    for name in names:
        spans = table[table["whatif"] == name].drop_duplicates("phase")
        lines.append(f"  {name}: " + ", ".join(f"{r.phase} weeks {r.first_week}-{r.last_week}"
                                               for r in spans.itertuples()))
    width = max(30, *(len(n) + 2 for n in names))
    lines.append(f"  {'phase':8}{'metric':24}" + "".join(f"{n:>{width}}" for n in names))
    before = table[table["phase"] == "before"]
    identical = len(before) and bool((before[["diff_mean", "diff_lo", "diff_hi"]] == 0).all().all())
    for r in pivot.itertuples(index=False):
        if not (identical and r.phase == "before"):
            lines.append(f"  {r.phase:8}{r.metric:24}" + "".join(f"{v:>{width}}" for v in r[2:]))
    if identical:
        lines.append("  before: every metric equals the base's exactly, seed by seed (common random numbers)")
    lines += [f"  {holm_footnote(table)}", "", "Verdicts:", *(f"  {v}" for v in verdicts)]
    return "\n".join(lines)
