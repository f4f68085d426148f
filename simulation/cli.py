"""The ``outsim`` command line: a thin layer over the public API (simulation.api), the run machinery and analysis/.

Exit codes: 0 success, 2 invalid input (one line per problem, never a traceback), 1 a run failed.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from importlib.metadata import version as package_version
from pathlib import Path

from analysis.stats import last_window, window_mean
from simulation.app import cli as app_cli
from simulation.calibrate import cli as calibrate_cli
from simulation.sweeps import cli as sweep_cli
from simulation.api import RunResult, SavedRun, load_scenario, run_to_folder
from simulation import cli_discover
from simulation import cli_strategies as strategies_cli
from simulation.cli_batch import cmd_compare, folder_plan_problems, run_batch
from simulation.cli_common import (EXIT_FAILED, EXIT_INTERRUPTED, EXIT_INVALID, EXIT_OK, Parser, add_force_option,
                                   add_scale_option, finish_with_report, invalid, output_folder, run_option_problems,
                                   size_problems, warn_late_events)
from simulation.executor import derive_seeds, raise_if_interrupted
from simulation.progress import Progress
from simulation.runfolder import export_csv, load_run_config
from simulation.scenario import ScenarioError, list_scenarios

DEFAULT_SCENARIO = Path("scenarios/baseline.toml")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(prog="outsim", description="Agent-based simulator of outsourcing markets.")
    parser.add_argument("--version", action="version", version=f"outsim {package_version('outsim')}")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=Parser)
    p = sub.add_parser("run", help="run one scenario and save a run folder")
    p.add_argument("scenario", nargs="?", default=None, help=f"scenario TOML (default: {DEFAULT_SCENARIO})")
    p.add_argument("--from", dest="from_dir", type=Path, default=None, metavar="RUN_DIR",
                   help="repeat a saved run exactly: its resolved config and seed (other options still apply)")
    p.add_argument("--format", choices=("parquet", "csv"), default="parquet",
                   help="csv also writes a CSV copy of every table (default: %(default)s)")
    p.add_argument("--seed", type=int, default=None, help="run seed (default: 1, or the --from run's seed)")
    p.add_argument("--steps", type=int, default=None, help="weeks to run (default: the scenario's run.steps)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                   help="override any parameter, e.g. --set firms.count=500 (repeatable)")
    add_scale_option(p)
    p.add_argument("--out", type=Path, default=None, help="run folder (default: outputs/<scenario>/<time>-s<seed>/)")
    add_force_option(p, resume=True)
    p.add_argument("--replications", type=int, default=1, metavar="R",
                   help="run R seeds derived from --seed, in parallel, plus a summary across them")
    p.add_argument("--workers", type=int, default=None, metavar="N",
                   help="parallel worker processes for replications (default: all cores; 0: in this process)")
    p.add_argument("--no-report", dest="report", action="store_false", help="skip writing report.html")

    c = sub.add_parser("compare", help="paired comparison of what-ifs with a baseline, on the same seeds")
    c.add_argument("base", type=Path, help="baseline scenario TOML")
    c.add_argument("whatifs", type=Path, nargs="+", metavar="whatif", help="what-if scenario TOML (one or more)")
    c.add_argument("--replications", type=int, default=10, metavar="R", help="seed pairs (default: %(default)s)")
    c.add_argument("--seed", type=int, default=1, help="base seed the R seeds derive from (default: %(default)s)")
    c.add_argument("--steps", type=int, default=None, help="weeks to run (default: the scenarios' run.steps)")
    c.add_argument("--window", default=None, metavar="A:B",
                   help="also compare over these weeks (phases before, during and after the events always are)")
    c.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                   help="override a parameter in both scenarios")
    add_scale_option(c)
    c.add_argument("--workers", type=int, default=None, metavar="N", help="parallel workers (default: all cores)")
    c.add_argument("--out", type=Path, default=None, help="comparison folder (default: outputs/compare/...)")
    add_force_option(c, resume=True)
    c.add_argument("--no-report", dest="report", action="store_false", help="skip writing report.html")

    r = sub.add_parser("report", help="write report.html for a run, replications or comparison folder")
    r.add_argument("run_dir", type=Path)

    x = sub.add_parser("explain", help="print one firm's week-by-week sourcing decisions and contract events")
    x.add_argument("run_dir", type=Path)
    x.add_argument("--firm", type=int, required=True, help="firm id (see firms.parquet)")
    x.add_argument("--service", default=None, help="only this service")

    v = sub.add_parser("validate", help="check scenario files and report every problem at once")
    v.add_argument("files", nargs="+", type=Path, help="scenario TOML files")
    v.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                   help="check these overrides too")

    s = sub.add_parser("scenarios", help="list the shipped scenarios with their descriptions and tags")
    s.add_argument("folder", nargs="?", type=Path, default=DEFAULT_SCENARIO.parent, help="where to look (default: %(default)s)")

    e = sub.add_parser("export", help="write CSV copies of a run folder's tables")
    e.add_argument("run_dir", type=Path)
    app_cli.add_parser(sub)
    sweep_cli.add_parser(sub)
    calibrate_cli.add_parser(sub)
    cli_discover.add_parser(sub)
    strategies_cli.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    commands = {"run": cmd_run, "validate": cmd_validate, "scenarios": cmd_scenarios, "export": cmd_export,
                "compare": cmd_compare, "report": cmd_report, "explain": cmd_explain, "app": app_cli.cmd_app,
                "sweep": sweep_cli.cmd_sweep, "calibrate": calibrate_cli.cmd_calibrate,
                "discover": cli_discover.cmd_discover, "strategies": strategies_cli.cmd_strategies}
    try:
        return commands[args.command](args)
    except KeyboardInterrupt:  # commands that keep partial work catch it themselves and say what they kept
        print("\noutsim: interrupted; nothing was saved", file=sys.stderr)
        return EXIT_INTERRUPTED


def cmd_run(args: argparse.Namespace) -> int:
    if problems := run_option_problems(args.seed, args.steps):
        return invalid(problems)
    if args.from_dir is not None and args.scenario is not None:
        return invalid([f"--from: {args.from_dir}: give either a scenario file or --from RUN_DIR, not both"])
    try:
        if args.from_dir is not None:
            cfg, seed = load_run_config(args.from_dir)
            if args.overrides:
                cfg = load_scenario(None, args.overrides, base=cfg)
        else:
            cfg, seed = load_scenario(args.scenario or DEFAULT_SCENARIO, args.overrides), 1
    except ScenarioError as exc:
        return invalid([str(p) for p in exc.problems])
    seed = seed if args.seed is None else args.seed
    steps = args.steps or cfg.run.steps
    if args.replications < 1:
        return invalid([f"--replications: --replications = {args.replications}: must be at least 1"])
    if args.workers is not None and args.workers < 0:
        return invalid([f"--workers: --workers = {args.workers}: must be 0 or more"])
    suffix = f"-r{args.replications}" if args.replications > 1 else ""
    out, problems = output_folder(args.out, Path("outputs") / cfg.name / f"{datetime.now():%Y%m%d-%H%M%S}-s{seed}{suffix}",
                                  args.force, args.resume)
    problems += size_problems(cfg, steps, args.replications, args.workers, args.force)
    if args.resume and args.replications == 1:
        problems.append("--resume: finishes interrupted replications (--replications R); a single run starts afresh")
    elif args.replications > 1 and not problems:
        problems += folder_plan_problems(out, cfg.with_steps(steps), derive_seeds(seed, args.replications))
    if problems:
        return invalid(problems)
    warn_late_events(cfg, steps)
    if args.replications > 1:
        return run_batch(args, cfg.with_steps(steps), seed, out)
    print(f"outsim: running '{cfg.name}' for {steps} weeks, seed {seed} ...", flush=True)
    bar = Progress(steps, unit="weeks")
    origin = {"scenario_file": None if args.from_dir else str(args.scenario or DEFAULT_SCENARIO),
              "from_run": None if args.from_dir is None else str(args.from_dir), "overrides": list(args.overrides),
              "steps_option": args.steps}
    try:  # the folder is written while the run goes (relationships and decisions streamed) and appears when complete
        saved = run_to_folder(cfg, out, seed=seed, steps=steps, on_week=lambda m: bar.update(m.week), origin=origin)
    except Exception as exc:  # a model failure is reported, not hidden: exit 1 with its message
        bar.close()
        raise_if_interrupted(exc)
        print(f"outsim: run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    bar.close()
    try:
        if args.format == "csv":
            export_csv(saved.folder)
        print(summary_table(saved))
        print(f"\nrun folder: {saved.folder}")
    except KeyboardInterrupt:  # the run folder is complete: say so, not "nothing was saved"
        print(f"\noutsim: interrupted; the run is saved in {saved.folder} (CSV copies: outsim export {saved.folder}; "
              f"report: outsim report {saved.folder})", file=sys.stderr)
        return EXIT_INTERRUPTED
    return finish_with_report(saved.folder, args.report, EXIT_OK)


# The folders whose reports other commands write, and the command that writes each.
OTHER_REPORTS = {
    "sweep": "a sweep folder: its summary and figures come from: outsim sweep SWEEP_FILE --analyze --out {folder}",
    "calibration": ("a calibration folder: rerun its calibration, which computes nothing new and rewrites "
                    "report.html: outsim calibrate CALIBRATION_FILE --out {folder}"),
}


def cmd_report(args: argparse.Namespace) -> int:
    from analysis.load import RunFolderError, folder_kind, read_manifest

    if not _is_folder(args.run_dir):
        return EXIT_INVALID
    try:
        kind = read_manifest(args.run_dir).get("kind", "run")
        if kind in OTHER_REPORTS:
            return invalid([f"{args.run_dir}: manifest.json: kind = {kind!r}: "
                            + OTHER_REPORTS[kind].format(folder=args.run_dir)], ran=False)
        folder_kind(args.run_dir)  # an unknown kind is refused here, not reported as a failed report
        return finish_with_report(args.run_dir, True, EXIT_OK)
    except RunFolderError as exc:
        return invalid([str(exc) if str(exc).startswith(str(args.run_dir)) else f"{args.run_dir}: {exc}"], ran=False)


def _is_folder(path: Path) -> bool:
    if (path / "manifest.json").is_file():
        return True
    invalid([f"{path}: manifest.json: not a run folder (no manifest.json)"], ran=False)
    return False


def cmd_explain(args: argparse.Namespace) -> int:
    from analysis.explain import explain
    from analysis.load import RunFolderError

    if not _is_folder(args.run_dir):
        return EXIT_INVALID
    try:
        print(explain(args.run_dir, args.firm, args.service))
    except (RunFolderError, ValueError) as exc:
        return invalid([f"{args.run_dir}: --firm {args.firm}: {exc}"], ran=False)
    return EXIT_OK


def cmd_validate(args: argparse.Namespace) -> int:
    problems: list[str] = []
    for path in args.files:
        try:
            load_scenario(path, args.overrides)
            print(f"{path}: ok")
        except ScenarioError as exc:
            problems += [str(p) for p in exc.problems]
    return invalid(problems, ran=False) if problems else EXIT_OK


def cmd_scenarios(args: argparse.Namespace) -> int:
    rows = list_scenarios(args.folder)
    if not rows:
        return invalid([f"{args.folder}: no scenario files found"], ran=False)
    width = max(len(r.path) for r in rows)
    for r in rows:
        status = "" if r.valid else "  [INVALID: run outsim validate]"
        print(f"{r.path:<{width}}  {r.description}{status}")
        if r.tags:
            print(f"{'':<{width}}  tags: {', '.join(r.tags)}")
    return EXIT_OK


def cmd_export(args: argparse.Namespace) -> int:
    try:
        files = export_csv(args.run_dir)
    except ScenarioError as exc:
        return invalid([str(p) for p in exc.problems], ran=False)
    for f in files:
        print(f)
    return EXIT_OK


def summary_table(result: RunResult | SavedRun) -> str:
    """Final-year averages: shares by form and kind, loyalty, prices and unmet share."""
    first, last = last_window(int(result.metrics["step"].max()))
    row = window_mean(result.metrics, (first, last))
    lines = [f"Summary of the last {last - first + 1} weeks (seed {result.seed}, {result.timings.get('run', 0):.1f} s):",
             f"  {'':22}{'all':>9}{'BPO':>9}{'KPO':>9}"]

    def pct(x: float) -> str:
        return f"{100 * x:8.1f}%"

    lines.append(f"  {'permanent share':22}{pct(row.permanent_share)}{pct(row.permanent_share_bpo)}{pct(row.permanent_share_kpo)}")
    lines.append(f"  {'on-call share':22}{pct(row.on_call_share)}{pct(row.on_call_share_bpo)}{pct(row.on_call_share_kpo)}")
    lines.append(f"  {'in-house share':22}{pct(row.in_house_share)}{pct(row.in_house_share_bpo)}{pct(row.in_house_share_kpo)}")
    lines.append(f"  {'unmet share':22}{pct(row.unmet_share)}")
    lines.append(f"  {'mean loyalty y':22}{row.loyalty_mean:9.3f}")
    lines.append(f"  {'mean price (cu/h)':22}{'':9}{row.mean_price_bpo:9.2f}{row.mean_price_kpo:9.2f}")
    lines.append(f"  {'on-call price (cu/h)':22}{row.mean_price_on_call:9.2f}")
    lines.append(f"  {'permanent price (cu/h)':22}{row.mean_price_permanent:9.2f}")
    lines.append(f"  {'offshore share':22}{pct(row.offshore_share)}")
    lines.append(f"  {'broker share':22}{pct(row.broker_share)}")
    lines.append(f"  {'provider utilisation':22}{pct(row.provider_utilization)}")
    lines.append(f"  {'active providers':22}{row.active_providers:9.0f}")
    return "\n".join(lines)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
