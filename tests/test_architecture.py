"""Imports only point down (issue 11): checked on the source, by walking every module's AST.

* no import cycle between the modules of eventsim, training, lava_port and benchmarks
  (imports inside functions count; ``if TYPE_CHECKING:`` blocks do not run and do not count);
* eventsim imports nothing from training, benchmarks or lava_port;
* no package imports another package's underscore module or underscore name;
* lava_port runs through the backend-neutral run contract, not the Numba simulator.
"""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("eventsim", "training", "lava_port", "benchmarks")


def _modules() -> dict:
    """``{dotted name: path}`` of every module of the packages (generated kernels excluded: not in the tree)."""
    out = {}
    for pkg in PACKAGES:
        for path in sorted((ROOT / pkg).rglob("*.py")):
            parts = path.relative_to(ROOT).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


MODULES = _modules()


def _runtime_nodes(tree):
    """Every node except the bodies of ``if TYPE_CHECKING:`` blocks."""
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                stack.extend(child.orelse)
                continue
            stack.append(child)


def _imports(name: str, path: Path) -> list:
    """``(target module, imported names)`` of every import in module ``name``, resolved to our modules."""
    is_pkg = path.name == "__init__.py"
    out = []
    for node in _runtime_nodes(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out += [(alias.name, ()) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = name.split(".") if is_pkg else name.split(".")[:-1]
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                out.append((sub, ()) if sub in MODULES else (target, (alias.name,)))
    return [(t, names) for t, names in out if t.split(".")[0] in PACKAGES]


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _cycles(graph: dict) -> list:
    """Strongly connected components with more than one module (or a self-import): the import cycles."""
    index, low, on_stack, stack, found = {}, {}, set(), [], []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in graph.get(v, ()):
                found.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_the_scan_sees_the_known_imports():
    """The walk is not vacuous: it finds imports that exist, relative and absolute, inside functions too."""
    assert len(MODULES) > 60
    assert ("eventsim.fixed_point", ()) in GRAPH["eventsim.reference"]          # from . import fixed_point as fp
    assert ("eventsim.contract", ("run_options",)) in GRAPH["lava_port.api"]
    assert ("eventsim.demo", ("run_demo",)) in GRAPH["eventsim.cli"]             # inside _cmd_demo
    assert ("eventsim.model", ("Model",)) not in GRAPH["eventsim.topology"]      # TYPE_CHECKING only


def test_cycle_finder_finds_a_cycle():
    assert _cycles({"a": ["b"], "b": ["c"], "c": ["a"], "d": ["a"]}) == [["a", "b", "c"]]
    assert _cycles({"a": ["a"]}) == [["a"]]
    assert _cycles({"a": ["b"], "b": []}) == []


def test_no_import_cycles():
    graph = {m: sorted({t for t, _ in edges if t in MODULES}) for m, edges in GRAPH.items()}
    assert _cycles(graph) == []


@pytest.mark.parametrize("higher", ["training", "benchmarks", "lava_port"])
def test_eventsim_does_not_import_the_packages_above_it(higher):
    bad = [(m, t) for m, edges in GRAPH.items() if m.split(".")[0] == "eventsim"
           for t, _ in edges if t.split(".")[0] == higher]
    assert bad == []


def test_no_cross_package_import_of_private_modules_or_names():
    bad = []
    for module, edges in GRAPH.items():
        for target, names in edges:
            if target.split(".")[0] == module.split(".")[0]:
                continue
            if any(part.startswith("_") for part in target.split(".")):
                bad.append(f"{module} imports {target}")
            bad += [f"{module} imports {target}.{n}" for n in names if n.startswith("_")]
    assert bad == []


def test_lava_port_uses_the_run_contract_not_the_numba_simulator():
    targets = {t for m, edges in GRAPH.items() if m.startswith("lava_port") for t, _ in edges}
    assert "eventsim.contract" in targets
    assert not [t for t in targets if t == "eventsim.simulator" or t.startswith("eventsim.kernels")]
    assert not [t for m, edges in GRAPH.items() if m.startswith("lava_port") for t, names in edges
                if t == "eventsim" and "Simulator" in names]
