"""Milliseconds per week in each phase of the week and each compiled kernel, after the warm-up (issue 13).

The baseline market at ``--scale`` runs its warm-up and one week untimed, then ``--weeks`` weeks with a timer
around each phase function and each kernel the week calls (wrapped by name in the modules that call them;
the nested ones are counted inside their callers too, so the column does not add up to the week). Run it at
two sizes and compare the columns to find what grows faster than the market: at 10x the firms, a linear
phase takes about 10x the time. The timers cost a few microseconds a call, so trust the large entries.

The second line adds up the kernels' time: what the week would cost if all its Python and numpy glue were gone,
a floor for any optimisation that keeps the kernels as they are.

A 100k market takes about a minute to build and warm up. ``--save PATH`` keeps it (a pickle, about 0.5 GB)
after the warm-up, and ``--market PATH`` starts from such a file instead: the same market for every try of
an optimisation in the same checkout (a pickle is only read back by the code that wrote it).

Usage (from the repository root)::

    python benchmarks/phases.py --scale 10 --weeks 40
    python benchmarks/phases.py --scale 100 --weeks 8 --save /tmp/m100.pkl
    python benchmarks/phases.py --market /tmp/m100.pkl --weeks 8
"""

from __future__ import annotations

import argparse
import collections
import functools
import pickle
import sys
import time
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from simulation import load_scenario  # noqa: E402 (after the path)
from simulation.model import OutsourcingModel, kernels, metrics  # noqa: E402
from simulation.model.market import fulfilment, outcomes, routing, shortlists  # noqa: E402
from simulation.model.sourcing import options, review  # noqa: E402
from simulation.model.state import spells  # noqa: E402

#: (module or class, names) timed: the week's phases, then the pieces inside them. Every kernel is timed too.
PHASES: list[tuple[ModuleType | type, tuple[str, ...]]] = [
    (fulfilment, ("fulfil", "serve_on_call", "onboarding_beyond_shortage", "_settle", "deliver_contracts")),
    (outcomes, ("realise_outcomes", "_work_done", "_totals", "_record_spells", "slot_costs")),
    (review, ("review", "_apply")),
    (options, ("price_options", "_broker_mixes")),
    (routing, ("route", "_pick_rows")),
    (shortlists, ("rank_shortlist",)),
    (metrics, ("week_flows",)),
    (OutsourcingModel, ("review_sourcing", "update_providers", "refresh_shortlists", "realise_demand", "_exit",
                        "_enter", "drift_capabilities", "refresh_prices")),
    (spells.SpellTracker, ("record_on_call", "record")),
]


def _timed(owner: ModuleType | type, name: str, totals: dict[str, float]) -> None:
    """Wrap ``owner.name`` so each call adds its seconds to ``totals``, also where a module of outsim imported it
    by name (not in the kernel modules: a compiled kernel must keep calling the compiled one)."""
    inner = getattr(owner, name)
    label = f"{owner.__name__.rsplit('.', 1)[-1]}.{name}"

    @functools.wraps(inner)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return inner(*args, **kwargs)
        finally:
            totals[label] += time.perf_counter() - start

    setattr(owner, name, wrapper)
    if isinstance(owner, ModuleType):
        for module in list(sys.modules.values()):
            where = getattr(module, "__name__", "")
            if (module is not owner and where.startswith("simulation.") and not where.startswith(kernels.__name__)
                    and getattr(module, name, None) is inner):
                setattr(module, name, wrapper)


def instrument(totals: dict[str, float]) -> None:
    """Put timers around the phases, their pieces and every kernel, where outsim's modules call them."""
    for owner, names in PHASES:
        for name in names:
            _timed(owner, name, totals)
    for name in kernels.__all__:
        _timed(kernels, name, totals)


def market(args: argparse.Namespace) -> OutsourcingModel:
    """The market to time: read from ``--market``, or built at ``--scale`` (and saved to ``--save``)."""
    if args.market is not None:
        with open(args.market, "rb") as f:
            return pickle.load(f)  # noqa: S301 (a file this script wrote)
    cfg = load_scenario(ROOT / "scenarios" / "baseline.toml", {"run.scale": args.scale})
    m = OutsourcingModel(cfg, seed=args.seed)
    m.step()
    if args.save is not None:
        with open(args.save, "wb") as f:
            pickle.dump(m, f, protocol=5)
    return m


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scale", type=float, default=10.0, help="run.scale of the baseline market (default 10)")
    ap.add_argument("--weeks", type=int, default=20, help="timed weeks (default 20)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--save", type=Path, help="keep the warmed-up market in this file")
    ap.add_argument("--market", type=Path, help="start from a market saved with --save (then --scale is not used)")
    args = ap.parse_args(argv)
    if args.market is not None and not args.market.is_file():
        ap.error(f"--market: {args.market}: no such file (write one with --save)")
    m = market(args)
    totals: dict[str, float] = collections.defaultdict(float)
    instrument(totals)
    m.step()  # the first week after loading compiles or loads the kernels
    totals.clear()
    start = time.perf_counter()
    for _ in range(args.weeks):
        m.step()
    week = (time.perf_counter() - start) / args.weeks * 1000
    print(f"{len(m.firm_agents):,} firms, {m.providers.n:,} provider rows, {len(m.brokers)} brokers: "
          f"{week:.1f} ms per week over {args.weeks} weeks")
    compiled = sum(seconds for label, seconds in totals.items() if label.startswith("kernels.")) / args.weeks * 1000
    print(f"compiled kernels: {compiled:.1f} ms of the week ({compiled / week:.0%}); the rest is Python and numpy")
    for label, seconds in sorted(totals.items(), key=lambda kv: -kv[1]):
        print(f"{seconds / args.weeks * 1000:9.2f}  {label}")


if __name__ == "__main__":
    main()
