"""End-to-end tests of simulation/cli.py: `outsim run` writes a complete run folder and rejects bad input with exit 2."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parents[1]
WKH = "scenarios/validation/wkh.toml"
RUN_FILES = ("manifest.json", "metrics.parquet", "contracts.parquet", "relationships.parquet",
             "decisions.parquet", "firms.parquet", "providers.parquet")
METRIC_COLUMNS = ("step", "permanent_share", "permanent_share_bpo", "permanent_share_kpo", "on_call_share", "in_house_share",
                  "unmet_share", "loyalty_mean", "switch_rate", "mean_price_bpo", "mean_price_kpo", "provider_utilization",
                  "offshore_share", "broker_share", "active_providers", "firm_payments", "provider_revenue", "broker_fees")


def outsim(*args: str) -> subprocess.CompletedProcess:
    """Run `outsim <args>` as `python -m simulation.cli` from the repository root."""
    return subprocess.run([sys.executable, "-m", "simulation.cli", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=120)


@pytest.fixture(scope="module")
def wkh_run(tmp_path_factory):
    """One 20-week WKH run shared by the tests below: (completed process, run folder)."""
    out = tmp_path_factory.mktemp("cli") / "run"
    return outsim("run", WKH, "--steps", "20", "--out", str(out)), out


def test_run_exits_zero_and_prints_summary(wkh_run):
    """A valid run exits 0, prints the summary table and the run folder, and writes nothing alarming to stderr."""
    proc, out = wkh_run
    assert proc.returncode == 0, proc.stderr
    assert "Summary of the last 20 weeks" in proc.stdout
    for row in ("permanent share", "on-call share", "in-house share", "unmet share", "mean loyalty y", "active providers"):
        assert row in proc.stdout
    assert f"run folder: {out}" in proc.stdout
    assert "Traceback" not in proc.stderr


def test_run_folder_is_complete(wkh_run):
    """The run folder holds the manifest, every Parquet table, and the report with its figures and calibration table."""
    proc, out = wkh_run
    assert sorted(p.name for p in out.iterdir() if not p.name.startswith(".")) == sorted(
        [*RUN_FILES, "report.html", "calibration.csv", "figures"])
    assert f"report: {out / 'report.html'}" in proc.stdout
    assert not [p.name for p in out.iterdir() if p.name.startswith(".")]  # no leftover temporary files


def test_manifest_describes_the_run(wkh_run):
    """manifest.json names the scenario, the seed, the overridden horizon and the data files."""
    _, out = wkh_run
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["scenario"] == "wkh" and manifest["seed"] == 1 and manifest["steps"] == 20
    assert manifest["config"]["run"]["steps"] == 20
    assert set(manifest["files"].values()) == {f for f in RUN_FILES if f.endswith(".parquet")}


def test_metrics_columns_and_rows(wkh_run):
    """metrics.parquet has one row per week and at least the documented metric columns."""
    _, out = wkh_run
    metrics = pd.read_parquet(out / "metrics.parquet")
    missing = [c for c in METRIC_COLUMNS if c not in metrics.columns]
    assert missing == []
    assert len(metrics) == 20
    assert metrics["step"].tolist() == list(range(1, 21))


def test_other_tables_are_readable(wkh_run):
    """Every other Parquet table reads back; the firms table has one row per WKH firm (200)."""
    _, out = wkh_run
    for name in RUN_FILES[2:]:
        pd.read_parquet(out / name)
    assert len(pd.read_parquet(out / "firms.parquet")) == 200


@pytest.mark.parametrize("args, expected", [
    (["--set", "firms.count=-3"], ["firms.count", "greater than or equal to 1"]),
    (["--set", "firms.cuont=5"], ["firms.cuont", "did you mean 'count'"]),
    (["--steps", "0"], ["--steps", "greater than or equal to 1"]),
])
def test_bad_options_exit_2(tmp_path, args, expected):
    """Invalid overrides and horizons exit 2 with the offending key (and the rule) on stderr, no traceback and no run folder."""
    out = tmp_path / "never"
    proc = outsim("run", WKH, *args, "--out", str(out))
    assert proc.returncode == 2
    for text in expected:
        assert text in proc.stderr
    assert "Traceback" not in proc.stderr
    assert "nothing was run" in proc.stderr
    assert not out.exists()


def test_missing_scenario_file_exits_2(tmp_path):
    """A scenario file that does not exist exits 2 naming the file, without a traceback."""
    missing = tmp_path / "no_such_scenario.toml"
    proc = outsim("run", str(missing), "--out", str(tmp_path / "never"))
    assert proc.returncode == 2
    assert "no_such_scenario.toml" in proc.stderr and "not found" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "never").exists()


def test_broken_toml_exits_2(tmp_path):
    """A scenario with a TOML syntax error exits 2 naming the file, without a traceback."""
    broken = tmp_path / "broken.toml"
    broken.write_text("[firms\ncount = 3\n", encoding="utf-8")
    proc = outsim("run", str(broken), "--out", str(tmp_path / "never"))
    assert proc.returncode == 2
    assert str(broken) in proc.stderr and "TOML syntax error" in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "never").exists()
