"""The student lab (notebooks/*.ipynb): every notebook runs top to bottom, and is stored clean.

Each notebook is executed with nbclient in a kernel of the Python that runs pytest: the kernelspec is
ipykernel's "python3", which jupyter_client starts with ``sys.executable``, so a fresh clone needs no
kernel registration (test_the_kernel_is_the_python_running_the_tests checks it). The working directory
is notebooks/, as ``make lab`` gives it, and OUTSIM_LAB_OUT points the notebooks' run folders at a
temporary directory. A cell that raises fails the test with the cell and its traceback.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

try:
    import nbformat
    from nbclient import NotebookClient
except ImportError as exc:  # the dev extra was installed before the lab existed
    raise ImportError(f"{exc}: the notebook tests need nbclient and ipykernel from the dev extra; run `make test`, "
                      "or `.venv/bin/python -m pip install -c constraints.txt -e '.[dev]'`") from exc

from conftest import ROOT

NOTEBOOKS = ROOT / "notebooks"
PATHS = sorted(NOTEBOOKS.glob("*.ipynb"))
CELL_TIMEOUT = 600  # seconds per cell; a whole notebook takes about a minute on 2 cores


def client(nb: nbformat.NotebookNode) -> NotebookClient:
    """An nbclient runner for ``nb`` in the python3 kernel of this environment, working in notebooks/."""
    return NotebookClient(nb, kernel_name="python3", timeout=CELL_TIMEOUT,
                          resources={"metadata": {"path": str(NOTEBOOKS)}})


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if ".ipynb_checkpoints" not in p.parts}


def test_the_lab_has_its_four_notebooks():
    """The four notebooks of the lab are there, each with exercises and an answer key."""
    assert [p.name for p in PATHS] == ["01_make_or_buy.ipynb", "02_loyalty_phase_transition.ipynb",
                                       "03_cycles_and_lock_in.ipynb", "04_offshoring_and_brokers.ipynb"]
    for path in PATHS:
        headings = [line for cell in nbformat.read(path, as_version=4).cells if cell.cell_type == "markdown"
                    for line in cell.source.splitlines() if line.startswith("#")]
        assert "## Try this" in headings and "## Answer key" in headings, path.name


@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_is_stored_without_outputs(path: Path):
    """A notebook in the repository has no outputs and no execution counts, and asks for the python3 kernel."""
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    code = [cell for cell in nb.cells if cell.cell_type == "code"]
    assert code, f"{path.name} has no code cells"
    dirty = [i for i, cell in enumerate(nb.cells) if cell.cell_type == "code"
             and (cell.outputs or cell.execution_count is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} hold outputs or execution counts; clear them before committing "
                       "(JupyterLab: Edit > Clear Outputs of All Cells, then save)")
    assert nb.metadata.get("kernelspec", {}).get("name") == "python3"


def test_the_kernel_is_the_python_running_the_tests():
    """The python3 kernel nbclient starts is this environment's Python, so the notebooks see this outsim."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("import sys; print(sys.prefix)")])
    client(nb).execute()
    assert nb.cells[0].outputs[0]["text"].strip() == sys.prefix


@pytest.mark.slow
@pytest.mark.parametrize("path", PATHS, ids=[p.stem for p in PATHS])
def test_notebook_runs_top_to_bottom(path: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """The notebook runs without an error or a warning, draws its figures and writes its run folders to the
    folder OUTSIM_LAB_OUT names, never into notebooks/."""
    monkeypatch.setenv("OUTSIM_LAB_OUT", str(tmp_path))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws the figures
    before = files_under(NOTEBOOKS)
    nb = nbformat.read(path, as_version=4)
    start = time.perf_counter()
    client(nb).execute()
    seconds = time.perf_counter() - start
    print(f"{path.name}: {seconds:.0f} s")
    outputs = [o for cell in nb.cells if cell.cell_type == "code" for o in cell.outputs]
    warnings = [o["text"] for o in outputs if o.get("output_type") == "stream" and o.get("name") == "stderr"]
    assert not warnings, f"{path.name} writes to stderr (a student would see it):\n" + "\n".join(warnings)
    assert any("image/png" in o.get("data", {}) for o in outputs), f"{path.name} drew no figure"
    assert list(tmp_path.rglob("manifest.json")), f"{path.name} wrote no run folder under OUTSIM_LAB_OUT"
    assert files_under(NOTEBOOKS) == before, f"{path.name} wrote into notebooks/"
