"""The layout reads as the flow: the import graph of ``uplift`` has no cycles, its layers point
one way, no private name crosses a module boundary, and every module is small enough to read.

The graph is built from the source with :mod:`ast`, not by importing it: every ``import``
and ``from ... import`` of an ``uplift`` module counts, at module level and inside functions
alike (an import inside a function hides a cycle from Python's import machinery, not from
the reader). Dynamic imports (``importlib.import_module`` with a computed name: the CLI's
command table, the lazy public API in ``uplift/__init__.py``) are not edges.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

MAX_LINES = 550

# The parts of the package, bottom to top. A module may import its own part and any part of a
# LOWER layer; never a part of its own layer (siblings stay independent) or of a higher one.
LAYERS: list[set[str]] = [
    {"uplift", "errors", "text"},  # the root (__version__, the lazy API), errors, plain-text tables
    {"results"},                   # the one JSON serialiser and the results.json schema version
    {"spec"},                      # the experiment spec: typed settings, no rows
    {"data"},                      # THE seam: the only part that touches rows
    {"stats"},                     # closed-form statistics on sufficient statistics
    {"metrics", "survival"},       # metric kinds and cross-sell measures; life tables, KM, RMST
    {"clv"},                       # lifetime value from survival curves
    {"experiment"},                # design, precision, exclusions, assignment, ledger, checks
    {"targeting", "simulate"},     # who to target next; the simulated bank
    {"programme"},                 # campaigns together: registry, global holdout, contact policy, meta-analysis
    {"readout"},                   # one analysis, results.json, the rendered report
    {"demo"},                      # the whole flow on simulated data
    {"cli", "notebook"},           # the command line (cli.py + commands/) and the notebook template
    {"__main__"},                  # python -m uplift
]


@dataclass(frozen=True)
class Edge:
    source: str   # importing module
    target: str   # imported uplift module
    names: tuple[str, ...]  # names taken from it (``from target import a, b``); () for ``import target``
    line: int
    in_function: bool

    def where(self, modules: dict[str, Path]) -> str:
        scope = " (inside a function)" if self.in_function else ""
        return f"{modules[self.source].relative_to(ROOT.parent)}:{self.line}{scope}"


ROOT = Path(__file__).resolve().parents[1] / "uplift"


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def part_of(module: str) -> str:
    """The layer part a module belongs to: its subpackage (``uplift.data.engine`` -> ``data``),
    ``cli`` for cli.py and commands/, ``notebook`` for the readout template."""
    bits = module.split(".")
    if len(bits) == 1:
        return "uplift"
    if bits[1] == "commands":
        return "cli"
    if bits[1:3] == ["readout", "templates"]:
        return "notebook"
    return bits[1]


@pytest.fixture(scope="module")
def modules() -> dict[str, Path]:
    found = {module_name(p): p for p in sorted(ROOT.rglob("*.py"))}
    assert "uplift.cli" in found and "uplift.data" in found
    return found


@pytest.fixture(scope="module")
def trees(modules) -> dict[str, ast.Module]:
    return {m: ast.parse(p.read_text(encoding="utf-8"), filename=str(p)) for m, p in modules.items()}


def _resolve_from(module: str, node: ast.ImportFrom, is_package: bool) -> str | None:
    """The absolute module named by ``from X import ...`` (relative imports included)."""
    if node.level == 0:
        return node.module
    base = module.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


class _Collector(ast.NodeVisitor):
    """Every uplift import of one module, remembering whether it sits inside a function."""

    def __init__(self, module: str, modules: dict[str, Path]):
        self.module, self.modules, self.depth = module, modules, 0
        self.is_package = modules[module].name == "__init__.py"
        self.edges: list[Edge] = []
        self.aliases: dict[str, str] = {}  # local name -> uplift module it is bound to

    def _function(self, node: ast.AST) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if alias.name == "uplift" or alias.name.startswith("uplift."):
                self.edges.append(Edge(self.module, alias.name, (), node.lineno, self.depth > 0))
                if alias.asname:
                    self.aliases[alias.asname] = alias.name

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        base = _resolve_from(self.module, node, self.is_package)
        if not base or not (base == "uplift" or base.startswith("uplift.")):
            return
        plain: list[str] = []
        for alias in node.names:
            sub = f"{base}.{alias.name}"
            if sub in self.modules:  # ``from uplift.data import engine``: the submodule itself
                self.edges.append(Edge(self.module, sub, (), node.lineno, self.depth > 0))
                self.aliases[alias.asname or alias.name] = sub
            else:
                plain.append(alias.name)
        if plain:
            self.edges.append(Edge(self.module, base, tuple(plain), node.lineno, self.depth > 0))


def collect(modules, trees) -> tuple[list[Edge], dict[str, dict[str, str]]]:
    edges, aliases = [], {}
    for m, tree in trees.items():
        c = _Collector(m, modules)
        c.visit(tree)
        edges += [e for e in c.edges if e.target != m]
        aliases[m] = c.aliases
    return edges, aliases


@pytest.fixture(scope="module")
def graph(modules, trees):
    return collect(modules, trees)


def _known(target: str, modules: dict[str, Path]) -> str:
    """The module an import lands in (``from uplift.x import name`` -> ``uplift.x``)."""
    while target not in modules and "." in target:
        target = target.rsplit(".", 1)[0]
    return target


def strongly_connected(nodes: list[str], succ: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm (iterative): the strongly connected components with more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = 0
    for root in nodes:
        if root in index:
            continue
        work = [(root, iter(sorted(succ.get(root, ()))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter
                    counter += 1
                    stack.append(w)
                    on_stack.add(w)
                    work.append((w, iter(sorted(succ.get(w, ())))))
                    break
                if w in on_stack:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on_stack.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def one_cycle(component: list[str], succ: dict[str, set[str]]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first), for the report."""
    start = component[0]
    members = set(component)
    prev: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt = []
        for v in frontier:
            for w in sorted(succ.get(v, ())):
                if w not in members:
                    continue
                if w == start:
                    path = [v]
                    while path[-1] != start:
                        path.append(prev[path[-1]])
                    return [start, *reversed(path[:-1]), start]
                if w not in prev:
                    prev[w] = v
                    nxt.append(w)
        frontier = nxt
    return component  # pragma: no cover - a component always holds a cycle


