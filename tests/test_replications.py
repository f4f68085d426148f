"""Replications, paired comparisons and the Dask executor layer (simulation/executor.py, replications.py).

The statistics over replications (analysis/replications.py) are tested in test_analysis_replications.py.
"""

from __future__ import annotations

import json
import re

import pandas as pd

from analysis.load import load
from analysis.replications import write_summary
from simulation import load_scenario
from simulation.cli import main
from simulation.executor import Executor, Outcome, Task, derive_seeds, run_task
from simulation.replications import run_replications

from conftest import BASELINE, ROOT

TINY = {"firms.count": 60, "providers.bpo_count": 6, "providers.kpo_count": 3, "run.steps": 40}


def test_derived_seeds_are_reproducible_distinct_and_depend_on_the_base_seed():
    """SeedSequence-derived seeds repeat for the same base seed, differ from each other and from another base."""
    a, b = derive_seeds(7, 20), derive_seeds(7, 20)
    assert a == b and len(set(a)) == 20
    assert derive_seeds(8, 20) != a
    assert derive_seeds(7, 5) == a[:5]  # a prefix: adding replications keeps the first ones


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
    assert [d.name for d in a.run_dirs] == ["rep-000", "rep-001", "rep-002"]
    assert write_summary(a.folder, a.run_dirs).read_bytes() == write_summary(b.folder, b.run_dirs).read_bytes()
    manifest = json.loads((b.folder / "manifest.json").read_text())
    assert manifest["kind"] == "replications" and manifest["seeds"] == derive_seeds(3, 3)


class _OneFailure:
    """An executor stand-in that runs every task in this process except the second, which comes back failed."""

    def map(self, tasks, on_done=None):
        return [run_task(t) if i != 1 else Outcome(t, False, 0.0, "Traceback ...\nRuntimeError: boom")
                for i, t in enumerate(tasks)]


def test_a_failed_replication_is_listed_as_failed_and_the_folder_still_loads(tmp_path):
    """The manifest lists only finished replications (the failed one under failed), so analysis can load the rest."""
    reps = run_replications(load_scenario(BASELINE, {**TINY, "run.steps": 20}), 1, 3, tmp_path / "reps", _OneFailure())
    manifest = json.loads((tmp_path / "reps" / "manifest.json").read_text())
    assert manifest["replications"] == ["rep-000", "rep-002"] == [d.name for d in reps.run_dirs]
    assert [f["folder"] for f in manifest["failed"]] == ["rep-001"] and "boom" in manifest["failed"][0]["error"]
    assert [r.path.name for r in load(tmp_path / "reps").runs] == ["rep-000", "rep-002"]


def test_outsim_compare_runs_several_whatifs_on_the_base_s_seeds_phase_by_phase(tmp_path, capsys):
    """Two what-ifs share the base and its seeds; comparison.csv has a row per (what-if, metric, phase), the
    terminal shows a column per what-if and a verdict each, and nothing differs before the first event."""
    sets = [x for k, v in TINY.items() if k != "run.steps" for x in ("--set", f"{k}={v}")]
    out_dir = tmp_path / "cmp"
    code = main(["compare", str(BASELINE), str(ROOT / "scenarios" / "volatile_demand.toml"),
                 str(ROOT / "scenarios" / "price_hike.toml"), "--replications", "3", "--steps", "160", "--workers", "0",
                 "--out", str(out_dir), *sets])
    out = capsys.readouterr().out
    assert code == 0
    assert "volatile_demand: before weeks 1-103, during weeks 104-129, after weeks 130-160" in out
    assert "price_hike: before weeks 1-149, during weeks 150-160" in out  # a one-week hike is judged over a quarter
    assert "every metric equals the base's exactly" in out
    assert out.count("volatile_demand: permanent share ") == 1 and out.count("price_hike: permanent share ") == 1
    table = pd.read_csv(out_dir / "comparison.csv")
    assert set(table["whatif"]) == {"volatile_demand", "price_hike"}
    assert len(table) == 16 * (3 + 2) and not table.duplicated(["whatif", "metric", "phase"]).any()
    assert (table.loc[table["phase"] == "before", "diff_mean"] == 0).all()
    manifest = json.loads((out_dir / "manifest.json").read_text())
    assert [w["folder"] for w in manifest["whatifs"]] == ["whatif-volatile_demand", "whatif-price_hike"]
    assert all(w["verdict"].startswith(w["name"]) for w in manifest["whatifs"])
    base = pd.read_parquet(out_dir / "base" / "rep-000" / "metrics.parquet")
    what = pd.read_parquet(out_dir / "whatif-price_hike" / "rep-000" / "metrics.parquet")
    assert base["permanent_share"].iloc[:149].equals(what["permanent_share"].iloc[:149])  # common random numbers
    html = (out_dir / "report.html").read_text()
    assert "Verdicts" in html and "id='fig-whatif-price_hike-emergence'" in html


def test_outsim_run_replications_prints_its_summary(tmp_path, capsys):
    sets = [x for k, v in TINY.items() for x in ("--set", f"{k}={v}")]
    assert main(["run", str(BASELINE), *sets, "--replications", "3", "--workers", "0", "--no-report",
                 "--out", str(tmp_path / "reps")]) == 0
    out = capsys.readouterr().out
    assert "over 3 replications (mean, 95% t interval of the mean)" in out
    assert re.search(r"permanent_share\s+[0-9.]+\s+\[[0-9.]+, [0-9.]+\]", out)


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
