"""Sweeps under abuse (simulation/sweeps/): bad and oversized sweep files, damaged results, two clients on one
folder, a client killed while it writes, summary column names, and the Dask dashboard's port.

The bad sweep files are in tests/data/bad_sweeps/; each names the keys its problems must name in ``# expect:``
lines. Runs use tiny markets (40 firms, 30 weeks), run one by one in the client (``--workers 0``).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import resource
import signal
import socket
import subprocess
import sys
import warnings
from pathlib import Path

import pandas as pd
import pytest
from conftest import BASELINE, ROOT

from simulation.executor import Executor
from simulation.sweeps import load_plan, load_series, run_sweep
from simulation.sweeps.cli import format_summary, main, shorten
from simulation.sweeps.store import FolderInUse, SweepStore, read_meta

BAD = sorted((ROOT / "tests" / "data" / "bad_sweeps").glob("*.toml"))

SMALL = f"""
base = "{BASELINE}"
steps = 30
[set]
firms.count = 40
providers.bpo_count = 5
providers.kpo_count = 3
run.record_decisions = false
[parameters]
"firms.demand_volatility" = [0.1, 0.3, 0.5]
[seeds]
count = 2
base = 3
[outputs]
final = ["permanent_share", "loyalty_mean"]
final_window = 10
every = 10
"""

CHECK_ALL = """
import contextlib, io, json, sys
from simulation.sweeps.cli import main
reports = {}
for path in sys.argv[1:]:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main([path, "--dry-run"])
    reports[path] = [code, err.getvalue()]
print(json.dumps(reports))
"""


def write_sweep(folder: Path) -> Path:
    """The small sweep (3 points x 2 seeds of a 40-firm market, 30 weeks) as ``folder/s.toml``."""
    path = folder / "s.toml"
    path.write_text(SMALL, encoding="utf-8")
    return path


def memory_cap() -> None:
    """Run in a child before it starts: at most 4 GB of address space, so a design built in full fails fast."""
    resource.setrlimit(resource.RLIMIT_AS, (4 << 30, 4 << 30))


def reported_key(line: str) -> str:
    """The dotted key of a problem line ``<file>: <key> = <value>: <rule>`` (or ``<file>: <key>: <rule>``)."""
    return re.split(r" = |: ", line.split(": ", 1)[1], maxsplit=1)[0]


def result_bytes(folder: Path) -> dict[str, bytes]:
    """Every result file of a sweep folder (runs, series, design, summary), by its path in the folder."""
    files = [*folder.glob("runs/*.parquet"), *folder.glob("series/*.parquet"), folder / "design.parquet",
             folder / "summary.parquet", folder / "summary.csv"]
    return {str(p.relative_to(folder)): p.read_bytes() for p in files if p.is_file()}


# ----------------------------------------------------------------------------- bad and oversized sweep files
@pytest.fixture(scope="module")
def corpus_reports() -> dict[str, list]:
    """Every corpus file through ``outsim sweep FILE --dry-run``, in one child capped at 4 GB and 120 s."""
    proc = subprocess.run([sys.executable, "-c", CHECK_ALL, *map(str, BAD)], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, check=False, preexec_fn=memory_cap)
    assert proc.returncode == 0, proc.stderr[-2000:]
    return json.loads(proc.stdout)


def test_the_bad_sweep_corpus_holds_files_with_several_mistakes():
    """tests/data/bad_sweeps has 10 or more files; one has six mistakes in five sections."""
    assert len(BAD) >= 10
    assert len(re.findall(r"^# expect:", (BAD[0].parent / "six_mistakes.toml").read_text(), re.M)) == 6


@pytest.mark.parametrize("path", BAD, ids=lambda p: p.stem)
def test_each_bad_sweep_file_reports_all_its_mistakes_at_once(path, corpus_reports):
    """Exit 2, no traceback, one line per mistake naming exactly the keys of its ``# expect:`` lines."""
    code, err = corpus_reports[str(path)]
    lines = err.splitlines()
    assert code == 2 and "Traceback" not in err and lines[-1].endswith("nothing was run."), err
    expected = re.findall(r"^# expect: (\S+)", path.read_text(encoding="utf-8"), re.M)
    assert sorted(reported_key(line) for line in lines[:-1]) == sorted(expected), err