# --------------------------------------------------------------------------- the helpers themselves


def test_the_cycle_finder_on_a_graph_drawn_by_hand():
    succ = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set(), "e": {"f"}, "f": {"e"}, "g": {"g"}}
    comps = strongly_connected(sorted(succ), succ)
    assert sorted(comps) == [["a", "b", "c"], ["e", "f"]]
    assert one_cycle(["a", "b", "c"], succ) == ["a", "b", "c", "a"]
    assert strongly_connected(["x", "y"], {"x": {"y"}, "y": set()}) == []


def test_the_collector_sees_every_kind_of_import(tmp_path):
    src = (
        "from uplift.data import engine as engines\n"
        "import uplift.stats.compare\n"
        "from uplift.errors import DataError, _hidden\n"
        "def f():\n"
        "    from uplift.experiment.assign import assign\n"
        "    return engines._private(1)\n"
    )
    mods = {m: tmp_path for m in ("uplift.demo", "uplift.data", "uplift.data.engine", "uplift.stats.compare",
                                   "uplift.errors", "uplift.experiment.assign")}
    mods["uplift.demo"] = tmp_path / "demo.py"
    c = _Collector("uplift.demo", mods)
    c.visit(ast.parse(src))
    got = {(e.target, e.names, e.in_function) for e in c.edges}
    assert got == {
        ("uplift.data.engine", (), False), ("uplift.stats.compare", (), False),
        ("uplift.errors", ("DataError", "_hidden"), False), ("uplift.experiment.assign", ("assign",), True),
    }
    assert c.aliases == {"engines": "uplift.data.engine"}


# --------------------------------------------------------------------------- the package


def test_no_import_cycles(modules, graph):
    edges, _ = graph
    succ: dict[str, set[str]] = {}
    for e in edges:
        succ.setdefault(e.source, set()).add(_known(e.target, modules))
    cycles = strongly_connected(sorted(modules), succ)
    report = []
    for comp in cycles:
        path = one_cycle(comp, succ)
        steps = []
        for a, b in zip(path, path[1:]):
            e = next(e for e in edges if e.source == a and _known(e.target, modules) == b)
            steps.append(f"{a} -> {b} ({e.where(modules)})")
        report.append(f"{len(comp)} modules in a cycle: {', '.join(comp)}; e.g. " + "; ".join(steps))
    assert not report, "import cycles:\n" + "\n".join(report)


def test_no_private_names_cross_modules(modules, trees, graph):
    """``from uplift.x import _name`` and ``x._name`` (x an uplift module) are refused: share a helper
    openly under a public name instead. Dunder names (``__version__``) are public."""
    edges, aliases = graph

    def private(name: str) -> bool:
        return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))

    found = [f"{e.where(modules)}: from {e.target} import {n}" for e in edges for n in e.names if private(n)]
    for m, tree in trees.items():
        bound = aliases[m]
        for node in ast.walk(tree):
            if (isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
                    and node.value.id in bound and private(node.attr)):
                found.append(f"{modules[m].relative_to(ROOT.parent)}:{node.lineno}: "
                             f"{node.value.id}.{node.attr} ({bound[node.value.id]})")
    assert not found, "private names used across modules:\n" + "\n".join(sorted(found))


def test_no_module_over_the_size_limit(modules):
    sizes = {m: len(p.read_text(encoding="utf-8").splitlines()) for m, p in modules.items()}
    over = sorted(((n, m) for m, n in sizes.items() if n > MAX_LINES), reverse=True)
    assert not over, f"modules over {MAX_LINES} lines: " + ", ".join(f"{m} ({n})" for n, m in over)


def test_every_part_has_a_layer(modules):
    placed = set().union(*LAYERS)
    unplaced = sorted({part_of(m) for m in modules} - placed)
    assert not unplaced, f"parts of uplift/ with no layer: {unplaced}; add them to LAYERS in {Path(__file__).name}"
    assert sum(len(layer) for layer in LAYERS) == len(placed), "a part is listed in two layers"


def test_layers_point_one_way(modules, graph):
    """Each import goes down the layers (or stays within its own part): data depends on nothing
    above it, stats only on data, the readout on everything below it, the CLI on top."""
    edges, _ = graph
    rank = {part: i for i, layer in enumerate(LAYERS) for part in layer}
    wrong = []
    for e in edges:
        src, dst = part_of(e.source), part_of(_known(e.target, modules))
        if src == dst or src not in rank or dst not in rank:
            continue
        if rank[dst] >= rank[src]:
            how = "a sibling in its layer" if rank[dst] == rank[src] else "a higher layer"
            wrong.append(f"{e.where(modules)}: {e.source} ({src}) imports {_known(e.target, modules)} ({dst}, {how})")
    assert not wrong, "imports against the layers:\n" + "\n".join(sorted(wrong))
