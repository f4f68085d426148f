"""Shared fixtures: small configs that run in well under a second, and free loopback ports."""

from __future__ import annotations

import socket
from collections.abc import Callable
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