@pytest.mark.parametrize("name, line", [
    ("too_many_grid_values", "parameters.choice.beta.num = 1000000000: makes 1,000,000,000 design points x 1 seed(s) "
                             "= 1,000,000,000 runs; the limit is 200,000"),
    ("too_many_seeds", "seeds.count = 100000: makes 2,000 design points x 100,000 seed(s) = 200,000,000 runs; "
                       "the limit is 200,000"),
])
def test_a_sweep_too_large_is_refused_from_its_counts_alone(name, line, corpus_reports):
    """A billion grid values, or 2,000 points x 100,000 seeds: one line with the count and the limit, nothing built."""
    code, err = corpus_reports[str(ROOT / "tests" / "data" / "bad_sweeps" / f"{name}.toml")]
    assert code == 2 and err.splitlines()[0].endswith(f"{name}.toml: {line}")


# ----------------------------------------------------------------------------- damaged results
def test_damaged_results_are_moved_aside_and_computed_again_to_the_same_bytes(tmp_path, capsys):
    """A truncated series file and a runs file with a damaged data page (footer intact) fail their checksums: both
    runs go to damaged/ with a note on stderr, and the recomputed files equal the originals byte for byte."""
    f = write_sweep(tmp_path)
    out = tmp_path / "out"
    argv = [str(f), "--workers", "0", "--out", str(out)]
    assert main(argv) == 0
    before = result_bytes(out)
    first, second = sorted(p.stem for p in (out / "runs").glob("*.parquet"))[:2]
    series = out / "series" / f"{first}.parquet"
    series.write_bytes(series.read_bytes()[: series.stat().st_size // 2])
    runs = out / "runs" / f"{second}.parquet"
    data = bytearray(runs.read_bytes())
    footer = int.from_bytes(data[-8:-4], "little")
    data[(4 + len(data) - 8 - footer) // 2] ^= 0xFF  # a byte in the middle of the column data
    runs.write_bytes(bytes(data))
    assert read_meta(runs) is not None  # the footer still reads: only the checksum tells
    capsys.readouterr()
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert f"2 result(s) failed their checksum; moved to {out / 'damaged'} and computed again" in captured.err
    assert "4 already done" in captured.out
    assert result_bytes(out) == before
    assert sorted(str(p.relative_to(out / "damaged")) for p in (out / "damaged").rglob("*.parquet")) == sorted(
        [f"runs/{first}.parquet", f"series/{first}.parquet", f"runs/{second}.parquet", f"series/{second}.parquet"])
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["invocations"][-1]["damaged"] == 2 and {r["computed"] for r in manifest["runs"]} == {1, 2}
    assert len(load_series(out)) == 6 * 3


# ----------------------------------------------------------------------------- one client per folder
def test_a_second_client_on_the_same_folder_is_refused_with_exit_2(tmp_path, capsys):
    """While a client holds the folder, another exits 2 naming its pid and host, locally and with --scheduler
    (before it connects anywhere), and writes nothing; once the first is gone the same command runs."""
    f = write_sweep(tmp_path)
    out = tmp_path / "out"
    argv = [str(f), "--workers", "0", "--out", str(out)]
    with SweepStore(out).lock():
        for extra in ([], ["--scheduler", "tcp://127.0.0.1:9"]):
            assert main([*argv, *extra]) == 2
            err = capsys.readouterr().err
            assert f"is in use by another sweep client (pid {os.getpid()} on {socket.gethostname()} since" in err
            assert "Traceback" not in err
        assert not (out / "runs").exists() and not (out / "manifest.json").exists()
    assert main(argv) == 0


def test_a_lock_held_by_a_killed_client_does_not_block_the_next(tmp_path):
    """A lock taken in another process refuses this one; after that process is SIGKILLed, the lock is free."""
    out = tmp_path / "out"
    hold = ("import sys, time\nfrom simulation.sweeps.store import SweepStore\n"
            "with SweepStore(sys.argv[1]).lock():\n    print('locked', flush=True)\n    time.sleep(600)\n")
    proc = subprocess.Popen([sys.executable, "-c", hold, str(out)], cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "locked"
        with pytest.raises(FolderInUse, match=f"pid {proc.pid} on "), SweepStore(out).lock():
            pass
        proc.send_signal(signal.SIGKILL)
        assert proc.wait(timeout=30) == -signal.SIGKILL
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=30)
    with SweepStore(out).lock():
        assert (out / ".lock").read_text().startswith(f"pid {os.getpid()} ")


# ----------------------------------------------------------------------------- a client killed while it writes
@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, bytes]:
    """The result files of the small sweep run without interruption."""
    folder = tmp_path_factory.mktemp("reference")
    with contextlib.redirect_stdout(io.StringIO()):
        assert main([str(write_sweep(folder)), "--workers", "0", "--out", str(folder / "out")]) == 0
    return result_bytes(folder / "out")


KILL_AT = """
import os, signal, sys
from simulation import runfolder
from simulation.sweeps import store
from simulation.sweeps.cli import main

stage, nth, when = sys.argv[1], int(sys.argv[2]), sys.argv[3]
real, seen = runfolder.write_atomic, [0]


def kill():
    os.kill(os.getpid(), signal.SIGKILL)


def write_atomic(path, write):
    if ("manifest" if path.name == "manifest.json" else path.parent.name) == stage:
        seen[0] += 1
        if seen[0] == nth and when == "before-rename":
            return real(path, lambda tmp: (write(tmp), kill()))
        if seen[0] == nth:
            real(path, write)
            kill()
    return real(path, write)


runfolder.write_atomic = store.write_atomic = write_atomic
sys.exit(main(sys.argv[4:]))
"""


@pytest.mark.parametrize("stage, nth, when", [
    ("series", 2, "before-rename"),  # a half-written series file under its temporary name
    ("series", 3, "after"),          # a series file whose final row was never written
    ("runs", 3, "after"),            # a finished run the manifest has not recorded yet
    ("manifest", 2, "before-rename"),
    ("manifest", 2, "after"),        # some runs recorded done with their checksums
])
def test_a_client_killed_while_writing_resumes_to_the_bytes_of_an_uninterrupted_sweep(tmp_path, stage, nth, when,
                                                                                    reference):
    """SIGKILL `outsim sweep` at a write: no visible file differs from an uninterrupted sweep's, no run the manifest
    calls done is missing or different, and the resumed folder holds the same bytes, each run computed once."""
    f, out = write_sweep(tmp_path), tmp_path / "out"
    argv = [str(f), "--workers", "0", "--out", str(out)]
    proc = subprocess.run([sys.executable, "-c", KILL_AT, stage, str(nth), when, *argv], cwd=ROOT,
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    if when == "before-rename":
        assert list(out.rglob(".*.tmp-*"))  # killed in the middle of a write
    visible = {name: data for name, data in result_bytes(out).items() if name.startswith(("runs/", "series/"))}
    assert all(reference[name] == data for name, data in visible.items())
    manifest = json.loads((out / "manifest.json").read_text())
    for rec in (r for r in manifest["runs"] if r["status"] == "done"):
        assert visible[f"runs/{rec['key']}.parquet"] == reference[f"runs/{rec['key']}.parquet"]
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(argv) == 0
    assert result_bytes(out) == reference
    assert not list(out.rglob(".*.tmp-*"))
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["done"] == 6 and {r["computed"] for r in manifest["runs"]} == {1}


# ----------------------------------------------------------------------------- summary table, Dask dashboard
def test_summary_columns_show_whole_parameter_names_and_shorten_long_ones_in_the_middle(tmp_path):
    """`firms.demand_volatility` is shown whole (it was cut to `irms.demand_volatility`); a name longer than a
    column keeps its start and end around '...'."""
    long = "regions.offshore.kpo_compliance_cost_per_hour"
    (tmp_path / "runs").mkdir()
    pd.DataFrame({"key": ["a", "b"], "point": [0, 1], "seed": [1, 1], "firms.demand_volatility": [0.1, 0.4],
                  long: [1.0, 2.0], "permanent_share": [0.2, 0.3]}).to_parquet(tmp_path / "runs" / "a.parquet")
    header = format_summary(tmp_path, ["firms.demand_volatility", long], ["permanent_share"]).splitlines()[1].split()
    short = shorten(long, 30)
    assert header == ["point", "firms.demand_volatility", short, "n", "permanent_share"]
    assert len(short) == 30 and short.startswith("regions.") and short.endswith("_cost_per_hour")


def test_a_local_cluster_starts_without_a_dashboard_or_a_port_8787_warning():
    """With port 8787 taken (as by another cluster), the executor's local cluster starts without a warning."""
    holder = socket.socket()
    try:
        holder.bind(("0.0.0.0", 8787))
        holder.listen()
    except OSError:
        pass  # already taken by another program: the situation under test
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with Executor(workers=1) as ex:
                link = ex.client.dashboard_link
    finally:
        holder.close()
    assert not [w for w in caught if "already in use" in str(w.message)]
    assert ":8787/" not in link


def test_the_dask_dashboard_is_served_when_asked(tmp_path):
    """run_sweep(dashboard=True), as `outsim sweep --dask-dashboard`, starts it and logs its address."""
    lines: list[str] = []
    report = run_sweep(load_plan(write_sweep(tmp_path)), tmp_path / "out", workers=1, dashboard=True,
                       progress=False, log=lines.append)
    assert report.computed == 6 and any(line.startswith("Dask dashboard: http://") for line in lines)
