"""No import cycle inside the headend (the layers themselves are an import-linter contract in
pyproject.toml, run by `make test`): every module can be read knowing only what it imports."""

from __future__ import annotations

import grimp


def _cycles(graph, modules: set[str]) -> list[list[str]]:
    """Tarjan's strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(m: str) -> None:
        index[m] = low[m] = len(index)
        stack.append(m)
        on_stack.add(m)
        for n in graph.find_modules_directly_imported_by(m) & modules:
            if n not in index:
                visit(n)
                low[m] = min(low[m], low[n])
            elif n in on_stack:
                low[m] = min(low[m], index[n])
        if low[m] == index[m]:
            part = []
            while True:
                n = stack.pop()
                on_stack.discard(n)
                part.append(n)
                if n == m:
                    break
            if len(part) > 1:
                found.append(sorted(part))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    return found


def test_no_import_cycle_inside_the_headend():
    graph = grimp.build_graph("headend")
    modules = {m for m in graph.modules if m.startswith("headend.")}
    assert len(modules) > 40
    assert _cycles(graph, modules) == []
