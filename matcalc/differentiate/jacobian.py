"""Jacobians of vector-valued functions: forward propagation of ∂vec(N)/∂x over the DAG.

Uses the forward rules of ``rules/jvp.py`` (vec/Kronecker forms for matrices); refuses
(never guesses) an operation without a rule.
"""
from __future__ import annotations

from sympy import Identity, ZeroMatrix

from ..ir import ops
from .engine import _LEAVES, topological
from ..errors import UnsupportedError
from ..ir.nodes import is_matrix, shape_of
from ..rules.jvp import jvp_for


def entries(e) -> int:
    s = shape_of(e)
    return 1 if s == () else s[0] * s[1]


def jacobian(output, variable, cut=frozenset()):
    """∂ vec(output) / ∂ vec(variable) in numerator layout (entries of output × entries of variable).

    Nodes in ``cut`` are held constant (partial derivative through the other paths only).
    """
    n = entries(variable)
    J = {variable: Identity(n)}
    for node in topological(output, cut):
        if node in J or isinstance(node, _LEAVES) or (node in cut and node is not output) \
                or not any(a in J for a in node.args):
            continue
        rule = jvp_for(node)
        value = rule(node, J) if rule is not None else None
        if value is None:
            raise UnsupportedError(f"no Jacobian rule for {type(node).__name__} yet")
        if not is_matrix(value):
            value = ops.scale(value, Identity(1))
        if value.shape != (entries(node), n):  # pragma: no cover - a rule bug
            raise AssertionError(f"Jacobian shape {value.shape} for a node with {entries(node)} entries")
        J[node] = value
    return J.get(output, ZeroMatrix(entries(output), n))
