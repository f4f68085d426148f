"""Strategies judged across futures (simulation/strategies/, simulation/cli_strategies.py, analysis/strategies.py):
the regret table, bad strategy files, fixed policies that really fix the focal firms' choices while the others
stay adaptive, resumable studies, and the command's outputs.

The bad strategy files are in tests/data/bad_strategies/; each starts with ``# expect:`` lines, texts its
problem report must contain. Runs use tiny markets (60 firms, a 26-week warm-up, 60 weeks), run one by one
in the test process (``--workers 0``) unless a test says otherwise.
"""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import BASELINE, ROOT

from analysis.strategies import regret_table
from simulation import load_scenario
from simulation.cli_strategies import main
from simulation.model import OutsourcingModel
from simulation.model.codes import Mode, Region
from simulation.model.sourcing.policies import POLICIES, SourcingPolicy
from simulation.strategies import runner
from simulation.strategies.measure import FocalTally, focal_slots
from simulation.strategies.spec import Segment, load_study, policy_of

BAD = sorted((ROOT / "tests" / "data" / "bad_strategies").glob("*.toml"))
TINY = {"run.scale": 0.06, "run.warmup_weeks": 26, "run.steps": 60}
SEGMENT = Segment(size=("medium", "large"))


class Dearest(SourcingPolicy):
    """A user's strategy: the dearest available option (odd on purpose, so its mark is easy to see)."""

    name = "dearest"

    def choose(self, menu):
        return np.where(np.isnan(menu.costs), -np.inf, menu.costs).argmax(axis=1)


def write_study(folder: Path, strategies: list[str], seeds: int = 2) -> Path:
    """A tiny study: the baseline and a demand shock at week 20, 60 weeks of a 60-firm market, medium and large firms."""
    (folder / "shock.toml").write_text(f'extends = "{BASELINE}"\nname = "shock"\n[[events]]\nat = 20\n'
                                       'action = "multiply"\ntarget = "environment.demand_multiplier"\nvalue = 0.7\n')
    path = folder / "study.toml"
    path.write_text(f'name = "tiny"\nfutures = ["{BASELINE}", "shock.toml"]\nstrategies = {strategies!r}\n'
                    'steps = 60\nscale = 0.06\n[segment]\nsize = ["medium", "large"]\n'
                    f'[seeds]\ncount = {seeds}\nbase = 3\n[set]\n"run.warmup_weeks" = 26\n'.replace("'", '"'))
    return path


def study_bytes(folder: Path) -> dict[str, bytes]:
    """The results of a study folder, by path: every run's files, the tables, the figure and the report."""
    files = [*folder.glob("runs/*.parquet"), *folder.glob("series/*.parquet"),
             *(folder / name for name in ("strategies.csv", "regret.csv", "strategies.png", "report.html"))]
    return {str(p.relative_to(folder)): p.read_bytes() for p in files}


# ----------------------------------------------------------------------------- the regret table
def test_regret_is_cost_above_the_best_in_each_future_and_minimax_names_the_robust_strategy():
    """By hand: A is best in f1, B in f2; B's largest regret (2) is the smallest, so B is robust although A is
    cheapest on average."""
    cost = pd.DataFrame({"f1": [10.0, 12.0, 11.0], "f2": [20.0, 15.0, 30.0]}, index=["A", "B", "C"])
    regret = regret_table(cost)
    assert regret.loc["A", ["f1", "f2"]].tolist() == [0.0, 5.0]
    assert regret.loc["B", ["f1", "f2"]].tolist() == [2.0, 0.0]
    assert regret.loc["C", ["f1", "f2"]].tolist() == [1.0, 15.0]
    assert regret["max_regret"].tolist() == [5.0, 2.0, 15.0]
    assert regret["robust"].tolist() == [False, True, False]


def test_a_tie_in_maximum_regret_goes_to_the_strategy_listed_first():
    """Two strategies with the same largest regret: the first in the file's order is named robust, once."""
    regret = regret_table(pd.DataFrame({"f1": [0.0, 3.0], "f2": [3.0, 0.0]}, index=["second", "first"]))
    assert regret["robust"].tolist() == [True, False]


