"""Scenario discovery (analysis/discovery.py, analysis/discovery_figures.py, simulation/cli_discover.py): PRIM
recovers known boxes, the --where and --metric-window parsers, and ``outsim discover`` on a real sweep folder.

The sweep is tiny (40 firms, 8 warm-up weeks and 30 weeks, 24 LHS points x 1 seed, run in this process: a few
seconds) and built once for the module.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import BASELINE

from analysis.discovery import Condition, _box, choose_box, parse_where, parse_window, paste, peel, quasi_p
from simulation.cli_discover import main
from simulation.sweeps import load_results, load_sweep, plan_runs, run_sweep

UNIT_LOW, UNIT_HIGH = np.zeros(4), np.ones(4)


def known_box(noise: float, n: int = 2000, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """n uniform points in [0, 1]^4; cases are x0 > 0.6 and x1 < 0.4 (16% of the cube), each label flipped with
    probability ``noise``; x2 and x3 play no part."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(0, 1, (n, 4))
    truth = (x[:, 0] > 0.6) & (x[:, 1] < 0.4)
    return x, truth ^ (rng.uniform(size=n) < noise)


# ----------------------------------------------------------------------------- PRIM
def test_prim_recovers_a_known_box_without_noise():
    """With exact labels the densest box restricts exactly x0 and x1, within one peel of the true limits.

    Tolerance: a peel removes 5% of the box's points; near the end the box holds ~330 points spread over a
    0.4-wide slab, so one peel moves a limit by about 16 / (2000 x 0.4) = 0.02; 0.03 allows that and sampling.
    Peeling only stops once the density can rise no more, so the limits can only be inside the true box.
    """
    x, y = known_box(noise=0.0)
    trajectory = peel(x, y, UNIT_LOW, UNIT_HIGH)
    box, _ = choose_box(trajectory, threshold=1.0)
    assert box.density == 1.0
    assert list(np.flatnonzero(box.restricted(UNIT_LOW, UNIT_HIGH))) == [0, 1]
    assert 0.6 <= box.lower[0] <= 0.63 and box.upper[0] == 1.0
    assert 0.37 <= box.upper[1] <= 0.4 and box.lower[1] == 0.0
    assert box.coverage >= 0.9  # what the two limits inside the true ones leave out
    assert box.n_cases == round(box.coverage * y.sum())
    assert trajectory[0].coverage == 1.0 and trajectory[0].density == pytest.approx(y.mean())


def test_prim_finds_the_box_through_label_noise_and_leaves_the_idle_parameters_alone():
    """With 10% of labels flipped the chosen box still restricts only x0 and x1, near the truth, with tiny
    quasi-p-values; its coverage and density are close to the true box's (0.67 and 0.92 on these points)."""
    x, y = known_box(noise=0.1)
    box, why = choose_box(peel(x, y, UNIT_LOW, UNIT_HIGH), threshold=0.8)
    assert "coverage" in why and box.density >= 0.8
    assert list(np.flatnonzero(box.restricted(UNIT_LOW, UNIT_HIGH))) == [0, 1]
    assert abs(box.lower[0] - 0.6) <= 0.06 and abs(box.upper[1] - 0.4) <= 0.06
    assert 0.6 <= box.coverage <= 0.8
    qp = quasi_p(box, x, y, UNIT_LOW, UNIT_HIGH)
    assert qp[0] < 1e-6 and qp[1] < 1e-6 and np.isnan(qp[2:]).all()


def test_the_trajectory_trades_coverage_for_density():
    """Along the peeling trajectory coverage never rises, every step raises the density, and boxes keep min_mass."""
    x, y = known_box(noise=0.1)
    t = peel(x, y, UNIT_LOW, UNIT_HIGH, min_mass=0.1)
    assert all(a.coverage >= b.coverage and a.density < b.density for a, b in zip(t, t[1:]))
    assert all(b.mass >= 0.1 for b in t) and [b.index for b in t] == list(range(len(t)))


