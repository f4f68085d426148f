"""Sweeps on a real Dask cluster: a `dask scheduler` and `dask worker` processes started here on 127.0.0.1.

Checks that results are the same bytes with 1 and 2 local workers and on the cluster, that a worker
killed mid-sweep does not stop the sweep, and that a failing run stays isolated. Every subprocess is
stopped in a fixture finaliser, even when a test fails, and every wait has a timeout.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import BASELINE, ROOT

from simulation.executor import derive_seeds
from simulation.sweeps import load_results, load_sweep, plan_runs, run_sweep
from simulation.sweeps.runner import FAIL_ENV

DASK = str(Path(sys.executable).with_name("dask"))
FAIL_BASE = 99  # the failure test's seed base; the cluster's workers fail its second seed
FAIL_SEED = derive_seeds(FAIL_BASE, 2)[1]


def wait_for_port(port: int, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"dask scheduler exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"no scheduler on port {port} after {timeout} s")


def wait_for_workers(address: str, n: int, timeout: float = 60.0) -> None:
    from dask.distributed import Client

    with Client(address, timeout="20s") as client:
        client.wait_for_workers(n, timeout=timeout)


def stop(procs: list[subprocess.Popen], grace: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace`` seconds; one by one, in the order given."""
    for p in procs:
        if p.poll() is None:
            p.terminate()
        try:
            p.wait(timeout=grace)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(timeout=grace)


class Cluster:
    """A scheduler plus workers (no nanny: each worker is one process, so SIGKILL really kills it)."""

    def __init__(self, port: int, workers: int, env: dict[str, str] | None = None) -> None:
        self.port = port
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.env = {**os.environ, **(env or {})}
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.procs.append(self._spawn([DASK, "scheduler", "--host", "127.0.0.1", "--port", str(self.port),
                                       "--no-dashboard", "--dashboard-address", "127.0.0.1:0"]))
        wait_for_port(self.port, self.procs[0])
        for _ in range(workers):
            w = self._spawn([DASK, "worker", self.address, "--nthreads", "1", "--nworkers", "1", "--no-nanny",
                             "--no-dashboard", "--host", "127.0.0.1"])
            self.workers.append(w)
            self.procs.append(w)
        wait_for_workers(self.address, workers)

    def _spawn(self, cmd: list[str]) -> subprocess.Popen:
        return subprocess.Popen(cmd, cwd=ROOT, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def close(self) -> None:
        stop([*self.workers, self.procs[0]])  # workers first: they try to say goodbye to the scheduler


@pytest.fixture(scope="module")
def cluster(free_port):
    """Two workers; both fail runs with seed FAIL_SEED (the test hook), which only the failure test uses."""
    c = Cluster(free_port(), 2, {FAIL_ENV: str(FAIL_SEED)})
    try:
        yield c
    finally:
        c.close()


def tiny_sweep(folder: Path, seeds_base: int = 3, steps: int = 30, firms: int = 40, values: int = 3,
               seeds: int = 2) -> Path:
    path = folder / f"s{seeds_base}.toml"
    vols = ", ".join(f"{0.1 * (i + 1):.1f}" for i in range(values))
    path.write_text(f"""
base = "{BASELINE}"
steps = {steps}
[set]
firms.count = {firms}
providers.bpo_count = {max(5, firms // 10)}
providers.kpo_count = {max(3, firms // 25)}
run.record_decisions = false
[parameters]
"firms.demand_volatility" = [{vols}]
"contracts.learning_multiplier" = [0.5, 2.0]
[seeds]
count = {seeds}
base = {seeds_base}
[outputs]
final = ["permanent_share", "loyalty_mean"]
final_window = 10
every = 10
""", encoding="utf-8")
    return path


def file_bytes(folder: Path) -> dict[str, bytes]:
    return {f"{p.parent.name}/{p.name}": p.read_bytes() for d in ("runs", "series") for p in (folder / d).glob("*.parquet")}


def test_results_are_the_same_bytes_on_one_or_two_local_workers_and_on_the_cluster(tmp_path, cluster):
    """The 24 run files (final rows and series) are byte-identical whoever computes them."""
    plan = plan_runs(load_sweep(tiny_sweep(tmp_path)))
    quiet = {"progress": False, "log": lambda s: None}
    one = run_sweep(plan, tmp_path / "w1", workers=1, **quiet)
    two = run_sweep(plan, tmp_path / "w2", workers=2, **quiet)
    far = run_sweep(plan, tmp_path / "cluster", scheduler=cluster.address, **quiet)
    assert one.computed == two.computed == far.computed == 12 and not (one.failed or two.failed or far.failed)
    assert far.workers == 2
    a, b, c = (file_bytes(tmp_path / d) for d in ("w1", "w2", "cluster"))
    assert len(a) == 24 and a == b == c
    assert load_results(tmp_path / "w1").equals(load_results(tmp_path / "cluster"))


def test_a_failing_run_on_the_cluster_is_isolated_and_the_exit_code_is_1(tmp_path, cluster):
    """Runs with the seed the workers are told to fail are recorded failed with a traceback; the rest finish."""
    f = tiny_sweep(tmp_path, seeds_base=FAIL_BASE)
    proc = subprocess.run([sys.executable, "-m", "simulation.sweeps.cli", str(f), "--scheduler", cluster.address,
                           "--out", str(tmp_path / "out")], cwd=ROOT, capture_output=True, text=True, timeout=300,
                          check=False)
    assert proc.returncode == 1, proc.stderr
    assert "6 run(s) failed" in proc.stderr and proc.stderr.count(f"seed {FAIL_SEED}) failed: RuntimeError") == 6
    df = load_results(tmp_path / "out")
    assert len(df) == 6 and set(df["seed"]) == {derive_seeds(FAIL_BASE, 2)[0]}


def test_a_worker_killed_mid_sweep_does_not_stop_the_sweep(tmp_path, free_port):
    """SIGKILL one of two workers after the first results arrive: every run still finishes, each stored once."""
    c = Cluster(free_port(), 2)
    try:
        f = tiny_sweep(tmp_path, seeds_base=7, steps=120, firms=150, values=4, seeds=3)
        out = tmp_path / "out"
        proc = subprocess.Popen([sys.executable, "-m", "simulation.sweeps.cli", str(f), "--scheduler", c.address,
                                 "--out", str(out)], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while not list((out / "runs").glob("*.parquet")) and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.05)
            assert proc.poll() is None, "the sweep ended before a worker could be killed"
            c.workers[0].send_signal(signal.SIGKILL)
            _, err = proc.communicate(timeout=300)
        finally:
            if proc.poll() is None:
                proc.kill()
        assert c.workers[0].wait(timeout=10) == -signal.SIGKILL
        assert proc.returncode == 0, err
        assert len(load_results(out)) == 24 and len(list((out / "runs").glob("*.parquet"))) == 24
    finally:
        c.close()
