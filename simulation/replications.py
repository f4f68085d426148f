"""Replications and paired what-if comparisons, run as folders of run folders (docs/run-folders.md).

Replications run one config with R seeds derived from a base seed, in parallel through the executor,
into ``folder/rep-000``, ``rep-001``, ... and describe them in the folder's manifest. A comparison runs
two scenarios with the same seeds (common random numbers: demand shocks and choices come from the
same streams) into ``base/`` and ``whatif/``, so the difference seed by seed isolates the scenario's
effect; several what-ifs share the base and its seeds. This module only runs and records; the statistics over the runs (summary.parquet,
comparison.parquet) are computed by analysis/replications.py, which the CLI calls afterwards.

Each folder of replications starts with ``plan.json`` (config and seeds). Run again into the same
folder, a batch keeps every replication whose run folder is complete and verified (same config, seed
and outsim version; every table's SHA-256 as recorded) and runs only the others, so an interrupted
batch resumes where it stopped. A folder planned for another config or other seeds is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import json

from simulation.config import Config
from simulation.executor import Executor, Outcome, derive_seeds, replication_tasks
from simulation.runfolder import outsim_version, remove_partial_folders, verified_run, write_json, write_manifest

PLAN = "plan.json"


@dataclass
class Replications:
    """What a batch of replications did: its folder, the seeds and one outcome per seed (in seed order)."""

    folder: Path
    seeds: list[int]
    outcomes: list[Outcome]
    kept: int = 0  # replications found finished and verified in the folder, not run again

    @property
    def failed(self) -> list[Outcome]:
        """The replications that raised (each with its traceback)."""
        return [o for o in self.outcomes if not o.ok]

    @property
    def run_dirs(self) -> list[Path]:
        """The run folders of the replications that finished, in seed order."""
        return [Path(o.task.out_dir) for o in self.outcomes if o.ok]


def run_replications(cfg: Config, base_seed: int, replications: int, folder: Path, executor: Executor,
                     on_done: Callable[[Outcome], None] | None = None, seeds: list[int] | None = None) -> Replications:
    """Run R replications into ``folder/rep-XXX`` and write the folder's manifest.

    Replications already finished and verified in ``folder`` are kept, not run again (see the module
    docstring). The manifest lists the replications that finished under ``replications`` and the others, with
    their tracebacks, under ``failed``.

    Args:
        cfg: the config every replication runs.
        base_seed: the seed the replication seeds derive from (recorded in the manifest).
        replications: how many seeds to run.
        folder: where the ``rep-XXX`` run folders and the manifest go (created if needed).
        executor: an entered :class:`~simulation.executor.Executor`.
        on_done: called as each replication finishes (progress reporting).
        seeds: the seeds to use instead of deriving them from ``base_seed`` (comparisons share them).

    Raises:
        ValueError: ``folder`` was planned for another config or other seeds (:func:`plan_problem`).
    """
    seeds = seeds or derive_seeds(base_seed, replications)
    if problem := plan_problem(folder, cfg, seeds):
        raise ValueError(problem)
    folder.mkdir(parents=True, exist_ok=True)
    remove_partial_folders(folder)
    write_json(folder / PLAN, _plan(cfg, seeds))
    tasks = replication_tasks(cfg, seeds, folder)
    fresh = [i for i, t in enumerate(tasks) if not verified_run(Path(t.out_dir), t.config, t.seed)]
    ran = dict(zip(fresh, executor.map([tasks[i] for i in fresh], on_done)))
    outcomes = [ran[i] if i in ran else Outcome(t, True, 0.0) for i, t in enumerate(tasks)]
    reps = Replications(folder, seeds, outcomes, kept=len(tasks) - len(fresh))
    write_manifest(folder, {
        "kind": "replications", "scenario": cfg.name, "description": cfg.description, "base_seed": base_seed,
        "seeds": seeds, "replications": [d.name for d in reps.run_dirs],
        "failed": [{"folder": Path(o.task.out_dir).name, "seed": o.task.seed, "error": o.error} for o in reps.failed],
        "config": cfg.model_dump(mode="json"),
    })
    return reps


def _plan(cfg: Config, seeds: list[int]) -> dict:
    return {"config": cfg.model_dump(mode="json"), "seeds": list(seeds), "outsim": outsim_version()}


def plan_problem(folder: Path, cfg: Config, seeds: list[int]) -> str | None:
    """Why ``folder`` cannot take these replications (it was planned for another config, other seeds or
    another outsim version), or None if it is new or holds the same plan."""
    try:
        planned = json.loads((folder / PLAN).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None if not folder.exists() or not any(folder.iterdir()) else (
            f"{folder}: holds files but no {PLAN}, so it is not a batch of replications; choose another folder, "
            "or add --force to replace it")
    except (OSError, ValueError):
        return f"{folder / PLAN}: unreadable; choose another folder, or add --force to replace it"
    mine = _plan(cfg, seeds)
    for key, what in (("config", "another config"), ("seeds", "other seeds"), ("outsim", "another outsim version")):
        if planned.get(key) != mine[key]:
            return f"{folder}: was started with {what}; choose another folder, or add --force to replace it"
    return None


@dataclass
class ComparisonRuns:
    """A base and one or more what-ifs, run on the same seeds into ``folder/base`` and one folder per what-if
    (``whatif/`` for a single one, ``whatif-<name>/`` for several; :func:`whatif_folder`)."""

    folder: Path
    base_config: Config
    whatif_configs: list[Config]
    base: Replications
    whatifs: list[Replications]

    @property
    def whatif_config(self) -> Config:
        """The first what-if's config."""
        return self.whatif_configs[0]

    @property
    def whatif(self) -> Replications:
        """The first what-if's replications."""
        return self.whatifs[0]

    def pairs_with(self, side: Replications) -> list[tuple[Path, Path]]:
        """(base run folder, what-if run folder) for every seed where the base and ``side`` both finished."""
        return [(Path(b.task.out_dir), Path(w.task.out_dir)) for b, w in zip(self.base.outcomes, side.outcomes)
                if b.ok and w.ok]

    @property
    def pairs(self) -> list[tuple[Path, Path]]:
        """The seed pairs of the first what-if (see :meth:`pairs_with`)."""
        return self.pairs_with(self.whatif)

    @property
    def failed(self) -> list[Outcome]:
        """The runs that raised, base side first."""
        return [o for side in (self.base, *self.whatifs) for o in side.failed]