def test_a_grid_is_peeled_a_whole_level_at_a_time():
    """On tied values (4 x 5 levels, 3 points each) the cut falls between levels: the box is exactly x0 >= 2, x1 <= 1."""
    levels = np.array(np.meshgrid(np.arange(4.0), np.arange(5.0), indexing="ij")).reshape(2, -1).T
    x = np.repeat(levels, 3, axis=0)
    y = (x[:, 0] >= 2) & (x[:, 1] <= 1)
    box, _ = choose_box(peel(x, y, x.min(axis=0), x.max(axis=0)), threshold=1.0)
    assert list(box.lower) == [2.0, 0.0] and list(box.upper) == [3.0, 1.0]
    assert box.coverage == 1.0 and box.density == 1.0 and box.n_points == 12


def test_pasting_gives_back_what_was_cut_too_eagerly():
    """A box cut at x0 >= 0.8 grows back towards the true limit 0.6 (to within one pasting step), its density
    staying 1 and its coverage rising; pasting a box it cannot improve returns it unchanged."""
    x, y = known_box(noise=0.0)
    tight = _box(0, np.array([0.8, 0.0, 0.0, 0.0]), np.array([1.0, 0.4, 1.0, 1.0]), x, y)
    grown = paste(tight, x, y, UNIT_LOW, UNIT_HIGH)
    assert grown.pasted and grown.density == 1.0 and grown.coverage > tight.coverage + 0.3
    assert 0.6 <= grown.lower[0] <= 0.63
    assert paste(grown, x, y, UNIT_LOW, UNIT_HIGH) is grown


def test_quasi_p_flags_a_restriction_that_is_noise():
    """Adding x2 >= 0.5 to the true box keeps its density but not its meaning: x2's quasi-p is large, x0's tiny."""
    x, y = known_box(noise=0.1)
    box = _box(0, np.array([0.6, 0.0, 0.5, 0.0]), np.array([1.0, 0.4, 1.0, 1.0]), x, y)
    qp = quasi_p(box, x, y, UNIT_LOW, UNIT_HIGH)
    assert qp[2] > 0.05 and qp[0] < 1e-6 and qp[1] < 1e-6 and np.isnan(qp[3])


def test_box_choice():
    """The threshold picks the most coverage at that density; --box picks by index; else the densest is said."""
    x, y = known_box(noise=0.1)
    t = peel(x, y, UNIT_LOW, UNIT_HIGH)
    chosen, _ = choose_box(t, threshold=0.5)
    assert chosen.density >= 0.5 and all(b.coverage <= chosen.coverage for b in t if b.density >= 0.5)
    assert choose_box(t, index=3)[0] is t[3]
    densest, why = choose_box(t, threshold=1.0)
    assert densest.density == max(b.density for b in t) and "no box reaches" in why


# ----------------------------------------------------------------------------- --where and --metric-window
@pytest.mark.parametrize("text, expected", [
    ("permanent_share < 0.3", Condition("permanent_share", "<", 0.3)),
    ("  unmet_share>=1e-3 ", Condition("unmet_share", ">=", 0.001)),
    ("firm_surplus <= -25", Condition("firm_surplus", "<=", -25.0)),
    ("offshore_share>.5", Condition("offshore_share", ">", 0.5)),
])
def test_where_reads_metric_operator_number(text, expected):
    """A condition is a metric name, one of four comparisons and a finite number, spaces optional."""
    assert parse_where(text) == expected


@pytest.mark.parametrize("text", [
    "", "permanent_share", "permanent_share = 0.3", "permanent_share == 0.3", "permanent_share != 0.3",
    "permanent_share =< 0.3", "permanent_share < abc", "< 0.3", "permanent share < 0.3", "0.3 > permanent_share",
    "permanent_share < 0.3 and unmet_share > 0", "__import__('os').system('true') < 1", "permanent_share < inf",
    "permanent_share < 1e999", "permanent_share < nan", "permanent_share < 0x10", "permanent_share < ３",
])
def test_a_malformed_where_is_refused_without_evaluating_it(text):
    """Anything else is one --where problem that shows the expected form."""
    with pytest.raises(ValueError, match=r"^--where: .*expected METRIC OP NUMBER"):
        parse_where(text)


def test_condition_marks_cases_and_never_nan():
    """holds() compares element by element; an undefined outcome is never a case."""
    assert list(Condition("m", "<", 0.3).holds(np.array([0.1, 0.3, np.nan]))) == [True, False, False]
    assert list(Condition("m", ">=", 0.3).holds(np.array([0.1, 0.3, np.nan]))) == [False, True, False]


