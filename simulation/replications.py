"""Replications and paired what-if comparisons, run as folders of run folders (docs/run-folders.md).

Replications run one config with R seeds derived from a base seed, in parallel through the executor,
into ``folder/rep-000``, ``rep-001``, ... and describe them in the folder's manifest. A comparison runs
two scenarios with the same seeds (common random numbers: demand shocks and choices come from the
same streams) into ``base/`` and ``whatif/``, so the difference seed by seed isolates the scenario's
effect. This module only runs and records; the statistics over the runs (summary.parquet,
comparison.parquet) are computed by analysis/replications.py, which the CLI calls afterwards.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from simulation.config import Config
from simulation.executor import Executor, Outcome, derive_seeds, replication_tasks
from simulation.runfolder import write_manifest


@dataclass
class Replications:
    """What a batch of replications did: its folder, the seeds and one outcome per seed (in seed order)."""

    folder: Path
    seeds: list[int]
    outcomes: list[Outcome]

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

    The manifest lists the replications that finished under ``replications`` and the others, with
    their tracebacks, under ``failed``.

    Args:
        cfg: the config every replication runs.
        base_seed: the seed the replication seeds derive from (recorded in the manifest).
        replications: how many seeds to run.
        folder: where the ``rep-XXX`` run folders and the manifest go (created if needed).
        executor: an entered :class:`~simulation.executor.Executor`.
        on_done: called as each replication finishes (progress reporting).
        seeds: the seeds to use instead of deriving them from ``base_seed`` (comparisons share them).
    """
    folder.mkdir(parents=True, exist_ok=True)
    seeds = seeds or derive_seeds(base_seed, replications)
    reps = Replications(folder, seeds, executor.map(replication_tasks(cfg, seeds, folder), on_done))
    write_manifest(folder, {
        "kind": "replications", "scenario": cfg.name, "description": cfg.description, "base_seed": base_seed,
        "seeds": seeds, "replications": [d.name for d in reps.run_dirs],
        "failed": [{"folder": Path(o.task.out_dir).name, "seed": o.task.seed, "error": o.error} for o in reps.failed],
        "config": cfg.model_dump(mode="json"),
    })
    return reps


@dataclass
class ComparisonRuns:
    """Both sides of a comparison, run on the same seeds into ``folder/base`` and ``folder/whatif``."""

    folder: Path
    base_config: Config
    whatif_config: Config
    base: Replications
    whatif: Replications

    @property
    def pairs(self) -> list[tuple[Path, Path]]:
        """(base run folder, what-if run folder) for every seed where both sides finished."""
        return [(Path(b.task.out_dir), Path(w.task.out_dir)) for b, w in zip(self.base.outcomes, self.whatif.outcomes)
                if b.ok and w.ok]

    @property
    def failed(self) -> list[Outcome]:
        """The runs that raised, base side first."""
        return self.base.failed + self.whatif.failed


def run_comparison(base: Config, whatif: Config, base_seed: int, replications: int, folder: Path, executor: Executor,
                   on_done: Callable[[Outcome], None] | None = None) -> ComparisonRuns:
    """Run the base and the what-if scenario on the same R seeds (derived from ``base_seed``).

    ``on_done`` is called as each of the 2R runs finishes.
    """
    seeds = derive_seeds(base_seed, replications)
    return ComparisonRuns(folder, base, whatif,
                          run_replications(base, base_seed, replications, folder / "base", executor, on_done, seeds),
                          run_replications(whatif, base_seed, replications, folder / "whatif", executor, on_done, seeds))


def event_weeks(cfg: Config) -> list[int]:
    """The weeks at which a scenario changes something (its events), sorted."""
    return sorted({e.at for e in cfg.events})


def default_window(whatif: Config) -> tuple[int, int]:
    """The weeks a comparison averages over unless told otherwise: from the what-if's first event to the end."""
    weeks = event_weeks(whatif)
    return max(weeks[0] if weeks else 1, 1), whatif.run.steps


def write_comparison_manifest(runs: ComparisonRuns, window: tuple[int, int]) -> None:
    """The comparison folder's manifest: both scenarios, the seeds, the compared window and the event weeks."""
    write_manifest(runs.folder, {"kind": "comparison", "base": runs.base_config.name, "whatif": runs.whatif_config.name,
                                 "seeds": runs.base.seeds, "window": list(window),
                                 "event_weeks": event_weeks(runs.whatif_config), "pairs": len(runs.pairs)})
