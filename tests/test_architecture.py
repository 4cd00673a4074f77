"""The architecture as the folder tree shows it: no import circles, the layers as ``make lint`` checks.

``make lint`` runs import-linter's contracts (``pyproject.toml``: the core imports no stage,
no stage imports another, only ``msrec.app`` drives several, ``modelserver`` imports nothing
of msrec). This test adds what those contracts do not say: no two modules import each other,
directly or through others, with imports inside functions counted too (grimp reads every import
statement of a module).
"""

from __future__ import annotations

import grimp
import pytest

PACKAGES = ("msrec", "preprocessing", "trainer", "serving", "synthetic", "modelserver")


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
