"""Parameter sweeps (simulation/sweeps/): sweep files, designs, run keys, storage, resume, faults, Ctrl-C, analysis.

Runs use tiny markets (40 firms, 30 weeks: about 0.05 s each) except the Ctrl-C test, whose runs must
last long enough to be interrupted. Real-cluster tests are in test_sweeps_cluster.py.
"""

from __future__ import annotations

import argparse
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import BASELINE, ROOT
from scipy import stats

from analysis.sweeps import analyze
from analysis.wkh import mean_field_y
from simulation.config import parameter_units
from simulation.executor import derive_seeds
from simulation.sweeps import load_results, load_series, load_sweep, plan_runs, run_key, run_sweep
from simulation.sweeps.cli import add_parser, main
from simulation.sweeps.runner import FAIL_ENV, batch_size

TINY_SET = """
[set]
firms.count = 40
providers.bpo_count = 5
providers.kpo_count = 3
run.record_decisions = false
"""


def write_sweep(folder: Path, body: str, name: str = "s.toml", steps: int = 30, tiny: bool = True) -> Path:
    """A sweep file on the baseline (tiny market unless told otherwise) with ``body`` appended."""
    path = folder / name
    text = f'base = "{BASELINE}"\nsteps = {steps}\n' + (TINY_SET if tiny else "") + body
    path.write_text(text, encoding="utf-8")
    return path


GRID = """
[parameters]
"firms.demand_volatility" = [0.1, 0.4]
"contracts.learning_multiplier" = { low = 0.0, high = 2.0, num = 3 }
[seeds]
count = 2
base = 5
[outputs]
final = ["permanent_share", "unmet_share"]
final_window = 10
every = 5
"""


def problems(capsys, argv: list[str]) -> list[str]:
    """Run the sweep CLI, check it exits 2 without a traceback, and return its problem lines."""
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "nothing was run" in err
    return err.splitlines()[:-1]


# ----------------------------------------------------------------------------- the sweep file
def test_schema_problems_are_listed_with_key_value_rule_and_did_you_mean(tmp_path, capsys):
    """Unknown keys, a bad design kind and unknown metrics are each one line naming file, key and rule."""
    f = write_sweep(tmp_path, """
[parameters]
"choice.beta" = [1.0]
[design]
kind = "grdi"
[outputs]
final = ["permanent_share"]
[seeds]
cuont = 2
""", steps=60)
    lines = problems(capsys, [str(f)])
    assert any("design.kind = 'grdi': must be one of grid, lhs, sobol, morris" in x for x in lines)
    assert any("seeds.cuont = 2: unknown key; did you mean 'count'?" in x for x in lines)
    assert len(lines) == 2 and all(x.split(": ")[0].endswith("s.toml") for x in lines)


def test_parameter_and_metric_problems_are_all_reported_at_once(tmp_path, capsys):
    """Unknown parameters, values the schema rejects, unknown metrics and bad ranges are reported together."""
    f = write_sweep(tmp_path, """
[parameters]
"firm.count" = [10, 20]
"choice.gama" = [0.1]
"choice.beta" = [-1.0, 1.0]
[outputs]
final = ["permanent_shar"]
""")
    lines = problems(capsys, [str(f)])
    assert any("outputs.final.0 = 'permanent_shar': not a metric" in x and "did you mean 'permanent_share'" in x
               for x in lines)
    f = write_sweep(tmp_path, """
[parameters]
"firm.count" = [10, 20]
"choice.gama" = [0.1]
"choice.beta" = [-1.0, 1.0]
[outputs]
final = ["permanent_share"]
""")
    lines = problems(capsys, [str(f)])
    assert any("parameters.firm.count: unknown parameter; did you mean 'firms.count'?" in x for x in lines)
    assert any("parameters.choice.gama: unknown parameter; did you mean 'choice.gamma'?" in x for x in lines)
    assert any("parameters.choice.beta = -1.0: Input should be greater than or equal to 0 (2 design points)" in x
               for x in lines)


