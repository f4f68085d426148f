"""How fast ``outsim calibrate`` evaluates, and how well it uses two workers.

Runs the first rounds of the shipped industry calibration (scenarios/calibration/industry.toml: the
1,000-firm baseline, 520 weeks, two replications per evaluation, four evaluations per round) twice
in this process, into fresh folders: on one Dask worker, then on two. It reports the wall time per
evaluation on each, and the parallel efficiency ``T(1 worker) / (2 x T(2 workers))`` - a ratio of two
runs in the same process, so a shared, noisy machine affects both alike. Both runs make the same
evaluations (a calibration's search does not depend on the number of workers), which it checks.

    .venv/bin/python benchmarks/bench_calibrate.py            # 8 evaluations (2 rounds), ~3 minutes
    .venv/bin/python benchmarks/bench_calibrate.py --budget 4 # one round
"""

from __future__ import annotations

import argparse
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd

from simulation.calibrate import load_calibration, run_calibration

ROOT = Path(__file__).resolve().parents[1]
FILE = ROOT / "scenarios" / "calibration" / "industry.toml"


def timed(budget: int, workers: int, folder: Path) -> tuple[float, pd.DataFrame]:
    cal = load_calibration(FILE, budget=budget)
    cal = replace(cal, profile_points=0)  # the search alone
    t0 = time.perf_counter()
    run_calibration(cal, folder, workers=workers, progress=False, log=lambda s: None)
    return time.perf_counter() - t0, pd.read_parquet(folder / "trials.parquet")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--budget", type=int, default=8, help="evaluations per timing (default %(default)s)")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        one, trials_one = timed(args.budget, 1, Path(tmp) / "one")
        two, trials_two = timed(args.budget, 2, Path(tmp) / "two")
    same = trials_one.equals(trials_two)
    print(f"outsim calibrate: {FILE.relative_to(ROOT)}, {args.budget} evaluations x 2 replications "
          f"(1,000 firms, 520 weeks), search only")
    print(f"  1 worker : {one:7.1f} s wall, {one / args.budget:6.1f} s per evaluation")
    print(f"  2 workers: {two:7.1f} s wall, {two / args.budget:6.1f} s per evaluation")
    print(f"  efficiency on 2 workers: T1 / (2 x T2) = {one / (2 * two):.2f}; speed-up {one / two:.2f}x")
    print(f"  same evaluations on 1 and 2 workers: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
