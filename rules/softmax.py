"""Softmax and log-softmax (per row of a matrix, over all entries of a vector)."""
from __future__ import annotations

from sympy.matrices.expressions import OneMatrix

from matcalc.ir import ops
from matcalc.ir.nodes import LogSoftmax, Softmax

from .registry import rule


def group_sums(M, over_columns: bool):
    """Each normalisation group's sum, spread over the group: (M 1) 1ᵀ per row, sum(M) 1 per vector."""
    rows, cols = M.shape
    if over_columns or rows == 1:
        return ops.scale(ops.sum_entries(M), OneMatrix(rows, cols))
    return ops.matmul(M, OneMatrix(cols, 1), OneMatrix(1, cols))


@rule("softmax", Softmax,
      r"\bar Z = S \odot \bar S - S \odot \big((S \odot \bar S)\mathbf 1\mathbf 1^T\big)\quad(S = \operatorname{softmax}(Z),\ J = \operatorname{diag}(s) - s s^T)",
      "seed 003 (softmax Jacobian diag(s) − s sᵀ; seed 002's diagonal is wrong)",
      [("c'*softmax(z)", {"z": (4, 1), "c": (4, 1)}), ("sum(C .* softmax(Z))", {"Z": (3, 4), "C": (3, 4)})])
def softmax_rule(node, G, wanted):
    z = node.arg
    if not wanted(z):
        return []
    weighted = ops.hadamard(node, G)
    spread = group_sums(weighted, node.over_columns)
    return [(z, ops.sub(weighted, ops.hadamard(node, spread)))]


@rule("logsoftmax", LogSoftmax,
      r"\bar Z = \bar L - S \odot \big((\bar L \mathbf 1)\mathbf 1^T\big)\quad(L = \log\operatorname{softmax}(Z));\ \text{rows of } Y \text{ summing to 1: } -Y \mapsto S - Y",
      "seed 003 (softmax regression Xᵀ(S − Y)), seed 002",
      [("-sum(Y .* logsoftmax(X*W))", {"X": (5, 3), "W": (3, 4), "Y": (5, 4)}),
       ("-log(softmax(x*W))*y", {"x": (1, 3), "W": (3, 4), "y": (4, 1)})])
def logsoftmax_rule(node, G, wanted):
    z = node.arg
    if not wanted(z):
        return []
    s = Softmax(z)
    spread = group_sums(G, node.over_columns)
    return [(z, ops.sub(G, ops.hadamard(s, spread)))]