@pytest.mark.parametrize("body, expected", [
    ('[parameters]\n"choice.beta" = { low = 1.0, hihg = 2.0, num = 3 }\n[outputs]\nfinal = ["loyalty_mean"]\n',
     "parameters.choice.beta.hihg = 2.0: unknown key; did you mean 'high'?"),
    ('[parameters]\n"choice.beta" = { low = 2.0, high = 1.0, num = 3 }\n[outputs]\nfinal = ["loyalty_mean"]\n',
     "low must be below high"),
    ('[parameters]\n"choice.beta" = { low = 1.0, high = 2.0 }\n[outputs]\nfinal = ["loyalty_mean"]\n',
     "parameters.choice.beta.num: a grid range needs num"),
    ('[parameters]\n"choice.beta" = [1.0, 2.0]\n[design]\nkind = "lhs"\nsamples = 4\n[outputs]\nfinal = ["loyalty_mean"]\n',
     "lhs designs sample ranges"),
    (('[parameters]\n"choice.beta" = { low = 1.0, high = 2.0 }\n[design]\nkind = "sobol"\nsamples = 10\n'
      '[outputs]\nfinal = ["loyalty_mean"]\n'), "design.samples = 10: must be a power of 2"),
    ('[parameters]\n"choice.beta" = [1.0, nan]\n[outputs]\nfinal = ["loyalty_mean"]\n', "must be finite numbers"),
    ('[parameters]\n"choice.beta" = [1.0]\n[set]\nchoice.beta = 2.0\n[outputs]\nfinal = ["loyalty_mean"]\n',
     "set.choice.beta = 2.0: also listed under [parameters]"),
    ('[parameters]\n"choice.beta" = [1.0]\n[set]\nfirms.count = -5\n[outputs]\nfinal = ["loyalty_mean"]\n',
     "set.firms.count = -5: Input should be greater than or equal to 1"),
    ('[parameters]\n"choice.beta" = [1.0]\n[outputs]\nfinal = ["loyalty_mean"]\nfinal_window = 99\n',
     "outputs.final_window = 99: longer than the run (run.steps = 30)"),
    ('[parameters]\n"choice.beta" = [1.0]\n[outputs]\nfinal = ["loyalty_mean"\n', "TOML syntax error"),
])
def test_each_kind_of_bad_sweep_file_gets_its_own_clear_rule(tmp_path, capsys, body, expected):
    """Each malformed sweep file exits 2 with a line saying what is wrong."""
    lines = problems(capsys, [str(write_sweep(tmp_path, body, tiny="[set]" not in body))])
    assert any(expected in x for x in lines), lines


def test_missing_files_are_clean_errors(tmp_path, capsys):
    """A missing sweep file and a missing base scenario exit 2 with 'not found'."""
    assert any("sweep: file not found" in x for x in problems(capsys, [str(tmp_path / "none.toml")]))
    f = tmp_path / "s.toml"
    f.write_text('base = "nowhere.toml"\n[parameters]\n"choice.beta" = [1.0]\n[outputs]\nfinal = ["loyalty_mean"]\n')
    assert any("base = 'nowhere.toml': scenario file not found" in x for x in problems(capsys, [str(f)]))