@pytest.mark.parametrize("text, ok", [("1:52", (1, 52)), (" 100 : 260 ", (100, 260)), ("7:7", (7, 7)),
                                      ("0:5", None), ("9:3", None), ("a:b", None), ("1-52", None), ("52", None),
                                      ("²:3", None), ("-1:5", None), ("1.5:3", None)])
def test_metric_window(text, ok):
    """A window is A:B in whole weeks with 1 <= A <= B."""
    if ok is None:
        with pytest.raises(ValueError, match=r"^--metric-window: .*expected A:B"):
            parse_window(text)
    else:
        assert parse_window(text) == ok


# ----------------------------------------------------------------------------- outsim discover on a sweep folder
SWEEP = """
[set]
firms.count = 40
providers.bpo_count = 5
providers.kpo_count = 3
run.record_decisions = false
run.warmup_weeks = 8
[parameters]
"firms.demand_volatility" = { low = 0.0, high = 0.6 }
"contracts.learning_multiplier" = { low = 0.0, high = 3.0 }
"intermediaries.fee_rate" = { low = 0.0, high = 0.3 }
[design]
kind = "lhs"
samples = 24
[seeds]
count = 1
[outputs]
final = ["permanent_share", "unmet_share"]
final_window = 10
every = 5
series = ["permanent_share"]
"""


@pytest.fixture(scope="module")
def sweep_dir(tmp_path_factory) -> Path:
    """A finished tiny LHS sweep (24 points x 1 seed, 30 weeks) with a series kept every 5 weeks."""
    root = tmp_path_factory.mktemp("discover")
    spec = root / "s.toml"
    spec.write_text(f'base = "{BASELINE}"\nsteps = 30\n' + SWEEP, encoding="utf-8")
    out = root / "sweep"
    report = run_sweep(plan_runs(load_sweep(spec)), out, workers=0, progress=False, log=lambda s: None)
    assert not report.failed
    return out


@pytest.fixture(scope="module")
def median_where(sweep_dir) -> str:
    """A condition that holds at about half the design points of the sweep."""
    return f"permanent_share < {load_results(sweep_dir).groupby('point')['permanent_share'].mean().median():.6f}"


