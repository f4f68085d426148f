"""``outsim calibrate FILE``: fit parameters to observed figures, on Dask, resumable.

Exit codes: 0 the calibration finished, 1 an evaluation failed (the search went on; each is listed)
or the report could not be written, 2 invalid input (one line per problem, never a traceback), 130
interrupted (Ctrl-C; every finished run is kept and the same command resumes).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from simulation.cli_common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Parser, invalid
from simulation.executor import ExecutorError
from simulation.scenario import ScenarioError

if TYPE_CHECKING:
    from simulation.calibrate.runner import CalibrationReport
    from simulation.calibrate.spec import Calibration

SHOWN_FAILURES = 20


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``outsim calibrate``."""
    p.add_argument("file", type=Path, nargs="?", help="calibration file (TOML; see docs/calibration.md)")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="local worker processes (default: all cores; 0: one by one in this process)")
    p.add_argument("--scheduler", default=None, metavar="ADDRESS",
                   help="use a running Dask scheduler, e.g. tcp://127.0.0.1:8786 (default: $DASK_SCHEDULER_ADDRESS, "
                        "else a local cluster)")
    p.add_argument("--out", type=Path, default=None, help="calibration folder (default: outputs/calibrations/<name>/)")
    p.add_argument("--budget", type=int, default=None, metavar="N", help="evaluations (default: the file's budget)")
    p.add_argument("--dry-run", action="store_true", help="check the file, print what it would do, run nothing")
    p.add_argument("--list-moments", action="store_true", help="print every moment a target can name, with its unit")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``calibrate`` on the ``outsim`` subcommand parsers."""
    p = subparsers.add_parser("calibrate", help="fit parameters to observed figures (Optuna on Dask, resumable)",
                              description="Search the parameters of a calibration file for the best fit to its "
                                          "targets; rerun to resume.")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="outsim calibrate", description="Fit parameters to observed figures.")
    add_arguments(parser)
    return cmd_calibrate(parser.parse_args(argv))


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Validate, run or resume, then write the report of a calibration."""
    from analysis.moments import list_moments  # Optuna, analysis and the search load only when asked
    from simulation.calibrate.runner import run_calibration
    from simulation.calibrate.spec import load_calibration

    if args.list_moments:
        print(list_moments())
        return EXIT_OK
    if args.file is None:
        return invalid(["calibrate: FILE: a calibration file is required (or --list-moments)"])
    if args.workers is not None and args.workers < 0:
        return invalid([f"--workers: --workers = {args.workers}: must be 0 or more"])
    try:
        cal = load_calibration(args.file, budget=args.budget)
    except ScenarioError as exc:
        return invalid([str(p) for p in exc.problems])
    out = args.out or Path("outputs") / "calibrations" / cal.name
    print(describe(cal, out), flush=True)
    if args.dry_run:
        return EXIT_OK
    try:
        report = run_calibration(cal, out, workers=args.workers, scheduler=args.scheduler)
    except ScenarioError as exc:  # the folder holds another calibration
        return invalid([str(p) for p in exc.problems])
    except ExecutorError as exc:
        print(f"outsim: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print(f"\noutsim: interrupted; resume with: {resume_command(args)}", file=sys.stderr)
        return EXIT_INTERRUPTED
    if report.interrupted:
        print(f"\noutsim: interrupted; every finished run is kept in {out}.\nresume with: {resume_command(args)}",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    print(summary(cal, report))
    code = report_failures(report, out)
    return max(code, write_report(out))


def describe(cal: Calibration, out: Path) -> str:
    """What the calibration will do: parameters, targets and the number of runs."""
    runs = cal.budget * cal.replications
    profile_runs = cal.profile_points * len(cal.parameters) * cal.replications
    lines = [f"outsim: calibration '{cal.name}': {cal.budget} evaluations x {cal.replications} replications "
             f"= {runs} runs of {cal.steps} weeks ({cal.sampler} sampler, {cal.parallel} evaluations per round), "
             f"then up to {profile_runs} runs for the profiles -> {out}", "parameters:"]
    for p in cal.parameters:
        scale = ", log scale" if p.log else ""
        kind = "integer" if p.integer else "real"
        lines.append(f"  {p.key:42} {p.low:g} .. {p.high:g}  ({kind}{scale})")
    lines.append("targets:")
    for t in cal.targets:
        goal = f"in [{t.low:g}, {t.high:g}]" if t.low is not None else f"= {t.value:g} +- {t.sd:g}"
        lines.append(f"  {t.moment:42} {goal:22} weeks {t.window[0]}-{t.window[1]}, weight {t.weight:g}")
    return "\n".join(lines)


def summary(cal: Calibration, report: CalibrationReport) -> str:
    state = report.state
    lines = [f"outsim: {state.trials_done} evaluation(s) in {report.seconds:.1f} s "
             f"({state.runs_computed} runs computed, {state.runs_reused} reused, {len(state.failed)} failed)"]
    if report.best_trial is None:
        lines.append("no evaluation finished: there is no best point")
        return "\n".join(lines)
    lines.append(f"best: trial {report.best_trial}, loss {report.best_loss:.4g}")
    lines += [f"  {key:42} {value:.6g}" for key, value in report.best.items()]
    lines.append(f"{'target':34}{'goal':>18}{'achieved [95% interval]':>34}  within")
    for r in report.fit.to_dict("records"):
        goal = f"[{r['low']:.3g}, {r['high']:.3g}]" if r["low"] is not None and r["low"] == r["low"] else \
            f"{r['value']:.3g} +- {r['sd']:.2g}"
        got = f"{r['mean']:.4g} [{r['ci_low']:.4g}, {r['ci_high']:.4g}]"
        lines.append(f"  {r['moment'][:32]:32}{goal:>18}{got:>34}  {'yes' if r['within'] else 'no'}")
    lines.append(f"\ncalibration folder: {report.folder}  (best.toml, fit.csv, trials.parquet)")
    return "\n".join(lines)


def report_failures(report: CalibrationReport, out: Path) -> int:
    failed = report.state.failed
    if not failed:
        return EXIT_OK
    for trial, error in failed[:SHOWN_FAILURES]:
        last = error.strip().splitlines()[-1] if error.strip() else "unknown error"
        print(f"outsim: evaluation {trial} failed: {last}", file=sys.stderr)
    if len(failed) > SHOWN_FAILURES:
        print(f"outsim: ... and {len(failed) - SHOWN_FAILURES} more", file=sys.stderr)
    print(f"outsim: {len(failed)} evaluation(s) failed and the search went on; tracebacks are in "
          f"{out / 'manifest.json'}", file=sys.stderr)
    return EXIT_FAILED


def write_report(out: Path) -> int:
    """report.html for the folder; a report failure never loses the calibration."""
    from analysis.calibration_report import write_report as write

    try:
        print(f"report: {write(out)}")
    except Exception as exc:  # noqa: BLE001 - the results are saved; say what went wrong and how to retry
        print(f"outsim: the calibration is saved, but its report failed ({type(exc).__name__}: {exc})", file=sys.stderr)
        return EXIT_FAILED
    return EXIT_OK


def resume_command(args: argparse.Namespace) -> str:
    parts = ["outsim", "calibrate", str(args.file)]
    for flag, value in (("--out", args.out), ("--workers", args.workers), ("--scheduler", args.scheduler),
                        ("--budget", args.budget)):
        if value is not None:
            parts += [flag, str(value)]
    return shlex.join(parts)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
