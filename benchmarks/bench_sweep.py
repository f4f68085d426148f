"""Sweep throughput: runs per second with 1 and 2 Dask workers against a bare in-process loop.

What is measured: one sweep of R runs of about 1.5 s each (the baseline with 1,000 firms for 260
weeks, 6 demand-volatility values x 4 seeds by default), run in this order:

1. reference, before: the same runs in a plain loop in this process (``runner.run_one``: the task
   function itself, i.e. ``simulation.run`` plus the reduction to final values), no Dask, no files;
2. ``run_sweep`` on a LocalCluster of 1 worker, then of 2 workers, each into a fresh folder; twice;
3. reference, after.

The machine is shared and noisy (another job can take a core for a while, which hurts 2 workers on 2
cores most), so the fastest time of each configuration counts, as timeit does.

Sweep wall times include starting and closing the cluster, sizing the batches, writing every result
file and the manifest: what a user waits for. Reported numbers:

- throughput_k = R / wall_k (runs/s);
- parallel efficiency = (throughput_2 / throughput_1) / 2 (target >= 85%);
- overhead per run = (wall_1 - reference) / R, and the same without the cluster's start-up time
  (measured separately by starting and closing an empty LocalCluster of 1 worker).

Usage (from the repository root)::

    .venv/bin/python benchmarks/bench_sweep.py            # ~3.5 minutes on 2 cores
    .venv/bin/python benchmarks/bench_sweep.py --quick    # 500 firms, 8 runs, one try each (~30 s)

Writes benchmarks/results/sweep.json. The exit code is 0 even when the target is missed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulation.executor import Executor
from simulation.sweeps import load_sweep, plan_runs, run_sweep
from simulation.sweeps.runner import run_one, sweep_task
from simulation.sweeps.store import SweepStore

RESULTS = ROOT / "benchmarks" / "results"
TARGET_EFFICIENCY = 0.85


def sweep_file(folder: Path, firms: int, steps: int, points: int, seeds: int) -> Path:
    """A grid over demand volatility on the baseline (providers scaled with the firms)."""
    vols = ", ".join(f"{0.05 + 0.05 * i:.2f}" for i in range(points))
    path = folder / "bench.toml"
    path.write_text(f"""
