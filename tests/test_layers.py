"""The programs' modules import each other without cycles, so each layer can be read, tested and
changed on its own (import-linter keeps the pure core and the two programs apart; this test
catches any cycle, however long, including ones hidden in a function-level import)."""

import grimp
import pytest


def cycles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """Strongly connected groups of more than one module (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.find_modules_directly_imported_by(v) & modules:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for m in sorted(modules):
        if m not in index:
            visit(m)
    return found


@pytest.mark.parametrize(
    ("package", "at_least"), [("headend", 40), ("station", 30), ("playlists", 8), ("catalogue", 4), ("players", 2)]
)
def test_no_import_cycle_inside(package, at_least):
    graph = grimp.build_graph(package)
    assert len(graph.modules) >= at_least  # the graph really holds the package's modules
    assert cycles(graph, set(graph.modules)) == []


def test_a_cycle_through_a_package_init_is_found():
    graph = grimp.ImportGraph()
    for m in ("p", "p.web", "p.web.tv", "p.store"):
        graph.add_module(m)
    graph.add_import(importer="p.web", imported="p.web.tv")  # the package re-exports a page
    graph.add_import(importer="p.web.tv", imported="p.web")  # the page takes an app key from it
    graph.add_import(importer="p.web.tv", imported="p.store")
    assert cycles(graph, set(graph.modules)) == [["p.web", "p.web.tv"]]
