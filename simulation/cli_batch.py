"""``outsim run --replications`` and ``outsim compare``: batches of seeded runs on the Dask executor, their
summaries, the phase-by-phase comparison of what-ifs with a base, interruption and resumption."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from analysis.replications import format_summary, write_comparison, write_summary
from analysis.stats import few_runs_warning
from analysis.whatifs import compare_whatifs, format_whatifs
from simulation.cli_common import (EXIT_FAILED, EXIT_OK, finish_with_report, interrupted, invalid, output_folder,
                                   run_option_problems, size_problems, warn_late_events)
from simulation.config import Config
from simulation.executor import ExecutorError, derive_seeds, interruptible
from simulation.progress import Progress
from simulation.replications import (plan_problem, run_comparison, run_replications, whatif_folder,
                                     write_comparison_manifest)
from simulation.runfolder import export_csv
from simulation.scenario import ScenarioError, load_scenario


def run_batch(args: argparse.Namespace, cfg: Config, seed: int, out: Path) -> int:
    """``outsim run --replications R``: run the seeds into ``out``, then write the summary across them and the report."""
    print(f"outsim: {args.replications} replications of '{cfg.name}' ({cfg.run.steps} weeks, seeds from {seed}) ...",
          flush=True)
    bar = Progress(args.replications)
    try:
        with interruptible(workers=args.workers) as ex:
            reps = run_replications(cfg, seed, args.replications, out, ex, lambda o: bar.count(o.ok))
    except ExecutorError as exc:
        print(f"outsim: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        bar.close()
        return interrupted(_finished_runs(out), args.replications, "replications", out)
    bar.close()
    if reps.run_dirs:
        print(format_summary(reps.run_dirs))
    if warning := few_runs_warning(len(reps.run_dirs)):
        print(f"outsim: warning: {warning}", file=sys.stderr)
    if reps.kept:
        print(f"outsim: kept {reps.kept} finished replication(s) found in {out}")
    write_summary(out, reps.run_dirs)
    if args.format == "csv":
        for run_dir in reps.run_dirs:
            export_csv(run_dir)
    code = _report_failures(reps.failed, out)
    return finish_with_report(out, args.report and len(reps.failed) < len(reps.outcomes), code)


def folder_plan_problems(folder: Path, cfg: Config, seeds: list[int]) -> list[str]:
    """``--out`` problems of a batch of replications: an existing folder must hold this same batch."""
    return [f"--out: {problem}"] if (problem := plan_problem(folder, cfg, seeds)) else []


def _finished_runs(folder: Path) -> int:
    """Run folders finished under ``folder`` (each is renamed into place whole, so a manifest means done)."""
    return sum(1 for _ in folder.glob("**/rep-*/manifest.json"))


def _report_failures(failed: list, out: Path) -> int:
    """Print each failed run's last error line and the folder; EXIT_FAILED if any run failed."""
    for o in failed:
        last = o.error.strip().splitlines()[-1] if o.error else "unknown error"
        print(f"outsim: {Path(o.task.out_dir).name} (seed {o.task.seed}) failed: {last}", file=sys.stderr)
    print(f"\nfolder: {out}")
    if failed:
        print(f"outsim: {len(failed)} run(s) failed; tracebacks are in {out / 'manifest.json'}", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    """``outsim compare BASE WHATIF [WHATIF ...]``: run all on common seeds, then compare each what-if with the
    base, phase by phase."""
    problems: list[str] = run_option_problems(args.seed, args.steps)
    cfgs = []
    for path in (args.base, *args.whatifs):
        try:
            cfgs.append(load_scenario(path, args.overrides))
        except ScenarioError as exc:
            problems += [str(p) for p in exc.problems]
    if args.replications < 2:
        problems.append(f"--replications: --replications = {args.replications}: a paired comparison needs at least 2 "
                        "seed pairs for its intervals")
    window = None
    if args.window:
        start, _, end = args.window.partition(":")
        if not (start.isdigit() and end.isdigit() and 1 <= int(start) <= int(end)):
            problems.append(f"--window: --window = {args.window!r}: expected A:B with 1 <= A <= B (weeks)")
        else:
            window = (int(start), int(end))
    names = [c.name for c in cfgs[1:]]
    if len(set(names)) < len(names):
        problems.append(f"whatif: {', '.join(map(str, args.whatifs))}: two what-ifs have the same scenario name; "
                        "each needs its own (its folder is named after it)")
    if problems:
        return invalid(problems)
    steps = args.steps or cfgs[-1].run.steps
    if window is not None and window[1] > steps:
        return invalid([f"--window: --window = {args.window!r}: ends after the last week run ({steps})"])
    if problems := size_problems(max(cfgs, key=lambda c: c.firms.count * c.run.scale), steps,
                                 len(cfgs) * args.replications, args.workers, args.force):
        return invalid(problems)
    base, *whatifs = (c.with_steps(steps) for c in cfgs)
    label = base.name + "-vs-" + "-".join(w.name for w in whatifs)
    out, folder_problems = output_folder(
        args.out, Path("outputs") / "compare" / label[:120] / f"{datetime.now():%Y%m%d-%H%M%S}", args.force, args.resume)
    if not folder_problems:
        seeds = derive_seeds(args.seed, args.replications)
        folder_problems = [problem for i, cfg in enumerate([base, *whatifs]) for problem in folder_plan_problems(
            out / "base" if i == 0 else whatif_folder(out, whatifs, i - 1), cfg, seeds)]
        if out.is_dir() and any(out.iterdir()) and not (out / "base").is_dir():
            folder_problems.append(f"--out: {out}: is not a comparison folder; choose another folder, "
                                   "or add --force to replace it")
    if folder_problems:
        return invalid(folder_problems)
    for cfg in whatifs:
        warn_late_events(cfg, steps)
    return _run_comparison(args, base, whatifs, steps, window, out)


def _run_comparison(args: argparse.Namespace, base: Config, whatifs: list[Config], steps: int,
                    window: tuple[int, int] | None, out: Path) -> int:
    """Run the sides, then write and print the phase table and the verdicts, and the report."""
    total = (1 + len(whatifs)) * args.replications
    print(f"outsim: comparing {', '.join(repr(w.name) for w in whatifs)} with '{base.name}' on {args.replications} "
          "common seeds ...", flush=True)
    bar = Progress(total)  # one bar across all sides
    try:
        with interruptible(workers=args.workers) as ex:
            runs = run_comparison(base, whatifs, args.seed, args.replications, out, ex, lambda o: bar.count(o.ok))
    except ExecutorError as exc:
        print(f"outsim: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        bar.close()
        return interrupted(_finished_runs(out), total, "runs", out)
    bar.close()
    if kept := sum(side.kept for side in (runs.base, *runs.whatifs)):
        print(f"outsim: kept {kept} finished run(s) found in {out}")
    for side in (runs.base, *runs.whatifs):
        write_summary(side.folder, side.run_dirs)
    sides = [(cfg.name, cfg.model_dump(mode="json")["events"], runs.pairs_with(side))
             for cfg, side in zip(whatifs, runs.whatifs)]
    if not all(pairs for _, _, pairs in sides):
        return _report_failures(runs.failed, out)
    table, verdicts = compare_whatifs(sides, steps, window)
    write_comparison(out, table)
    write_comparison_manifest(runs, window, verdicts)
    print(format_whatifs(table, verdicts))
    if warning := few_runs_warning(int(table["n"].min())):
        print(f"outsim: warning: {warning}", file=sys.stderr)
    print(f"\ntable: {out / 'comparison.csv'}")
    return finish_with_report(out, args.report, _report_failures(runs.failed, out))
