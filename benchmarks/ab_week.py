"""Time the weekly step of two checkouts of outsim in alternation, to measure a change on a noisy machine.

Each round runs every checkout once, each in a fresh process: the baseline market at ``--scale`` after
``--warmup`` weeks of warm-up (default 0: none), five untimed weeks, then ``--weeks`` timed weeks
(``perf_counter`` around the steps). Alternating
the checkouts round by round spreads the machine's changing load over both. A checkout is a folder with
outsim's source, e.g. ``git worktree add /tmp/before <commit>``.

Usage (from the repository root)::

    python benchmarks/ab_week.py /tmp/before . --scale 10 --weeks 40 --rounds 3
    python benchmarks/ab_week.py /tmp/before . --scale 10 --weeks 60 --rounds 5 --warmup 156   # a settled market
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from simulation import load_scenario
from simulation.model import OutsourcingModel
cfg = load_scenario({root!r} + "/scenarios/baseline.toml", {{"run.scale": {scale}, "run.warmup_weeks": {warmup}}})
m = OutsourcingModel(cfg, seed={seed})
for _ in range(5):
    m.step()
t = time.perf_counter()
for _ in range({weeks}):
    m.step()
print((time.perf_counter() - t) / {weeks} * 1000)
"""


def week_ms(root: Path, scale: float, weeks: int, seed: int, warmup: int = 0) -> float:
    """Milliseconds per week of the checkout at ``root``, in a fresh process."""
    code = CHILD.format(root=str(root.resolve()), scale=scale, weeks=weeks, seed=seed, warmup=warmup)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=root)
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkouts", nargs=2, type=Path, help="two folders with outsim's source (before, after)")
    ap.add_argument("--scale", type=float, default=10.0, help="run.scale of the market (default 10: 10,000 firms)")
    ap.add_argument("--weeks", type=int, default=40, help="timed weeks per run (default 40)")
    ap.add_argument("--rounds", type=int, default=3, help="runs of each checkout, in alternation (default 3)")
    ap.add_argument("--warmup", type=int, default=0, help="warm-up weeks before the untimed ones (the baseline's: 156)")
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args(argv)
    times: dict[Path, list[float]] = {c: [] for c in args.checkouts}
    for _ in range(args.rounds):
        for checkout in args.checkouts:
            times[checkout].append(week_ms(checkout, args.scale, args.weeks, args.seed, args.warmup))
    for checkout, ms in times.items():
        print(f"{str(checkout):40s} ms per week: {' / '.join(f'{x:.1f}' for x in ms)}")


if __name__ == "__main__":
    main()
