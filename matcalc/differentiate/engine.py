"""Reverse-mode differentiation over the expression DAG, one registered rule per node type.

SymPy expressions are hash-consed trees, so equal subexpressions are one node:
each is visited once, its adjoint ("delta") is the sum of its parents'
contributions, and the adjoints are shared by every gradient that needs them.
"""
from __future__ import annotations

from dataclasses import dataclass

from sympy import Basic, Identity, MatrixSymbol, OneMatrix, S, Symbol, ZeroMatrix
from sympy.core.symbol import Str
from sympy.matrices.expressions.special import GenericIdentity

from ..ir import ops
from .. import rules
from ..errors import UnsupportedError
from ..ir.nodes import is_matrix, shape_of

_LEAVES = (MatrixSymbol, Symbol, OneMatrix, Identity, ZeroMatrix, Str, GenericIdentity)


@dataclass(frozen=True)
class BackwardStep:
    """One application of an adjoint rule: node's adjoint pushed to its children."""

    rule: str
    node: Basic
    adjoint: Basic
    contributions: tuple   # ((child, contribution), ...)


def topological(output, cut=frozenset(), seen=None) -> list:
    """Nodes of the DAG, children before parents (iterative: no recursion limit).

    Nodes in ``cut`` (other than ``output``) are treated as leaves; nodes in ``seen`` are
    skipped (share it to walk several expressions in one pass).
    """
    order, seen = [], (set() if seen is None else seen)
    stack = [(output, False)]
    while stack:
        node, expanded = stack.pop()
        if expanded:
            order.append(node)
            continue
        if node in seen:
            continue
        seen.add(node)
        stack.append((node, True))
        if not isinstance(node, _LEAVES) and (node is output or node not in cut):
            for child in reversed(node.args):
                if child not in seen:
                    stack.append((child, False))
    return order


def _coerce(contribution, child):
    """A contribution in the child's kind: scalar for a scalar, matrix of its shape."""
    if is_matrix(child):
        if not is_matrix(contribution):
            if contribution == 0:   # a cancelled contribution: no adjoint
                return ZeroMatrix(*child.shape)
            if child.shape != (1, 1):
                raise AssertionError(f"scalar adjoint for a {child.shape} node")  # engine bug
            return ops.scale(contribution, Identity(1))
        if contribution.shape != child.shape:
            raise AssertionError(f"adjoint shape {contribution.shape} != node shape {child.shape}")
        return contribution
    return ops.as_scalar(contribution)


def backward(output, targets, seed=S.One, cut=frozenset()) -> tuple[dict, list]:
    """Adjoints of every node on a path from ``targets`` to ``output``.

    ``seed`` is the output's adjoint (1 for a scalar function; a placeholder
    such as δ_H for one segment of a derivation).  Nodes in ``cut`` are not
    expanded: they receive an adjoint like leaves.  Returns ({node: adjoint},
    [BackwardStep]); nodes that do not depend on a target get no adjoint, and a
    node type without a rule is refused.
    """
    targets = set(targets)
    order = topological(output, cut)
    depends: dict = {}
    for node in order:
        leaf = isinstance(node, _LEAVES) or (node in cut and node is not output)
        depends[node] = node in targets or (not leaf and any(depends.get(c, False) for c in node.args))

    def wanted(child) -> bool:
        return depends.get(child, False)

    pending: dict = {output: [seed]}
    adjoints: dict = {}
    steps: list[BackwardStep] = []
    for node in reversed(order):
        if not depends[node] or node not in pending:
            continue
        G = ops.add(*pending.pop(node))
        adjoints[node] = G
        if isinstance(node, _LEAVES) or not node.args or (node in cut and node is not output):
            continue
        rule = rules.rule_for(node)
        if rule is None:
            raise UnsupportedError(f"cannot differentiate {type(node).__name__}: no rule in the catalogue")
        contributions = []
        for child, contribution in rule.backward(node, G, wanted):
            if child not in node.args:  # pragma: no cover - a rule must feed its own arguments
                raise AssertionError(f"rule {rule.id} fed a non-argument")
            contribution = _coerce(contribution, child)
            if ops.is_zero(contribution):
                continue
            pending.setdefault(child, []).append(contribution)
            contributions.append((child, contribution))
        steps.append(BackwardStep(rule.id, node, G, tuple(contributions)))
    return adjoints, steps


def zero_gradient(variable):
    return ZeroMatrix(*variable.shape) if is_matrix(variable) else S.Zero


def gradient(adjoints: dict, variable):
    g = adjoints.get(variable)
    return zero_gradient(variable) if g is None else g


__all__ = ["backward", "gradient", "topological", "BackwardStep", "shape_of"]
