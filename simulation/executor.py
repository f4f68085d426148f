"""Run many seeded runs in parallel on Dask distributed: the one executor layer for replications,
comparisons and sweeps, on a laptop (a LocalCluster of single-threaded processes) or on a cluster.

Each task runs one config with one seed and writes its own run folder (atomic writes), so only a small
status record travels back to the client. A task that raises is recorded as failed with its traceback
and the others go on.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simulation.api import run_to_folder
from simulation.config import Config


class ExecutorError(RuntimeError):
    """The parallel engine could not be started or reached."""


def derive_seeds(base_seed: int, n: int) -> list[int]:
    """``n`` independent run seeds derived from one base seed (numpy SeedSequence spawning)."""
    children = np.random.SeedSequence(base_seed).spawn(n)
    return [int(child.generate_state(1, dtype=np.uint32)[0]) for child in children]


@dataclass(frozen=True)
class Task:
    """One run to do: a resolved config (as JSON-able data), a seed and where to write it."""

    config: dict
    seed: int
    out_dir: str
    label: str = ""


@dataclass(frozen=True)
class Outcome:
    """What came back from a task."""

    task: Task
    ok: bool
    seconds: float
    error: str = ""


def run_task(task: Task) -> Outcome:
    """Run one task in whatever process it lands on; never raises (failures come back as data)."""
    t0 = time.perf_counter()
    try:
        cfg = Config.model_validate(task.config)
        run_to_folder(cfg, task.out_dir, seed=task.seed)  # relationships and decisions written while it runs
        return Outcome(task, True, time.perf_counter() - t0)
    except Exception as exc:  # noqa: BLE001 - a failed run is recorded with its traceback, the batch goes on
        raise_if_interrupted(exc)
        return Outcome(task, False, time.perf_counter() - t0, traceback.format_exc())


def raise_if_interrupted(exc: BaseException) -> None:
    """Raise KeyboardInterrupt if ``exc`` comes from one (anywhere in its chain of causes and contexts).

    Python runs its Ctrl-C handler between bytecodes. When that is inside a compiled kernel's call back into
    Python (numba's ``_numba_unpickle``), the KeyboardInterrupt reaches the caller as a SystemError ("returned a
    result with an exception set") caused by it. Code that records a run's failures and goes on calls this
    first, so that the user's Ctrl-C stops the work instead of being recorded as a failed run.
    """
    seen: set[int] = set()
    link: BaseException | None = exc
    while link is not None and id(link) not in seen:
        if isinstance(link, KeyboardInterrupt):
            raise KeyboardInterrupt from exc
        seen.add(id(link))
        link = link.__cause__ or link.__context__


def default_workers() -> int:
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1)


class Executor:
    """Maps tasks over Dask workers: ``with Executor(workers=2) as ex: ex.map(tasks, on_done)``.

    Args:
        workers: local worker processes (default: all cores); 0 runs tasks in this process, one by one.
        scheduler: address of an existing Dask scheduler (``tcp://host:8786``); default from the
            DASK_SCHEDULER_ADDRESS environment variable, else a LocalCluster is started.
        dashboard: serve a local cluster's Dask dashboard (on port 8787, or a free one; it needs bokeh).
            Off by default: the scheduler's web server then takes a free port on 127.0.0.1, so it never
            clashes with (or warns about) another cluster's 8787.
    """

    def __init__(self, workers: int | None = None, scheduler: str | None = None, dashboard: bool = False) -> None:
        self.workers = default_workers() if workers is None else workers
        self.scheduler = scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS")
        self.dashboard = dashboard
        self._cluster = None
        self._client = None

    def __enter__(self) -> "Executor":
        if self.workers == 0 and not self.scheduler:
            return self
        from dask.distributed import Client, LocalCluster  # imported lazily: single runs never pay for it

        main = threading.current_thread() is threading.main_thread()
        # Worker processes inherit "ignore SIGINT": a Ctrl-C reaches only this process, which shuts them down.
        old = signal.signal(signal.SIGINT, signal.SIG_IGN) if main else None
        try:
            if self.scheduler:
                self._client = Client(self.scheduler, timeout="20s")
            else:
                web = {"dashboard_address": ":8787"} if self.dashboard else {  # no dashboard, web server on any port
                    "dashboard_address": None, "scheduler_kwargs": {"dashboard_address": "127.0.0.1:0"}}
                with _local_worker_environment():
                    # Workers log nothing below CRITICAL: a task's failure comes back as its Outcome with the
                    # traceback, a lost worker through on_lost, and a Ctrl-C must not print their heartbeat errors.
                    self._cluster = LocalCluster(n_workers=self.workers, threads_per_worker=1, processes=True,
                                                 silence_logs=logging.CRITICAL, **web)
                self._client = Client(self._cluster)
        except (OSError, RuntimeError, TimeoutError) as exc:
            self.__exit__()
            where = self.scheduler or f"a local cluster of {self.workers} workers"
            raise ExecutorError(f"could not start Dask on {where}: {exc}") from None
        finally:
            if main:
                signal.signal(signal.SIGINT, old)
        return self

    @property
    def client(self):
        """The Dask client, or None when tasks run in this process (workers=0)."""
        return self._client

    def __exit__(self, *exc: object) -> None:
        if self._client is not None:
            self._client.close()
        if self._cluster is not None:
            self._cluster.close()

    def map(self, tasks: Iterable[Any], on_done: Callable[[Any], None] | None = None,
            function: Callable[[Any], Any] | None = None, on_lost: Callable[[Any, str], Any] | None = None) -> list[Any]:
        """Run every task; returns the results in task order, calling ``on_done`` as each finishes.

        Args:
            function: what a worker does with one task (default :func:`run_task`); it must not raise,
                but report a failure as its result.
            on_lost: the result of a task whose worker died (given the task and the traceback); by
                default a failed :class:`Outcome`.
        """
        function = function or run_task
        on_lost = on_lost or (lambda task, error: Outcome(task, False, 0.0, error))
        tasks = list(tasks)
        results: dict[int, Any] = {}
        if self._client is None:
            for i, task in enumerate(tasks):
                results[i] = function(task)
                if on_done:
                    on_done(results[i])
        else:
            from dask.distributed import as_completed

            futures = self._client.map(function, tasks, pure=False)
            index = {f.key: i for i, f in enumerate(futures)}
            for future in as_completed(futures):
                i = index[future.key]
                try:
                    results[i] = future.result()
                except Exception:  # noqa: BLE001 - e.g. a worker died: the task is reported as failed
                    results[i] = on_lost(tasks[i], traceback.format_exc())
                if on_done:
                    on_done(results[i])
        return [results[i] for i in range(len(tasks))]


@contextmanager
def interruptible(workers: int | None = None, scheduler: str | None = None, dashboard: bool = False) -> Iterator[Executor]:
    """An Executor for work the user may stop with Ctrl-C.

    Workers ignore SIGINT, so a Ctrl-C reaches only this process as KeyboardInterrupt; it propagates
    after the executor has shut down (in-flight work is dropped with the cluster), and a second Ctrl-C
    during that shutdown is ignored so it cannot leave worker processes behind.
    """
    ex = Executor(workers=workers, scheduler=scheduler, dashboard=dashboard).__enter__()
    main = threading.current_thread() is threading.main_thread()
    old = signal.getsignal(signal.SIGINT)
    try:
        yield ex
    except KeyboardInterrupt:
        if main:
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        logging.getLogger("distributed").setLevel(logging.CRITICAL)
        raise
    finally:
        try:
            ex.__exit__(None, None, None)
        finally:
            if main:
                signal.signal(signal.SIGINT, old)


def _local_worker_environment():
    """Dask config for the local workers we start: no MALLOC_TRIM_THRESHOLD_.

    Dask sets it (64 KiB) to hand freed memory back to the system sooner; for model runs that
    allocate and free large numpy arrays every week it made each run 10-20% slower than in a
    plain process (benchmarks/bench_sweep.py). The thread limits Dask also sets are kept.
    """
    import dask
    import distributed  # noqa: F401 - loads the distributed.* config defaults

    environ = {k: v for k, v in dask.config.get("distributed.nanny.pre-spawn-environ", {}).items()
               if k != "MALLOC_TRIM_THRESHOLD_"}
    return dask.config.set({"distributed.nanny.pre-spawn-environ": environ})


def replication_tasks(cfg: Config, seeds: list[int], folder: Path, label: str = "") -> list[Task]:
    """One task per seed, writing ``folder/rep-000``, ``rep-001``, ..."""
    data = cfg.model_dump(mode="json")
    return [Task(data, seed, str(folder / f"rep-{i:03d}"), label) for i, seed in enumerate(seeds)]
