"""Statistics over replications and paired comparisons (analysis/replications.py) on hand-made run folders."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from analysis.replications import compare, format_comparison, summarise, write_comparison, write_summary
from analysis.stats import holm, paired_p_values


def _fake_run(folder, values: dict[str, list[float]]):
    """A run folder whose metrics.parquet holds the given weekly series (steps 1..T)."""
    folder.mkdir(parents=True)
    T = len(next(iter(values.values())))
    pd.DataFrame({"step": np.arange(1, T + 1), **values}).to_parquet(folder / "metrics.parquet", index=False)
    return folder


def test_summary_gives_mean_and_t_interval_per_metric_and_week(tmp_path):
    """Across three runs the summary holds the mean and mean +- t(0.975, 2) sd / sqrt(3), per week."""
    runs = [_fake_run(tmp_path / f"r{i}", {"x": [v, 2 * v]}) for i, v in enumerate([1.0, 2.0, 6.0])]
    s = summarise(runs).set_index(["metric", "step"])
    half = stats.t.ppf(0.975, 2) * np.std([1.0, 2.0, 6.0], ddof=1) / np.sqrt(3)
    assert s.loc[("x", 1), "mean"] == pytest.approx(3.0)
    assert s.loc[("x", 1), "lo"] == pytest.approx(3.0 - half)
    assert s.loc[("x", 2), "hi"] == pytest.approx(6.0 + 2 * half)
    assert s.loc[("x", 2), "n"] == 3


def test_write_summary_writes_summary_parquet_and_nothing_without_replications(tmp_path):
    """summary.parquet holds the summary's columns; with no finished replication no file is written."""
    runs = [_fake_run(tmp_path / f"r{i}", {"x": [float(i)]}) for i in range(2)]
    path = write_summary(tmp_path, runs)
    assert path == tmp_path / "summary.parquet"
    assert list(pd.read_parquet(path).columns) == ["metric", "step", "mean", "lo", "hi", "n"]
    assert write_summary(tmp_path / "empty", []) is None and not (tmp_path / "empty").exists()


def test_paired_comparison_uses_per_seed_differences_over_the_window(tmp_path):
    """Differences are taken seed by seed over the window; a constant shift is significant, noise alone is not."""
    base, what = [], []
    for i, level in enumerate([0.2, 0.5, 0.8]):  # large between-seed spread, identical +0.1 shift
        base.append(_fake_run(tmp_path / f"b{i}", {"permanent_share": [9.0, level, level], "unmet_share": [0, 0.1, 0.2]}))
        what.append(_fake_run(tmp_path / f"w{i}", {"permanent_share": [0.0, level + 0.1, level + 0.1],
                                                    "unmet_share": [0, 0.1 + 0.01 * (i - 1), 0.2 - 0.01 * (i - 1)]}))
    t = compare(base, what, (2, 3)).set_index("metric")
    assert t.loc["permanent_share", "diff_mean"] == pytest.approx(0.1)
    assert t.loc["permanent_share", "diff_lo"] == pytest.approx(0.1)  # no spread in the paired differences
    assert bool(t.loc["permanent_share", "significant"])
    assert t.loc["permanent_share", "base_mean"] == pytest.approx(0.5)  # week 1 (9.0) is outside the window
    assert t.loc["unmet_share", "diff_mean"] == pytest.approx(0.0)
    assert not bool(t.loc["unmet_share", "significant"])


def test_comparison_is_saved_as_parquet_and_csv_and_printed_row_by_row(tmp_path):
    """comparison.parquet and comparison.csv hold the same table; the terminal table has one line per metric."""
    base = [_fake_run(tmp_path / f"b{i}", {"permanent_share": [0.1 * i, 0.2]}) for i in range(2)]
    what = [_fake_run(tmp_path / f"w{i}", {"permanent_share": [0.1 * i + 0.3, 0.2]}) for i in range(2)]
    table = compare(base, what, (1, 1))
    write_comparison(tmp_path, table)
    pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "comparison.parquet"), table)
    assert list(pd.read_csv(tmp_path / "comparison.csv").columns) == list(table.columns)
    text = format_comparison(table, (1, 1)).splitlines()
    assert text[0].startswith("Paired comparison over weeks 1-1 (2 seed pairs")
    assert len(text) == 4 and text[2].split()[0] == "permanent_share" and text[2].split()[-2:] == ["yes", "yes"]
    assert text[3].startswith("Warning: with 2 runs per mean the 95% intervals are very wide (t = 12.7)")


def test_share_intervals_stay_in_the_unit_interval_and_many_metrics_get_holm(tmp_path):
    """Two seeds give a t interval of +-12.7 sd: a share's interval is clipped to [0, 1] (its difference to
    [-1, 1]); with 16 metrics, Holm's adjustment only removes "significant" where the raw test was marginal."""
    runs = [_fake_run(tmp_path / f"r{i}", {"permanent_share": [0.05 + 0.9 * i], "demand_hours": [1.0 + 10 * i]})
            for i in range(2)]
    summary = summarise(runs).set_index("metric")
    assert summary.loc["permanent_share", "lo"] == 0.0 and summary.loc["permanent_share", "hi"] == 1.0
    assert summary.loc["demand_hours", "lo"] < 0  # not a share: never clipped
    p = np.array([0.001, 0.01, 0.02, 0.04, 0.5])
    assert holm(p) == pytest.approx([0.005, 0.04, 0.06, 0.08, 0.5])
    assert np.isnan(holm([np.nan, 0.01])[0]) and holm([np.nan, 0.01])[1] == pytest.approx(0.01)
    assert paired_p_values([0.5], [0.1], [10])[0] == pytest.approx(2 * stats.t.sf(0.5 / (0.1 / 10 ** 0.5), 9))