def whatif_folder(folder: Path, whatifs: list[Config], i: int) -> Path:
    """Where the i-th what-if runs: ``whatif/`` when it is the only one, else ``whatif-<scenario name>/``."""
    return folder / ("whatif" if len(whatifs) == 1 else f"whatif-{whatifs[i].name}")


def run_comparison(base: Config, whatifs: Config | list[Config], base_seed: int, replications: int, folder: Path,
                   executor: Executor, on_done: Callable[[Outcome], None] | None = None) -> ComparisonRuns:
    """Run the base and each what-if scenario on the same R seeds (derived from ``base_seed``).

    ``on_done`` is called as each of the runs finishes.
    """
    whatifs = [whatifs] if isinstance(whatifs, Config) else list(whatifs)
    seeds = derive_seeds(base_seed, replications)
    base_runs = run_replications(base, base_seed, replications, folder / "base", executor, on_done, seeds)
    sides = [run_replications(cfg, base_seed, replications, whatif_folder(folder, whatifs, i), executor, on_done, seeds)
             for i, cfg in enumerate(whatifs)]
    return ComparisonRuns(folder, base, whatifs, base_runs, sides)


def event_weeks(cfg: Config) -> list[int]:
    """The weeks at which a scenario changes something (its events), sorted."""
    return sorted({e.at for e in cfg.events})


def write_comparison_manifest(runs: ComparisonRuns, window: tuple[int, int] | None, verdicts: list[str]) -> None:
    """The comparison folder's manifest: the scenarios, the seeds, the extra window (if any), and per what-if its
    folder, event weeks, seed pairs and verdict (``whatif`` and ``event_weeks`` repeat the first what-if's)."""
    write_manifest(runs.folder, {
        "kind": "comparison", "base": runs.base_config.name, "whatif": runs.whatif_config.name,
        "seeds": runs.base.seeds, "window": list(window) if window else None,
        "event_weeks": event_weeks(runs.whatif_config), "pairs": len(runs.pairs),
        "whatifs": [{"name": cfg.name, "folder": side.folder.name, "event_weeks": event_weeks(cfg),
                     "pairs": len(runs.pairs_with(side)), "verdict": verdict}
                    for cfg, side, verdict in zip(runs.whatif_configs, runs.whatifs, verdicts)]})
