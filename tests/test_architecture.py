"""Structure rules of the package, checked on its source with ``ast`` (nothing is imported).

- Layers import one way, top to bottom (``LAYERS``).
- No import cycles between modules.
- No module over ``MAX_MODULE_LINES`` lines, no function over ``MAX_FUNCTION_LINES``.
- Only ``honed.cli.render`` prints: no ``print(...)``, ``console.print``, ``sys.stdout.write``,
  ``typer.echo`` anywhere else (text inside string literals is not code, so it does not count).

``KNOWN`` lists today's violations that are still to be fixed; it only shrinks. An entry that no
longer matches a violation fails too, so a fix also removes its entry.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "honed"
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 60
PRINTS_IN = "honed.cli.render"  # the one place that writes to the terminal
# Every ``import honed.x`` runs the root package first anyway, so names taken from the root itself
# (``from honed import __version__``) add no dependency Python does not already force: imports of
# ROOT count for neither layers nor cycles. (Its own re-exports are lazy, inside ``__getattr__``.)
ROOT = "honed"

# Layer ranks, low to high: a module may import from its own rank or a lower one, never from a
# higher one. A module's layer is its longest matching prefix here.
# - plugins (named extension points read from entry points) imports only errors: the task, eval,
#   provider and optimizer registries all resolve names through it.
# - testing is a stdlib-only seam (block_network) that process entry points call at start-up
#   (the CLI, the MLflow flush child); it must stay importable from anywhere, so it sits at the
#   bottom and may import nothing above types/errors.
# - stats (bootstrap CIs and paired tests) is pure functions over numbers: it imports numpy, scipy
#   and the standard library only, so every layer may use it.
# - providers and evals share a rank: a judge scorer takes a model (evals -> providers.base).
# - tracking sits beside engine: engine, optimizers and lifecycle import it and it imports none
#   of them, so it ranks just below engine.
# - api (the Python API: evaluate, optimize, load a prompt) and doctor (environment checks) are
#   edges for code: above lifecycle, below the CLI that may call them. The root package and
#   ``python -m honed`` sit above everything (see ROOT above).
LAYERS = {
    "honed.types": 0,
    "honed.errors": 0,
    "honed.testing": 0,
    "honed.plugins": 0,
    "honed.stats": 0,
    "honed.task": 1,
    "honed.providers": 2,
    "honed.evals": 2,
    "honed.tracking": 3,
    "honed.store": 3,
    "honed.engine": 4,
    "honed.experiments": 4,
    "honed.monitor": 4,
    "honed.optimizers": 5,
    "honed.lifecycle": 6,
    "honed.api": 7,
    "honed.doctor": 7,
    "honed.client": 7,
    "honed.loop": 7,
    "honed.cli": 8,
    "honed.server": 8,
    "honed.web": 8,
    "honed.__main__": 9,
    "honed": 9,
}

# Imports under ``if TYPE_CHECKING:`` count for the layer rule: a lower layer that names a higher
# layer's types still depends on it (the fix is to move the type down or accept a Protocol).
# They do not count for cycles: they never run, so they cannot make an import-time cycle.
# (None goes upward today: the few there are import from the same or a lower layer.)
# Imports under ``if __name__ == "__main__":`` count for neither: that block runs only when the
# module is the program (``python -m``), i.e. it is a process entry point, an edge, and never
# runs when the module is imported. Its prints are still checked.
#
# Today's violations that are still to be fixed, each in its own module; an entry goes when its
# module is fixed. An entry is (rule, module, what): ``what`` is a layer-crossing import's target,
# a cycle's modules, a function's name, or the function (or "<module>") holding a print call, so
# entries survive unrelated edits that move lines.
KNOWN: set[tuple[str, str, str]] = set()


@dataclass(frozen=True)
class Violation:
    rule: str
    module: str
    what: str  # compared with KNOWN
    detail: str  # shown, not compared (line numbers, sizes)

    @property
    def key(self) -> tuple[str, str, str]:
        return self.rule, self.module, self.what


@dataclass(frozen=True)
class Import:
    source: str  # the importing module
    target: str  # the most specific honed module the statement names
    line: int
    typing_only: bool
    main_only: bool


@cache
def modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(SRC.rglob("*.py")):
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


@cache
def tree(module: str) -> ast.Module:
    path = modules()[module]
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _is_main_guard(test: ast.expr) -> bool:
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name)
            and test.left.id == "__name__" and len(test.comparators) == 1
            and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def _named(module: str, node: ast.Import | ast.ImportFrom) -> Iterator[str]:
    """The honed modules an import statement names (``from pkg import sub`` names pkg.sub)."""
    known = modules()
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        base = node.module or ""
        if node.level:
            package = module.split(".")
            if modules()[module].name != "__init__.py":
                package.pop()
            package = package[: len(package) - node.level + 1]
            base = ".".join([*package, base] if base else package)
        names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
    found = []
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        if name.split(".")[0] == "honed" and name != module and name not in found:
            found.append(name)
    yield from found


def _imports_in(module: str, node: ast.AST, typing_only: bool, main_only: bool) -> Iterator[Import]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        for target in _named(module, node):
            yield Import(module, target, node.lineno, typing_only, main_only)
        return
    if isinstance(node, ast.If) and _is_type_checking(node.test):
        for part in node.body:
            yield from _imports_in(module, part, True, main_only)
        for part in node.orelse:
            yield from _imports_in(module, part, typing_only, main_only)
        return
    if isinstance(node, ast.If) and _is_main_guard(node.test):
        for part in node.body:
            yield from _imports_in(module, part, typing_only, True)
        return
    for child in ast.iter_child_nodes(node):
        yield from _imports_in(module, child, typing_only, main_only)


@cache
def imports() -> tuple[Import, ...]:
    """Every import of a honed module by a honed module: top level and inside functions."""
    return tuple(imp for module in modules() for imp in _imports_in(module, tree(module), False,
                                                                     False))


def rank(module: str) -> int:
    name = module
    while name not in LAYERS:
        name = name.rpartition(".")[0]
    return LAYERS[name]


def _check(rule: str, found: list[Violation]) -> None:
    """Fail on violations not in KNOWN, and on KNOWN entries of this rule that are gone."""
    keys = {v.key for v in found}
    new = sorted((v for v in found if v.key not in KNOWN), key=lambda v: (v.module, v.detail))
    stale = sorted(k for k in KNOWN if k[0] == rule and k not in keys)
    lines = [f"  {v.module}: {v.detail}" for v in new]
    lines += [f"  fixed, remove from KNOWN: {entry}" for entry in stale]
    assert not lines, f"{rule} rule:\n" + "\n".join(lines)


# --- layers and cycles ---------------------------------------------------------------------------


def test_every_module_has_a_layer() -> None:
    """A new top-level module or package gets its rank in LAYERS, not the root's by default."""
    tops = {".".join(module.split(".")[:2]) for module in modules()}
    assert sorted(tops - set(LAYERS)) == []


