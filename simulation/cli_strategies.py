"""``outsim strategies FILE``: judge sourcing strategies for a segment of firms across futures (scenarios).

Every strategy runs in every future on the same seeds, in parallel on Dask (local, or ``--scheduler``),
resumably (simulation/strategies/); the tables, the regret and the report come from analysis/strategies.py.

Exit codes: 0 every run done, 1 a run failed (each is listed; tracebacks are in the manifest) or the report
failed, 2 invalid input (one line per problem, never a traceback) or the folder is in use, 130 interrupted
(Ctrl-C; finished runs are kept and the same command resumes).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from simulation.cli_common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Parser, invalid, size_problems
from simulation.executor import ExecutorError
from simulation.scenario import ScenarioError
from simulation.strategies.runner import run_study
from simulation.strategies.spec import load_study
from simulation.sweeps.store import FolderInUse

SHOWN_FAILURES = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``outsim strategies``."""
    p.add_argument("file", type=Path, help="strategy file (TOML; see docs and scenarios/strategies/)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="use a running Dask scheduler, e.g. tcp://127.0.0.1:8786 (default: $DASK_SCHEDULER_ADDRESS, "
                        "else a local cluster)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: all cores; 0: one by one in this process)")
    p.add_argument("--out", type=Path, default=None, help="study folder (default: outputs/strategies/<name>/)")
    p.add_argument("--dry-run", action="store_true", help="check the file and print the runs; run nothing")
    p.add_argument("--force", action="store_true", help="run a study larger than the memory and time limits")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``strategies`` on the ``outsim`` subcommand parsers."""
    p = subparsers.add_parser("strategies", help="judge sourcing strategies for a segment of firms across futures",
                              description="Run every strategy in every future on common seeds; rerun to resume. "
                                          "Writes strategies.csv, regret.csv and report.html.")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="outsim strategies", description="Judge sourcing strategies across futures.")
    add_arguments(parser)
    return cmd_strategies(parser.parse_args(argv))


def cmd_strategies(args: argparse.Namespace) -> int:
    """Validate, run or resume, then write the tables, the regret and the report."""
    if args.workers is not None and args.workers < 0:
        return invalid([f"--workers: --workers = {args.workers}: must be 0 or more"])
    try:
        study = load_study(args.file)
    except ScenarioError as exc:
        return invalid([str(p) for p in exc.problems])
    except KeyboardInterrupt:
        print("\noutsim: interrupted before anything ran.", file=sys.stderr)
        return EXIT_INTERRUPTED
    runs = len(study.strategies) * len(study.futures) * len(study.seeds)
    largest = max(study.futures, key=lambda f: f.config.firms.count * f.config.run.scale * f.config.run.steps)
    if problems := size_problems(largest.config, largest.config.run.steps, runs, args.workers, args.force):
        return invalid(problems)
    out = args.out or Path("outputs") / "strategies" / study.name
    print(f"outsim: strategies '{study.name}': {len(study.strategies)} strategies x {len(study.futures)} futures x "
          f"{len(study.seeds)} seeds = {runs} runs for {study.segment.describe()} -> {out}", flush=True)
    if args.dry_run:
        for f in study.futures:
            print(f"  future {f.name}: {f.config.run.steps} weeks (scale {f.config.run.scale}), weeks "
                  f"{f.window[0]}-{f.window[1]} measured")
        print(f"  strategies: {', '.join(study.strategies)}")
        return EXIT_OK
    try:
        report = run_study(study, out, workers=args.workers, scheduler=args.scheduler)
    except FolderInUse as exc:
        return invalid([str(exc).replace("sweep client", "outsim client").replace("this sweep", "this study")])
    except ExecutorError as exc:
        print(f"outsim: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # before any run started (while checking the folder)
        print(f"\noutsim: interrupted; resume with: {_resume_command(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if report.interrupted:
        print(f"\noutsim: interrupted; {report.skipped + report.computed} of {report.total} runs are done and kept "
              f"in {out}.\nresume with: {_resume_command(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    print(f"outsim: {report.computed} run(s) computed in {report.seconds:.1f} s ({report.skipped} already done, "
          f"{len(report.failed)} failed)")
    code = _report_failures(report.failed, out)
    return max(code, _write_outputs(out))


def _write_outputs(out: Path) -> int:
    """strategies.csv, regret.csv and report.html from the folder; the runs are safe whatever happens here."""
    from analysis.strategies import format_regret, verdict, write_study  # matplotlib only when a study is done

    try:
        tab, regret = write_study(out)
    except KeyboardInterrupt:
        print(f"\noutsim: interrupted while writing the report; the runs are kept in {out}; rerun to write it",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the runs are safe; say what went wrong with the tables
        print(f"outsim: the runs are kept in {out}, but the report failed ({type(exc).__name__}: {exc})", file=sys.stderr)
        return EXIT_FAILED
    print(format_regret(regret))
    print(verdict(tab, regret))
    print(f"\nstudy folder: {out}  (strategies.csv, regret.csv, report.html)")
    return EXIT_OK


def _report_failures(failed: list, out: Path) -> int:
    if not failed:
        return EXIT_OK
    for run, error in failed[:SHOWN_FAILURES]:
        last = error.strip().splitlines()[-1] if error.strip() else "unknown error"
        print(f"outsim: run {run.key} ({run.params['strategy']} in {run.params['future']}, seed {run.seed}) failed: "
              f"{last}", file=sys.stderr)
    if len(failed) > SHOWN_FAILURES:
        print(f"outsim: ... and {len(failed) - SHOWN_FAILURES} more", file=sys.stderr)
    print(f"outsim: {len(failed)} run(s) failed; tracebacks are in {out / 'manifest.json'}; "
          "run the same command again to retry them", file=sys.stderr)
    return EXIT_FAILED


def _resume_command(args: argparse.Namespace) -> str:
    parts = ["outsim", "strategies", str(args.file)]
    for flag, value in (("--out", args.out), ("--workers", args.workers), ("--scheduler", args.scheduler)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
