"""``outsim sweep FILE``: run, resume and analyse a parameter sweep (also ``python -m simulation.sweeps.cli``).

Exit codes: 0 every run done, 1 a run failed (each is listed; tracebacks are in the manifest) or the
analysis failed, 2 invalid input (one line per problem, never a traceback), 130 interrupted (Ctrl-C;
finished results are kept and the same command resumes).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

import pandas as pd

from analysis.sweep_results import load_results, summarise
from simulation.cli_common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Parser, invalid
from simulation.executor import ExecutorError
from simulation.scenario import ScenarioError
from simulation.sweeps.design import load_plan
from simulation.sweeps.runner import run_sweep
from simulation.sweeps.store import FolderInUse

SHOWN_FAILURES = 20
NAME_WIDTH = 30  # the widest column of the summary table


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``outsim sweep``."""
    p.add_argument("file", type=Path, help="sweep file (TOML; see docs/sweeps.md and scenarios/sweeps/)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="use a running Dask scheduler, e.g. tcp://127.0.0.1:8786 (default: $DASK_SCHEDULER_ADDRESS, "
                        "else a local cluster)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: all cores; 0: one by one in this process)")
    p.add_argument("--out", type=Path, default=None, help="sweep folder (default: outputs/sweeps/<sweep name>/)")
    p.add_argument("--analyze", action="store_true",
                   help="after running (or resuming), write sensitivity indices and figures into the folder")
    p.add_argument("--dry-run", action="store_true", help="check the file and print the design; run nothing")
    p.add_argument("--dask-dashboard", action="store_true",
                   help="serve the local Dask cluster's dashboard (port 8787 or a free one; needs bokeh)")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``sweep`` on the ``outsim`` subcommand parsers."""
    p = subparsers.add_parser("sweep", help="run, resume or analyse a parameter sweep (grid, lhs, sobol, morris)",
                              description="Run every design point x seed of a sweep file on Dask; rerun to resume.")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="outsim sweep", description="Run every design point x seed of a sweep file on Dask.")
    add_arguments(parser)
    return cmd_sweep(parser.parse_args(argv))


def cmd_sweep(args: argparse.Namespace) -> int:
    """Validate, run or resume, summarise and (with --analyze) analyse a sweep."""
    if args.workers is not None and args.workers < 0:
        return invalid([f"--workers: --workers = {args.workers}: must be 0 or more"])
    try:
        plan = load_plan(args.file)
    except ScenarioError as exc:
        return invalid([str(p) for p in exc.problems])
    except KeyboardInterrupt:
        print("\noutsim: interrupted before anything ran.", file=sys.stderr)
        return EXIT_INTERRUPTED
    sweep = plan.sweep
    out = args.out or Path("outputs") / "sweeps" / sweep.name
    keys = ", ".join(p.key for p in sweep.parameters)
    distinct = len({r.key for r in plan.runs})
    shared = f" ({distinct} distinct: some points share a config)" if distinct < len(plan.runs) else ""
    print(f"outsim: sweep '{sweep.name}': {len(plan.points)} design points ({sweep.design} over {keys}) x "
          f"{len(plan.seeds)} seed(s) = {len(plan.runs)} runs{shared} of {plan.base_config.run.steps} weeks -> {out}",
          flush=True)
    if args.dry_run:
        print(pd.DataFrame(plan.points).rename_axis("point").to_string(max_rows=40))
        return EXIT_OK
    try:
        report = run_sweep(plan, out, workers=args.workers, scheduler=args.scheduler, dashboard=args.dask_dashboard)
    except FolderInUse as exc:
        return invalid([str(exc)])
    except ExecutorError as exc:
        print(f"outsim: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:  # before any run started (while checking the folder)
        print(f"\noutsim: interrupted; resume with: {_resume_command(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if report.interrupted:
        done = report.skipped + report.computed
        print(f"\noutsim: interrupted; {done} of {report.total} runs are done and kept in {out}.\n"
              f"resume with: {_resume_command(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    where = "in this process" if report.workers == 0 else f"on {report.workers} worker(s)"
    print(f"outsim: {report.computed} run(s) computed {where} in {report.seconds:.1f} s "
          f"({report.skipped} already done, {len(report.failed)} failed; up to {report.batch_size} runs per task)")
    print(format_summary(out, [p.key for p in sweep.parameters], list(sweep.final)))
    print(f"\nsweep folder: {out}  (summary.csv; load all runs with simulation.sweeps.load_results)")
    code = _report_failures(report.failed, out)
    if args.analyze:
        code = max(code, _analyze(out))
    return code


def format_summary(folder: Path, parameters: list[str], outputs: list[str], rows: int = 25) -> str:
    """The per-point summary (mean and 95% interval across seeds) as a terminal table.

    A parameter column is as wide as its name, up to ``NAME_WIDTH``; longer names keep their start and end.
    """
    table = summarise(load_results(folder), parameters, outputs)
    if table.empty:
        return "no finished runs yet"
    shown = table.head(rows)
    widths = {p: min(max(len(p), 10), NAME_WIDTH) for p in parameters}
    head = [f"{'point':>5}", *(shorten(p, widths[p]).rjust(widths[p]) for p in parameters), f"{'n':>3}",
            *(shorten(m, NAME_WIDTH).rjust(NAME_WIDTH) for m in outputs)]
    lines = ["Per design point: mean [95% t interval] across seeds", "  ".join(head)]
    for r in shown.to_dict("records"):
        cells = [f"{r['point']:>5}", *(_fmt(r[p]).rjust(widths[p]) for p in parameters), f"{r['n']:>3}"]
        cells += [f"{_fmt(r[m + '_mean']):>10} [{_fmt(r[m + '_lo'])}, {_fmt(r[m + '_hi'])}]".rjust(NAME_WIDTH)
                  for m in outputs]
        lines.append("  ".join(cells))
    if len(table) > rows:
        lines.append(f"... {len(table) - rows} more points in summary.csv")
    return "\n".join(lines)


def shorten(name: str, width: int) -> str:
    """``name`` in at most ``width`` characters: whole if it fits, else its start and (longer) end around "..."."""
    if len(name) <= width:
        return name
    head = (width - 3) // 3
    return f"{name[:head]}...{name[len(name) - (width - 3 - head):]}"


def _fmt(x: object) -> str:
    return f"{x:.4g}" if isinstance(x, float) else str(x)


def _analyze(out: Path) -> int:
    """Run the sweep analysis of analysis/sweeps.py on the folder and list what it wrote."""
    from analysis.sweeps import AnalysisError, analyze  # matplotlib and SALib only when asked
    from simulation.config import parameter_units

    try:
        notes, files = analyze(out, units=parameter_units())
    except AnalysisError as exc:
        print(f"outsim: analysis: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\noutsim: analysis interrupted; the runs are kept; rerun with --analyze", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the runs are safe; say what went wrong with the analysis
        print(f"outsim: analysis failed ({type(exc).__name__}: {exc}); the runs are kept in {out}", file=sys.stderr)
        return EXIT_FAILED
    print("\nAnalysis:")
    for line in notes:
        print(f"  {line}")
    for f in files:
        print(f"  wrote {f}")
    return EXIT_OK


def _report_failures(failed: list, out: Path) -> int:
    if not failed:
        return EXIT_OK
    for run, error in failed[:SHOWN_FAILURES]:
        last = error.strip().splitlines()[-1] if error.strip() else "unknown error"
        print(f"outsim: run {run.key} (point {run.point}, seed {run.seed}) failed: {last}", file=sys.stderr)
    if len(failed) > SHOWN_FAILURES:
        print(f"outsim: ... and {len(failed) - SHOWN_FAILURES} more", file=sys.stderr)
    print(f"outsim: {len(failed)} run(s) failed; tracebacks are in {out / 'manifest.json'}; "
          "run the same command again to retry them", file=sys.stderr)
    return EXIT_FAILED


def _resume_command(args: argparse.Namespace) -> str:
    parts = ["outsim", "sweep", str(args.file)]
    for flag, value in (("--out", args.out), ("--workers", args.workers), ("--scheduler", args.scheduler)):
        if value is not None:
            parts += [flag, str(value)]
    if args.analyze:
        parts.append("--analyze")
    return shlex.join(parts)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
