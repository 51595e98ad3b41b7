"""Stages of a step-by-step derivation: the named values between the loss and the variables.

A stage is the function itself, an intermediate the user named (``H``,
``Y_pred``), or, where the user named none, a value a textbook would name: the
argument of a nonlinear operation that is itself a product or a nonlinear value
(``u = W1 x + b1`` under a sigmoid).  Each stage's adjoint is a placeholder
δ_S; one segment of reverse mode, cut at the other stages, expresses the
contributions of S to the stages and variables just below it in δ_S — the
backprop recurrence ``δ_1 = (δ_2 W_2ᵀ) ⊙ σ'(Z_1)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sympy import Determinant, HadamardPower, Inverse, MatMul, OneMatrix, Pow, S

from ..differentiate import engine
from ..ir import ops
from ..lang.build import Program
from ..differentiate.engine import _LEAVES, BackwardStep
from ..ir.nodes import (Elementwise, LogDet, LogSoftmax, Norm2, ScalarFunction, Softmax, is_matrix,
                 placeholder)
from ..differentiate.simplify import textbook

NONLINEAR = (Elementwise, ScalarFunction, Norm2, Softmax, LogSoftmax, LogDet,
             Determinant, Inverse, HadamardPower, Pow)
_AUTO_NAMES = ("u", "z", "g", "q", "v", "s", "t", "U", "Z")


@dataclass
class Stage:
    node: object
    name: str
    auto: bool = False          # named by matcalc, not by the user
    delta: object = None        # placeholder δ_S (S.One for the function itself)
    definition: object = None   # a named intermediate's value (in variables and names)

    @property
    def root(self):
        """The expression the stage's segment differentiates."""
        return self.definition if self.definition is not None else self.node


@dataclass
class Segment:
    """Reverse mode from one stage down to the stages and variables just below it."""

    stage: Stage
    contributions: dict                           # frontier node -> contribution (in δ_S)
    records: list[BackwardStep]
    rules_to: dict = field(default_factory=dict)  # frontier node -> rule ids on its paths


def _is_product(node) -> bool:
    """A product of matrices (not a broadcast 1·b)."""
    return isinstance(node, MatMul) and sum(
        1 for a in node.args if is_matrix(a) and not isinstance(a, OneMatrix)) >= 2


def _substantial(node, boundary) -> bool:
    """Does ``node`` hold a matrix product or a nonlinear operation before the boundary?"""
    stack = [node]
    while stack:
        n = stack.pop()
        if n is not node and (n in boundary or isinstance(n, _LEAVES)):
            continue
        if _is_product(n) or isinstance(n, NONLINEAR):
            return True
        if not isinstance(n, _LEAVES):
            stack.extend(n.args)
    return False


def find_stages(program: Program, targets, preferred=None) -> list[Stage]:
    """The function first, then the stages from the output towards the inputs.

    Works on the program's opaque form: each named intermediate is a symbol with a
    definition, so every use of it goes through it.  ``preferred`` (node -> name): a stage of
    matcalc's that is one of these values takes its name (the results' p = σ(Xw + b)).
    """
    preferred = preferred or {}
    named_syms = {sym: name for name, sym in program.named.items()}
    roots = [(program.opaque_output, None)]
    for name in reversed(list(program.definitions)):
        roots.append((program.definitions[name], name))
    # which names/nodes depend on a target (definitions in statement order)
    depends: dict = {}

    def mark(expr):
        for node in engine.topological(expr):
            if node not in depends:   # a name's symbol was marked with its definition, earlier
                depends[node] = node in targets or (
                    not isinstance(node, _LEAVES) and any(depends.get(c, False) for c in node.args))
    for name, definition in program.definitions.items():
        mark(definition)
        depends[program.named[name]] = depends[definition]
    mark(program.opaque_output)
    # the names the output uses, transitively
    used, stack = set(), [program.opaque_output]
    while stack:
        for node in engine.topological(stack.pop()):
            if node in named_syms and node not in used:
                used.add(node)
                stack.append(program.definitions[named_syms[node]])
    taken = set(program.variables) | set(program.intermediates)
    base = next((b for b in _AUTO_NAMES if b not in taken and not any(
        t.startswith(b) and t[len(b):].isdigit() for t in taken)), None)
    stages = [Stage(program.opaque_output, program.output_name or "f", False, S.One)]
    autos: list[Stage] = []
    staged: set = set()
    for expr, name in roots:
        sym = program.named.get(name) if name else None
        if name is not None:
            if sym not in used or not depends.get(sym) or name == program.output_name:
                continue
            stages.append(Stage(sym, name, False, placeholder("delta", name, sym), definition=expr))
        boundary = set(named_syms)
        found = []
        for node in reversed(engine.topological(expr)):
            if not isinstance(node, NONLINEAR):
                continue
            for a in node.args:
                if (is_matrix(a) and a.shape != (1, 1) and depends.get(a) and a not in boundary
                        and a not in found and a not in staged and not isinstance(a, _LEAVES)
                        and _substantial(a, boundary)):
                    found.append(a)
        staged.update(found)   # a value shared by two statements is one stage
        for node in found:
            st = Stage(node, "", True, None)
            stages.append(st)
            autos.append(st)
    # numbered from the inputs, as layers are
    numbered = [st for st in reversed(autos) if st.node not in preferred]
    avoid = set(preferred.values())
    k = 0
    for st in reversed(autos):
        if st.node in preferred:
            st.name = preferred[st.node]
        else:
            while True:
                k += 1
                st.name = (base if len(numbered) == 1 else f"{base}{k}") if base else f"stage{k}"
                if st.name not in avoid:
                    break
        st.delta = placeholder("delta", st.name, st.node)
    return stages