name = "bench_sweep"
base = "{ROOT / 'scenarios' / 'baseline.toml'}"
steps = {steps}
[set]
firms.count = {firms}
providers.bpo_count = {max(10, firms // 10)}
providers.kpo_count = {max(4, firms // 25)}
[parameters]
"firms.demand_volatility" = [{vols}]
[seeds]
count = {seeds}
base = 1
[outputs]
final = ["permanent_share", "on_call_share", "loyalty_mean"]
final_window = 52
""", encoding="utf-8")
    return path


def reference(plan: Any, folder: Path) -> float:
    """Seconds to run every run of the plan in a plain loop in this process."""
    store, outputs = SweepStore(folder), plan.sweep.outputs()
    t0 = time.perf_counter()
    for r in plan.runs:
        outcome, _, _ = run_one(sweep_task(r, store), outputs)
        assert outcome.ok, outcome.error
    return time.perf_counter() - t0


def timed_sweep(plan: Any, folder: Path, workers: int) -> tuple[float, Any]:
    t0 = time.perf_counter()
    report = run_sweep(plan, folder, workers=workers, progress=False, log=lambda s: None)
    wall = time.perf_counter() - t0
    assert report.computed == len(plan.runs) and not report.failed, report
    return wall, report


def cluster_startup(workers: int) -> float:
    """Seconds to start and close an empty LocalCluster (what every sweep pays once)."""
    t0 = time.perf_counter()
    with Executor(workers=workers):
        pass
    return time.perf_counter() - t0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="500 firms, 260 weeks, 4 points x 2 seeds, one repeat")
    ap.add_argument("--firms", type=int, default=None)
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--points", type=int, default=None)
    ap.add_argument("--seeds", type=int, default=None)
    ap.add_argument("--repeats", type=int, default=None, help="sweeps per worker count; the fastest counts (default 2)")
    args = ap.parse_args(argv)
    firms = args.firms or (500 if args.quick else 1000)
    steps = args.steps or 260
    points = args.points or (4 if args.quick else 6)
    seeds = args.seeds or (2 if args.quick else 4)
    repeats = args.repeats or (1 if args.quick else 2)
    load = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench_sweep_"))
    walls: dict[int, list[float]] = {1: [], 2: []}
    batches: dict[int, int] = {}
    try:
        plan = plan_runs(load_sweep(sweep_file(tmp, firms, steps, points, seeds)))
        n = len(plan.runs)
        print(f"bench_sweep: {n} runs ({points} points x {seeds} seeds) of the baseline with {firms} firms, "
              f"{steps} weeks; {len(os.sched_getaffinity(0))} CPUs; load average before start {load:.2f}", flush=True)
        ref_before = reference(plan, tmp / "ref")
        print(f"  reference before: {ref_before:.2f} s ({ref_before / n:.2f} s/run)", flush=True)
        for i in range(repeats):
            for k in (1, 2):
                folder = tmp / f"w{k}-{i}"
                wall, rep = timed_sweep(plan, folder, k)
                walls[k].append(wall)
                batches[k] = rep.batch_size
                print(f"  {k} worker(s), try {i + 1}: {wall:.2f} s (batches of up to {rep.batch_size})", flush=True)
        ref_after = reference(plan, tmp / "ref")
        print(f"  reference after:  {ref_after:.2f} s", flush=True)
        startup = min(cluster_startup(1) for _ in range(2))
        same = all((tmp / "w1-0" / "runs" / f"{r.key}.parquet").read_bytes() ==
                   (tmp / "w2-0" / "runs" / f"{r.key}.parquet").read_bytes() for r in plan.runs)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    ref = min(ref_before, ref_after)
    wall1, wall2 = min(walls[1]), min(walls[2])
    thr_ref, thr1, thr2 = n / ref, n / wall1, n / wall2
    eff = (thr2 / thr1) / 2
    over = (wall1 - ref) / n
    over_steady = (wall1 - startup - ref) / n
    rows = [("reference loop (this process)", ref, thr_ref), ("sweep, 1 worker", wall1, thr1), ("sweep, 2 workers", wall2, thr2)]
    print(f"\nfastest of each ({repeats} sweep(s) per worker count, 2 reference loops):")
    print(f"{'':32}{'wall s':>9}{'runs/s':>9}")
    for name, wall, thr in rows:
        print(f"{name:32}{wall:9.2f}{thr:9.3f}")
    print(f"\nparallel efficiency (thr2 / thr1) / 2: {100 * eff:.1f}%  (target >= {100 * TARGET_EFFICIENCY:.0f}%: "
          f"{'PASS' if eff >= TARGET_EFFICIENCY else 'FAIL'})")
    steady = (wall1 - startup) / (2 * (wall2 - startup))
    print(f"  without the cluster start-up in both: {100 * steady:.1f}% (start-up, worker imports and the last, "
          f"unbalanced task are fixed costs: longer sweeps get closer to 100%)")
    print(f"overhead per run vs the bare loop: {over:+.3f} s ({100 * over / (ref / n):+.1f}%), "
          f"{over_steady:+.3f} s without the cluster start-up ({startup:.2f} s, paid once per sweep)")
    print(f"reference after / before: {ref_after / ref_before:.3f} (far from 1: the machine was busy); "
          f"1- and 2-worker files identical: {same}")
    out = {
        "date": date.today().isoformat(), "python": platform.python_version(), "cpus": len(os.sched_getaffinity(0)),
        "load_average_before": load, "runs": n, "firms": firms, "steps": steps, "repeats": repeats,
        "seconds_per_run": ref / n, "reference_s": {"before": ref_before, "after": ref_after},
        "sweep_1_worker_s": walls[1], "sweep_2_workers_s": walls[2], "cluster_startup_s": startup,
        "throughput_runs_per_s": {"reference": thr_ref, "1_worker": thr1, "2_workers": thr2},
        "parallel_efficiency": eff, "parallel_efficiency_without_startup": steady, "target_efficiency": TARGET_EFFICIENCY, "pass": eff >= TARGET_EFFICIENCY,
        "overhead_per_run_s": over, "overhead_per_run_without_startup_s": over_steady,
        "batch_size": {"1_worker": batches[1], "2_workers": batches[2]}, "identical_files": same,
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "sweep.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"wrote {RESULTS / 'sweep.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
