"""Golden runs: seeded scenarios must keep writing byte-identical Parquet files.

The hashes below were made before the architecture renovation and were unchanged by it: a refactoring
that changes any output byte fails here. A change that alters results on purpose regenerates them in
the same commit (``python tests/test_golden.py`` prints the current hashes) and says so. History:
- metrics.parquet gained nine columns for calibration moments (capacity and hours used by kind, posted
  prices by kind and region, the in-house cost of outsourced work); every earlier column and every
  other table kept its bytes.
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
        "contracts": "a775a0cf0e49443861525726abf8456cdb4021452dc4981a08cafe0fc5fece63",
        "decisions": "51ba38c4abc789e0e165bfa50fa6bd1a4f074499ababb0f4e5990827d6cab091",
        "firms": "d3915ad279843b1f8838d56fe6865252b097581f911d306f188798c7ed31bac8",
        "metrics": "b6dfaf2f39cfc0f9d2226b9db7ffa49d205ca665577a9284f10d1c584f246863",
        "providers": "bf6a4e405d62e4b218fac701beccc178001f7b448d850dfa4fc1292b9a16b8af",
        "relationships": "349b28b23c0173f497b89e2946674aca91842b2ea57b809158d20ad05e778f36",
    },
    "recession_small_s3": {
        "contracts": "7134c4b5ea07c1547dd86dc944903672d5d69d6747a03caf7ec721c0d130428c",
        "decisions": "500c9192d0f431362e3481ab54cb7c6dc53c151b037ae2c8b795ea04241ad217",
        "firms": "66e9caa089af825988620dd4149c8e0d438ec6e40a95a8055e671d9d861bd843",
        "metrics": "bf472e9a916e3ab18f0a0503e60973b8d960eceb460e7b242cc6793b6a654094",
        "providers": "215d08cc3a514cf55f2b801be93b57b08f609255903cc1d3f37c5638dc1fc184",
        "relationships": "8c49b797b086d285fa80f250b698df2eeba734746cac73f0883994fda0b463ea",
    },
    "price_hike_small_s2": {
        "contracts": "d0c1b70af6069fdf113ffb6f13a49930e73537e3ba0b7bb5659ceca01f3a8cce",
        "decisions": "2c6beebd3fc2b76c921965eb16c08f9ec9f9ba296a163818c5b62f250ff82ffd",
        "firms": "7fde47296deb5651752a5749aafa303ddf83a55bcbce40498a3908fa25271cf2",
        "metrics": "0ed74698d15791a97807e099a1362bad723ad8cfac44ff46605ebd4862a8c4b2",
        "providers": "b195e73d98e70339885b4e435845d23e54d5472c853c8cf7e8a9fdac1da87451",
        "relationships": "de6254454100bbe01574063a9dce0cc3fad52ce4ed74cda0802d99c013fb8b04",
    },
    "failure_small_s2": {
        "contracts": "645cd5a82658a73b4b85613124c4a3a6d41cfe77eb6c3439b1ff336e8c72d685",
        "decisions": "0a81396d1e259731dd8cfa40a63f6cca5aa3da12dc96fab57bd710f694a1f06e",
        "firms": "7fde47296deb5651752a5749aafa303ddf83a55bcbce40498a3908fa25271cf2",
        "metrics": "cb35ac91d5fd109cf6ac5130aa577ef0d88e7f4c816d58d80f8e84ac63c05086",
        "providers": "30f7fc054e26a70eaabbdc259d6d3eed2ceb6b2ac02cc08ad17045a73aa560ce",
        "relationships": "4ac8a49c4e4bc8e993e8245c164e4704f0e4af0ed56d0aaed299ed502b56290f",
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
