"""``outsim discover SWEEP_DIR --where "permanent_share < 0.18"``: scenario discovery (PRIM) on a finished sweep.

Prints the peeling trajectory and the chosen box (restricted parameter ranges beside the full ranges, with
coverage, density and the number of points), and writes discovery.csv, discovery_trajectory.csv,
discovery_tradeoff.png and discovery_box.png into the sweep folder (or ``--out``). The method is in
analysis/discovery.py; see docs/strategists.md.

Exit codes: 0 done, 1 the files could not be written, 2 invalid input (one line per problem, never a
traceback), 130 interrupted.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from analysis.discovery import ALPHA, MIN_MASS, THRESHOLD, DiscoveryError, discover
from simulation.cli_common import EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK, Parser, invalid


def add_arguments(p: argparse.ArgumentParser) -> None:
    """The options of ``outsim discover``."""
    p.add_argument("sweep_dir", type=Path, metavar="SWEEP_DIR", help="a finished sweep folder (outsim sweep --out)")
    p.add_argument("--where", required=True, metavar="CONDITION",
                   help='which design points are cases: METRIC OP NUMBER, OP one of < <= > >= '
                        '(e.g. "permanent_share < 0.18"); the metric is the mean over each point\'s seeds')
    p.add_argument("--metric-window", default=None, metavar="A:B",
                   help="average the metric over weeks A to B of the series the sweep kept (outputs.every) "
                        "(default: the sweep's final outcome, the mean over its last outputs.final_window weeks)")
    p.add_argument("--threshold", type=float, default=THRESHOLD, metavar="D",
                   help="report the box of the peeling trajectory with the most coverage among those whose density "
                        "reaches D (default: %(default)s)")
    p.add_argument("--box", type=int, default=None, metavar="I",
                   help="report box I of the peeling trajectory instead (see discovery_trajectory.csv)")
    p.add_argument("--alpha", type=float, default=ALPHA,
                   help="share of the box's points each peeling step removes (default: %(default)s)")
    p.add_argument("--min-mass", type=float, default=MIN_MASS, metavar="M",
                   help="least share of all points a box keeps (default: %(default)s)")
    p.add_argument("--no-paste", dest="paste", action="store_false",
                   help="report the peeled box as it is, without pasting")
    p.add_argument("--out", type=Path, default=None, metavar="DIR", help="folder for the files (default: SWEEP_DIR)")


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Register ``discover`` on the ``outsim`` subcommand parsers."""
    p = subparsers.add_parser("discover", help="scenario discovery: which parameter ranges of a sweep lead to an outcome",
                              description="PRIM (Friedman & Fisher 1999) over a finished sweep's design points: "
                                          "the parameter ranges where a condition on an outcome holds.")
    add_arguments(p)
    return p


def main(argv: list[str] | None = None) -> int:
    parser = Parser(prog="outsim discover", description="Scenario discovery (PRIM) over a finished sweep.")
    add_arguments(parser)
    return cmd_discover(parser.parse_args(argv))


def cmd_discover(args: argparse.Namespace) -> int:
    """Find the box, print it and write the files."""
    out = args.out or args.sweep_dir
    problems = []
    if args.out is not None and args.out.exists() and not args.out.is_dir():
        problems.append(f"--out: {args.out}: is a file, not a folder")
    try:
        found = discover(args.sweep_dir, args.where, args.metric_window, threshold=args.threshold, box=args.box,
                         alpha=args.alpha, min_mass=args.min_mass, pasting=args.paste)
    except DiscoveryError as exc:
        return invalid([*problems, *exc.problems], ran=False)
    except KeyboardInterrupt:
        print("\noutsim: interrupted; nothing was written.", file=sys.stderr)
        return EXIT_INTERRUPTED
    if problems:
        return invalid(problems, ran=False)
    from analysis.discovery_figures import format_discovery, write_discovery  # matplotlib only now
    from simulation.config import parameter_units

    print(format_discovery(found))
    try:
        files = write_discovery(found, out, parameter_units())
    except OSError as exc:
        print(f"outsim: could not write the discovery files into {out}: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except KeyboardInterrupt:
        print("\noutsim: interrupted while writing; files already written are whole.", file=sys.stderr)
        return EXIT_INTERRUPTED
    for f in files:
        print(f"wrote {f}")
    return EXIT_OK


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
