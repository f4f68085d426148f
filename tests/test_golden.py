"""Golden runs: seeded scenarios must keep writing byte-identical Parquet files.

The hashes below were made before the architecture renovation and were unchanged by it: a refactoring
that changes any output byte fails here. A change that alters results on purpose regenerates them in
the same commit (``python tests/test_golden.py`` prints the current hashes) and says so. History:
- metrics.parquet gained nine columns for calibration moments (capacity and hours used by kind, posted
  prices by kind and region, the in-house cost of outsourced work); every earlier column and every
  other table kept its bytes.
- The economics rework (issue 11) changed results on purpose and regenerated every hash but the firms
  tables': realised cost accounting, tender and pool hand-over costs, fading on-call experience, the
  spot-price cap on contract reservations, the scale knob, and the calibrated baseline.
- The posted prices by kind and region (metrics.parquet only) are summed by numpy instead of BLAS's dot,
  whose order of addition depends on the CPU: their last bits differed between an Intel and an AMD machine.
  Every other column and table kept its bytes.
- exp and power became the C library's on every machine (kernels.elementary) instead of numpy's, which are
  Intel's SVML on a CPU with AVX-512: the last bits of about one value in twenty changed, and with them every
  table. The pattern tests hold as before.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import pytest

from simulation import load_scenario, run, save_run
from simulation.runfolder import DATA_FILES

from conftest import SMALL

ROOT = Path(__file__).resolve().parents[1]

#: name: (scenario file, overrides, seed, weeks or None for the scenario's own horizon)
CASES = {
    "baseline_s1": ("baseline.toml", {}, 1, None),
    "recession_small_s3": ("recession.toml", SMALL, 3, 260),
    "price_hike_small_s2": ("price_hike.toml", SMALL, 2, 200),
    "failure_small_s2": ("large_provider_failure.toml", SMALL, 2, 200),
}

GOLDEN = {
    "baseline_s1": {
        "contracts": "0f767dabc87d011dcf644025bf97b41ce142b63032050539cbac5100dc424d1e",
        "decisions": "1145143d8966d12e2782351cd182b719360c9574235fba184c24a22361fba3ee",
        "firms": "a2a5153b38511adb7f3bf331e47fdea2d967b36503c57f8a6543b50c85f006e8",
        "metrics": "32e1d2fbf3f1d9a57943ac771ae14f8601e2548c7d6b446fd134bf55b906befb",
        "providers": "85d22bc3d0d4c13df6727ba520d010c56581753119f04545e7b69527f6eb18db",
        "relationships": "5b1e9aa387b21d47b4784598d5b75f32f72686585c476266f117e2e5bcb22c85",
    },
    "recession_small_s3": {
        "contracts": "e166f14589efe6fdddde358cc3eed236ac0685db6185c5b90c46af3c7142acc2",
        "decisions": "7912c9ec93a5ece555b8e97c3162309a8e572f3670021a791cda37151b52237c",
        "firms": "cb43596f62f1c5b9b6df265f9a5f0c4803562205910f45edf43cb52d04703edb",
        "metrics": "a6c00e01ec2024ae6d5c1390cb7929c6d58e91b57b801174d69e1fd78c6317eb",
        "providers": "846fdc1192645cc6da8d399a9bb8b9c47b46ffb2f639231135d38180a99fd7ed",
        "relationships": "5b88ab46a4bf2179d2ce557bcc060b9dda0c2e0bf72cb97a5981a3f607d3f61b",
    },
    "price_hike_small_s2": {
        "contracts": "b91eb8cd83b8726f60860897acce71a77dcae9cf4cc6c722c87ce9c794075c08",
        "decisions": "11482597de6c784528423e6dab357b86fe7a6afc72bb22024372e8ae09ea0512",
        "firms": "924e5b309bbe6dd455b4076b06c1609411b5c03622ffa6d227cd52a5be9eeeb8",
        "metrics": "c3013d4323ed950f7571034968e2f14b3db74eb05098cfe30db573f19a8c9723",
        "providers": "c188445c889a1fa39628084c8a5f13d86c0fa8c51a82031865bbb9b58b13d658",
        "relationships": "34b4db8a530802a39664b88d91516a3717bb2e1ecdac171f1362f86592177ab8",
    },
    "failure_small_s2": {
        "contracts": "117e12c713d7c9c6cab582303e81a225bfffe8e06e44b9befcbc48eb3ca72fdc",
        "decisions": "bfefb5afb04ce1c065a9239c6db29cda5b1c12121c6ae996adca844fd886b93c",
        "firms": "924e5b309bbe6dd455b4076b06c1609411b5c03622ffa6d227cd52a5be9eeeb8",
        "metrics": "675e0cdd3ccb0b8c2f007fc0ac952cfb837311188cef6b6a0ed18f16e9e19353",
        "providers": "d8c96e3eefa9e607e97b9d9fc865654062b726bf182e27b3617cbdf5416a5fe4",
        "relationships": "6117b1bd866b188bb712b716ef02ac3a5445f0a58d6dc82a1f8af9109534a3bd",
    },
}


def hashes(case: str, folder: Path) -> dict[str, str]:
    """Run one case into ``folder`` and return the sha256 of each of its Parquet files."""
    scenario, overrides, seed, weeks = CASES[case]
    out = save_run(run(load_scenario(ROOT / "scenarios" / scenario, overrides), seed=seed, steps=weeks), folder)
    return {name: hashlib.sha256((out / f"{name}.parquet").read_bytes()).hexdigest() for name in DATA_FILES}


@pytest.mark.parametrize("case", list(CASES))
def test_golden_run_folders_are_byte_identical(case, tmp_path):
    """The seeded case writes exactly the Parquet bytes recorded before the renovation."""
    assert hashes(case, tmp_path) == GOLDEN[case]


if __name__ == "__main__":  # print the current hashes, to paste into GOLDEN after an intended change
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        for name in CASES:
            print(name, hashes(name, Path(tmp) / name))
    sys.exit(0)
