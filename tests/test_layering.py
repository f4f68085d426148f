"""The architecture holds: the model imports only itself and the config, analysis never imports the
simulation, only entry points use analysis, nothing imports in a circle, and modules and functions stay
small enough to read.

Imports are read from the source (ast), including imports inside functions; imports that only serve
type checkers (under ``if TYPE_CHECKING:``) are left out of the cycle check, since they never run.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("simulation", "analysis")
ENTRY_POINTS = ("simulation.cli", "simulation.app", "simulation.sweeps", "simulation.calibrate")
MAX_MODULE_LINES, MAX_FUNCTION_LINES = 400, 80


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and getattr(node.test, "id", getattr(node.test, "attr", None)) == "TYPE_CHECKING":
            out |= {id(n) for n in ast.walk(node)}
    return out


def imports(module: str, runtime_only: bool = False) -> set[str]:
    """Project modules that ``module`` imports (a ``from package import name`` naming a module counts as that module)."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    skip = _type_checking_nodes(tree) if runtime_only else set()
    out = set()
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out |= {f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in MODULES else node.module for a in node.names}
    return {name for name in out if name.split(".")[0] in PACKAGES}


def test_the_model_imports_only_itself_and_the_config():
    """Every module of simulation/model/ imports nothing of the project outside the model and simulation.config."""
    bad = {m: sorted(i for i in imports(m) if not i.startswith(("simulation.model", "simulation.config")))
           for m in MODULES if m.startswith("simulation.model")}
    assert not {m: i for m, i in bad.items() if i}


def test_only_the_wiring_module_names_the_model_class():
    """Phase code takes explicit state: no model module but model.py (and the package's re-export) names OutsourcingModel."""
    naming = [m for m, p in MODULES.items() if m.startswith("simulation.model") and "OutsourcingModel" in p.read_text()]
    assert sorted(naming) == ["simulation.model", "simulation.model.model"]


def test_analysis_never_imports_the_simulation():
    """analysis/ reads run folders only, so it works on results from any machine."""
    assert not {m: sorted(imports(m)) for m in MODULES if m.startswith("analysis")
                if any(i.startswith("simulation") for i in imports(m))}


def test_only_entry_points_import_analysis():
    """The model and the run machinery never import analysis; the CLI, the dashboard and the sweep runner may."""
    users = {m for m in MODULES if m.startswith("simulation") and any(i.startswith("analysis") for i in imports(m))}
    assert all(m.startswith(ENTRY_POINTS) for m in users), sorted(users)


def test_no_import_cycles():
    """The graph of runtime imports between project modules has no cycle."""
    graph = {m: imports(m, runtime_only=True) & set(MODULES) for m in MODULES}
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(node: str, path: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                pytest.fail("import cycle: " + " -> ".join(path[path.index(nxt):] + [nxt]) if nxt in path else nxt)
            if nxt not in state:
                visit(nxt, path + [nxt])
        state[node] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])


def _python_files() -> list[Path]:
    return sorted(p for folder in ("simulation", "analysis", "benchmarks", "tests") for p in (ROOT / folder).rglob("*.py"))


def test_modules_and_functions_stay_small():
    """No module over 400 lines and no function over 80 (a longer one has two jobs)."""
    too_long = []
    for path in _python_files():
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{path.relative_to(ROOT)}:{node.lineno} {node.name}(): {length} lines")
    assert not too_long
