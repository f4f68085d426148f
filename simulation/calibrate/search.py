"""The search: Optuna's TPE, CMA-ES or random sampler over the free parameters, evaluations on Dask.

The search runs in rounds. Each round asks the sampler for ``parallel`` trials (parameter sets), runs
every trial's replications on the executor (local workers or a cluster) and tells the sampler each
trial's loss in trial order. The sampler of a round is seeded from the calibration's seed and the
number of finished trials, so the trials a calibration makes depend only on its file, never on the
number of workers, the order runs finish in, or an interruption.

Everything lasting lives in the calibration folder (store.py): the study in a journal file and each
finished run's moments in its own file. After a Ctrl-C the study holds the unfinished round's trials
as running; a rerun finishes them first (reusing every run already stored) and goes on.

Legend: a *trial* is one parameter set evaluated over the replications (an evaluation); a *run* is
one replication of one trial.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import optuna
from optuna.distributions import BaseDistribution, FloatDistribution, IntDistribution
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from analysis.calibration import loss, replication_means
from simulation.calibrate.evaluate import Evaluated, EvaluationTask, evaluate, lost
from simulation.calibrate.spec import Calibration
from simulation.calibrate.store import CalibrationStore
from simulation.executor import Executor
from simulation.progress import Progress
from simulation.runfolder import run_key


@dataclass
class Point:
    """A parameter set to evaluate: the trial it belongs to (-1: a profile point) and its values."""

    trial: int
    values: dict[str, float]


@dataclass
class Evaluation:
    """The replications of one point: their moments, or the error that stopped one of them."""

    point: Point
    replications: list[dict[str, float]] = field(default_factory=list)
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error


@dataclass
class SearchState:
    """What one invocation has done so far (for the progress bar and the closing summary)."""

    runs_computed: int = 0
    runs_reused: int = 0
    trials_done: int = 0
    failed: list[tuple[int, str]] = field(default_factory=list)
    best_loss: float = float("inf")


def open_study(cal: Calibration, store: CalibrationStore) -> optuna.Study:
    """The calibration's study, created in the folder's journal file or loaded from it."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    storage = JournalStorage(JournalFileBackend(str(store.journal)))
    return optuna.create_study(study_name=cal.name, storage=storage, direction="minimize", load_if_exists=True)


def distributions(cal: Calibration) -> dict[str, BaseDistribution]:
    """Optuna's search space: integers as integers, log-scaled ranges on a log scale."""
    return {p.key: IntDistribution(round(p.low), round(p.high), log=p.log) if p.integer
            else FloatDistribution(p.low, p.high, log=p.log) for p in cal.parameters}


def sampler(cal: Calibration, finished: int) -> optuna.samplers.BaseSampler:
    """The sampler of the round that starts after ``finished`` trials, seeded from the file's seed and that count."""
    seed = int(np.random.SeedSequence([cal.seed, finished]).generate_state(1)[0])
    if cal.sampler == "cmaes":
        return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
    if cal.sampler == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


def search(cal: Calibration, study: optuna.Study, store: CalibrationStore, ex: Executor, state: SearchState,
           bar: Progress | None) -> None:
    """Run rounds of trials until the budget is spent (finishing an interrupted round first)."""
    space = distributions(cal)
    while True:
        trials = study.get_trials(deepcopy=False)
        stale = [t for t in trials if t.state == TrialState.RUNNING]
        finished = sum(t.state.is_finished() for t in trials)
        if stale:
            points = [Point(t.number, dict(t.params)) for t in stale]
        elif finished >= cal.budget:
            return
        else:
            study.sampler = sampler(cal, finished)
            asked = [study.ask(space) for _ in range(min(cal.parallel, cal.budget - finished))]
            points = [Point(t.number, dict(t.params)) for t in asked]

        def tell(evaluation: Evaluation) -> None:
            number = evaluation.point.trial
            if evaluation.ok:
                value = loss(replication_means(evaluation.replications, targets(cal)), targets(cal))
                study.tell(number, value)
                state.best_loss = min(state.best_loss, value)
            else:
                study.tell(number, state=TrialState.FAIL)
                state.failed.append((number, evaluation.error))
            state.trials_done += 1
            if bar:
                bar.update(state.trials_done, len(state.failed), note=f"best loss {state.best_loss:.4g}")

        evaluate_points(cal, points, store, ex, state, tell)


def targets(cal: Calibration) -> list[dict[str, Any]]:
    return [t.as_dict() for t in cal.targets]


def tasks_for(cal: Calibration, point: Point) -> list[EvaluationTask]:
    """One task per replication of a point (the same seeds for every point: common random numbers)."""
    config = cal.config_for(point.values).model_dump(mode="json")
    measured = tuple((t.moment, *t.window) for t in cal.targets)
    return [EvaluationTask(run_key(config, seed), point.trial, config, seed, measured) for seed in cal.seeds]


def evaluate_points(cal: Calibration, points: list[Point], store: CalibrationStore, ex: Executor, state: SearchState,
                    on_point: Callable[[Evaluation], None]) -> list[Evaluation]:
    """Evaluate points (runs already stored are reused), storing each run as it finishes.

    ``on_point`` is called once per point, in point order, when all its replications are in.
    """
    labels = [f"{t.moment}@{t.window[0]}-{t.window[1]}" for t in cal.targets]
    evaluations = [Evaluation(p) for p in points]
    by_key: dict[str, list[tuple[int, int]]] = {}
    todo: list[EvaluationTask] = []
    for i, point in enumerate(points):
        evaluations[i].replications = [{} for _ in cal.seeds]
        for r, task in enumerate(tasks_for(cal, point)):
            stored = store.result(task.key, labels)
            if stored is not None:
                evaluations[i].replications[r] = stored
                state.runs_reused += 1
            else:
                if task.key not in by_key:
                    todo.append(task)
                by_key.setdefault(task.key, []).append((i, r))
    waiting = [sum(1 for r in e.replications if not r) for e in evaluations]
    told = 0

    def done(result: Evaluated) -> None:
        nonlocal told
        if result.ok:
            store.store(result)
            state.runs_computed += 1
        for i, r in by_key[result.task.key]:
            if result.ok:
                evaluations[i].replications[r] = result.values
            elif not evaluations[i].error:
                evaluations[i].error = result.error
            waiting[i] -= 1
        while told < len(points) and waiting[told] == 0:  # report points in order as they complete
            on_point(evaluations[told])
            told += 1

    while told < len(points) and waiting[told] == 0:
        on_point(evaluations[told])
        told += 1
    if todo:
        ex.map(todo, on_done=done, function=evaluate, on_lost=lost)
    return evaluations

