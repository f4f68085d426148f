"""Shared fixtures: small configs that run in well under a second."""

from __future__ import annotations

from pathlib import Path

import pytest

from simulation import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
WKH = ROOT / "scenarios" / "validation" / "wkh.toml"


@pytest.fixture
def small_config():
    """The baseline market scaled down to 120 firms, 12 BPO providers, 6 KPO specialists, 60 weeks."""
    return load_scenario(BASELINE, {"firms.count": 120, "providers.bpo_count": 12, "providers.kpo_count": 6,
                                    "run.steps": 60})
