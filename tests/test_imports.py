"""The package's import graph has no cycles (issue 11): counting imports inside functions too, no
module of ``explorer`` reaches itself again. A cycle makes import order matter and modules hard to
move; when this fails it prints the modules of each cycle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _graph() -> dict[str, set[str]]:
    mods = {}
    for p in (ROOT / "explorer").rglob("*.py"):
        parts = p.relative_to(ROOT).with_suffix("").parts
        mods[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = p

    def resolve(name: str) -> str:
        while name and name not in mods:
            name = name.rpartition(".")[0]
        return name

    graph: dict[str, set[str]] = {m: set() for m in mods}
    for mod, path in mods.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    up = package.split(".")[: len(package.split(".")) - node.level + 1]
                    base = ".".join(up + ([base] if base else []))
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}" in mods else base for a in node.names]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            for t in targets:
                if t.startswith("explorer") and (r := resolve(t)) and r != mod:
                    graph[mod].add(r)
    return graph


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    graph = _graph()
    assert len(graph) > 100
    assert "explorer.weights_io" in graph["explorer.checkpoint"]  # top-level imports are seen ...
    assert "explorer.metrics.inception" in graph["explorer.metrics.extractors"]  # ... and those inside functions
    assert _cycles(graph) == []


def test_the_checker_finds_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


# --- the layout rules of shared/STYLE.md that a reader can check without running anything ---------------

MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 80


def _sources() -> dict[str, list[str]]:
    return {str(p.relative_to(ROOT)): p.read_text().splitlines() for p in sorted((ROOT / "explorer").rglob("*.py"))}


def _unexplained_imports(lines: list[str]) -> list[int]:
    """Line numbers of imports inside functions with no comment on the line or above their import block."""
    bad = []
    for fn in ast.walk(ast.parse("\n".join(lines))):
        if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            continue
        for node in ast.walk(fn):
            if not isinstance(node, (ast.Import, ast.ImportFrom)):
                continue
            i = node.lineno - 1
            explained = "#" in lines[i]
            j = i - 1  # walk up through the imports just above it to a comment
            while not explained and j >= 0 and lines[j].strip().startswith(("from ", "import ", "#")):
                explained = lines[j].strip().startswith("#")
                j -= 1
            if not explained:
                bad.append(node.lineno)
    return sorted(set(bad))


def test_imports_inside_functions_say_why():
    """Imports go at the top of a module; one inside a function (a heavy or optional package kept off a light
    path, a cycle through a package __init__) carries a comment saying why."""
    bad = [f"{path}:{n}" for path, lines in _sources().items() for n in _unexplained_imports(lines)]
    assert bad == [], "imports inside functions without a comment saying why: " + ", ".join(bad)


def test_the_import_checker_wants_a_comment():
    plain = ["def f():", "    import json", "    return json"]
    explained = ["def f():", "    # json is slow to import here (example)", "    import os", "    import json", "    return json"]
    assert _unexplained_imports(plain) == [2]
    assert _unexplained_imports(explained) == []


def test_modules_and_functions_stay_readable():
    """Modules under ~400 lines, functions under ~80 (STYLE.md: one file per family, short handlers)."""
    long_modules, long_functions = [], []
    for path, lines in _sources().items():
        if len(lines) > MAX_MODULE_LINES:
            long_modules.append(f"{path} ({len(lines)})")
        for fn in ast.walk(ast.parse("\n".join(lines))):
            if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = fn.end_lineno - fn.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    long_functions.append(f"{path}:{fn.lineno} {fn.name} ({length})")
    assert long_modules == [] and long_functions == [], f"too long: {long_modules + long_functions}"
