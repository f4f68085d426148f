"""What every ``outsim`` subcommand shares: exit codes, an argument parser that never prints a
traceback, and the one-line-per-problem report of invalid input."""

from __future__ import annotations

import argparse
import sys

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 130


class Parser(argparse.ArgumentParser):
    """argparse, with its own errors exiting 2 (invalid input) like every other problem."""

    def error(self, message: str) -> None:
        self.print_usage(sys.stderr)
        print(f"outsim: error: {message}", file=sys.stderr)
        raise SystemExit(EXIT_INVALID)


def add_scale_option(parser: argparse.ArgumentParser) -> None:
    """``--scale X``: the size of the market, as ``--set run.scale=X`` (firms, providers, brokers, talent pools,
    entry and event sizes together; the dashboard's market-size slider sets the same key)."""
    parser.add_argument("--scale", dest="overrides", action=_ScaleAction, metavar="X",
                        help="size of the market: x firms, providers and brokers together (same as --set run.scale=X)")


class _ScaleAction(argparse.Action):
    def __call__(self, parser, namespace, values, option_string=None) -> None:
        getattr(namespace, self.dest).append(f"run.scale={values}")


def invalid(lines: list[str], ran: bool = True) -> int:
    """Print each problem on its own line and a count; returns the exit code for invalid input.

    Args:
        ran: the command would have run something ("nothing was run" is then said).
    """
    for line in lines:
        print(line, file=sys.stderr)
    tail = "; nothing was run." if ran else "."
    print(f"outsim: {len(lines)} problem(s){tail}", file=sys.stderr)
    return EXIT_INVALID
