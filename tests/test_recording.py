"""What a run records (run.record, run.decision_sample, run.decision_firms) and how a run folder is streamed.

Recording levels and decision samples change which rows are kept, never the market: the other tables
keep their bytes. A streamed run folder (api.run_to_folder) has the bytes of the in-memory run's folder
(api.save_run), row group by row group. Readers say when a table was not recorded.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from analysis.load import load_run, not_recorded
from analysis.moments import moment
from analysis.report import write_report
from simulation import OutsourcingModel, load_scenario, run, run_to_folder, save_run
from simulation.calibrate.evaluate import recording_for
from simulation.cli import main
from simulation.config.recording import AUTO_FULL_FIRMS, record_level, recorded_tables
from simulation.model.state.decisions import DecisionLog, sample_firms
from simulation.model.model import STREAMS
from simulation.runfolder import DATA_FILES, verified_run
from simulation.streaming import ParquetStream, TableStreams

from conftest import BASELINE, ROOT, SMALL
from test_golden import CASES, GOLDEN
from test_interrupted_writes import killed_run

QUICK = {**SMALL, "run.warmup_weeks": 13}  # the 300-firm market with a short warm-up
WEEKS = 40


def quick(**overrides) -> object:
    return load_scenario(BASELINE, {**QUICK, **overrides})


def sha(folder: Path, table: str) -> str:
    return hashlib.sha256((folder / f"{table}.parquet").read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def levels(tmp_path_factory) -> dict[str, Path]:
    """The same seeded run written at each level (and at full without decisions), streamed."""
    root = tmp_path_factory.mktemp("levels")
    cases = {"full": {}, "summary": {"run.record": "summary"}, "metrics": {"run.record": "metrics"},
             "no_decisions": {"run.record_decisions": False}}
    return {name: run_to_folder(quick(**o), root / name, seed=4, steps=WEEKS).folder for name, o in cases.items()}


@pytest.mark.parametrize("level, empty", [("full", ()), ("summary", ("decisions",)),
                                          ("metrics", ("contracts", "relationships", "decisions")),
                                          ("no_decisions", ("decisions",))])
def test_each_level_writes_its_tables_and_the_others_empty_with_the_same_schema(levels, level, empty):
    """A level keeps its tables with their rows and bytes; the others are empty, valid Parquet of the full schema."""
    folder, full = levels[level], levels["full"]
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["record"] == ("full" if level == "no_decisions" else level)
    assert manifest["not_recorded"] == list(empty) and set(manifest["sha256"]) == set(DATA_FILES)
    assert verified_run(folder, manifest["config"], 4)
    for table in DATA_FILES:
        frame = pd.read_parquet(folder / f"{table}.parquet")
        assert pq.read_schema(folder / f"{table}.parquet").equals(pq.read_schema(full / f"{table}.parquet"),
                                                                  check_metadata=True)
        if table in empty:
            assert frame.empty
        else:
            assert len(frame) > 0 and sha(folder, table) == sha(full, table)


def test_auto_records_in_full_up_to_10000_firms_after_scale_and_a_summary_above():
    """auto resolves on the scaled firm count; an explicit level wins; record_decisions = false drops decisions."""
    assert AUTO_FULL_FIRMS == 10_000
    assert record_level(load_scenario(BASELINE, {"firms.count": 10_000})) == "full"
    assert record_level(load_scenario(BASELINE, {"firms.count": 10_001})) == "summary"
    assert record_level(load_scenario(BASELINE, {"run.scale": 10.0})) == "full"  # 1,000 firms x 10
    assert record_level(load_scenario(BASELINE, {"run.scale": 10.001})) == "summary"
    assert record_level(load_scenario(BASELINE, {"run.scale": 20, "run.record": "full"})) == "full"
    assert "decisions" not in recorded_tables(load_scenario(BASELINE, {"run.record_decisions": False}))
    assert recorded_tables(load_scenario(BASELINE, {"run.record": "metrics"})) == ("metrics", "firms", "providers")


def test_folders_from_before_recording_levels_count_only_an_unrecorded_decision_log():
    """A manifest without not_recorded: decisions missing when run.record_decisions was false, else nothing."""
    assert not_recorded({"config": {"run": {"record_decisions": False}}}) == {"decisions"}
    assert not_recorded({"config": {"run": {}}}) == frozenset()
    assert not_recorded({"not_recorded": ["contracts"]}) == {"contracts"}


@pytest.fixture(scope="module")
def sampled(tmp_path_factory, levels) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("sampled")
    return {"share": run_to_folder(quick(**{"run.decision_sample": 0.1}), root / "share", seed=4, steps=WEEKS).folder,
            "named": run_to_folder(quick(**{"run.decision_firms": [3, 17, 250]}), root / "named", seed=4,
                                   steps=WEEKS).folder}


@pytest.mark.parametrize("case", ["share", "named"])
def test_a_decision_sample_keeps_exactly_the_sampled_firms_reviews_and_moves_no_other_byte(levels, sampled, case):
    """Sampled decisions are the full log's rows of the sampled firms, realised costs included; every other file
    keeps its bytes."""
    folder, full = sampled[case], levels["full"]
    for table in DATA_FILES:
        if table != "decisions":
            assert sha(folder, table) == sha(full, table)
    all_reviews, kept = pd.read_parquet(full / "decisions.parquet"), pd.read_parquet(folder / "decisions.parquet")
    firms = np.flatnonzero(sample_firms(300, 30, None, 4)) if case == "share" else [3, 17, 250]
    assert sorted(kept["firm_id"].unique()) == sorted(firms)
    pd.testing.assert_frame_equal(kept, all_reviews[all_reviews["firm_id"].isin(firms)].reset_index(drop=True))
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["decision_sample"] == {"firms": len(firms), "of": 300} and manifest["not_recorded"] == []


def test_the_sample_draws_from_a_stream_of_its_own():
    """Every model stream is in the same state after some weeks, whatever the sample; other seeds draw other samples."""
    plain, sampled_model = OutsourcingModel(quick(), seed=9), OutsourcingModel(quick(**{"run.decision_sample": 0.2}), seed=9)
    for model in (plain, sampled_model):
        for _ in range(10):
            model.step()
    for name in STREAMS:
        assert getattr(plain, f"rng_{name}").bit_generator.state == getattr(sampled_model, f"rng_{name}").bit_generator.state
    assert plain.rng.bit_generator.state == sampled_model.rng.bit_generator.state
    assert sampled_model.decisions.keep_firms.sum() == 60
    assert not np.array_equal(sample_firms(300, 60, None, 9), sample_firms(300, 60, None, 10))


@pytest.mark.parametrize("setting, says", [
    ("run.record=everything", "run.record = 'everything': Input should be 'auto', 'full', 'summary' or 'metrics'"),
    ("run.decision_sample=0", "run.decision_sample = 0: Input should be greater than 0"),
    ("run.decision_sample=1.5", "run.decision_sample = 1.5: Input should be less than or equal to 1"),
    ("run.decision_firms=[4, 9, 4]", "run.decision_firms = [4, 9, 4]: firm id(s) 4 given more than once"),
    ("run.decision_firms=[2, 300]", "run.decision_firms = [2, 300]: firm id(s) 300 not in the market: it has 300 "
                                    "firms, ids 0 to 299"),
    ("run.decision_firms=[-1]", "--set: run.decision_firms.0 = -1: Input should be greater than or equal to 0"),
    ("run.decision_firms=[]", "run.decision_firms = []: List should have at least 1 item"),
])
def test_bad_recording_settings_exit_2_with_one_clear_line(setting, says, capsys, tmp_path):
    """Each bad value of the new keys is refused before anything runs, naming the key, the value and the rule."""
    code = main(["run", str(BASELINE), "--scale", "0.3", "--set", setting, "--out", str(tmp_path / "r")])
    err = capsys.readouterr().err
    assert code == 2 and says in err and "Traceback" not in err and not (tmp_path / "r").exists()


def test_a_sample_and_named_firms_together_are_refused(capsys, tmp_path):
    code = main(["validate", str(BASELINE), "--set", "run.decision_sample=0.5", "--set", "run.decision_firms=[1]"])
    assert code == 2 and "give run.decision_firms or run.decision_sample, not both" in capsys.readouterr().err


def test_a_streamed_run_folder_equals_the_in_memory_run_and_is_reproducible(levels, tmp_path):
    """run_to_folder's tables equal run()'s DataFrames, and running it again writes the same bytes."""
    result = run(quick(), seed=4, steps=WEEKS)
    for table in DATA_FILES:
        pd.testing.assert_frame_equal(pd.read_parquet(levels["full"] / f"{table}.parquet"), getattr(result, table))
    again = run_to_folder(quick(), tmp_path / "again", seed=4, steps=WEEKS).folder
    assert all(sha(again, t) == sha(levels["full"], t) for t in DATA_FILES)


@pytest.mark.parametrize("case", ["recession_small_s3", "failure_small_s2"])
def test_a_streamed_golden_run_keeps_the_golden_bytes(case, tmp_path):
    """The seeded golden cases, streamed, write exactly the golden Parquet bytes."""
    scenario, overrides, seed, weeks = CASES[case]
    folder = run_to_folder(load_scenario(ROOT / "scenarios" / scenario, overrides), tmp_path / case, seed, weeks).folder
    assert {t: sha(folder, t) for t in DATA_FILES} == GOLDEN[case]


def test_streams_write_the_row_groups_to_parquet_writes(tmp_path):
    """With small row groups, the streamed tables have the bytes of to_parquet with that row group size."""
    cfg, rows = quick(), 500
    model = OutsourcingModel(cfg, seed=5)
    with TableStreams(model, tmp_path, row_group_rows=rows) as streams:
        for _ in range(WEEKS):
            model.step()
            streams.drain()
        model.finish()
        streams.drain(final=True)
    result = run(cfg, seed=5, steps=WEEKS)
    for table in ("relationships", "decisions"):
        getattr(result, table).to_parquet(tmp_path / "memory.parquet", index=False, row_group_size=rows)
        assert pq.ParquetFile(tmp_path / f"{table}.parquet").num_row_groups > 2
        assert sha(tmp_path, table) == sha(tmp_path, "memory")


@pytest.mark.parametrize("chunks", [[], [0], [7], [500], [499, 2], [250] * 4, [3] * 400 + [1], [1200, 0, 300]])
def test_a_stream_matches_to_parquet_at_every_row_group_edge(chunks, tmp_path):
    """Empty, short, exactly full and overflowing buffers all give the bytes of one to_parquet."""
    rng = np.random.default_rng(len(chunks))

    def build(cols):
        cols = cols or {"a": np.empty(0, np.int64), "b": np.empty(0), "c": np.empty(0, np.int8)}
        return pd.DataFrame({"a": cols["a"], "b": cols["b"], "c": pd.Categorical.from_codes(cols["c"], ["x", "y"])})

    parts = [{"a": rng.integers(0, 9, n), "b": rng.random(n), "c": rng.integers(0, 2, n).astype(np.int8)} for n in chunks]
    stream = ParquetStream(tmp_path / "s.parquet", build, row_group_rows=500)
    for part in parts:
        stream.append(part)
    stream.close()
    whole = {k: np.concatenate([p[k] for p in parts]) for k in ("a", "b", "c")} if parts else None
    build(whole).to_parquet(tmp_path / "m.parquet", index=False, row_group_size=500)
    assert sha(tmp_path, "s") == sha(tmp_path, "m") and stream.rows == sum(chunks)


def test_decision_rows_are_handed_out_only_once_and_never_back_filled_after():
    """take() hands out each row once, in order; a realised cost for a row already taken is an error, not a
    silent write into another row."""
    log = DecisionLog(True, ("s",))
    columns = {c: np.arange(3) for c in ("week", "firm_id", "service", "mode_before", "candidate_provider",
                                         "broker_provider", "choice", "channel", "provider_id", "outcome")}
    floats = {c: np.zeros(3) for c in ("cost_in_house", "cost_on_call", "cost_on_call_broker", "cost_permanent",
                                       "cost_permanent_broker", "price_per_hour", "reserved_hours_per_week")}
    columns.update(service=np.zeros(3, np.int64), mode_before=np.zeros(3, np.int8), choice=np.zeros(3, np.int8),
                   channel=np.zeros(3, np.int8), outcome=np.zeros(3, np.int8))
    assert list(log.add(**columns, **floats)) == [0, 1, 2] and list(log.add(**columns, **floats)) == [3, 4, 5]
    log.set_realised(np.array([1]), np.array([7.0]), np.array([13]))
    taken = log.take(2)
    assert taken["week"].tolist() == [0, 1] and taken["realised_weekly_cost"][1] == 7.0
    assert taken["realised_weeks"].tolist() == [0, 13] and log.first == 2
    assert log.take(5)["week"].tolist() == [2, 0, 1] and log.take(6)["week"].tolist() == [2] and log.take(9) is None
    with pytest.raises(RuntimeError, match="already handed out"):
        log.set_realised(np.array([4]), np.array([1.0]), np.array([1]))


def test_one_firms_decision_trail_is_its_rows_of_the_held_table():
    """for_firm gives exactly the firm's rows of to_frame, oldest first, also after take() handed some out."""
    log = DecisionLog(True, ("s", "t"))
    ints = ("week", "firm_id", "service", "mode_before", "candidate_provider", "broker_provider", "choice", "channel",
            "provider_id", "outcome")
    floats = ("cost_in_house", "cost_on_call", "cost_on_call_broker", "cost_permanent", "cost_permanent_broker",
              "price_per_hour", "reserved_hours_per_week")
    assert log.for_firm(0) == []
    rng = np.random.default_rng(0)
    for week in range(4):
        n = 6
        columns = {c: rng.integers(0, 2, n) for c in ints} | {c: rng.random(n) for c in floats}
        columns.update(week=np.full(n, week), firm_id=rng.integers(0, 3, n))
        rows = log.add(**columns)
        log.set_realised(rows[:2], rng.random(2), np.array([4, 5]))
    for taken in (0, 9):
        log.take(taken)
        before = {firm: [log.for_firm(firm), log.for_firm(firm, last=2)] for firm in range(4)}  # batch by batch
        table = log.to_frame()  # merges the batches into one
        for firm in range(4):
            expected = table[table["firm_id"] == firm].to_dict("records")
            trail = log.for_firm(firm)
            assert len(trail) == len(expected) and (firm == 3 or expected)  # firm 3 never reviewed
            latest = log.for_firm(firm, last=2)
            assert len(latest) == min(2, len(expected)) and log.for_firm(firm, last=0) == []
            if expected:  # records hold NaN (realised costs not known yet): compare as tables
                for got, want in ((trail, expected), (latest, expected[-2:]), *zip(before[firm], (expected, expected[-2:]))):
                    pd.testing.assert_frame_equal(pd.DataFrame(got), pd.DataFrame(want))