# ----------------------------------------------------------------------------- bad strategy files
def test_the_bad_strategy_corpus_holds_files_with_several_mistakes():
    """tests/data/bad_strategies has 8 or more files, most with several mistakes each."""
    counts = [len(re.findall(r"^# expect:", p.read_text(encoding="utf-8"), re.M)) for p in BAD]
    assert len(BAD) >= 8 and sum(c >= 3 for c in counts) >= 4


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_each_bad_strategy_file_reports_all_its_mistakes_at_once(path, capsys):
    """Exit 2, no traceback, a closing count, and every text of the file's ``# expect:`` lines in the report."""
    code = main([str(path), "--dry-run"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err and err.splitlines()[-1].endswith("nothing was run."), err
    for text in re.findall(r"^# expect: (.+)$", path.read_text(encoding="utf-8"), re.M):
        assert text in err, (text, err)


def test_a_user_class_and_every_built_in_name_are_accepted():
    """Built-in names give the built-in policies; ``module:Class`` gives an instance of a SourcingPolicy subclass."""
    assert all(policy_of(name) is policy for name, policy in POLICIES.items())
    assert isinstance(policy_of("test_strategies:Dearest"), Dearest)
    assert set(POLICIES) == {"adaptive", "permanent", "on-call", "in-house", "permanent offshore", "via broker"}


# ----------------------------------------------------------------------------- fixed policies in the decision log
def run_with(strategy: str, seed: int = 5) -> tuple[OutsourcingModel, np.ndarray, pd.DataFrame, list[np.ndarray]]:
    """A tiny market whose medium and large firms follow ``strategy`` from week 1: the model, the focal mask,
    the decision log with each row's slot and focus, and the slots' modes after every week."""
    model = OutsourcingModel(load_scenario(BASELINE, TINY), seed=seed)
    focal = focal_slots(model, SEGMENT)
    model.assign_policy(policy_of(strategy), focal)
    modes = []
    for _ in range(model.cfg.run.steps):
        model.step()
        modes.append(model.slots.mode.copy())
    log = model.decisions.to_frame()
    slot = {(int(f), int(v)): s for s, (f, v) in enumerate(zip(model.slots.firm, model.slots.service))}
    names = list(model.catalogue.names)
    log["slot"] = [slot[(f, names.index(v))] for f, v in zip(log["firm_id"], log["service"])]
    log["focal"] = focal[log["slot"]]
    return model, focal, log, modes


def assert_others_stay_adaptive(model: OutsourcingModel, focal: np.ndarray, log: pd.DataFrame) -> None:
    """The firm-services outside the segment follow the model's default rule and still make every kind of choice."""
    assert (model.slots.policy[~focal] == 0).all() and (model.slots.policy[focal] != 0).all()
    others = log[~log["focal"]]
    assert {"in_house", "signed"} <= set(others["outcome"].astype(str)) and others["choice"].nunique() >= 3


def test_in_house_focal_firm_services_never_outsource_after_their_first_review():
    """Under "in-house" every focal review chooses in-house, and from its first review on a focal firm-service stays
    in mode in-house every week; the other firms keep choosing as before."""
    model, focal, log, modes = run_with("in-house")
    mine = log[log["focal"]]
    assert len(mine) > 100 and (mine["choice"] == "in_house").all()
    first = mine.groupby("slot")["week"].min()
    for slot, week in first.items():
        assert all(modes[w - 1][slot] == Mode.IN_HOUSE for w in range(week, len(modes) + 1)), slot
    assert_others_stay_adaptive(model, focal, log)


def test_on_call_focal_firm_services_never_sign():
    """Under "on-call" no focal review signs or renews a contract, and the focal firm-services choose on-call
    except where no on-call option was on the table at all (a service no provider offers in this tiny market)."""
    model, focal, log, _ = run_with("on-call")
    mine = log[log["focal"]]
    assert len(mine) > 100 and not mine["outcome"].isin(["signed", "renewed", "kept"]).any()
    other = mine[~mine["choice"].isin(["on_call", "on_call_broker"])]
    assert other[["cost_on_call", "cost_on_call_broker"]].isna().all(axis=None)
    assert (model.contracts.active[focal] == False).all()  # noqa: E712 - every warm-up contract was left
    assert_others_stay_adaptive(model, focal, log)


def test_permanent_offshore_signs_only_with_offshore_providers():
    """Under "permanent offshore" every contract a focal review signs is with an offshore provider (and there are
    some), while the adaptive firms outside the segment also sign with domestic ones."""
    model, focal, log, _ = run_with("permanent offshore")
    region = model.providers.region[: model.providers.n]
    signed = log[log["focal"] & (log["outcome"] == "signed")]
    assert len(signed) >= 5 and (region[signed["provider_id"]] == Region.OFFSHORE).all()
    assert (signed["choice"].isin(["permanent", "permanent_broker"])).all()
    assert_others_stay_adaptive(model, focal, log)
    plain = OutsourcingModel(load_scenario(BASELINE, TINY), seed=5)
    plain.run()
    free = plain.decisions.to_frame()
    assert (region[free.loc[free["outcome"] == "signed", "provider_id"]] == Region.DOMESTIC).any()


def test_via_broker_uses_only_the_broker_options():
    """Under "via broker" focal reviews choose on-call or permanent through the broker, unless neither is on the table."""
    _, _, log, _ = run_with("via broker")
    mine = log[log["focal"]]
    other = mine[~mine["choice"].isin(["on_call_broker", "permanent_broker"])]
    assert len(mine) > 100 and other[["cost_on_call_broker", "cost_permanent_broker"]].isna().all(axis=None)
    assert (mine["outcome"] == "signed").any()


def test_focal_costs_add_up_to_the_markets_books_when_the_segment_is_every_firm():
    """With every firm focal, the tally's payments plus exit fees are the market's firm payments, and its cost less own
    staff is the market's outsourced cost, unmet cost, rebuilt staff and exit fees, week by week added up."""
    model = OutsourcingModel(load_scenario(BASELINE, TINY), seed=2)
    focal = focal_slots(model, Segment())
    tally = FocalTally(model, focal, (1, 60))
    paid = other = fees = 0.0
    for _ in range(60):
        model.step()
        tally.observe(model)
        flows = model.flows
        paid, fees = paid + flows.firm_payments, fees + model.reviewed.exit_fees_paid
        other += flows.outsourced_cost + flows.unmet_cost + flows.switching_costs
    totals = tally.totals()
    assert focal.all() and fees > 0
    assert totals["cost_payments"] + fees == pytest.approx(paid, rel=1e-12)
    assert totals["cost_total"] - totals["cost_staff"] == pytest.approx(other + fees, rel=1e-12)
    years = tally.firm_years()
    assert len(years) == len(model.firms) and years["year"].eq(1).all()  # one whole year in 60 weeks


def test_a_random_share_of_the_segment_is_drawn_with_its_own_seed():
    """share = 0.5 of the medium and large firms: half of them (rounded), the same firms for the same segment seed
    whatever the strategy, other firms for another seed; the focal slots are all the chosen firms' services."""
    model = OutsourcingModel(load_scenario(BASELINE, TINY), seed=5)
    every = focal_slots(model, SEGMENT)
    half = focal_slots(model, Segment(size=("medium", "large"), share=0.5, seed=1))
    again = focal_slots(model, Segment(size=("medium", "large"), share=0.5, seed=1))
    other = focal_slots(model, Segment(size=("medium", "large"), share=0.5, seed=2))
    firms = np.unique(model.slots.firm[every])
    chosen = np.unique(model.slots.firm[half])
    assert len(chosen) == round(len(firms) / 2) and set(chosen) <= set(firms)
    assert (half == again).all() and (half != other).any() and (half <= every).all()
    assert (half == np.isin(model.slots.firm, chosen)).all()


# ----------------------------------------------------------------------------- the command, resumability
@pytest.fixture(scope="module")
def tiny_study(tmp_path_factory) -> tuple[Path, Path, dict[str, bytes], str]:
    """The tiny study with two built-in strategies and a user class, run once: its file, folder, bytes and output."""
    folder = tmp_path_factory.mktemp("strategies")
    path = write_study(folder, ["adaptive", "in-house", "test_strategies:Dearest"])
    out, printed = folder / "out", io.StringIO()
    with contextlib.redirect_stdout(printed):
        assert main([str(path), "--workers", "0", "--out", str(out)]) == 0
    return path, out, study_bytes(out), printed.getvalue()


def test_the_command_writes_the_table_the_regret_and_the_report(tiny_study):
    """strategies.csv has a row per (future, strategy) with cost, regret, risk and service; regret.csv names one robust
    strategy; report.html holds the verdict and the figure; the terminal shows the regret table."""
    _, out, _, printed = tiny_study
    tab = pd.read_csv(out / "strategies.csv")
    assert len(tab) == 6 and set(tab["future"]) == {"baseline", "shock"}
    for column in ("cost_per_hour", "cost_per_hour_lo", "regret", "yearly_cost_per_hour_p90", "unmet_share", "quality",
                   "on_time", "staff_per_hour", "one_off_per_hour"):
        assert tab[column].notna().all(), column
    assert (tab["seeds"] == 2).all() and (tab["regret"] >= 0).all()
    regret = pd.read_csv(out / "regret.csv")
    assert list(regret.columns) == ["strategy", "baseline", "shock", "max_regret", "robust"]
    assert regret["robust"].sum() == 1 and (regret[["baseline", "shock"]].min() == 0).all()
    robust = regret.loc[regret["robust"], "strategy"].item()
    html = (out / "report.html").read_text(encoding="utf-8")
    assert f"Robust strategy (minimax regret): {robust}" in html and "data:image/png;base64," in html
    assert "Regret: cost per hour" in printed and robust in printed
    dearest = tab[tab["strategy"] == "test_strategies:Dearest"]
    assert (dearest["cost_per_hour"].to_numpy() > tab[tab["strategy"] == "adaptive"]["cost_per_hour"].to_numpy()).all()


def test_a_rerun_computes_nothing_and_gives_the_same_bytes(tiny_study, capsys):
    """The same command again: 0 runs computed, all 12 already done, and every result file byte for byte the same."""
    path, out, before, _ = tiny_study
    assert main([str(path), "--workers", "0", "--out", str(out)]) == 0
    assert "0 run(s) computed" in capsys.readouterr().out and study_bytes(out) == before


def test_ctrl_c_exits_130_and_the_rerun_finishes_to_the_same_bytes(tiny_study, tmp_path, monkeypatch, capsys):
    """A Ctrl-C after five runs keeps them and exits 130; the same command then computes only the other seven, and
    the folder ends byte for byte as an uninterrupted study."""
    path, _, before, _ = tiny_study
    out = tmp_path / "out"
    real, calls = runner.run_cell, []

    def stop_after_five(task):
        calls.append(task.key)
        if len(calls) == 6:
            raise KeyboardInterrupt
        return real(task)

    monkeypatch.setattr(runner, "run_cell", stop_after_five)
    assert main([str(path), "--workers", "0", "--out", str(out)]) == 130
    assert "5 of 12 runs are done" in capsys.readouterr().err
    monkeypatch.setattr(runner, "run_cell", real)
    assert main([str(path), "--workers", "0", "--out", str(out)]) == 0
    assert "7 run(s) computed" in capsys.readouterr().out and study_bytes(out) == before


def test_a_dask_cluster_gives_the_same_bytes(tmp_path):
    """The same study on two local Dask workers writes the same results as one by one in this process."""
    path = write_study(tmp_path, ["adaptive", "in-house"], seeds=1)
    assert main([str(path), "--workers", "0", "--out", str(tmp_path / "a")]) == 0
    assert main([str(path), "--workers", "2", "--out", str(tmp_path / "b")]) == 0
    assert study_bytes(tmp_path / "a") == study_bytes(tmp_path / "b")


def test_the_shipped_study_is_valid():
    """scenarios/strategies/kpo_sourcing.toml loads: 4 strategies x 4 futures x 6 seeds of mid-size domestic firms' research."""
    study = load_study(ROOT / "scenarios" / "strategies" / "kpo_sourcing.toml")
    assert len(runner.plan_runs(study)) == 4 * 4 * 6 and study.segment.services == ("research",)
    assert all(f.window == (1, 312) for f in study.futures)
