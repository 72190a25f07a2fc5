"""The package map's import rules (docs/architecture.md), read from the source with ``ast``.

Layers, lowest first: config/errors → market → features → ml → service → charts → bot/cli. No module imports
one of a higher layer, and no modules import each other — not even lazily inside a function: a cycle makes
import order matter and hides a missing seam (two modules owning one concern). Imports under
``TYPE_CHECKING`` are annotations only and count for neither rule. ``charts`` (the pictures people look at)
draw from plain data the service hands over: the service never imports them, and only they draw with
matplotlib.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
LOWER = ("market", "features", "ml")
HIGHER = ("bot", "service", "cli", "charts")
#: Modules that may import matplotlib, and only inside functions (``import kstock…`` stays cheap).
DRAWING = ("kstock.charts", "kstock.bot.chart_renderer")


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "kstock").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _is_type_checking(node: ast.AST) -> bool:
    return isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)


def _imports(name: str, path: Path, modules: dict[str, Path], top_level: bool) -> set[str]:
    """Modules of kstock that ``name`` imports (only at module level when ``top_level``)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    nodes: list[ast.AST] = []
    if top_level:
        stack = [n for n in tree.body if not _is_type_checking(n)]
        while stack:
            node = stack.pop()
            if isinstance(node, ast.Import | ast.ImportFrom):
                nodes.append(node)
            elif isinstance(node, ast.If | ast.Try | ast.With):
                stack += [n for n in ast.iter_child_nodes(node) if isinstance(n, ast.stmt)]
    else:  # everywhere, lazily inside functions too, but annotations only (TYPE_CHECKING) never count
        typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block) for n in ast.walk(block)}
        nodes = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom) and id(n) not in typing_only]
    found = set()
    for node in nodes:
        if isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[: len(parts) - node.level + 1] + ([node.module] if node.module else []))
            targets = [base] + [f"{base}.{alias.name}" for alias in node.names]
        else:
            targets = [alias.name for alias in node.names]
        for target in targets:
            while target.startswith("kstock") and target not in modules and "." in target:
                target = target.rsplit(".", 1)[0]
            if target in modules and target != name:
                found.add(target)
    return found


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_lower_layers_never_import_the_service_the_bot_or_the_cli() -> None:
    modules = _modules()
    wrong = [(name, target) for name, path in modules.items() if _layer(name) in LOWER
             for target in _imports(name, path, modules, top_level=False) if _layer(target) in HIGHER]
    assert wrong == []


#: Rank of each layer (``kstock.<layer>``); top-level modules (config, errors, procs) are 0, ``__main__`` runs the CLI.
RANK = {"market": 1, "features": 2, "ml": 3, "service": 4, "charts": 5, "bot": 6, "cli": 6, "__main__": 7}


def _graph(modules: dict[str, Path]) -> dict[str, set[str]]:
    """Every module's imports of kstock modules, inside functions too (annotations only left out)."""
    graph: dict[str, set[str]] = defaultdict(set)
    for name, path in modules.items():
        graph[name] = _imports(name, path, modules, top_level=False)
    return graph


def test_no_import_cycles_even_inside_functions() -> None:
    assert _cycles(_graph(_modules())) == []


def test_no_module_imports_a_higher_layer() -> None:
    graph = _graph(_modules())
    wrong = [(name, target) for name, targets in graph.items() for target in sorted(targets)
             if RANK.get(_layer(target), 0) > RANK.get(_layer(name), 0)]
    assert wrong == []


def test_the_cycle_rule_sees_a_lazy_import(tmp_path: Path) -> None:
    """A cycle closed by an import inside a function (the service's used to be) is still a cycle."""
    (tmp_path / "a.py").write_text("import kstock.b\n", encoding="utf-8")
    (tmp_path / "b.py").write_text("def f():\n    from kstock import a\n", encoding="utf-8")
    (tmp_path / "c.py").write_text("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import kstock.a\n",
                                   encoding="utf-8")
    modules = {f"kstock.{n}": tmp_path / f"{n}.py" for n in "abc"}
    graph = _graph(modules)
    assert graph["kstock.c"] == set()  # annotations only
    assert _cycles(graph) == [["kstock.a", "kstock.b", "kstock.a"]]


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    cycles = []
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:
        state[node] = 1
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append([*trail[trail.index(nxt):], nxt] if nxt in trail else [node, nxt])
            elif nxt not in state:
                visit(nxt, [*trail, nxt])
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    # a package importing its own submodules (its public façade) is not a cycle of concerns
    return [c for c in cycles if not all(m.startswith(c[0] + ".") or m == c[0] for m in c)]


