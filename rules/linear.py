"""Adjoint rules of the linear and multilinear operations."""
from __future__ import annotations

from sympy import Add, Identity, Mul, Pow, Trace
from sympy.matrices.expressions import (HadamardPower, HadamardProduct, MatAdd, MatMul,
                                        OneMatrix, Transpose)
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

from matcalc.ir import ops
from matcalc.ir.nodes import SumEntries, is_matrix

from .registry import rule


@rule("matmul", MatMul,
      r"\bar A_i = c\,(A_1\cdots A_{i-1})^T \bar Y (A_{i+1}\cdots A_k)^T,\quad \bar c = \operatorname{tr}(\bar Y^T A_1\cdots A_k)",
      "Matrix Cookbook (37): d(XY) = (dX)Y + X dY; seed 000 (∇_W = G xᵀ, ∇_x = Wᵀ G)",
      [("u'*W*x", {"u": (3, 1), "W": (3, 4), "x": (4, 1)}),
       ("sum(C .* (A*B*D))", {"A": (2, 3), "B": (3, 4), "D": (4, 2), "C": (2, 2)}),
       ("a*sum(X)", {"a": (), "X": (2, 3)})])
def matmul_rule(node, G, wanted):
    args = node.args
    scalars = [a for a in args if not is_matrix(a)]
    mats = [a for a in args if is_matrix(a)]
    out = []
    for i, c in enumerate(scalars):
        if wanted(c):
            rest = ops.matmul(*scalars[:i], *scalars[i + 1:], *mats)
            out.append((c, ops.sum_entries(ops.hadamard(G, rest))))
    coeff = Mul(*scalars)
    for i, m in enumerate(mats):
        if not wanted(m):
            continue
        left = ops.transpose(ops.matmul(*mats[:i])) if i else None
        right = ops.transpose(ops.matmul(*mats[i + 1:])) if i + 1 < len(mats) else None
        factors = [f for f in (left, G, right) if f is not None]
        out.append((m, ops.scale(coeff, ops.matmul(*factors))))
    return out


@rule("add", (MatAdd, Add), r"\bar A_i = \bar Y \quad (Y = \textstyle\sum_i A_i)",
      "Matrix Cookbook (35): d(X + Y) = dX + dY",
      [("sum(A + B)", {"A": (2, 3), "B": (2, 3)}), ("a + b*a", {"a": (), "b": ()})])
def add_rule(node, G, wanted):
    return [(a, G) for a in node.args if wanted(a)]


@rule("scalar_mul", Mul, r"\bar a_i = \bar y \prod_{j\ne i} a_j",
      "product rule", [("3*x^2*y", {"x": (), "y": ()})])
def mul_rule(node, G, wanted):
    args = node.args
    return [(a, Mul(G, *args[:i], *args[i + 1:])) for i, a in enumerate(args) if wanted(a)]


@rule("scalar_pow", Pow, r"\bar b = \bar y\, e\, b^{e-1},\quad \bar e = \bar y\, b^e \log b",
      "power rule", [("a^3 + b^a", {"a": (), "b": ()})], domain="b > 0 when the exponent varies")
def pow_rule(node, G, wanted):
    base, exp = node.args
    out = []
    if wanted(base):
        out.append((base, G * exp * Pow(base, exp - 1)))
    if wanted(exp):
        out.append((exp, G * ops.apply("log", base) * node))
    return out


@rule("transpose", Transpose, r"\bar A = \bar Y^T \quad (Y = A^T)",
      "Matrix Cookbook (44): d(Xᵀ) = (dX)ᵀ", [("sum(C .* X')", {"X": (2, 3), "C": (3, 2)})])
def transpose_rule(node, G, wanted):
    return [(node.arg, ops.transpose(G))] if wanted(node.arg) else []


@rule("hadamard", HadamardProduct, r"\bar A_i = \bar Y \odot \textstyle\bigodot_{j\ne i} A_j",
      "Matrix Cookbook (38): d(X ⊙ Y) = dX ⊙ Y + X ⊙ dY",
      [("sum(A .* B .* C)", {"A": (2, 3), "B": (2, 3), "C": (2, 3)})])
def hadamard_rule(node, G, wanted):
    args = node.args
    return [(a, ops.hadamard(G, *args[:i], *args[i + 1:])) for i, a in enumerate(args) if wanted(a)]


@rule("hadamard_power", HadamardPower,
      r"\bar A = \bar Y \odot p\, A^{\circ(p-1)},\quad \bar p = \operatorname{sum}(\bar Y \odot A^{\circ p} \odot \log A)",
      "power rule, entrywise", [("sum(X.^3)", {"X": (2, 3)}), ("sum(x.^a)", {"x": (3, 1), "a": ()})],
      domain="A > 0 when the exponent varies")
def hadamard_power_rule(node, G, wanted):
    base, exp = node.args
    out = []
    if wanted(base):
        out.append((base, ops.hadamard(G, ops.scale(exp, ops.hpow(base, exp - 1)))))
    if wanted(exp):
        out.append((exp, ops.sum_entries(ops.hadamard(G, node, ops.apply("log", base)))))
    return out


@rule("trace", Trace, r"\bar A = \bar y\, I \quad (y = \operatorname{tr} A)",
      "Matrix Cookbook (100): ∂tr(X)/∂X = I; a 1x1 value used as a scalar is tr of itself",
      [("tr(A*X)", {"A": (3, 2), "X": (2, 3)}), ("(x'*x)^2", {"x": (3, 1)})])
def trace_rule(node, G, wanted):
    a = node.arg
    return [(a, ops.scale(G, Identity(a.shape[0])))] if wanted(a) else []


@rule("sum", SumEntries, r"\bar A = \bar y\, \mathbf 1 \mathbf 1^T \quad (y = \mathbf 1^T A \mathbf 1)",
      "∂ sum(X)/∂X = 1 (seed 001, sec. 4.4)", [("sum(x)", {"x": (5, 1)}), ("sum(X*W)", {"X": (3, 2), "W": (2, 4)})])
def sum_rule(node, G, wanted):
    a = node.arg
    return [(a, ops.scale(G, OneMatrix(*a.shape)))] if wanted(a) else []


@rule("diag_matrix", DiagMatrix, r"\bar v = \operatorname{diag}(\bar Y) \quad (Y = \operatorname{diag}(v))",
      "Y_ii = v_i", [("sum(A .* diag(v))", {"v": (3, 1), "A": (3, 3)}),
                     ("sum(A .* diag(v))", {"v": (1, 3), "A": (3, 3)})])
def diag_matrix_rule(node, G, wanted):
    v = node.args[0]
    if not wanted(v):
        return []
    d = DiagonalOf(G)
    return [(v, d if v.shape[1] == 1 else ops.transpose(d))]


@rule("diagonal_of", DiagonalOf, r"\bar A = \operatorname{diag}(\bar y) \quad (y = \operatorname{diag}(A))",
      "y_i = A_ii", [("c'*diag(A)", {"A": (3, 3), "c": (3, 1)})])
def diagonal_of_rule(node, G, wanted):
    a = node.args[0]
    return [(a, DiagMatrix(G))] if wanted(a) else []
