"""The architecture as the folder tree shows it: no import circles, the layers as ``make lint`` checks.

``make lint`` runs import-linter's contracts (``pyproject.toml``: the core imports no stage,
no stage imports another, only ``msrec.app`` drives several, ``modelserver`` imports nothing
of msrec). This test adds what those contracts do not say: no two modules import each other,
directly or through others, with imports inside functions counted too (grimp reads every import
statement of a module).
"""

from __future__ import annotations

import ast
import pathlib

import grimp
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGES = ("msrec", "preprocessing", "trainer", "serving", "synthetic", "modelserver", "bench")


def circles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.find_modules_directly_imported_by(node)):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(*PACKAGES)


def test_no_module_imports_itself_through_others(graph):
    assert circles(graph) == []


def test_circle_finder_sees_a_circle_through_a_third_module():
    g = grimp.ImportGraph()
    for a, b in (("p.a", "p.b"), ("p.b", "p.c"), ("p.c", "p.a"), ("p.c", "p.d")):
        g.add_import(importer=a, imported=b)
    assert circles(g) == [["p.a", "p.b", "p.c"]]


# STYLE.md, Size: functions of about 40 lines, 60 at most; modules under about 300, 400 at most unless
# a reason is stated here. Counted from a function's first decorator to its last line, docstring included.
PRODUCT = ("msrec", "preprocessing", "trainer", "serving", "synthetic", "modelserver")
FUNCTION_LINES, MODULE_LINES = 60, 400
LONG_MODULES: dict[str, str] = {}  # path -> why it may pass MODULE_LINES


def sizes(path: pathlib.Path) -> tuple[int, dict[str, int]]:
    """The module's line count and each function's."""
    text = path.read_text(encoding="utf-8")
    functions = {
        f"{path}:{node.name}": node.end_lineno
        - min([node.lineno] + [d.lineno for d in node.decorator_list])
        + 1
        for node in ast.walk(ast.parse(text))
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))
    }
    return len(text.splitlines()), functions


def too_long(root: pathlib.Path, packages=PRODUCT) -> dict[str, int]:
    """Every product function over FUNCTION_LINES and module over MODULE_LINES (without a reason)."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            lines, functions = sizes(path)
            name = str(path.relative_to(root))
            if lines > MODULE_LINES and name not in LONG_MODULES:
                found[name] = lines
            found |= {n: count for n, count in functions.items() if count > FUNCTION_LINES}
    return found


def test_no_product_function_over_60_lines_and_no_module_over_400():
    assert too_long(ROOT) == {}


def test_the_size_rule_sees_a_long_function_and_a_long_module(tmp_path):
    (tmp_path / "pkg").mkdir()
    body = "\n".join(f"    x{i} = {i}" for i in range(61))
    (tmp_path / "pkg" / "long.py").write_text(f"@staticmethod\ndef long():\n{body}\n" + "\n" * 340)
    assert too_long(tmp_path, ("pkg",)) == {"pkg/long.py": 403, f"{tmp_path}/pkg/long.py:long": 63}
