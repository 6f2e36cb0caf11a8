"""The package layout shows the stages: no import cycles between modules, no module over ~400 lines, and the
top level holds the stage packages (study → sources → data → models/compression → engine → results)."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
PACKAGE = SRC / "vpbench"
MAX_LINES = 420  # "modules under ~400 lines": a little slack for a docstring, never a second idea
STAGES = {"study", "sources", "data", "models", "compression", "engine", "results", "runtime"}


def module_name(path: Path) -> str:
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def module_imports(path: Path, modules: set[str]) -> set[str]:
    """vpbench modules imported at module level (imports inside functions run later and cannot cycle);
    ``from package import submodule`` depends on the submodule, not on the package's ``__init__``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.If):  # TYPE_CHECKING blocks are not executed
            continue
        for child in ast.walk(node) if isinstance(node, ast.Import | ast.ImportFrom) else []:
            if isinstance(child, ast.Import):
                found.update(alias.name for alias in child.names if alias.name.startswith("vpbench"))
            elif isinstance(child, ast.ImportFrom) and child.module and child.module.startswith("vpbench"):
                for alias in child.names:
                    submodule = f"{child.module}.{alias.name}"
                    found.add(submodule if submodule in modules else child.module)
    return found


def import_graph() -> dict[str, set[str]]:
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    return {name: {m for m in module_imports(path, set(modules)) if m in modules and m != name}
            for name, path in modules.items()}  # fmt: skip


def test_importing_vpbench_and_every_module_works_in_a_fresh_interpreter():
    code = "import pkgutil, importlib, vpbench\n" + (
        "for m in pkgutil.walk_packages(vpbench.__path__, 'vpbench.'): importlib.import_module(m.name)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]


def test_no_import_cycles_between_modules():
    graph = import_graph()
    state: dict[str, int] = {}
    stack: list[str] = []
    cycles: list[list[str]] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" → ".join(c) for c in cycles)


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(SRC)))
def test_module_has_one_idea_and_under_the_line_budget(path):
    lines = len(path.read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{path.relative_to(SRC)} has {lines} lines; split it by idea"


def test_the_top_level_shows_the_stages():
    packages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert STAGES <= packages
    loose = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    assert loose <= {"errors", "registry", "metrics", "calibration"}, loose
