"""Wrong command-line input is refused up front, with exit 2, one line per problem and no traceback: seeds and
horizons out of the schema's range, booleans given for numbers, --set tables and values that are not TOML, and
names that would put the run folder elsewhere, files that are not small regular text files, and jobs too large
for the machine. Events a shorter run cuts off are announced, not dropped in silence."""

from __future__ import annotations

import os

import pytest
from pydantic import ValidationError

from simulation.cli import main
from simulation.cli_common import output_folder, size_problems
from simulation.config import Config
from simulation.scenario import ScenarioError, load_scenario, parse_override
from simulation.studyfiles import read_toml

from conftest import ROOT

RECESSION = str(ROOT / "scenarios" / "recession.toml")
BASELINE = str(ROOT / "scenarios" / "baseline.toml")


@pytest.mark.parametrize("argv, names", [
    (["run", BASELINE, "--seed", "-1"], "--seed = -1: must be 0 or more"),
    (["run", BASELINE, "--steps", "10000000"], "--steps = 10000000: Input should be less than or equal to 100000"),
    (["run", BASELINE, "--steps", "0"], "--steps = 0: Input should be greater than or equal to 1"),
    (["compare", BASELINE, RECESSION, "--steps", "-5"], "--steps = -5: Input should be greater than or equal to 1"),
    (["compare", BASELINE, RECESSION, "--seed", "-3"], "--seed = -3: must be 0 or more"),
    (["run", BASELINE, "--set", "firms.count=true"], "firms.count = True: must be a number, not true"),
    (["run", BASELINE, "--set", "choice.beta=false"], "choice.beta = False: must be a number, not false"),
    (["run", BASELINE, "--set", "firms={count=5}"], "a table would replace all of firms; set its keys one by one"),
    (["run", BASELINE, "--set", "firms.count=[1,2"], "firms.count = '[1,2': not a TOML value"),
    (["run", BASELINE, "--set", 'name="../../elsewhere"'], "it names the output folder"),
    (["run", BASELINE, "--set", 'name="/tmp/elsewhere"'], "it names the output folder"),
    (["validate", BASELINE, "--set", "firms.count=true"], "must be a number, not true"),
])
def test_bad_options_are_refused_up_front_with_exit_2(argv, names, capsys, tmp_path):
    """Each is refused before anything runs or is written: exit 2, the option and its rule, no traceback."""
    code = main([*argv, *(["--out", str(tmp_path / "out")] if argv[0] != "validate" else [])])
    err = capsys.readouterr().err
    assert code == 2 and names in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_a_bare_word_still_reads_as_text_and_the_schema_judges_it():
    """kind=kpo needs no quotes; a bare word where a number belongs is the schema's problem, named as such."""
    assert parse_override("services.research.kind=kpo") == ("services.research.kind", "kpo")
    with pytest.raises(ScenarioError, match="firms.count"):
        load_scenario(None, ["firms.count=many"])


def test_with_steps_validates_the_horizon_like_run_steps():
    """Config.with_steps is held to run.steps' rule (1 to 100,000 weeks), for API users as for the CLI."""
    assert Config().with_steps(7).run.steps == 7
    for steps in (0, 100_001, True):
        with pytest.raises(ValidationError):
            Config().with_steps(steps)


