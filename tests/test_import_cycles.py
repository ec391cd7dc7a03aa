"""No import cycles inside the core (issue 11): ``app`` → ``cli`` and ``serving`` → ``app``
run one way only (the command line is ``queue_server.entry``), ``realtime`` → ``metrics``
one way, ``auth`` → ``operations.accounts`` → ``credentials`` one way. Imports inside
functions count: a lazy import that closes a cycle is still a cycle."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The notifier registry builds the SMS notifier on demand; that module needs the
# registry's notification type. One known pair, named so that no other joins it unseen.
KNOWN = {frozenset({"queue_server.notify", "queue_server.sms.notifier"})}


def module_graph(package: str) -> dict[str, set[str]]:
    """Module → the modules it imports (``from p import m`` names module ``p.m``, not ``p``).
    A module's import of a package it belongs to is left out: the package's ``__init__``
    re-exports its modules, and that is one unit, not a cycle."""
    paths = {}
    for path in (ROOT / package).rglob("*.py"):
        if "migrations" in path.parts:
            continue
        parts = path.relative_to(ROOT).with_suffix("").parts
        paths[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in paths}
    for name, path in paths.items():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                modules = [f"{node.module}.{a.name}" for a in node.names if f"{node.module}.{a.name}" in graph]
                targets = modules if len(modules) == len(node.names) else [node.module, *modules]
            elif isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in graph and t != name and not name.startswith(t + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Groups of more than one module that import each other, directly or around a ring."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                found.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_core_has_no_import_cycles() -> None:
    graph = module_graph("queue_server")
    assert len(graph) > 60, "the scan found the modules"
    assert "queue_server.cli" in graph["queue_server.app"], "the scan sees imports inside functions"
    unknown = [group for group in cycles(graph) if frozenset(group) not in KNOWN]
    assert unknown == []


def test_a_cycle_through_a_lazy_import_is_found() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]


def test_the_read_layer_imports_no_operation() -> None:
    """``queue_server/read`` computes read models and never changes state: nothing in it
    imports ``queue_server.operations`` (the operations may read a model to decide)."""
    found = []
    for path in sorted((ROOT / "queue_server" / "read").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            found += [f"{path.name}: {n}" for n in names if n.startswith("queue_server.operations")]
    assert found == []
