"""Shared fixtures: scaled-down markets, and free loopback ports.

Hand-made market states for unit tests of single phases (no full model) are built by tests/markets.py.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from simulation import load_scenario

ROOT = Path(__file__).resolve().parents[1]
BASELINE = ROOT / "scenarios" / "baseline.toml"
WKH = ROOT / "scenarios" / "validation" / "wkh.toml"


def market_size(firms: int) -> dict[str, float]:
    """Overrides that scale the 1,000-firm baseline market to ``firms`` firms through ``run.scale``, keeping its
    proportions (providers, brokers, talent pools and entry follow)."""
    return {"run.scale": firms / 1000}


SMALL = market_size(300)  # the size of the seeded pattern and golden runs


@pytest.fixture
def small_market():
    """The baseline scaled to 300 firms (30 BPO providers, 12 KPO specialists, 1 broker)."""
    return load_scenario(BASELINE, SMALL)


@pytest.fixture(scope="session")
def free_port() -> Callable[[], int]:
    """Call it for a TCP port on 127.0.0.1 that was free a moment ago (bound to port 0, then released).

    A function rather than a number, so that module-scoped fixtures (a Dask cluster, the dashboard's
    server) can use it too and a test can ask for several ports.
    """
    def pick() -> int:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            return s.getsockname()[1]

    return pick
