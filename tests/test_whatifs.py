"""Phases, effects in their units, recovery and verdicts of what-ifs, on hand-made run folders with known answers."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from analysis.whatifs import (compare_whatifs, effect_unit, effects_pivot, format_whatifs, phases, recovery_week,
                              verdict)


@pytest.mark.parametrize("events, steps, expected", [
    ([], 100, [("all", 1, 100)]),
    ([{"at": 10, "ramp_weeks": 0}], 100, [("before", 1, 9), ("during", 10, 22), ("after", 23, 100)]),
    ([{"at": 10, "ramp_weeks": 30}, {"at": 50, "ramp_weeks": 5}], 100,
     [("before", 1, 9), ("during", 10, 54), ("after", 55, 100)]),
    ([{"at": 1, "ramp_weeks": 0}], 20, [("during", 1, 13), ("after", 14, 20)]),
    ([{"at": 95, "ramp_weeks": 26}], 100, [("before", 1, 94), ("during", 95, 100)]),
    ([{"at": 150}], 100, [("all", 1, 100)]),  # an event after the horizon never happens
])
def test_phases_follow_the_events(events, steps, expected):
    assert phases(events, steps) == expected


def test_effects_are_stated_in_their_units():
    assert effect_unit("permanent_share") == "pp" and effect_unit("loyalty_mean") == "pp"
    assert effect_unit("mean_price_bpo") == "cu/h"
    assert effect_unit("active_providers") == "%" and effect_unit("demand_hours") == "%"


def _runs(root, name: str, permanent: np.ndarray, providers: np.ndarray) -> list:
    dirs = []
    for seed in range(permanent.shape[0]):
        d = root / name / f"rep-{seed:03d}"
        d.mkdir(parents=True)
        pd.DataFrame({"step": np.arange(1, permanent.shape[1] + 1), "permanent_share": permanent[seed],
                      "active_providers": providers[seed]}).to_parquet(d / "metrics.parquet")
        dirs.append(d)
    return dirs


@pytest.fixture
def known(tmp_path):
    """Base: permanent share 0.3 every week. What-if (event at week 10, a one-week shock judged over weeks
    10-22): the same until week 22, then 0.1-0.11 lower (by seed) until week 39, and the same again from week 40;
    20 active providers against the base's 40 from week 10 on."""
    seeds, steps = 4, 60
    base_perm = np.full((seeds, steps), 0.3)
    what_perm = base_perm.copy()
    what_perm[:, 22:39] -= (0.1 + 0.01 * np.arange(seeds))[:, None]  # weeks 23-39
    base_prov = np.full((seeds, steps), 40.0)
    what_prov = base_prov.copy()
    what_prov[:, 9:] = 20.0
    base, what = _runs(tmp_path, "base", base_perm, base_prov), _runs(tmp_path, "whatif", what_perm, what_prov)
    return list(zip(base, what)), steps


def test_a_known_comparison_gives_its_effects_recovery_and_verdict(known):
    pairs, steps = known
    table, verdicts = compare_whatifs([("shock", [{"at": 10, "ramp_weeks": 0}], pairs)], steps)
    row = table.set_index(["metric", "phase"])
    after = row.loc[("permanent_share", "after")]
    expected = -100 * np.mean(0.1 + 0.01 * np.arange(4)) * 17 / 38  # 17 of the 38 weeks after, in pp
    assert after["unit"] == "pp" and after["effect"] == pytest.approx(expected)
    assert row.loc[("active_providers", "during"), "effect"] == pytest.approx(-50.0)  # % of the base
    assert not row.loc[("permanent_share", "during"), "significant"]
    base_dirs, what_dirs = [b for b, _ in pairs], [w for _, w in pairs]
    assert recovery_week(base_dirs, what_dirs, "permanent_share", 23) == 52  # 13-week trailing mean clears at 52
    assert recovery_week(base_dirs, what_dirs, "active_providers", 23) is None  # lasts to the end
    assert verdicts == [
        f"shock: permanent share unchanged during the events (+0.0 pp [+0.0, +0.0]); {abs(expected):.1f} pp lower "
        f"after them ({after['effect']:+.1f} pp [{after['effect_lo']:+.1f}, {after['effect_hi']:+.1f}]); "
        "recovers by week 52. Strongest other effect after them: active providers -50.0% [-50.0, -50.0]."]


def test_the_terminal_table_has_a_column_per_whatif_and_folds_an_identical_before_phase(known):
    pairs, steps = known
    table, verdicts = compare_whatifs([("shock", [{"at": 10}], pairs), ("late", [{"at": 30}], pairs)], steps,
                                      window=(5, 15))
    pivot = effects_pivot(table)
    assert list(pivot.columns) == ["phase", "metric", "shock", "late"]
    assert list(dict.fromkeys(pivot["phase"])) == ["before", "during", "after", "window"]
    text = format_whatifs(table, verdicts)
    assert "shock: before weeks 1-9, during weeks 10-22, after weeks 23-60, window weeks 5-15" in text
    assert "  before  active_providers" in text  # shown: "late" already differs before its event at week 30
    assert "every metric equals the base's exactly" not in text
    alone, _ = compare_whatifs([("shock", [{"at": 10}], pairs)], steps)
    text = format_whatifs(alone, verdicts[:1])
    assert "  before  " not in text and "every metric equals the base's exactly" in text


def test_a_verdict_never_says_an_effect_it_calls_unchanged_did_not_recover():
    """An after-phase effect whose interval covers 0 gets no recovery clause, even if the last quarter alone
    differs (one report must not say "unchanged" and "not recovered" of the same thing)."""
    rows = pd.DataFrame({"whatif": "w", "metric": ["permanent_share", "permanent_share", "on_call_share_kpo"],
                         "phase": ["during", "after", "after"], "unit": "pp", "effect": [0.7, 0.1, 2.0],
                         "effect_lo": [0.3, -0.5, 1.0], "effect_hi": [1.0, 0.8, 3.0], "significant": [True, False, True],
                         "significant_holm": [True, False, True], "p_holm": [0.01, 0.5, 0.001]})
    text = verdict(rows, recovered=None, steps=520)
    assert text == ("w: permanent share 0.7 pp higher during the events (+0.7 pp [+0.3, +1.0]); unchanged after them "
                    "(+0.1 pp [-0.5, +0.8]). Strongest other effect after them: on-call share KPO +2.0 pp [+1.0, +3.0].")
