"""The package's layout shows the pipeline: every import points down, from the front-ends to the IR.

Walks every import of every module (module level and inside functions, with ``ast``) and fails
on a cycle between modules or between subpackages, on a lower stage importing a higher one, on
a module that has no stage, and on more than eight modules at the top of ``matcalc/``.
"""
from __future__ import annotations

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGE = os.path.join(ROOT, "matcalc")

# Stages, lowest first.  A module may import its own group and groups of a lower stage only;
# groups of one stage (present, codegen) are siblings and do not import each other.
STAGES = {
    "matcalc.errors": 0, "matcalc.limits": 1,          # the base: one-line errors, time limits
    "matcalc.ir": 2,                                   # the expression IR
    "matcalc.rules": 3,                                # the identity catalogue
    "matcalc.lang": 4,                                 # text <-> IR
    "matcalc.differentiate": 5,                        # reverse mode, simplification
    "matcalc.present": 6, "matcalc.codegen": 6,        # steps and printers | generated code
    "matcalc.verify": 7,                               # numerical checks
    "matcalc.recurrent": 8,                            # backpropagation through time
    "matcalc.derivation": 9,                           # the results facade: derive()
    "matcalc.judge": 10,                               # check, check-note, the catalogue's self-tests
    "matcalc": 11,                                     # the public API (matcalc/__init__.py)
    "matcalc.cli_support": 12, "matcalc.web": 12,      # front-ends
    "matcalc.cli": 13,
    "matcalc.__main__": 14,
}
MAX_TOP_LEVEL = 8


def _modules() -> dict:
    """Dotted module name -> file, for matcalc/, the catalogue (rules/) and the CLI (cli.py)."""
    found = {}
    roots = [(PACKAGE, "matcalc")]
    if not os.path.isdir(os.path.join(PACKAGE, "rules")):      # a source checkout: rules/ beside
        roots.append((os.path.join(ROOT, "rules"), "matcalc.rules"))
    for base, prefix in roots:
        for folder, dirs, files in os.walk(base):
            dirs[:] = [d for d in dirs if d != "__pycache__" and
                       os.path.isfile(os.path.join(folder, d, "__init__.py"))]
            rel = os.path.relpath(folder, base)
            package = prefix if rel == "." else prefix + "." + rel.replace(os.sep, ".")
            for f in files:
                if f.endswith(".py"):
                    found[package if f == "__init__.py" else f"{package}.{f[:-3]}"] = os.path.join(folder, f)
    cli = os.path.join(ROOT, "cli.py")
    if "matcalc.cli" not in found and os.path.isfile(cli):
        found["matcalc.cli"] = cli
    return found


MODULES = _modules()


def _imports(name: str, path: str) -> dict:
    """Modules of the package that ``name`` imports (anywhere in the file) -> first line."""
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read(), path)
    package = name if path.endswith("__init__.py") else name.rpartition(".")[0]
    out: dict = {}

    def add(target, line):
        while target and target not in MODULES:
            target = target.rpartition(".")[0]
        if target and target != name:
            out.setdefault(target, line)

    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                add(alias.name, node.lineno)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = package.split(".")
                base = ".".join(parts[:len(parts) - node.level + 1] + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            for alias in node.names:
                full = f"{base}.{alias.name}"
                add(full if full in MODULES else base, node.lineno)
    return out


EDGES = {name: _imports(name, path) for name, path in MODULES.items()}


def _group(name: str) -> str:
    """The stage group of a module: its subpackage, or the module itself at the top level."""
    best = ""
    for g in STAGES:
        if (name == g or name.startswith(g + ".")) and len(g) > len(best) and (g != "matcalc" or name == "matcalc"):
            best = g
    return best


def _cycles(edges: dict) -> list:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for start in edges:
        if start in index:
            continue
        work = [(start, iter(edges.get(start, ())))]
        index[start] = low[start] = counter[0]
        counter[0] += 1
        stack.append(start)
        on.add(start)
        while work:
            v, it = work[-1]
            for w in it:
                if w not in index:
                    index[w] = low[w] = counter[0]
                    counter[0] += 1
                    stack.append(w)
                    on.add(w)
                    work.append((w, iter(edges.get(w, ()))))
                    break
                if w in on:
                    low[v] = min(low[v], index[w])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[v])
                if low[v] == index[v]:
                    comp = []
                    while True:
                        w = stack.pop()
                        on.discard(w)
                        comp.append(w)
                        if w == v:
                            break
                    if len(comp) > 1:
                        out.append(sorted(comp))
    return out


def test_every_module_has_a_stage():
    missing = sorted(m for m in MODULES if not _group(m))
    assert not missing, f"modules without a stage (add them to a subpackage and to STAGES): {missing}"


def test_no_cycle_between_modules():
    cycles = _cycles({m: set(t) for m, t in EDGES.items()})
    assert not cycles, "import cycles: " + "; ".join(
        " <-> ".join(c) + " (" + ", ".join(f"{a} imports {b} at line {EDGES[a][b]}" for a in c for b in c
                                         if b in EDGES[a]) + ")" for c in cycles)


def test_no_cycle_between_subpackages():
    groups: dict = {}
    for a, targets in EDGES.items():
        for b in targets:
            if _group(a) and _group(b) and _group(a) != _group(b):
                groups.setdefault(_group(a), set()).add(_group(b))
    assert not _cycles(groups), _cycles(groups)


def test_dependencies_point_down():
    wrong = [f"{a} (stage {STAGES[_group(a)]}) imports {b} (stage {STAGES[_group(b)]}) at line {line}"
             for a, targets in EDGES.items() for b, line in targets.items()
             if _group(a) and _group(b) and _group(a) != _group(b) and STAGES[_group(b)] >= STAGES[_group(a)]]
    assert not wrong, "imports pointing up or sideways:\n" + "\n".join(sorted(wrong))


def test_few_modules_at_the_top():
    top = sorted(f for f in os.listdir(PACKAGE) if f.endswith(".py"))
    assert len(top) <= MAX_TOP_LEVEL, f"{len(top)} modules at the top of matcalc/: {top}"


def test_every_subpackage_says_what_it_may_import():
    for name, path in MODULES.items():
        if path.endswith("__init__.py") and name.count(".") == 1 and name != "matcalc.rules":
            with open(path, encoding="utf-8") as f:
                doc = ast.get_docstring(ast.parse(f.read())) or ""
            assert "import" in doc.lower(), f"{path}: the docstring says what the subpackage may import"


@pytest.mark.parametrize("bad, expected", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}}, [["a", "b", "c"]]),
    ({"a": {"b"}, "b": set()}, []),
])
def test_the_cycle_finder_finds_cycles(bad, expected):
    assert _cycles(bad) == expected
