"""The shape of the package: no import cycle inside netc/ and no module over ~400 lines.

Imports are read from each module's AST, not run: those at module level, and those inside functions too (a
function-level import hides a cycle from Python but not from the design: deploy/ calling back into the
`check` command is still a cycle). The one exception is the root package's lazy facade (``netc.compile``
imports the compiler when called): ``netc/__init__.py`` is loaded before any submodule, so an import of
``netc`` from below cannot start a cycle. No allowance is left: every module is under the bound and there is
no cycle, whichever import kind."""
from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import ROOT

PACKAGE = ROOT / "netc"
MAX_LINES = 420   # "no module over ~400 lines"


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _top_level_imports(path: Path, name: str, modules: dict[str, Path], everywhere: bool = False) -> set[str]:
    """The netc modules ``path`` imports when it is imported: statements at module level (inside ``if``/``try``
    too, but not ``if TYPE_CHECKING:``), not those inside functions or classes. ``from pkg import name`` counts
    as ``pkg.name`` where that is a module, else ``pkg``."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    is_pkg = path.name == "__init__.py"
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if everywhere and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                visit(node.body)
            elif isinstance(node, ast.If):
                test = node.test
                if (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
                        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"):
                    visit(node.orelse)
                    continue
                visit(node.body)
                visit(node.orelse)
            elif isinstance(node, ast.Try):
                for part in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                    visit(part)
            elif isinstance(node, (ast.With, ast.For, ast.While)) or (everywhere and isinstance(node, ast.AsyncWith)):
                visit(node.body)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    found.add(alias.name)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)]
                    mod = ".".join(base + ([node.module] if node.module else []))
                else:
                    mod = node.module or ""
                subs = {f"{mod}.{a.name}" for a in node.names} & modules.keys()
                found.update(subs)
                if len(subs) < len(node.names):   # names defined in ``mod`` itself
                    found.add(mod)

    visit(tree.body)
    result = set()
    for mod in found:
        while mod and mod not in modules:   # `import netc.ir.graph` is the module; a name inside one is its module
            mod = mod.rpartition(".")[0]
        if mod and mod != name and mod.split(".")[0] == "netc":
            result.add(mod)
    return result


def import_graph(everywhere: bool = True) -> dict[str, set[str]]:
    """Module -> the netc modules it imports (``everywhere``: inside functions too, but for the root facade)."""
    modules = _modules()
    return {name: _top_level_imports(path, name, modules, everywhere and name != "netc")
            for name, path in modules.items()}


def import_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every strongly connected group of more than one module (Tarjan), each as a cycle through it."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def strong(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                strong(w)
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
                groups.append(sorted(group))

    for v in sorted(graph):
        if v not in index:
            strong(v)
    return [_cycle_in(graph, set(g)) for g in groups]


def _cycle_in(graph: dict[str, set[str]], group: set[str]) -> list[str]:
    """One concrete cycle inside a strongly connected group (for the message): a breadth-first path back."""
    start = min(group)
    paths = {start: [start]}
    queue = [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph[v] & group):
            if w == start:
                return paths[v] + [start]
            if w not in paths:
                paths[w] = paths[v] + [w]
                queue.append(w)
    return sorted(group)   # pragma: no cover - a strongly connected group always has one


def test_cycle_finder_finds_a_planted_cycle() -> None:
    graph = {"netc.a": {"netc.b"}, "netc.b": {"netc.c"}, "netc.c": {"netc.a"}, "netc.d": {"netc.a"}}
    assert import_cycles(graph) == [["netc.a", "netc.b", "netc.c", "netc.a"]]
    assert import_cycles({"netc.a": {"netc.b"}, "netc.b": set()}) == []


def test_imports_are_read_as_python_runs_them(tmp_path) -> None:
    mods = {"netc": Path(), "netc.x": Path(), "netc.y": Path(), "netc.y.z": Path(), "netc.w": Path()}
    src = tmp_path / "m.py"
    src.write_text("from typing import TYPE_CHECKING\nfrom netc.y import z\nimport netc.x\nimport numpy\n"
                   "if TYPE_CHECKING:\n    from netc import w\ntry:\n    from netc.y import CONSTANT\n"
                   "except ImportError:\n    pass\ndef f():\n    from netc import w\n")
    assert _top_level_imports(src, "netc.m", mods) == {"netc.x", "netc.y", "netc.y.z"}
    assert _top_level_imports(src, "netc.m", mods, everywhere=True) == {"netc.x", "netc.y", "netc.y.z", "netc.w"}


def _show(cycles: list[list[str]]) -> str:
    return "\n".join(" -> ".join(c) for c in cycles)


def test_no_import_cycle_in_netc() -> None:
    cycles = import_cycles(import_graph(everywhere=False))
    assert not cycles, "import cycles (top-level imports):\n" + _show(cycles)


def test_no_import_cycle_through_function_level_imports() -> None:
    cycles = import_cycles(import_graph(everywhere=True))
    assert not cycles, "import cycles (imports anywhere in a module):\n" + _show(cycles)


def test_no_module_over_400_lines() -> None:
    sizes = {name: len(path.read_text(encoding="utf-8").splitlines()) for name, path in _modules().items()}
    long = {name: n for name, n in sizes.items() if n > MAX_LINES}
    assert not long, f"modules over {MAX_LINES} lines (split them by idea): {long}"
