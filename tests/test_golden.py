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
        "contracts": "dd13de2489b147dd86e4f3e9b69c4fb5508bd2ba83d2c46c32e1c210035c61d1",
        "decisions": "3876eccc424dbd3da3d659213c3eabaed1d802e69b6aa2a9fa81a667e874ded4",
        "firms": "d3915ad279843b1f8838d56fe6865252b097581f911d306f188798c7ed31bac8",
        "metrics": "103498f29b5651054022256170260356c8497ebfef3f9b19c3d42c8a571ee9f2",
        "providers": "3fe6319c0fbc851dd5b21610224d3e9fa5ace30cb8b23eb1735baaf2e28c419b",
        "relationships": "0b9b835647e7735a9e802a142cd3b9864e67a6796e262f6c8c4fda4a381931f9",
    },
    "recession_small_s3": {
        "contracts": "2ce7002dcbfcf97ec49fe6debd2826f2b312b4b96dd11c5d792aae46408b204d",
        "decisions": "ee02958e58bf49cbd5094073adc7bb6c398ff6ee8875a229b5b377d742928e06",
        "firms": "66e9caa089af825988620dd4149c8e0d438ec6e40a95a8055e671d9d861bd843",
        "metrics": "020813839c376ce03f13940b25787e00ddc39d922915554305e0c9b6de588429",
        "providers": "da72c77daa2525e3acb937f5ce10cfe6cb9e9ec02ac9ffdb250601aa3ab84dd5",
        "relationships": "bb3fc368d81b940d56af54365d400a55ac1d51eefb0501049ed779bfd2ccd881",
    },
    "price_hike_small_s2": {
        "contracts": "9e623ccd55f9d11957823814aac9dbdb1579d08d736a2e4d94401a502fe7ef10",
        "decisions": "fb076e2d02b38130fc8774d434c80e2abcb497d3f62b45b58b01542482318ba3",
        "firms": "7fde47296deb5651752a5749aafa303ddf83a55bcbce40498a3908fa25271cf2",
        "metrics": "78c5ba23663c5c59f1746f63e2c5d97943b6c6f33fd07cb76d43aed37aea5aa6",
        "providers": "70e944cb146ce2fb5e0579001349e777a11afcd417a1530d00570f3b01093d9f",
        "relationships": "aede7b7c764e3198e11418210f081879a3b97e37645beaa16f56953fd16a6706",
    },
    "failure_small_s2": {
        "contracts": "da2aca3fbbb840edecfa85daf668d57c002fcc787efe31fbf7dc102eb0019573",
        "decisions": "1b34aa5b7093bb03faebf63df86750482d847e4b0b65b98ac45d80b5fa3c1feb",
        "firms": "7fde47296deb5651752a5749aafa303ddf83a55bcbce40498a3908fa25271cf2",
        "metrics": "734de64f2e1ebc65f610ff7b34c03a6f70748d1155435440a84cd77a41953414",
        "providers": "0da357a2f5510c9e9ccd3b4201faaea32580087582c28551150cfe0f3d0a8c05",
        "relationships": "ac7c5146f7f5c78711b56755c24107f882ee836e7e066b086db79815116aa857",
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