def test_bad_input_never_shows_a_traceback_from_the_command_line(tmp_path):
    """`python -m simulation.sweeps.cli` on a bad file and with --workers -1 exits 2 with problem lines only."""
    f = write_sweep(tmp_path, '[parameters]\n"choice.bta" = [1.0]\n[outputs]\nfinal = ["loyalty_mean"]\n')
    for extra in ([], ["--workers", "-1"]):
        proc = subprocess.run([sys.executable, "-m", "simulation.sweeps.cli", str(f), *extra], cwd=ROOT,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr and "problem(s)" in proc.stderr


# ----------------------------------------------------------------------------- designs, seeds, keys
def test_grid_takes_every_combination_and_seeds_derive_from_the_base(tmp_path):
    """A 2 x 3 grid with 2 seeds makes 12 runs, point-major, with the executor's derived seeds."""
    plan = plan_runs(load_sweep(write_sweep(tmp_path, GRID)))
    assert len(plan.points) == 6 and len(plan.runs) == 12
    assert plan.seeds == derive_seeds(5, 2) and [r.seed for r in plan.runs[:2]] == plan.seeds
    assert plan.points[1] == {"firms.demand_volatility": 0.1, "contracts.learning_multiplier": 1.0}
    assert [r.point for r in plan.runs] == [i // 2 for i in range(12)]
    assert plan_runs(load_sweep(write_sweep(tmp_path, GRID))).runs == plan.runs  # deterministic


@pytest.mark.parametrize("kind, n, expected", [("lhs", 7, 7), ("sobol", 8, 8 * (3 + 2)), ("morris", 4, 4 * (3 + 1))])
def test_sampled_designs_have_the_right_size_stay_in_bounds_and_round_integers(tmp_path, kind, n, expected):
    """LHS gives N points, Sobol N (D + 2), Morris N (D + 1); all inside the ranges; integer keys are rounded."""
    f = write_sweep(tmp_path, f"""
[parameters]
"choice.beta" = {{ low = 0.5, high = 2.0 }}
"firms.demand_volatility" = {{ low = 0.0, high = 0.3 }}
"firms.review_interval_weeks" = {{ low = 5, high = 20 }}
[design]
kind = "{kind}"
samples = {n}
[seeds]
base = 11
[outputs]
final = ["permanent_share"]
final_window = 5
""")
    plan = plan_runs(load_sweep(f))
    pts = pd.DataFrame(plan.points)
    assert len(pts) == expected and plan.sample.shape == (expected, 3)
    assert pts["choice.beta"].between(0.5, 2.0).all() and pts["firms.demand_volatility"].between(0.0, 0.3).all()
    weeks = pts["firms.review_interval_weeks"]
    assert weeks.map(type).eq(int).all() and weeks.between(5, 20).all()
    assert all(r.config["firms"]["review_interval_weeks"] == r.params["firms.review_interval_weeks"] for r in plan.runs)
    again = plan_runs(load_sweep(f))
    assert np.array_equal(again.sample, plan.sample)  # seeded from the seed base
    if kind == "lhs":  # one point per stratum in every dimension
        strata = np.floor((plan.sample[:, 0] - 0.5) / 1.5 * n).astype(int)
        assert sorted(strata) == list(range(n))


def test_run_key_depends_on_config_seed_and_version_only():
    """The same config, seed and version give the same 16-hex key; changing any one changes it."""
    cfg = {"a": 1, "b": {"c": 2.5}}
    key = run_key(cfg, 3, "0.1.0")
    assert len(key) == 16 and int(key, 16) >= 0
    assert run_key({"b": {"c": 2.5}, "a": 1}, 3, "0.1.0") == key  # key order does not matter
    assert run_key(cfg, 4, "0.1.0") != key
    assert run_key({"a": 1, "b": {"c": 2.6}}, 3, "0.1.0") != key
    assert run_key(cfg, 3, "0.2.0") != key


def test_batches_aim_at_the_target_length_but_keep_every_worker_busy():
    """Batch size: 1 before any measurement, target / run time after, never more than a fair share of what is left."""
    assert batch_size(None, 100, 2, 2.0) == 1
    assert batch_size(0.1, 1000, 2, 2.0) == 20
    assert batch_size(0.1, 12, 2, 2.0) == 3
    assert batch_size(5.0, 1000, 2, 2.0) == 1


# ----------------------------------------------------------------------------- storage, resume, failures
def test_a_sweep_stores_one_file_per_run_and_reads_back_in_one_call(tmp_path):
    """Every run has its own final-row and series file; load_results and the summary agree with them."""
    plan = plan_runs(load_sweep(write_sweep(tmp_path, GRID)))
    report = run_sweep(plan, tmp_path / "out", workers=0, progress=False, log=lambda s: None)
    assert report.computed == 12 and not report.failed and not report.interrupted
    assert sorted(p.stem for p in (tmp_path / "out" / "runs").glob("*.parquet")) == sorted(r.key for r in plan.runs)
    df = load_results(tmp_path / "out")
    assert list(df.columns[:5]) == ["key", "point", "seed", "firms.demand_volatility", "contracts.learning_multiplier"]
    assert len(df) == 12 and df["permanent_share"].between(0, 1).all()
    series = load_series(tmp_path / "out")
    assert len(series) == 12 * 6 and set(series["step"]) == {5, 10, 15, 20, 25, 30}
    summary = pd.read_csv(tmp_path / "out" / "summary.csv")
    first = df[df["point"] == 0]["permanent_share"]
    half = stats.t.ppf(0.975, 1) * first.std() / np.sqrt(2)
    assert summary.loc[0, "permanent_share_mean"] == pytest.approx(first.mean())
    assert summary.loc[0, "permanent_share_hi"] == pytest.approx(first.mean() + half)
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["kind"] == "sweep" and manifest["counts"] == {"done": 12, "failed": 0, "pending": 0}
    assert {r["status"] for r in manifest["runs"]} == {"done"} and manifest["design"]["seeds"] == derive_seeds(5, 2)


def test_resume_skips_finished_runs_cleans_temp_files_and_sets_stale_results_aside(tmp_path):
    """A second run computes nothing; a stray temp file is removed; dropping a point moves its results to stale/."""
    f = write_sweep(tmp_path, GRID)
    out = tmp_path / "out"
    run_sweep(plan_runs(load_sweep(f)), out, workers=0, progress=False, log=lambda s: None)
    stamps = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")}
    (out / "runs" / ".abc.parquet.tmp-999").write_bytes(b"partial")
    again = run_sweep(plan_runs(load_sweep(f)), out, workers=0, progress=False, log=lambda s: None)
    assert again.computed == 0 and again.skipped == 12
    assert {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")} == stamps
    assert not list(out.rglob(".*tmp*"))
    f.write_text(f.read_text().replace("[0.1, 0.4]", "[0.1]"))
    smaller = run_sweep(plan_runs(load_sweep(f)), out, workers=0, progress=False, log=lambda s: None)
    assert smaller.computed == 0 and len(load_results(out)) == 6 and len(list((out / "stale" / "runs").iterdir())) == 6


def test_changed_outputs_recompute_and_shared_configs_run_once(tmp_path):
    """Asking for another metric redoes the runs; two design points with the same config share one stored run."""
    f = write_sweep(tmp_path, GRID.replace('"contracts.learning_multiplier" = { low = 0.0, high = 2.0, num = 3 }',
                                           '"firms.review_interval_weeks" = { low = 13, high = 14, num = 3 }'))
    out = tmp_path / "out"
    first = run_sweep(plan_runs(load_sweep(f)), out, workers=0, progress=False, log=lambda s: None)
    assert first.total == 8 and first.computed == 8  # 6 points x 2 seeds, but 13.5 rounds to 14
    df = load_results(out)
    assert len(df) == 12 and df[df["point"].isin([1, 2])].groupby("seed")["permanent_share"].nunique().eq(1).all()
    f.write_text(f.read_text().replace('final = ["permanent_share", "unmet_share"]', 'final = ["on_call_share"]'))
    second = run_sweep(plan_runs(load_sweep(f)), out, workers=0, progress=False, log=lambda s: None)
    assert second.computed == 8 and "on_call_share" in load_results(out).columns


def test_a_failing_run_is_recorded_with_its_traceback_and_the_others_finish(tmp_path, capsys, monkeypatch):
    """With the test hook failing one seed, the CLI lists the failures, exits 1, and keeps the other runs."""
    f = write_sweep(tmp_path, GRID)
    bad = derive_seeds(5, 2)[1]
    monkeypatch.setenv(FAIL_ENV, str(bad))
    assert main([str(f), "--workers", "0", "--out", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert err.count("failed: RuntimeError") == 6 and "6 run(s) failed" in err and "Traceback" not in err
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    failed = [r for r in manifest["runs"] if r["status"] == "failed"]
    assert {r["seed"] for r in failed} == {bad} and len(failed) == 6
    assert all("Traceback" in r["error"] and FAIL_ENV in r["error"] for r in failed)
    assert len(load_results(tmp_path / "out")) == 6
    monkeypatch.delenv(FAIL_ENV)
    assert main([str(f), "--workers", "0", "--out", str(tmp_path / "out")]) == 0  # failed runs are retried
    assert len(load_results(tmp_path / "out")) == 12


def test_ctrl_c_stops_cleanly_and_the_same_command_resumes_without_recomputing(tmp_path):
    """SIGINT mid-sweep exits 130, keeps finished runs and leaves no partial file; rerunning finishes the rest only."""
    f = write_sweep(tmp_path, """
[set]
firms.count = 150
providers.bpo_count = 15
providers.kpo_count = 6
run.record_decisions = false
[parameters]
"firms.demand_volatility" = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6]
[seeds]
count = 3
[outputs]
final = ["permanent_share"]
""", steps=150, tiny=False)
    out = tmp_path / "out"
    cmd = [sys.executable, "-m", "simulation.sweeps.cli", str(f), "--workers", "1", "--out", str(out)]
    proc = subprocess.Popen(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while not list((out / "runs").glob("*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.05)
        assert proc.poll() is None, "the sweep ended before it could be interrupted"
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "resume with: outsim sweep" in err and "Traceback" not in err
    assert not list(out.rglob(".*tmp*"))
    kept = {p.name: p.stat().st_mtime_ns for p in (out / "runs").glob("*.parquet")}
    assert 0 < len(kept) < 18
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr
    assert f"resuming: {len(kept)} of 18 runs already done" in done.stdout
    assert all((out / "runs" / name).stat().st_mtime_ns == t for name, t in kept.items())
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["done"] == 18 and {r["computed"] for r in manifest["runs"]} == {1}
    assert [i["interrupted"] for i in manifest["invocations"]] == [True, False]


# ----------------------------------------------------------------------------- analysis and CLI wiring
def test_analyze_writes_phase_diagrams_for_a_grid(tmp_path):
    """--analyze on a 2-parameter grid writes a heatmap and a line plot per output, from the folder alone."""
    f = write_sweep(tmp_path, GRID)
    assert main([str(f), "--workers", "0", "--out", str(tmp_path / "out"), "--analyze"]) == 0
    for m in ("permanent_share", "unmet_share"):
        assert (tmp_path / "out" / f"phase_{m}.png").stat().st_size > 10_000
        assert (tmp_path / "out" / f"lines_{m}.png").stat().st_size > 10_000


def test_analyze_writes_morris_indices_with_confidence(tmp_path):
    """A Morris sweep gets mu*, its confidence and sigma per parameter in a CSV, and a bar figure."""
    f = write_sweep(tmp_path, """
[parameters]
"firms.demand_volatility" = { low = 0.0, high = 0.5 }
"contracts.learning_multiplier" = { low = 0.0, high = 2.0 }
[design]
kind = "morris"
samples = 4
[outputs]
final = ["permanent_share"]
final_window = 10
""")
    run_sweep(plan_runs(load_sweep(f)), tmp_path / "out", workers=0, progress=False, log=lambda s: None)
    notes, files = analyze(tmp_path / "out", units=parameter_units())
    table = pd.read_csv(tmp_path / "out" / "morris_permanent_share.csv")
    assert list(table.columns) == ["parameter", "mu", "mu_star", "mu_star_conf", "sigma"] and len(table) == 2
    assert (table["mu_star"] >= table["mu"].abs() - 1e-12).all()
    assert tmp_path / "out" / "sensitivity.png" in files and any("most influential" in n for n in notes)


def test_mean_field_solver_matches_the_n2_closed_form_and_shows_hysteresis_for_n3():
    """The vectorised solver gives gamma D = pi tanh(beta D / 2) for n = 2, and two branches for n = 3 just below beta_c."""
    D = 1.0
    for _ in range(500):
        D = 0.5 * np.tanh(1.0 * D / 2) / 0.1
    p1 = 0.5 * (1 + 0.1 * D / 0.5)
    assert mean_field_y(2, [1.0], 0.1, 0.5, loyal=False)[0] == pytest.approx(p1**2 + (1 - p1) ** 2, abs=1e-6)
    sym, loyal = mean_field_y(3, [0.3, 0.57, 0.9], 0.1, 0.5, False), mean_field_y(3, [0.3, 0.57, 0.9], 0.1, 0.5, True)
    assert sym[0] == pytest.approx(1 / 3) and loyal[0] == pytest.approx(1 / 3)  # below the window: one state
    assert sym[1] == pytest.approx(1 / 3) and loyal[1] > 0.5  # inside the window (beta_c = 0.6): two
    assert sym[2] == pytest.approx(loyal[2]) and sym[2] > 0.9  # above beta_c: ordered from any start


def test_add_parser_registers_the_sweep_subcommand(tmp_path, capsys):
    """add_parser puts `sweep` on an outsim-style parser; cmd_sweep then runs it (here: --dry-run)."""
    parser = argparse.ArgumentParser(prog="outsim")
    sub = parser.add_subparsers(dest="command", required=True)
    add_parser(sub)
    f = write_sweep(tmp_path, GRID)
    args = parser.parse_args(["sweep", str(f), "--dry-run", "--workers", "0"])
    assert args.command == "sweep"
    from simulation import sweeps

    assert sweeps.cli.cmd_sweep(args) == 0
    assert "6 design points" in capsys.readouterr().out
    assert not (ROOT / "outputs" / "sweeps" / "s").exists()


def test_shipped_sweeps_validate():
    """The six sweeps in scenarios/sweeps/ load and resolve every design point."""
    sizes = {}
    for path in sorted((ROOT / "scenarios" / "sweeps").glob("*.toml")):
        plan = plan_runs(load_sweep(path))
        sizes[path.stem] = len(plan.runs)
    assert sizes == {"offshore_s_curve": 12 * 3, "sensitivity_morris": 20 * 9 * 2, "volatility_x_learning": 25 * 3,
                     "wkh_beta": 15 * 4, "wkh_hysteresis": 9 * 2 * 4, "uncertainties": 120 * 2}

