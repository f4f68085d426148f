"""Replications, paired comparisons and the Dask executor layer (simulation/executor.py, experiments.py)."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from simulation import load_scenario
from simulation.cli import main
from simulation.executor import Executor, Task, derive_seeds, run_task
from simulation.experiments import compare, run_replications, summarise

from conftest import BASELINE, ROOT

TINY = {"firms.count": 60, "providers.bpo_count": 6, "providers.kpo_count": 3, "run.steps": 40}


def _fake_run(folder, values: dict[str, list[float]]):
    """A run folder whose metrics.parquet holds the given weekly series (steps 1..T)."""
    folder.mkdir(parents=True)
    T = len(next(iter(values.values())))
    pd.DataFrame({"step": np.arange(1, T + 1), **values}).to_parquet(folder / "metrics.parquet", index=False)
    return folder


def test_derived_seeds_are_reproducible_distinct_and_depend_on_the_base_seed():
    """SeedSequence-derived seeds repeat for the same base seed, differ from each other and from another base."""
    a, b = derive_seeds(7, 20), derive_seeds(7, 20)
    assert a == b and len(set(a)) == 20
    assert derive_seeds(8, 20) != a
    assert derive_seeds(7, 5) == a[:5]  # a prefix: adding replications keeps the first ones


def test_summary_gives_mean_and_t_interval_per_metric_and_week(tmp_path):
    """Across three runs the summary holds the mean and mean +- t(0.975, 2) sd / sqrt(3), per week."""
    runs = [_fake_run(tmp_path / f"r{i}", {"x": [v, 2 * v]}) for i, v in enumerate([1.0, 2.0, 6.0])]
    s = summarise(runs).set_index(["metric", "step"])
    half = stats.t.ppf(0.975, 2) * np.std([1.0, 2.0, 6.0], ddof=1) / np.sqrt(3)
    assert s.loc[("x", 1), "mean"] == pytest.approx(3.0)
    assert s.loc[("x", 1), "lo"] == pytest.approx(3.0 - half)
    assert s.loc[("x", 2), "hi"] == pytest.approx(6.0 + 2 * half)
    assert s.loc[("x", 2), "n"] == 3


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


def test_a_failing_task_is_recorded_with_its_traceback_and_the_others_finish(tmp_path):
    """A task whose config is broken comes back failed with a traceback; a good one beside it succeeds."""
    cfg = load_scenario(BASELINE, TINY).model_dump(mode="json")
    bad = dict(cfg, firms={**cfg["firms"], "count": -1})
    with Executor(workers=2) as ex:
        out = ex.map([Task(bad, 1, str(tmp_path / "bad")), Task(cfg, 1, str(tmp_path / "good"))])
    assert [o.ok for o in out] == [False, True]
    assert "ValidationError" in out[0].error and "firms.count" in out[0].error.replace("\n", "")
    assert (tmp_path / "good" / "metrics.parquet").exists() and not (tmp_path / "bad").exists()


def test_replications_give_the_same_bytes_in_process_and_on_two_dask_workers(tmp_path):
    """The same replications written serially and by a 2-worker LocalCluster are byte-identical."""
    cfg = load_scenario(BASELINE, TINY)
    with Executor(workers=0) as ex:
        a = run_replications(cfg, 3, 3, tmp_path / "serial", ex)
    with Executor(workers=2) as ex:
        b = run_replications(cfg, 3, 3, tmp_path / "dask", ex)
    assert a.seeds == b.seeds and not a.failed and not b.failed
    for rep in ("rep-000", "rep-001", "rep-002"):
        for table in ("metrics", "contracts", "relationships"):
            assert (a.folder / rep / f"{table}.parquet").read_bytes() == (b.folder / rep / f"{table}.parquet").read_bytes()
    assert (a.folder / "summary.parquet").read_bytes() == (b.folder / "summary.parquet").read_bytes()
    manifest = json.loads((b.folder / "manifest.json").read_text())
    assert manifest["kind"] == "replications" and manifest["seeds"] == derive_seeds(3, 3)


def test_outsim_compare_writes_the_table_and_prints_it(tmp_path, capsys):
    """outsim compare runs both scenarios on common seeds and saves comparison.csv/.parquet with a row per key metric."""
    sets = [x for k, v in TINY.items() if k != "run.steps" for x in ("--set", f"{k}={v}")]
    code = main(["compare", str(BASELINE), str(ROOT / "scenarios" / "volatile_demand.toml"), "--replications", "3",
                 "--steps", "130", "--workers", "0", "--out", str(tmp_path / "cmp"), *sets])
    out = capsys.readouterr().out
    assert code == 0 and "Paired comparison over weeks 104-130" in out
    table = pd.read_csv(tmp_path / "cmp" / "comparison.csv")
    assert {"metric", "base_mean", "whatif_mean", "diff_mean", "diff_lo", "diff_hi", "significant"} <= set(table.columns)
    assert "permanent_share" in set(table["metric"])
    manifest = json.loads((tmp_path / "cmp" / "manifest.json").read_text())
    assert manifest["kind"] == "comparison" and manifest["event_weeks"] == [104]
    base = pd.read_parquet(tmp_path / "cmp" / "base" / "rep-000" / "metrics.parquet")
    what = pd.read_parquet(tmp_path / "cmp" / "whatif" / "rep-000" / "metrics.parquet")
    assert base["permanent_share"].iloc[:103].equals(what["permanent_share"].iloc[:103])  # common random numbers


def test_bad_replication_options_exit_2(capsys):
    """--replications 0, --workers -1 and a malformed --window are rejected with exit 2 and no traceback."""
    assert main(["run", str(BASELINE), "--replications", "0"]) == 2
    assert main(["run", str(BASELINE), "--replications", "2", "--workers", "-1"]) == 2
    assert main(["compare", str(BASELINE), str(BASELINE), "--window", "9:3"]) == 2
    err = capsys.readouterr().err
    assert "--replications" in err and "--workers" in err and "--window" in err and "Traceback" not in err


def test_run_task_never_raises_and_reports_success(tmp_path):
    """run_task on a good config writes the run folder and reports ok."""
    out = run_task(Task(load_scenario(BASELINE, TINY).model_dump(mode="json"), 2, str(tmp_path / "one")))
    assert out.ok and out.error == "" and (tmp_path / "one" / "manifest.json").exists()