@pytest.mark.slow
def test_a_run_killed_while_streaming_leaves_no_folder_that_looks_like_a_run(tmp_path):
    """Killed in its third week of streaming, a run leaves only its hidden partial folder."""
    out = tmp_path / "run"
    killed_run(out, "simulation.streaming.ParquetStream.append", 3, "--no-report")
    assert not out.exists()
    assert [p.name.startswith(".run.partial-") for p in tmp_path.iterdir()] == [True]


def test_readers_say_what_a_metrics_level_run_did_not_record(levels, capsys):
    """The report draws no empty figure or table for an unrecorded table, and explain refuses with a clear line."""
    html = write_report(levels["metrics"]).read_text()
    assert "Not drawn: relationships.parquet was not recorded in this run (run.record = metrics)" in html
    assert "Not shown: decisions.parquet was not recorded" in html
    assert "No permanent contract reached its term end" not in html
    assert main(["explain", str(levels["metrics"]), "--firm", "3"]) == 2
    assert "recorded neither sourcing reviews nor contract events (run.record = metrics)" in capsys.readouterr().err
    assert np.isnan(moment(load_run(levels["summary"]), "early_exit_insourced_share", (1, WEEKS)))
    assert np.isfinite(moment(load_run(levels["summary"]), "early_exit_share", (1, WEEKS)))


def test_calibration_runs_record_the_tables_their_moments_read():
    """A calibration run records what its moments need, whole, whatever run.record and the sample say."""
    base = quick(**{"run.record": "summary", "run.decision_sample": 0.5})
    assert record_level(recording_for(base, {"permanent_share"})) == "metrics"
    assert record_level(recording_for(base, {"renewal_rate_bpo"})) == "summary"
    full = recording_for(base, {"early_exit_insourced_share"})
    assert record_level(full) == "full" and full.run.decision_sample == 1.0


def test_a_saved_in_memory_run_records_the_level_too(tmp_path):
    """save_run(run(...)) writes the same level, empty tables and manifest fields as a streamed run."""
    folder = save_run(run(quick(**{"run.record": "summary"}), seed=4, steps=5), tmp_path / "r")
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["record"] == "summary" and manifest["not_recorded"] == ["decisions"]
    assert pd.read_parquet(folder / "decisions.parquet").empty and len(pd.read_parquet(folder / "contracts.parquet"))