def test_discover_prints_the_box_and_writes_the_table_and_both_figures(sweep_dir, median_where, tmp_path, capsys):
    """The command prints the chosen box and writes discovery.csv (one row per restricted parameter, ranges inside
    the full ones, the box's statistics), the trajectory and two PNG figures into --out."""
    out = tmp_path / "found"
    assert main([str(sweep_dir), "--where", median_where, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "Chosen box" in printed and "coverage" in printed and "density" in printed
    table = pd.read_csv(out / "discovery.csv")
    assert set(table["parameter"]) <= {"firms.demand_volatility", "contracts.learning_multiplier", "intermediaries.fee_rate"}
    assert (table["box_low"] >= table["full_low"]).all() and (table["box_high"] <= table["full_high"]).all()
    assert (table["condition"] == str(parse_where(median_where))).all()
    first = table.iloc[0]
    assert first["total_points"] == 24 and 0 < first["n_cases"] <= first["n_points"] <= 24
    assert first["density"] == pytest.approx(first["n_cases"] / first["n_points"])
    assert first["coverage"] == pytest.approx(first["n_cases"] / first["total_cases"])
    for param in table["parameter"]:
        assert param in printed
    trajectory = pd.read_csv(out / "discovery_trajectory.csv")
    assert trajectory["chosen"].sum() == 1 and trajectory["box"].tolist() == list(range(len(trajectory)))
    for png in ("discovery_tradeoff.png", "discovery_box.png"):
        assert (out / png).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert not (sweep_dir / "discovery.csv").exists()


def test_discover_writes_into_the_sweep_folder_by_default_and_averages_a_series_window(sweep_dir, median_where,
                                                                                      tmp_path, capsys):
    """Without --out the files go into the sweep folder; --metric-window averages the kept weeks 10-30."""
    copy = tmp_path / "sweep"
    shutil.copytree(sweep_dir, copy)
    assert main([str(copy), "--where", median_where, "--metric-window", "6:30", "--box", "1"]) == 0
    printed = capsys.readouterr().out
    assert "mean of weeks 6-30 of 30 (one kept every 5 weeks)" in printed and "Chosen box 1 (chosen with --box" in printed
    assert {"discovery.csv", "discovery_trajectory.csv", "discovery_tradeoff.png", "discovery_box.png"} <= {
        p.name for p in copy.iterdir()}


def bad(capsys, argv: list[str]) -> list[str]:
    """Run the command, check it exits 2 without a traceback, and return its problem lines."""
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and captured.out == ""
    lines = captured.err.splitlines()
    assert lines[-1] == f"outsim: {len(lines) - 1} problem(s)."
    return lines[:-1]


def test_bad_folders_exit_2_with_one_line_each(sweep_dir, tmp_path, capsys):
    """A missing folder, a file, a folder that is no sweep, an unfinished sweep and lost results are each one line."""
    assert bad(capsys, [str(tmp_path / "nope"), "--where", "permanent_share < 0.3"]) == [
        f"SWEEP_DIR: {tmp_path / 'nope'}: no such folder"]
    (tmp_path / "f.txt").write_text("x")
    assert "not a folder" in bad(capsys, [str(tmp_path / "f.txt"), "--where", "permanent_share < 0.3"])[0]
    (tmp_path / "empty").mkdir()
    assert "not a sweep folder" in bad(capsys, [str(tmp_path / "empty"), "--where", "permanent_share < 0.3"])[0]
    unfinished = tmp_path / "unfinished"
    shutil.copytree(sweep_dir, unfinished)
    manifest = json.loads((unfinished / "manifest.json").read_text())
    manifest["runs"][0]["status"] = "pending"
    manifest["runs"][1]["status"] = "failed"
    (unfinished / "manifest.json").write_text(json.dumps(manifest))
    [line] = bad(capsys, [str(unfinished), "--where", "permanent_share < 0.3"])
    assert "not finished (22 of 24 runs done, 1 failed)" in line and "outsim sweep" in line
    lost = tmp_path / "lost"
    shutil.copytree(sweep_dir, lost)
    for f in sorted((lost / "runs").glob("*.parquet"))[:3]:
        f.unlink()
    assert "runs/ holds results for 21 of 24 design points" in bad(capsys, [str(lost), "--where", "permanent_share < 0.3"])[0]


def test_bad_conditions_and_windows_exit_2_all_at_once(sweep_dir, median_where, capsys):
    """Unknown metrics (with did-you-mean), malformed conditions, windows past the run, without a series or
    without a kept week, and bad options are reported together, one line each."""
    folder = str(sweep_dir)
    [line] = bad(capsys, [folder, "--where", "permanent_shar < 0.3"])
    assert "'permanent_shar' is not an outcome this sweep kept" in line and "did you mean 'permanent_share'" in line
    lines = bad(capsys, [folder, "--where", "permanent_share = 0.3", "--metric-window", "9:1", "--alpha", "0.7"])
    assert [ln.split(":")[0] for ln in lines] == ["--alpha", "--where", "--metric-window"]
    assert "ends after the last week run (30)" in bad(capsys, [folder, "--where", "permanent_share < 0.3",
                                                               "--metric-window", "10:40"])[0]
    assert "kept no weekly series of unmet_share" in bad(capsys, [folder, "--where", "unmet_share > 0.1",
                                                                  "--metric-window", "5:20"])[0]
    assert "holds none of the kept weeks" in bad(capsys, [folder, "--where", "permanent_share < 0.3",
                                                          "--metric-window", "11:14"])[0]
    assert "holds at 24 of 24 design points" in bad(capsys, [folder, "--where", "permanent_share >= 0"])[0]
    assert "--box = 999" in bad(capsys, [folder, "--where", median_where, "--box", "999"])[0]
    assert "--threshold = 0.0" in bad(capsys, [folder, "--where", "permanent_share < 0.5", "--threshold", "0"])[0]


def test_argparse_errors_exit_2(capsys):
    """A missing --where or a non-number option is argparse's error, also exit 2 without a traceback."""
    for argv in (["somewhere"], ["somewhere", "--where", "x < 1", "--alpha", "lots"]):
        with pytest.raises(SystemExit) as exc:
            main(argv)
        assert exc.value.code == 2 and "Traceback" not in capsys.readouterr().err