def test_charts_never_import_the_bot_or_the_cli() -> None:
    modules = _modules()
    wrong = [(name, target) for name, path in modules.items() if _layer(name) == "charts"
             for target in _imports(name, path, modules, top_level=False) if _layer(target) in ("bot", "cli")]
    assert wrong == []


def _matplotlib_imports(path: Path) -> list[tuple[int, bool]]:
    """(line, runs at import time) of each matplotlib import in ``path``; ``TYPE_CHECKING`` ones are skipped."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    lazy = {id(n) for f in ast.walk(tree) if isinstance(f, ast.FunctionDef | ast.AsyncFunctionDef) for n in ast.walk(f)}
    typing_only = {id(n) for block in ast.walk(tree) if _is_type_checking(block) for n in ast.walk(block)}
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        else:
            continue
        if id(node) not in typing_only and any(n.split(".")[0] == "matplotlib" for n in names):
            found.append((node.lineno, id(node) not in lazy))
    return found


def test_only_the_charts_draw_and_matplotlib_is_imported_lazily() -> None:
    wrong = []
    for name, path in _modules().items():
        for line, top_level in _matplotlib_imports(path):
            if top_level or not name.startswith(DRAWING):
                wrong.append(f"{name}:{line}")
    assert wrong == []


#: What running SQL looks like: a cursor/connection call, the store's connection, or a connection of one's own.
_SQL_CALLS = frozenset({"execute", "executemany", "executescript"})


def _sql_uses(path: Path) -> list[str]:
    """``line: code`` of each SQL call, ``.conn`` access or ``sqlite3.connect`` in ``path``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and (node.attr in _SQL_CALLS or node.attr == "conn"
                                                or ast.unparse(node) == "sqlite3.connect"):
            found.append(f"{node.lineno}: {ast.unparse(node)}")
    return found


def test_sql_lives_in_the_market_layer_only() -> None:
    """The store (``market/store*``) and its repositories (``market/repositories/``) own every SQL statement;
    features, ml, service, bot, cli and charts call them and never hold or use a connection themselves."""
    wrong = [f"{name}:{use}" for name, path in _modules().items() if _layer(name) != "market"
             for use in _sql_uses(path)]
    assert wrong == []


def _owns_sql(module: str) -> bool:
    """The store (``kstock.market.store*``) and its repositories (``kstock.market.repositories``)."""
    return module.startswith(("kstock.market.store", "kstock.market.repositories"))


def test_inside_the_market_layer_only_the_store_and_its_repositories_hold_the_connection() -> None:
    """The calendar, the completeness rule, the checks, the sources and the universe read through the store's
    methods, :mod:`kstock.market.store_reads` and the repositories: ``store.conn`` is a per-thread connection
    the store hands out, and SQL written beside it elsewhere is SQL nobody finds when the schema changes."""
    wrong = [f"{name}:{use}" for name, path in _modules().items() if _layer(name) == "market" and not _owns_sql(name)
             for use in _sql_uses(path)]
    assert wrong == []


def test_the_sql_rule_sees_sql(tmp_path: Path) -> None:
    """The rule above would pass on a tree it cannot read: it must find each form in a sample."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f(store, conn):\n    store.conn.execute('SELECT 1')\n    conn.executemany('', [])\n"
                      "    sqlite3.connect(':memory:')\n    raise sqlite3.Error\n", encoding="utf-8")
    assert sorted(_sql_uses(sample)) == ["2: store.conn", "2: store.conn.execute", "3: conn.executemany",
                                         "4: sqlite3.connect"]
