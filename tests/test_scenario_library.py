"""The what-if scenario library, validation that helps, and repeating a run from its folder.

Shipped scenarios validate and run past their first event; every file of the broken corpus is
rejected with exit 2 and names its key; random overrides are accepted or rejected cleanly; and
``outsim run --from RUN_DIR`` repeats a run byte for byte.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from simulation import load_scenario, run
from simulation.runfolder import DATA_FILES
from simulation.cli import main
from simulation.scenario import ScenarioError, list_scenarios

from conftest import ROOT, market_size

SCENARIOS = ROOT / "scenarios"
SHIPPED = [info.path for info in list_scenarios(SCENARIOS)]
BAD = sorted((ROOT / "tests" / "data" / "bad_scenarios").glob("*.toml"))
SMALL = market_size(120)


def test_library_holds_the_baseline_and_at_least_eight_what_ifs_with_descriptions():
    """scenarios/ ships the baseline plus 8 or more what-if scenarios, each with a description and tags."""
    infos = [i for i in list_scenarios(SCENARIOS) if "what-if" in i.tags]
    assert len(infos) >= 8
    assert all(i.valid and len(i.description) > 20 and i.tags for i in infos)
    names = {i.name for i in infos}
    for needed in ("recession", "offshore_wage_convergence", "automation", "kpo_talent_shortage", "broker_entry",
                   "volatile_demand", "large_provider_failure", "data_protection", "price_hike"):
        assert needed in names


@pytest.mark.parametrize("path", SHIPPED, ids=[Path(p).stem for p in SHIPPED])
def test_every_shipped_scenario_validates_and_runs_past_its_first_event(path):
    """Each shipped scenario loads and runs (scaled down) until a few weeks after its first event or failure."""
    cfg = load_scenario(path, SMALL)
    starts = [e.at for e in cfg.events]
    steps = min(min(starts, default=32) + 8, cfg.run.steps)
    result = run(cfg, seed=1, steps=steps)
    assert len(result.metrics) == steps
    assert result.metrics["demand_hours"].gt(0).all()


def test_the_broken_corpus_has_at_least_thirty_files():
    """tests/data/bad_scenarios holds 30 or more broken scenario files, each declaring the key its error must name."""
    assert len(BAD) >= 30
    assert all(p.read_text().startswith("# expect: ") for p in BAD)


@pytest.mark.parametrize("path", BAD, ids=[p.stem for p in BAD])
def test_every_broken_file_is_rejected_with_exit_2_naming_its_key(path, capsys):
    """outsim validate exits 2 on each broken file, names the offending key on stderr, and shows no traceback."""
    expected_key = path.read_text().splitlines()[0].removeprefix("# expect: ").strip()
    code = main(["validate", str(path)])
    err = capsys.readouterr().err
    assert code == 2
    assert expected_key in err
    assert "Traceback" not in err
    assert len(err.strip().splitlines()) >= 2  # one line per problem, then the count


def test_validate_reports_every_problem_at_once(tmp_path, capsys):
    """Four independent mistakes, one in an event, give four lines, with did-you-mean for the misspellings."""
    f = tmp_path / "four.toml"
    f.write_text('[firms]\ncount = -1\ncuont = 3\n[choice]\nbeta = nan\n'
                 '[[events]]\nat = 5\naction = "set"\ntarget = "regions.offshore.wage_per_hr"\nvalue = 9.0\n')
    assert main(["validate", str(f)]) == 2
    err = capsys.readouterr().err
    assert "firms.count" in err and "firms.cuont" in err and "did you mean 'count'" in err and "choice.beta" in err
    assert "events.0.target" in err and "did you mean 'regions.offshore.wage_per_hour'" in err
    assert "4 problem(s)" in err


def test_set_values_are_parsed_as_literals_never_evaluated(capsys):
    """A --set value that looks like code is kept as a string and rejected by the schema, not run."""
    assert main(["validate", str(SCENARIOS / "baseline.toml"), "--set", "firms.count=__import__('os').getcwd()"]) == 2
    assert "firms.count" in capsys.readouterr().err


def test_run_from_a_folder_repeats_it_byte_for_byte(tmp_path, capsys):
    """outsim run --from RUN_DIR rebuilds the resolved config and seed from the manifest and writes identical tables."""
    a, b = tmp_path / "a", tmp_path / "b"
    assert main(["run", str(SCENARIOS / "recession.toml"), "--seed", "5", "--steps", "120", "--no-report", "--out", str(a),
                 "--set", "firms.count=150"]) == 0
    assert main(["run", "--from", str(a), "--out", str(b), "--format", "csv", "--no-report"]) == 0
    for name in DATA_FILES:
        assert (a / f"{name}.parquet").read_bytes() == (b / f"{name}.parquet").read_bytes(), name
        assert (b / f"{name}.csv").stat().st_size > 0
    assert "run folder" in capsys.readouterr().out


# Numeric fields that take any value in a range, for random overrides (key, low, high, is_int).
RANGES = [("firms.count", 5, 80, True), ("firms.demand_volatility", 0.0, 1.0, False), ("choice.beta", 0.0, 6.0, False),
          ("choice.gamma", 0.01, 1.0, False), ("providers.offshore_share", 0.0, 1.0, False),
          ("intermediaries.fee_rate", 0.0, 0.5, False), ("contracts.learning_multiplier", 0.0, 3.0, False),
          ("negotiation.base_power", 0.0, 1.0, False), ("firms.review_interval_weeks", 1, 52, True),
          ("services.research.learning_strength", 0.0, 1.0, False)]


@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_random_valid_overrides_validate_and_run(data):
    """Any in-range values for a random set of parameters validate and run a short small market."""
    picks = data.draw(st.lists(st.sampled_from(RANGES), min_size=1, max_size=4, unique=True))
    overrides = {"providers.bpo_count": 6, "providers.kpo_count": 3, "firms.count": 30}
    for key, lo, hi, is_int in picks:
        overrides[key] = data.draw(st.integers(lo, hi) if is_int else st.floats(lo, hi, allow_nan=False))
    result = run(load_scenario(SCENARIOS / "baseline.toml", overrides), seed=data.draw(st.integers(0, 99)), steps=20)
    assert len(result.metrics) == 20


BOUNDED_ABOVE = {"choice.gamma", "providers.offshore_share", "intermediaries.fee_rate", "negotiation.base_power",
                 "services.research.learning_strength"}  # shares, rates and probabilities: at most 1


@given(key=st.sampled_from(RANGES), bad=st.sampled_from(["negative", "above_one", "nan", "inf", "text"]))
def test_random_invalid_values_are_rejected_with_a_clean_message(key, bad):
    """Negative, above-one (for shares), NaN, infinite or non-numeric values raise ScenarioError naming the key."""
    name = key[0]
    if bad == "above_one" and name not in BOUNDED_ABOVE:
        bad = "negative"  # counts, intensities and multipliers have no upper bound of 1
    value = {"negative": "-1", "above_one": "1000.5", "nan": "nan", "inf": "inf", "text": "lots"}[bad]
    with pytest.raises(ScenarioError) as info:
        load_scenario(SCENARIOS / "baseline.toml", [f"{name}={value}"])
    assert name in str(info.value)
    assert "Traceback" not in str(info.value)
