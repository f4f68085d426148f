"""What every ``outsim`` subcommand shares: exit codes, an argument parser that never prints a
traceback, and the one-line-per-problem report of invalid input."""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from pydantic import ValidationError

from simulation.config import Config
from simulation.config.schema import RunConfig, scaled
from simulation.executor import default_workers

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


def run_option_problems(seed: int | None, steps: int | None) -> list[str]:
    """``--seed`` must be 0 or more and ``--steps`` obey the schema's ``run.steps`` rule, checked before any work."""
    problems = []
    if seed is not None and seed < 0:
        problems.append(f"--seed: --seed = {seed}: must be 0 or more")
    if steps is not None:
        try:
            RunConfig(steps=steps)
        except ValidationError as exc:
            problems.append(f"--steps: --steps = {steps}: {exc.errors()[0]['msg']}")
    return problems


# What one run costs, per firm-week (warm-up included), measured on the 2-core reference machine with the
# baseline at 1,000 to 100,000 firms (peak resident memory; wall time while recording): an upper bound there.
BYTES_PER_FIRM_WEEK, BASE_BYTES = 170, 250 * 2**20
FIRM_WEEKS_PER_SECOND = 60_000
MAX_SECONDS = 2 * 3600  # the longest job outsim starts without --force


def size_problems(cfg: Config, steps: int, runs: int = 1, workers: int | None = 0, force: bool = False) -> list[str]:
    """Refuse a job whose estimated peak memory exceeds half of this machine's memory, or that would take
    more than two hours, before any work; ``force`` lets it go ahead.

    Args:
        runs: how many runs of ``cfg`` the job makes.
        workers: as ``--workers``: local worker processes, None for all cores, 0 for one run at a time here.
    """
    parallel = default_workers() if workers is None else max(1, workers)
    firm_weeks = scaled(cfg.firms.count, cfg.run.scale) * (steps + cfg.run.warmup_weeks)
    memory = (BASE_BYTES + BYTES_PER_FIRM_WEEK * firm_weeks) * max(1, min(parallel, runs))
    seconds = firm_weeks / FIRM_WEEKS_PER_SECOND * -(-runs // max(1, parallel))
    limit = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    if force or (memory <= limit and seconds <= MAX_SECONDS):
        return []
    what = f"{firm_weeks:,} firm-weeks per run" + (f", {runs} runs, {parallel} at a time" if runs > 1 else "")
    return [f"size: {what} need about {memory / 2**30:,.1f} GiB of memory at peak (this machine allows "
            f"{limit / 2**30:,.1f} GiB: half of its memory) and about {_duration(seconds)} (the limit is "
            f"{_duration(MAX_SECONDS)}); make the market (--scale, firms.count) or the horizon (--steps) smaller, "
            "or add --force to run it anyway"]


def _duration(seconds: float) -> str:
    return f"{seconds / 3600:,.1f} h" if seconds >= 3600 else f"{seconds / 60:,.0f} min"


def warn_late_events(cfg: Config, steps: int) -> None:
    """Say which of the scenario's events fall after the last week run (they will not happen)."""
    for e in (e for e in cfg.events if e.at > steps):
        print(f"outsim: warning: '{cfg.name}': the {e.action} event at week {e.at} comes after the last week run "
              f"({steps}) and will not happen", file=sys.stderr)


def output_folder(out: Path | None, default: Path, force: bool, resume: bool = False) -> tuple[Path, list[str]]:
    """The folder a command writes, and the problems with it, found before any work.

    A default folder (named after the time) that already exists gets a ``-2``, ``-3``, ... suffix, so two runs
    started in the same second never share one. An ``--out`` that exists is refused unless ``force``, which
    deletes it first, so old files never sit beside new ones, or ``resume``, which continues the work in it.
    A folder that cannot be created is refused.
    """
    if resume and (out is None or force):
        return out or default, ["--resume: continues the work in an existing folder: give it as --out FOLDER, "
                                "without --force"]
    if out is None:
        out, n = default, 2
        while out.exists():
            out, n = default.with_name(f"{default.name}-{n}"), n + 1
    elif out.exists() and not out.is_dir():
        return out, [f"--out: {out}: is a file, not a folder"]
    elif out.exists() and not (force or resume):
        return out, [f"--out: {out}: already exists; choose another folder, add --force to replace it, "
                     "or --resume to finish an interrupted batch in it"]
    parent = next(p for p in (out, *out.parents) if p.exists())
    if not parent.is_dir() or not os.access(parent, os.W_OK | os.X_OK):
        return out, [f"--out: {out}: cannot be written ({parent} is not a writable folder)"]
    if force and out.exists():
        shutil.rmtree(out)
    return out, []


def interrupted(done: int, total: int, what: str, folder: Path) -> int:
    """Say what an interrupted batch kept and how to finish it; returns the exit code for Ctrl-C."""
    print(f"\noutsim: interrupted; {done} of {total} {what} are finished and kept in {folder}. To finish the rest, "
          f"run the same command with --out {folder} --resume", file=sys.stderr)
    return EXIT_INTERRUPTED


def add_force_option(parser: argparse.ArgumentParser, resume: bool = False) -> None:
    """``--force`` (replace an existing --out), and with ``resume`` also ``--resume`` (finish the work in it)."""
    parser.add_argument("--force", action="store_true",
                        help="replace the --out folder if it exists (it is deleted first), and run a job larger than "
                             "the memory and time limits")
    if resume:
        parser.add_argument("--resume", action="store_true",
                            help="finish an interrupted batch in its --out folder: verified finished runs are kept")


def finish_with_report(folder: Path, wanted: bool, code: int) -> int:
    """Write report.html for a finished folder and print its path; a report failure never loses the run."""
    if not wanted:
        return code
    try:  # the import too: loading the plotting libraries takes a moment, and Ctrl-C may land there
        from analysis.report import write_report  # entry points may use analysis/; the model never does

        print(f"report: {write_report(folder)}")
    except KeyboardInterrupt:
        print(f"\noutsim: interrupted while writing the report; the results are saved. Write it with: "
              f"outsim report {folder}", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # the run is saved; say what went wrong with the report and how to retry
        print(f"outsim: the run is saved, but its report failed ({type(exc).__name__}: {exc}); "
              f"retry with: outsim report {folder}", file=sys.stderr)
        return EXIT_FAILED
    return code
