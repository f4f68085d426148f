"""Work is never lost or faked by an interruption: run folders appear whole or not at all, the report is
never half-written, and replications stopped by Ctrl-C resume where they stopped with the same bytes.

The kill tests run ``outsim run`` in a child process that SIGKILLs itself at one write stage (a patched
writer calls ``os.kill``), then check what a reader finds.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import types
from pathlib import Path

import pandas as pd
import pytest

from simulation import load_scenario, run, save_run
from simulation.cli import main
from simulation.cli_common import EXIT_INTERRUPTED, finish_with_report
from simulation.executor import Executor, derive_seeds, raise_if_interrupted
from simulation.replications import plan_problem, run_replications
from simulation.runfolder import DATA_FILES, export_csv, verified_run
from simulation.scenario import ScenarioError

from conftest import BASELINE, ROOT

TINY = ["--scale", "0.05", "--steps", "5"]

# A child that runs ``outsim run`` and kills itself with SIGKILL on the N-th call of a patched function
# (counting only calls whose first argument contains a given text).
KILLER = textwrap.dedent("""
    import importlib, os, signal, sys
    from simulation.cli import main
    target, nth, half, match = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "half", sys.argv[4]
    module_name, _, attr = target.rpartition(".")
    try:
        owner = importlib.import_module(module_name)
    except ModuleNotFoundError:  # a class attribute, e.g. pandas.DataFrame.to_parquet
        module_name, _, cls = module_name.rpartition(".")
        owner = getattr(importlib.import_module(module_name), cls)
    original, calls = getattr(owner, attr), [0]
    def patched(*args, **kwargs):
        calls[0] += bool(args) and match in str(args[0])
        if calls[0] == nth:
            if half:  # Path.write_text: write half of the text, then die
                open(args[0], "w", encoding="utf-8").write(args[1][: len(args[1]) // 2])
            os.kill(os.getpid(), signal.SIGKILL)
        return original(*args, **kwargs)
    setattr(owner, attr, patched)
    sys.exit(main(sys.argv[5:]))
""")


def killed_run(out: Path, target: str, nth: int, *extra: str, half: bool = False,
               match: str = "") -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "-c", KILLER, target, str(nth), "half" if half else "whole", match,
                           "run", str(BASELINE), *TINY, "--out", str(out), *extra],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    return proc


@pytest.mark.slow
@pytest.mark.parametrize("target, nth", [
    ("pandas.DataFrame.to_parquet", 1),  # before the first table written at the end of the run
    ("pandas.DataFrame.to_parquet", 4),  # after three of them (relationships and decisions are streamed)
    ("simulation.runfolder.write_json", 1),  # every table written, not the manifest
    ("os.rename", 1),  # the folder is complete under its temporary name
])
def test_a_run_killed_while_saving_leaves_no_folder_that_looks_like_a_run(tmp_path, target, nth):
    out = tmp_path / "run"
    killed_run(out, target, nth, "--no-report")
    assert not out.exists()
    assert all(p.name.startswith(".run.partial-") for p in tmp_path.iterdir())  # only the hidden partial folder
    with pytest.raises(ScenarioError, match="not a run folder"):
        export_csv(out)


@pytest.mark.slow
def test_a_run_killed_while_writing_its_report_keeps_the_run_and_no_half_report(tmp_path):
    out = tmp_path / "run"
    killed_run(out, "pathlib.Path.write_text", 1, half=True, match="report.html")
    assert not (out / "report.html").exists()
    manifest = json.loads((out / "manifest.json").read_text())
    assert verified_run(out, manifest["config"], manifest["seed"])
    assert main(["report", str(out)]) == 0
    assert (out / "report.html").read_text().rstrip().endswith("</html>")


def test_ctrl_c_while_the_report_module_loads_keeps_the_run_and_says_how_to_write_it(tmp_path, monkeypatch, capsys):
    """Ctrl-C can land while the plotting libraries load, before the report is written: the saved run is kept
    and the message says so (it used to reach the generic "nothing was saved")."""
    class Loading(types.ModuleType):
        def __getattr__(self, name):
            raise KeyboardInterrupt

    monkeypatch.setitem(sys.modules, "analysis.report", Loading("analysis.report"))
    assert finish_with_report(tmp_path, True, 0) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "the results are saved" in err and f"outsim report {tmp_path}" in err and "nothing was saved" not in err


def test_a_saved_run_records_each_tables_checksum_and_damage_is_detected(tmp_path):
    cfg = load_scenario(BASELINE, {"run.scale": 0.05})
    out = save_run(run(cfg, seed=3, steps=5), tmp_path / "run")
    manifest = json.loads((out / "manifest.json").read_text())
    assert set(manifest["sha256"]) == set(DATA_FILES)
    assert verified_run(out, manifest["config"], 3)
    assert not verified_run(out, manifest["config"], 4)  # another seed
    table = out / "decisions.parquet"
    data = bytearray(table.read_bytes())
    data[len(data) // 2] ^= 0xFF  # damaged inside, footer intact
    table.write_bytes(bytes(data))
    assert not verified_run(out, manifest["config"], 3)


def test_save_run_refuses_to_replace_a_folder_that_is_not_a_run(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    result = run(load_scenario(BASELINE, {"run.scale": 0.05}), seed=1, steps=3)
    with pytest.raises(FileExistsError, match="not a run folder"):
        save_run(result, tmp_path)
    assert (tmp_path / "notes.txt").read_text() == "mine"
    first = save_run(result, tmp_path / "run")
    assert save_run(result, first) == first  # a run folder is replaced whole
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "run"]


def tiny_config():
    return load_scenario(BASELINE, {"run.scale": 0.05, "run.steps": 5})


def test_replications_resume_keeping_verified_runs_and_recomputing_damaged_ones(tmp_path):
    cfg, folder = tiny_config(), tmp_path / "reps"
    with Executor(workers=0) as ex:
        first = run_replications(cfg, 7, 3, folder, ex)
    reference = {d.name: (d / "metrics.parquet").read_bytes() for d in first.run_dirs}
    (folder / "rep-001" / "metrics.parquet").write_bytes(b"damaged")
    ran = []
    with Executor(workers=0) as ex:
        again = run_replications(cfg, 7, 3, folder, ex, on_done=ran.append)
    assert again.kept == 2 and [Path(o.task.out_dir).name for o in ran] == ["rep-001"]
    assert {d.name: (d / "metrics.parquet").read_bytes() for d in again.run_dirs} == reference


def test_a_folder_planned_for_other_work_is_refused(tmp_path):
    cfg, folder = tiny_config(), tmp_path / "reps"
    with Executor(workers=0) as ex:
        run_replications(cfg, 7, 2, folder, ex)
    assert plan_problem(folder, cfg, derive_seeds(7, 2)) is None
    assert "other seeds" in plan_problem(folder, cfg, derive_seeds(8, 2))
    assert "another config" in plan_problem(folder, load_scenario(BASELINE, {"run.scale": 0.05, "run.steps": 6}),
                                            derive_seeds(7, 2))
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("mine")
    assert "holds files but no plan.json" in plan_problem(tmp_path / "other", cfg, derive_seeds(7, 2))


@pytest.mark.parametrize("args, message", [
    (["--replications", "2", "--resume"], "--resume: continues the work in an existing folder"),
    (["--resume", "--out", "X"], "a single run starts afresh"),
    (["--replications", "2", "--resume", "--force", "--out", "X"], "without --force"),
])
def test_resume_options_that_cannot_work_are_refused(tmp_path, capsys, args, message):
    args = [str(tmp_path / a) if a == "X" else a for a in args]
    assert main(["run", str(BASELINE), *TINY, "--no-report", *args]) == 2
    assert message in capsys.readouterr().err


def test_resuming_into_a_folder_of_another_batch_is_refused_before_any_work(tmp_path, capsys):
    out = tmp_path / "reps"
    assert main(["run", str(BASELINE), *TINY, "--replications", "2", "--workers", "0", "--no-report",
                 "--out", str(out)]) == 0
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*")}
    capsys.readouterr()
    assert main(["run", str(BASELINE), *TINY, "--replications", "2", "--workers", "0", "--no-report", "--seed", "9",
                 "--out", str(out), "--resume"]) == 2
    assert "was started with other seeds" in capsys.readouterr().err
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*")} == before


@pytest.mark.slow
@pytest.mark.parametrize("workers", ["0", "2"])  # in this process, and on a Dask cluster whose workers must stay quiet
def test_ctrl_c_stops_replications_cleanly_and_resume_gives_the_same_bytes(tmp_path, workers):
    # Six replications: workers finish the runs they hold while the cluster shuts down, so with two of them
    # up to four runs can be done by the time the batch stops; the last two cannot.
    command = [sys.executable, "-m", "simulation.cli", "run", str(BASELINE), "--scale", "0.1", "--steps", "80",
               "--replications", "6", "--workers", workers, "--no-report"]
    out, reference = tmp_path / "stopped", tmp_path / "reference"
    proc = subprocess.Popen([*command, "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    deadline = time.monotonic() + 240
    while not (out / "rep-000" / "manifest.json").exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "--resume" in err
    assert not (out / "manifest.json").exists()  # the batch does not look finished
    finished = sorted(p.parent.name for p in out.glob("rep-*/manifest.json"))
    assert finished and len(finished) < 6
    resumed = subprocess.run([*command, "--out", str(out), "--resume"], cwd=ROOT, capture_output=True, text=True)
    assert resumed.returncode == 0, resumed.stderr
    assert f"kept {len(finished)} finished replication(s)" in resumed.stdout
    assert subprocess.run([*command, "--out", str(reference)], cwd=ROOT, capture_output=True).returncode == 0
    for rep in sorted(reference.glob("rep-*")):
        for name in DATA_FILES:
            assert (out / rep.name / f"{name}.parquet").read_bytes() == (rep / f"{name}.parquet").read_bytes()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "summary.parquet"), pd.read_parquet(reference / "summary.parquet"))
    assert not list(out.glob(".*"))  # no partial folders left behind


def test_ctrl_c_in_a_single_run_exits_130_without_a_traceback(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "simulation.cli", "run", str(BASELINE), "--scale", "0.2",
                             "--out", str(tmp_path / "run")], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    for line in proc.stdout:  # the start line is printed once the run begins
        if "running" in line:
            break
    time.sleep(1.0)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err
    assert not (tmp_path / "run").exists()
    assert os.listdir(tmp_path) == []


# ------------------------------------------------------------------ Ctrl-C inside a compiled kernel
def kernel_interrupt() -> SystemError:
    """What Python raises when Ctrl-C lands while a numba kernel calls back into Python (numba's
    ``_numba_unpickle``): SystemErrors "returned a result with an exception set", each caused by the next,
    the last by the KeyboardInterrupt. Seen in a full test run, in a calibration's evaluation log."""
    try:
        try:
            try:
                raise KeyboardInterrupt
            except KeyboardInterrupt as stop:
                raise SystemError("<function _numba_unpickle> returned a result with an exception set") from stop
        except SystemError as inner:
            message = "CPUDispatcher(<function learn_from_work>) returned a result with an exception set"
            raise SystemError(message) from inner
    except SystemError as outer:
        return outer


def test_an_interrupt_is_found_through_the_kernels_system_errors_and_nothing_else_is():
    with pytest.raises(KeyboardInterrupt):
        raise_if_interrupted(kernel_interrupt())
    try:
        raise ValueError("a real failure")
    except ValueError as exc:
        raise_if_interrupted(exc)  # returns: not an interrupt
        raise_if_interrupted(RuntimeError("while handling it"))


def _raises(exc: BaseException):
    def fail(*args, **kwargs):
        raise exc
    return fail


@pytest.mark.parametrize("error", ["kernel-interrupt", "failure"])
def test_the_runners_stop_on_ctrl_c_in_a_kernel_and_record_real_failures(monkeypatch, tmp_path, error):
    """Every place that records a failed run and goes on (a batch's task, a calibration's evaluation, a sweep's
    run, a strategy cell) lets Ctrl-C through, even as a kernel's SystemError; a real failure is still recorded.
    Before, the interrupt was recorded as a failed run and the work went on (a calibration then exited 1)."""
    from simulation import executor
    from simulation.calibrate import evaluate as calibrate_evaluate
    from simulation.strategies import runner as strategies_runner
    from simulation.sweeps import runner as sweeps_runner

    exc = kernel_interrupt() if error == "kernel-interrupt" else RuntimeError("the model failed")
    for module, name in ((executor, "run_to_folder"), (calibrate_evaluate, "run"), (sweeps_runner, "run"),
                         (strategies_runner, "OutsourcingModel")):
        monkeypatch.setattr(module, name, _raises(exc))
    calls = [
        lambda: executor.run_task(executor.Task({}, 1, str(tmp_path / "task"))),
        lambda: calibrate_evaluate.evaluate(calibrate_evaluate.EvaluationTask("k", 0, {}, 1, ())),
        lambda: sweeps_runner.run_one(executor.Task({}, 1, ""), {"final": [], "final_window": 4, "every": 0,
                                                                 "series": []}),
        lambda: strategies_runner.run_cell(strategies_runner.CellTask("k", {}, 1, "adaptive", {}, (1, 52))),
    ]
    for call in calls:
        if error == "kernel-interrupt":
            with pytest.raises(KeyboardInterrupt):
                call()
        else:
            result = call()
            outcome = result[0] if isinstance(result, tuple) else result
            assert not outcome.ok and "the model failed" in outcome.error


def test_ctrl_c_in_a_kernel_during_outsim_run_exits_130(monkeypatch, tmp_path, capsys):
    """``outsim run`` reports such an interrupt as an interrupt (exit 130), not as a failed run (exit 1)."""
    import simulation.cli as cli

    monkeypatch.setattr(cli, "run_to_folder", _raises(kernel_interrupt()))
    assert main(["run", str(BASELINE), *TINY, "--out", str(tmp_path / "r")]) == EXIT_INTERRUPTED
    err = capsys.readouterr().err
    assert "interrupted" in err and "run failed" not in err and not (tmp_path / "r").exists()
