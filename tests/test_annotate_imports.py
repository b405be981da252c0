"""The annotate package has no import cycles and no imports hidden in functions (issue 9): the
cycle auth -> services -> rendering -> auth used to hide behind function-level imports."""

from __future__ import annotations

import ast
from collections import defaultdict
from graphlib import TopologicalSorter
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "cvalues" / "annotate"


def _modules() -> dict[str, ast.Module]:
    return {path.stem: ast.parse(path.read_text(encoding="utf-8")) for path in PACKAGE.glob("*.py")}


def test_no_function_level_imports() -> None:
    hidden = []
    for name, tree in _modules().items():
        for function in ast.walk(tree):
            if isinstance(function, ast.FunctionDef | ast.AsyncFunctionDef):
                for node in ast.walk(function):
                    if isinstance(node, ast.Import | ast.ImportFrom):
                        hidden.append(f"{name}.{function.name}")
    # __init__ resolves its public names lazily by importlib, which is not an import statement.
    assert hidden == []


def test_no_import_cycles_inside_annotate() -> None:
    graph: dict[str, set[str]] = defaultdict(set)
    for name, tree in _modules().items():
        graph[name] |= {
            (node.module or "").split(".")[2]
            for node in tree.body
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("cvalues.annotate.")
        }
    assert "auth" in graph["csrf"]  # the walk sees real edges
    order = list(TopologicalSorter(graph).static_order())  # raises CycleError on a cycle
    assert order.index("rendering") < order.index("services") < order.index("auth")