def test_layers_import_downward_only() -> None:
    found = []
    for imp in imports():
        if imp.main_only or imp.target == ROOT:
            continue
        if rank(imp.target) > rank(imp.source):
            kind = " under TYPE_CHECKING" if imp.typing_only else ""
            found.append(Violation("layers", imp.source, imp.target,
                                   f"line {imp.line} imports {imp.target}{kind}: layer rank "
                                   f"{rank(imp.source)} may not import rank {rank(imp.target)}"))
    _check("layers", found)


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def enter(node: str) -> tuple[str, Iterator[str]]:
        index[node] = low[node] = len(index)
        stack.append(node)
        return node, iter(sorted(graph[node]))

    for root in sorted(graph):
        if root in index:
            continue
        work = [enter(root)]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    work.append(enter(child))
                elif child in stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = stack[stack.index(node):]
                del stack[stack.index(node):]
                if len(component) > 1:
                    found.append(sorted(component))
    return found


def _path(graph: dict[str, set[str]], component: list[str]) -> list[str]:
    """One shortest cycle through the component's first module (breadth-first)."""
    members, start = set(component), component[0]
    came: dict[str, str] = {}
    queue = [start]
    for node in queue:
        for child in sorted(graph[node] & members):
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(came[path[-1]])
                return [*reversed(path), start]
            if child not in came:
                came[child] = node
                queue.append(child)
    raise AssertionError(f"no cycle through {start}")


