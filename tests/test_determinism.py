"""Determinism: the same scenario and seed give byte-identical run folders; another seed differs."""

from __future__ import annotations

import json

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
