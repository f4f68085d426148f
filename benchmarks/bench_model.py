"""Speed and memory benchmarks of outsim, reported against a plain-Mesa reference.

What is measured: the 520-week baseline (``scenarios/baseline.toml``, with its 156-week warm-up) at
three market sizes set by ``run.scale``, which multiplies firms, BPO providers, KPO specialists, brokers,
talent pools and the entry rate together: 1k = the baseline as is (1,000 firms, 100 BPO, 40 KPO,
3 brokers), 10k = scale 10, 100k = scale 100 (100,000 firms, 10,000 BPO, 4,000 KPO, 300 brokers).

Each size runs in a fresh child process (``--child``), so its peak resident memory (``ru_maxrss``)
is its own. Inside the child, two 3-week runs of a 60-firm market first compile the numba kernels (or load
them from numba's on-disk cache), untimed. The wall time is then taken with ``perf_counter`` around ``simulation.run``
(setup, warm-up, 520 weekly steps, collecting the tables) and, separately, around writing the run
folder (``save_run``, into a temporary folder); firm-weeks per second is ``firms * weeks / run wall``.
100k runs as ``outsim run`` does (``run_to_folder``: tables streamed to the folder while the run goes),
so its wall time includes the writing.

Why a reference: the benchmark machine is shared and noisy, so absolute seconds can move by tens of
percent between runs. Each child therefore also times a plain Mesa Boltzmann wealth model
(benchmarks/boltzmann.py) right before and right after the outsim run, in the same process, and
reports ``outsim firm-weeks/s / Boltzmann agent-steps/s``. That ratio cancels most machine noise:
compare ratios across commits, not seconds.

Targets (PASS/FAIL is printed; the exit code is 0 either way, this is a report): ratio >= 0.5 at 1k and
>= 1.0 at 10k; 10k peak RSS < 2 GiB; wall 10k/1k <= 11. With ``--large`` also 100k: run and writing
within 180 s, peak RSS <= 4 GiB, wall (run and writing) 100k/10k <= 11. The two growth targets compare
children run minutes apart, so each wall time is first multiplied by its own child's Boltzmann speed
(:func:`growth`: the noise-corrected ratio); the raw ratio is printed beside it.

Usage (from the repository root)::

    python benchmarks/bench_model.py            # 1k and 10k (what `make bench` runs)
    python benchmarks/bench_model.py --large    # also 100k, about 5 more minutes (`make bench-large`)
    python benchmarks/bench_model.py --quick    # 104 weeks: a smoke check, time limits scaled to 104/520
    python benchmarks/bench_model.py --profile  # 1k baseline under pyinstrument -> results/profile.html
    python benchmarks/bench_model.py --profile --size 100k --quick   # profile another size
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import platform
import resource
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from datetime import date
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "benchmarks" / "results"
SCENARIO = ROOT / "scenarios" / "baseline.toml"
FULL_WEEKS, QUICK_WEEKS, SEED = 520, 104, 1
#: run.scale per market size; 1k is the baseline unchanged.
SIZES: dict[str, float] = {"1k": 1.0, "10k": 10.0, "100k": 100.0}
DEFAULT_SIZES = ("1k", "10k")
MIN_RATIO = {"1k": 0.5, "10k": 1.0}
LIMIT_10K_RSS_MIB, LIMIT_SCALING = 2048.0, 11.0
LIMIT_100K_S, LIMIT_100K_RSS_MIB = 180.0, 4096.0
#: Sizes run as `outsim run` runs them, writing the folder while the run goes (wall s includes the writing).
STREAMED = ("100k",)


def measure_child(size: str, weeks: int, seed: int) -> dict[str, Any]:
    """Time one outsim run and the writing of its run folder, bracketed by two Boltzmann reference runs, all
    in this process.

    Args:
        size: a key of :data:`SIZES`.
        weeks: weeks to simulate.
        seed: run seed.

    Returns:
        Timings, throughput, peak RSS of this process (MiB) and the outsim/Boltzmann ratio.
    """
    sys.path.insert(0, str(ROOT))
    from boltzmann import time_boltzmann
    from simulation import load_scenario, run, save_run
    from simulation.api import run_to_folder

    source = source_fingerprint(read_sources())
    cfg = load_scenario(SCENARIO, {"run.scale": SIZES[size]})
    for panel in (0, 3):  # compile (or load from numba's cache) the kernels for both broker paths, untimed
        run(load_scenario(SCENARIO, {"firms.count": 60, "run.warmup_weeks": 0, "intermediaries.panel_size": panel}),
            seed=seed, steps=3)
    before = time_boltzmann(seed=seed)
    with tempfile.TemporaryDirectory(prefix="outsim-bench-") as tmp:
        if size in STREAMED:  # as `outsim run` does: tables streamed to the run folder while the run goes
            t0 = time.perf_counter()
            result = run_to_folder(cfg, Path(tmp) / "run", seed=seed, steps=weeks)
            wall, write = time.perf_counter() - t0, 0.0
            folder = result.folder
        else:  # in memory, then the folder written at the end
            t0 = time.perf_counter()
            result = run(cfg, seed=seed, steps=weeks)
            wall = time.perf_counter() - t0
            t1 = time.perf_counter()
            folder = save_run(result, Path(tmp) / "run")
            write = time.perf_counter() - t1
        assert len(result.metrics) == weeks, "outsim did not run every week"
        written_mib = sum(f.stat().st_size for f in folder.iterdir()) / 2**20
    timings = result.timings
    firms, bpo, kpo = cfg.firms.count, cfg.providers.bpo_count, cfg.providers.kpo_count
    from simulation.config import scaled
    counts = [scaled(c, cfg.run.scale) for c in (firms, bpo, kpo, cfg.intermediaries.count)]
    del result  # the reference should not pay for traversing outsim's tables in the garbage collector
    gc.collect()
    after = time_boltzmann(seed=seed)
    fw_per_s = counts[0] * weeks / wall
    # Pooled reference speed: total agent-steps over total seconds of both bracketing runs.
    boltz = (before.agents * before.steps + after.agents * after.steps) / (before.seconds + after.seconds)
    return {"size": size, "scale": SIZES[size], "firms": counts[0], "bpo": counts[1], "kpo": counts[2],
            "brokers": counts[3], "weeks": weeks, "seed": seed, "source": source, "wall_s": wall,
            "write_s": write, "written_mib": written_mib, "timings": timings,
            "firm_weeks_per_s": fw_per_s, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            "boltzmann_before": before.as_dict(), "boltzmann_after": after.as_dict(),
            "boltzmann_agent_steps_per_s": boltz, "ratio": fw_per_s / boltz}


def spawn(size: str, weeks: int, seed: int) -> dict[str, Any]:
    """Run :func:`measure_child` (same arguments) in a fresh interpreter and return its report.

    Returns:
        The child's report, plus the parent's view of peak child RSS (``RUSAGE_CHILDREN``, MiB).
    """
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", size, "--weeks", str(weeks), "--seed", str(seed)]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if proc.returncode != 0:
        sys.stderr.write(proc.stdout + proc.stderr)
        raise SystemExit(f"benchmark child for {size} failed with exit code {proc.returncode}")
    report = json.loads(proc.stdout.strip().splitlines()[-1])
    report["rusage_children_max_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return report


def growth(r: dict[str, dict[str, Any]], small: str, large: str, writing: bool = False) -> tuple[float, float]:
    """How many times longer size ``large`` took than ``small`` (run wall, plus the writing if ``writing``):
    raw, and noise-corrected, each wall time multiplied by the Boltzmann speed measured in its own child
    (machine load that slows both alike cancels out)."""
    wall = {size: r[size]["wall_s"] + (r[size]["write_s"] if writing else 0.0) for size in (small, large)}
    speed = {size: r[size]["boltzmann_agent_steps_per_s"] for size in (small, large)}
    return wall[large] / wall[small], wall[large] * speed[large] / (wall[small] * speed[small])


def check_targets(r: dict[str, dict[str, Any]], weeks: int) -> list[dict[str, Any]]:
    """Compare child reports ``r`` (keyed by size) with the targets; the 100k time limit scales with weeks/520.

    Returns:
        One row per target: name, measured value, limit and whether it passed.
    """
    rows = [(f"{size} ratio fw/s / as/s", r[size]["ratio"], MIN_RATIO[size], ">=") for size in MIN_RATIO]
    rows += [("10k peak RSS MiB", r["10k"]["peak_rss_mib"], LIMIT_10K_RSS_MIB, "<"),
             ("wall 10k/1k, corrected", growth(r, "1k", "10k")[1], LIMIT_SCALING, "<=")]
    if "100k" in r:
        rows += [("100k run+write s", r["100k"]["wall_s"] + r["100k"]["write_s"], LIMIT_100K_S * weeks / FULL_WEEKS,
                  "<="),
                 ("100k peak RSS MiB", r["100k"]["peak_rss_mib"], LIMIT_100K_RSS_MIB, "<="),
                 ("wall 100k/10k, corrected", growth(r, "10k", "100k", writing=True)[1], LIMIT_SCALING, "<=")]
    passes = {"<": lambda v, lim: v < lim, "<=": lambda v, lim: v <= lim, ">=": lambda v, lim: v >= lim}
    return [{"target": name, "value": v, "op": op, "limit": lim, "pass": passes[op](v, lim)} for name, v, lim, op in rows]


def print_report(r: dict[str, dict[str, Any]], targets: list[dict[str, Any]], weeks: int) -> None:
    """Print the plain-text tables: throughput, reference ratios and target checks."""
    print(f"\noutsim benchmark: baseline, {weeks} weeks (+ warm-up), seed {r['1k']['seed']}, {date.today()}, "
          f"Python {platform.python_version()}, {os.cpu_count()} CPUs, source {r['1k']['source']}")
    if len({c["source"] for c in r.values()}) > 1:
        print("WARNING: simulation/ changed between the children; sizes measured different code")
    print(f"{'size':<5} {'firms':>7} {'BPO':>6} {'KPO':>5} {'brk':>4} {'wall s':>7} {'setup':>6} {'run':>7} "
          f"{'collect':>7} {'write s':>7} {'MiB out':>7} {'firm-weeks/s':>13} {'peak RSS MiB':>12}")
    for c in r.values():
        t = c["timings"]
        print(f"{c['size']:<5} {c['firms']:>7} {c['bpo']:>6} {c['kpo']:>5} {c['brokers']:>4} {c['wall_s']:>7.2f} "
              f"{t['setup']:>6.2f} {t['run']:>7.2f} {t['collect']:>7.2f} {c['write_s']:>7.2f} {c['written_mib']:>7.0f} "
              f"{c['firm_weeks_per_s']:>13,.0f} {c['peak_rss_mib']:>12.0f}")
    first = next(iter(r.values()))
    print("\nSame-process reference (plain Mesa Boltzmann wealth, "
          f"{first['boltzmann_before']['agents']} agents x {first['boltzmann_before']['steps']} steps):")
    print(f"{'size':<5} {'Boltzmann agent-steps/s':>24} {'(before / after)':>22} {'ratio fw/s / as/s':>18} "
          f"{'agent-steps per firm-week':>26}")
    for c in r.values():
        b, a = c["boltzmann_before"]["agent_steps_per_s"], c["boltzmann_after"]["agent_steps_per_s"]
        print(f"{c['size']:<5} {c['boltzmann_agent_steps_per_s']:>24,.0f} {f'{b:,.0f} / {a:,.0f}':>22} "
              f"{c['ratio']:>18.4f} {1 / c['ratio']:>26.1f}")
    print()
    for small, large, writing in (("1k", "10k", False), ("10k", "100k", True)):
        if large in r:
            raw, corrected = growth(r, small, large, writing)
            print(f"Wall ratio {large}/{small}{' (run and writing)' if writing else ''}: {raw:.2f} raw, "
                  f"{corrected:.2f} noise-corrected (wall x Boltzmann speed of the same child)")
    scaled = "" if weeks == FULL_WEEKS else f" (the 100k time limit scaled to {weeks}/{FULL_WEEKS} weeks)"
    print(f"\nTargets{scaled}:")
    for t in targets:
        print(f"  {'PASS' if t['pass'] else 'FAIL'}  {t['target']:<26} {t['value']:>9.3f} {t['op']:>2} {t['limit']:<6g}")
    print("  (memory limits read as binary units: 2 GiB = 2048 MiB, 4 GB taken as 4 GiB = 4096 MiB)")


def _where(frame_info: str) -> tuple[str, str, int, int | None]:
    """Split a pyinstrument frame record into (function, short path, def line, current line)."""
    from pyinstrument.frame_info import parse_frame_info

    ident, attrs = parse_frame_info(frame_info)
    fn, path, first = (ident.split("\x00") + ["", "0"])[:3]
    cls = next((a[1:] for a in attrs if a[0] == "c"), None)
    line = next((int(a[1:]) for a in attrs if a[0] == "l"), None)
    short = path.split("site-packages/")[-1] if "site-packages/" in path else path.replace(f"{ROOT}/", "")
    return (f"{cls}.{fn}" if cls else fn), short, int(first or 0), line


def profile(weeks: int, seed: int, size: str = "1k", top: int = 15) -> None:
    """Run the baseline at ``size`` under pyinstrument; write profile.html/.txt and print the hot spots.

    Tables from the raw samples (each counted once): self time by innermost function (C functions
    included), time by innermost outsim source line (calls made from it included), inclusive time.

    Args:
        weeks: weeks to simulate.
        seed: run seed.
        size: a key of :data:`SIZES`.
        top: rows per table.
    """
    from pyinstrument import Profiler

    sys.path.insert(0, str(ROOT))
    from simulation import load_scenario, run

    sources = read_sources()  # line texts as imported, not as edited while the profile ran
    cfg = load_scenario(SCENARIO, {"run.scale": SIZES[size]})
    profiler = Profiler(interval=0.001 if size == "1k" else 0.005)
    profiler.start()
    run(cfg, seed=seed, steps=weeks)
    profiler.stop()
    RESULTS.mkdir(parents=True, exist_ok=True)
    profiler.write_html(RESULTS / "profile.html")
    text = profiler.output_text(unicode=False, color=False)
    print("\n".join(text.splitlines()[:70]))
    tables: dict[str, dict[tuple, float]] = {k: defaultdict(float) for k in ("self", "line", "incl")}
    for stack, dt in profiler.last_session.frame_records:
        frames = [_where(f) for f in stack]
        tables["self"][frames[-1][:3]] += dt
        ours = [f for f in frames if f[1].startswith("simulation/")]
        if ours:
            tables["line"][ours[-1][:2] + ours[-1][3:]] += dt
        for key in {f[:3] for f in ours}:  # a set: recursive calls count once
            tables["incl"][key] += dt
    total = sum(dt for _, dt in profiler.last_session.frame_records)
    titles = {"self": "Self time by function (innermost frame; file:line = def line)",
              "line": "Time by innermost outsim source line (calls made from that line included)",
              "incl": "Inclusive time of outsim functions (file:line = def line)"}
    cpu = profiler.last_session.cpu_time
    out = [f"\nsource {source_fingerprint(sources)}; {total:.2f} s sampled (wall), {cpu:.2f} s CPU"]
    if read_sources() != sources:
        out.append("WARNING: simulation/ was edited during the profile; line texts are from the start")
    for name, title in titles.items():
        out.append(f"\n{title}, top {top}:")
        for (fn, path, line), v in sorted(tables[name].items(), key=lambda kv: -kv[1])[:top]:
            src = sources.get(path, "").splitlines()
            code = src[line - 1].strip()[:60] if name == "line" and 0 < (line or 0) <= len(src) else ""
            out.append(f"  {100 * v / total:5.1f}%  {v:6.2f} s  {fn:<36} {f'{path}:{line}':<34} {code}".rstrip())
    print("\n".join(out))
    (RESULTS / "profile.txt").write_text(text + "\n".join(out) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS / 'profile.html'} and {RESULTS / 'profile.txt'}")


def read_sources() -> dict[str, str]:
    """Snapshot every simulation/**/*.py, by path from the repository root (call right after importing it: others
    may be editing the tree). The model's subpackages count too: a change there must change the fingerprint."""
    return {f.relative_to(ROOT).as_posix(): f.read_text(encoding="utf-8")
            for f in sorted((ROOT / "simulation").rglob("*.py"))}