def test_no_import_cycles() -> None:
    graph: dict[str, set[str]] = {module: set() for module in modules()}
    for imp in imports():
        if not imp.typing_only and not imp.main_only and imp.target != ROOT:
            graph[imp.source].add(imp.target)
    found = [Violation("cycles", c[0], " ".join(c), "import cycle " + " -> ".join(_path(graph, c)))
             for c in _cycles(graph)]
    _check("cycles", found)


def test_cycle_finder() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"}}
    assert sorted(_cycles(graph)) == [["a", "b", "c"], ["d", "e"]]
    assert _path(graph, ["a", "b", "c"]) == ["a", "b", "c", "a"]
    assert _cycles({"a": {"b"}, "b": set()}) == []


# --- sizes ---------------------------------------------------------------------------------------


def test_modules_are_small() -> None:
    found = []
    for module, path in modules().items():
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_MODULE_LINES:
            found.append(Violation("module size", module, "<module>",
                                   f"{lines} lines > {MAX_MODULE_LINES}"))
    _check("module size", found)


def _functions(node: ast.AST, scope: str = "") -> Iterator[tuple[str, ast.AST]]:
    """Every node under ``node`` with the dotted name of the function or class holding it."""
    for child in ast.iter_child_nodes(node):
        yield scope or "<module>", child
        if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            yield from _functions(child, f"{scope}.{child.name}" if scope else child.name)
        else:
            yield from _functions(child, scope)


def test_functions_are_small() -> None:
    found = []
    for module in modules():
        for scope, node in _functions(tree(module)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{scope}.{node.name}" if scope != "<module>" else node.name
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    found.append(Violation("function size", module, name,
                                           f"{name} (line {node.lineno}) has {lines} lines > "
                                           f"{MAX_FUNCTION_LINES}"))
    _check("function size", found)


# --- printing ------------------------------------------------------------------------------------


def _printing(call: ast.Call) -> str | None:
    """What a call writes to the terminal with, or None."""
    func = call.func
    if isinstance(func, ast.Name) and func.id in ("print", "pprint"):
        return f"{func.id}()"
    if not isinstance(func, ast.Attribute):
        return None
    owner = ast.unparse(func.value)
    if func.attr in ("print", "print_json", "log", "rule") and (
            "console" in owner.casefold() or owner == "rich"):
        return f"{owner}.{func.attr}()"
    if func.attr in ("write", "writelines") and owner in ("sys.stdout", "sys.stderr"):
        return f"{owner}.{func.attr}()"
    if func.attr in ("echo", "secho") and owner in ("typer", "click"):
        return f"{owner}.{func.attr}()"
    return None


def test_only_render_prints() -> None:
    found = []
    for module in modules():
        if module == PRINTS_IN or module.startswith(PRINTS_IN + "."):
            continue
        for scope, node in _functions(tree(module)):
            how = _printing(node) if isinstance(node, ast.Call) else None
            if how:
                found.append(Violation("prints", module, scope,
                                       f"{scope} (line {node.lineno}) calls {how}"))
    _check("prints", found)


@pytest.mark.parametrize("source", [
    "print('x')", "console.print(table)", "Console().print(x)", "self._console.print(x)",
    "_console().print(x)", "sys.stdout.write('x')", "sys.stderr.write('x')", "typer.echo('x')"])
def test_printing_calls_are_recognised(source: str) -> None:
    call = ast.parse(source).body[0]
    assert isinstance(call, ast.Expr) and isinstance(call.value, ast.Call)
    assert _printing(call.value)


def test_code_in_strings_is_not_a_call() -> None:
    node = ast.parse('SCRIPT = "import sys; sys.stdout.write(1); print(2)"\nlog.write("x")')
    assert not [n for n in ast.walk(node) if isinstance(n, ast.Call) and _printing(n)]