def _rules_to(records: list[BackwardStep], root) -> dict:
    """For every node reached, the rule ids applied on the way from ``root`` (root first)."""
    paths: dict = {root: ()}
    for r in records:                       # records are in reverse topological order
        here = paths.get(r.node, ())
        rule_ids = (r.rule,) + ((f"fn:{r.node.name}",) if r.rule == "entrywise" else ())
        for child, _ in r.contributions:
            merged = list(paths.get(child, ()))
            for rid in here + rule_ids:
                if rid not in merged:
                    merged.append(rid)
            paths[child] = tuple(merged)
    return paths


def segments(program: Program, targets, stages: list[Stage], sum_to_one=()) -> list[Segment]:
    """One reverse-mode segment per stage, in the stages' order."""
    stage_nodes = {s.node for s in stages}
    wanted = set(targets) | stage_nodes
    memo: dict = {}
    out = []
    for k, stage in enumerate(stages):
        root = stage.root
        if root in wanted and (root is not stage.node or (k == 0 and isinstance(root, _LEAVES))):  # A = X; f = a
            adjoints, records = {root: stage.delta}, []
            frontier = {root: stage.delta}
        else:
            adjoints, records = engine.backward(root, wanted, seed=stage.delta,
                                                cut=frozenset(stage_nodes - {root}))
            frontier = {n: textbook(g, sum_to_one, memo) for n, g in adjoints.items()
                        if n in wanted and n is not root}
        paths = _rules_to(records, root)
        out.append(Segment(stage, frontier, records, {n: paths.get(n, ()) for n in frontier}))
    return out


def stage_names(stages: list[Stage]) -> dict:
    """node -> name for printing: the stages matcalc named (the user's are symbols already)."""
    return {s.node: s.name for s in stages[1:] if s.auto}


def total(segs: list[Segment], node, sum_to_one=(), memo=None):
    """Σ of the contributions to ``node`` over all segments (the chain rule's total)."""
    parts = contributions_to(segs).get(node, [])
    return textbook(ops.add(*parts), sum_to_one, memo) if parts else None


_CONTRIBUTIONS: list = [None, None, None]   # (segments list, its length, node -> contributions)


def contributions_to(segs: list[Segment]) -> dict:
    """node -> its contributions over ``segs``, in order (built once per segment list, so the
    totals of all nodes cost linear time, not segments × nodes)."""
    if _CONTRIBUTIONS[0] is not segs or _CONTRIBUTIONS[1] != len(segs):
        index: dict = {}
        for seg in segs:
            for node, value in seg.contributions.items():
                index.setdefault(node, []).append(value)
        _CONTRIBUTIONS[:] = [segs, len(segs), index]
    return _CONTRIBUTIONS[2]
