"""The ``outsim`` command line: a thin layer over the public API (simulation.api).

Exit codes: 0 success, 2 invalid input (one line per problem, never a traceback), 1 a run failed.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from simulation.api import RunResult, load_scenario, run, save_run
from simulation.scenario import ScenarioError

DEFAULT_SCENARIO = Path("scenarios/baseline.toml")
EXIT_OK, EXIT_FAILED, EXIT_INVALID = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # argparse's own errors also exit 2, without a traceback
        self.print_usage(sys.stderr)
        print(f"outsim: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="outsim", description="Agent-based simulator of outsourcing markets.")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    p = sub.add_parser("run", help="run one scenario and save a run folder")
    p.add_argument("scenario", nargs="?", default=str(DEFAULT_SCENARIO), help="scenario TOML (default: %(default)s)")
    p.add_argument("--seed", type=int, default=1, help="run seed (default: %(default)s)")
    p.add_argument("--steps", type=int, default=None, help="weeks to run (default: the scenario's run.steps)")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="dotted.key=value",
                   help="override any parameter, e.g. --set firms.count=500 (repeatable)")
    p.add_argument("--out", type=Path, default=None, help="run folder (default: outputs/<scenario>/<time>-s<seed>/)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "run":
        return cmd_run(args)
    return EXIT_INVALID  # pragma: no cover - argparse rejects unknown commands


def cmd_run(args: argparse.Namespace) -> int:
    if args.steps is not None and args.steps < 1:
        return _invalid([f"--steps: --steps = {args.steps}: must be at least 1"])
    try:
        cfg = load_scenario(args.scenario, args.overrides)
    except ScenarioError as exc:
        return _invalid([str(p) for p in exc.problems])
    out = args.out or Path("outputs") / cfg.name / f"{datetime.now():%Y%m%d-%H%M%S}-s{args.seed}"
    steps = args.steps or cfg.run.steps
    print(f"outsim: running '{cfg.name}' for {steps} weeks, seed {args.seed} ...", flush=True)
    try:
        result = run(cfg, seed=args.seed, steps=steps)
    except Exception as exc:  # a model failure is reported, not hidden: exit 1 with its message
        print(f"outsim: run failed: {type(exc).__name__}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    folder = save_run(result, out)
    print(summary_table(result))
    print(f"\nrun folder: {folder}")
    return EXIT_OK


def summary_table(result: RunResult) -> str:
    """Final-year averages: shares by form and kind, loyalty, prices and unmet share."""
    m = result.metrics
    last = m[m["step"] > m["step"].max() - 52]
    row = last.mean(numeric_only=True)
    lines = [f"Summary of the last {len(last)} weeks (seed {result.seed}, {result.timings.get('run', 0):.1f} s):",
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


def _invalid(lines: list[str]) -> int:
    for line in lines:
        print(line, file=sys.stderr)
    print(f"outsim: {len(lines)} problem(s); nothing was run.", file=sys.stderr)
    return EXIT_INVALID


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