def test_events_a_shorter_run_cuts_off_are_announced(capsys, tmp_path):
    """recession.toml --steps 50: its four events (weeks 104 and 208) would not happen; each is named on stderr."""
    code = main(["run", RECESSION, "--steps", "50", "--scale", "0.05", "--no-report", "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 0
    assert err.count("will not happen") == 4
    assert "the multiply event at week 104 comes after the last week run (50)" in err


# ----------------------------------------------------------------------------- output folders
def test_an_existing_out_folder_is_refused_unless_forced_and_then_replaced(capsys, tmp_path):
    """--out that exists: exit 2 and nothing touched; with --force the old folder goes, so no stale file stays."""
    out = tmp_path / "run"
    out.mkdir()
    (out / "old.csv").write_text("stale")
    small = [BASELINE, "--scale", "0.05", "--steps", "5", "--no-report", "--out", str(out)]
    assert main(["run", *small]) == 2
    assert "already exists; choose another folder, add --force to replace it" in capsys.readouterr().err
    assert (out / "old.csv").exists()
    assert main(["run", *small, "--force"]) == 0
    assert not (out / "old.csv").exists() and (out / "manifest.json").exists()


def test_default_folders_never_collide_and_unwritable_ones_are_refused(tmp_path):
    """Two runs named for the same second get -2, -3 suffixes; a folder under a file cannot be written."""
    default = tmp_path / "20261201-120000-s1"
    default.mkdir()
    (tmp_path / "20261201-120000-s1-2").mkdir()
    assert output_folder(None, default, False) == (tmp_path / "20261201-120000-s1-3", [])
    blocker = tmp_path / "a_file"
    blocker.write_text("")
    out, problems = output_folder(blocker / "run", default, False)
    assert problems and "cannot be written" in problems[0]


@pytest.mark.parametrize("argv, names", [
    (["--replications", "1"], "a paired comparison needs at least 2 seed pairs"),
    (["--steps", "200", "--window", "100:900"], "ends after the last week run (200)"),
])
def test_compare_refuses_what_it_cannot_compute(argv, names, capsys, tmp_path):
    """One seed pair gives no interval, and a window past the horizon averages nothing: both exit 2 up front."""
    assert main(["compare", BASELINE, RECESSION, *argv, "--out", str(tmp_path / "c")]) == 2
    assert names in capsys.readouterr().err and not (tmp_path / "c").exists()


def test_outsim_says_its_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0 and capsys.readouterr().out.startswith("outsim ")


def test_only_small_regular_text_files_are_read(tmp_path, capsys):
    """A device, a pipe, a folder, a file over 1 MB and a binary file are refused, each in one line."""
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 200_000)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00name = 1")
    pipe = tmp_path / "pipe.toml"
    os.mkfifo(pipe)  # opening it would wait for a writer forever
    for path, rule in [("/dev/zero", "not a regular file"), (pipe, "not a regular file"),
                       (tmp_path, "not a regular file"), (big, "larger than 1,000,000 bytes"),
                       (binary, "not UTF-8 text")]:
        assert main(["validate", str(path)]) == 2
        err = capsys.readouterr().err
        assert rule in err and "Traceback" not in err, (path, err)


def test_a_sweep_or_calibration_file_is_read_with_the_same_bounds(tmp_path):
    big = tmp_path / "big.toml"
    big.write_text("# padding\n" * 200_000)
    with pytest.raises(ScenarioError, match="larger than"):
        read_toml(big, "sweep")
    with pytest.raises(ScenarioError, match="not a regular file"):
        read_toml("/dev/zero", "calibration")


def test_a_job_too_large_for_this_machine_is_refused_with_its_estimate_unless_forced(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["run", str(BASELINE), "--set", "firms.count=10000000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "GiB of memory at peak" in err and "add --force to run it anyway" in err and not out.exists()
    assert main(["compare", str(BASELINE), str(BASELINE), "--steps", "100000", "--replications", "2"]) == 2
    assert "GiB of memory" in capsys.readouterr().err
    cfg = load_scenario(BASELINE, {"firms.count": 10_000_000})
    assert size_problems(cfg, 520, force=True) == []
    assert size_problems(load_scenario(BASELINE), 520) == []  # the baseline itself is well inside
    one, four_at_once = (size_problems(load_scenario(BASELINE, {"run.scale": 40}), 520, runs=4, workers=w) for w in (1, 4))
    assert one == [] and "4 runs, 4 at a time" in four_at_once[0]  # four 40k-firm runs at once need 4x the memory


@pytest.mark.parametrize("kind, says", [("sweep", "outsim sweep SWEEP_FILE --analyze --out"),
                                        ("calibration", "outsim calibrate CALIBRATION_FILE --out"),
                                        ("banana", "manifest kind 'banana' is not one of")])
def test_report_on_a_folder_it_does_not_write_says_what_to_run(tmp_path, capsys, kind, says):
    (tmp_path / "manifest.json").write_text(f'{{"kind": "{kind}"}}')
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert says in err and "retry with" not in err and "Traceback" not in err
    assert not (tmp_path / "report.html").exists()
