"""Determinism: the same scenario and seed give byte-identical run folders; another seed differs."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

from simulation import load_scenario, run, save_run
from simulation.runfolder import DATA_FILES

from conftest import BASELINE, market_size


def _folder(tmp_path, name, seed):
    cfg = load_scenario(BASELINE, market_size(150))
    return save_run(run(cfg, seed=seed, steps=80), tmp_path / name)


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path):
    """Two runs with seed 7 write identical Parquet bytes and manifests (timings aside); seed 8 writes other bytes."""
    a, b, c = _folder(tmp_path, "a", 7), _folder(tmp_path, "b", 7), _folder(tmp_path, "c", 8)
    for name in DATA_FILES:
        assert (a / f"{name}.parquet").read_bytes() == (b / f"{name}.parquet").read_bytes(), name
    assert (a / "metrics.parquet").read_bytes() != (c / "metrics.parquet").read_bytes()
    assert (a / "contracts.parquet").read_bytes() != (c / "contracts.parquet").read_bytes()
    ma, mb = (json.loads((x / "manifest.json").read_text()) for x in (a, b))
    for m in (ma, mb):
        m.pop("timings_seconds")
        m.pop("created_utc")
    assert ma == mb
    assert ma["seed"] == 7 and ma["config"]["run"]["scale"] == 0.15



# Two machines in one: this CPU as it is (numpy's AVX-512 code, OpenBLAS's AVX-512 kernels, numba compiling for
# it), and as a CPU with AVX2 but no AVX-512 (an AMD before Zen 4, most laptops). numpy computes exp and power
# with other code there, OpenBLAS sums a dot product in another order and numba emits other instructions; a run
# must give the same bytes on both.
CPUS = {"AVX-512": {"OPENBLAS_CORETYPE": "SkylakeX"},
        "AVX2 only": {"OPENBLAS_CORETYPE": "Haswell", "NPY_DISABLE_CPU_FEATURES": "X86_V4 AVX512_ICL AVX512_SPR",
                      "NUMBA_CPU_NAME": "haswell"}}
HASH_RUN = """
import hashlib, sys, tempfile
from pathlib import Path
from simulation import load_scenario, run, save_run
from simulation.runfolder import DATA_FILES
out = save_run(run(load_scenario(sys.argv[1], {"run.scale": 0.15}), seed=7, steps=60), Path(tempfile.mkdtemp()) / "r")
for name in DATA_FILES:
    print(name, hashlib.sha256((out / f"{name}.parquet").read_bytes()).hexdigest())
"""


def _cpu_has(*flags: str) -> bool:
    try:
        cpu = Path("/proc/cpuinfo").read_text().replace("\n", " ")
    except OSError:
        return False
    return all(f" {flag} " in cpu for flag in flags)


@pytest.mark.skipif(platform.machine() != "x86_64" or not _cpu_has("avx2", "fma", "avx512f"),
                    reason="plays a CPU with AVX-512 and one without: needs one with")
def test_bytes_do_not_depend_on_the_cpu(tmp_path):
    """Run folders are the same on a CPU with AVX-512 and on one with AVX2 only: exp and power are the C library's
    (kernels.elementary), not numpy's CPU-dependent ones, no result goes through BLAS, and the kernels do the
    same operations whatever instructions numba picks (compiled afresh for each, in a cache of their own)."""
    outs = [subprocess.run([sys.executable, "-c", HASH_RUN, str(BASELINE)], capture_output=True, text=True, check=True,
                           env={**os.environ, **cpu, "NUMBA_CACHE_DIR": str(tmp_path / name)}).stdout
            for name, cpu in CPUS.items()]
    assert len(outs[0].splitlines()) == len(DATA_FILES)
    assert outs[0] == outs[1]