def source_fingerprint(sources: dict[str, str]) -> str:
    """Git revision plus a short hash of a :func:`read_sources` snapshot (the tree may be dirty)."""
    digest = hashlib.sha256("".join(k + v for k, v in sorted(sources.items())).encode())
    rev = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True)
    return f"{rev.stdout.strip() or 'unknown'}+src:{digest.hexdigest()[:12]}"


def main(argv: list[str] | None = None) -> int:
    """Parse options and run the benchmark, the profile, or (internally) one child measurement."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help=f"simulate {QUICK_WEEKS} weeks instead of {FULL_WEEKS}")
    ap.add_argument("--large", action="store_true", help="also run 100k firms (scale 100), about 5 more minutes")
    ap.add_argument("--profile", action="store_true", help="profile one size with pyinstrument (default 1k)")
    ap.add_argument("--size", choices=sorted(SIZES), default="1k", help="the size --profile profiles")
    ap.add_argument("--seed", type=int, default=SEED, help="run seed (default %(default)s)")
    ap.add_argument("--weeks", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--child", choices=sorted(SIZES), default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    weeks = args.weeks or (QUICK_WEEKS if args.quick else FULL_WEEKS)
    if args.child:
        print(json.dumps(measure_child(args.child, weeks, args.seed)))
        return 0
    if args.profile:
        profile(weeks, args.seed, args.size)
        return 0
    reports = {}
    for size in DEFAULT_SIZES + (("100k",) if args.large else ()):
        print(f"running {size} ({weeks} weeks) in a fresh process ...", flush=True)
        reports[size] = spawn(size, weeks, args.seed)
    targets = check_targets(reports, weeks)
    print_report(reports, targets, weeks)
    RESULTS.mkdir(parents=True, exist_ok=True)
    raw, corrected = growth(reports, "1k", "10k")
    out = {"date": date.today().isoformat(), "weeks": weeks, "seed": args.seed, "quick": weeks != FULL_WEEKS,
           "python": platform.python_version(), "cpus": os.cpu_count(), "sizes": reports, "targets": targets,
           "wall_ratio_10k_1k": raw, "wall_ratio_10k_1k_noise_corrected": corrected}
    (RESULTS / "latest.json").write_text(json.dumps(out, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {RESULTS / 'latest.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
