"""Adjoint rules of inverse, determinant, log-determinant, norm and matrix power."""
from __future__ import annotations

from sympy import Determinant, Inverse
from sympy.matrices.expressions import MatPow

from matcalc import ops
from matcalc.ir import LogDet, Norm2

from .registry import rule

_SQUARE = {"A": (3, 3)}


@rule("inverse", Inverse, r"\bar A = -Y^T \bar Y Y^T \quad (Y = A^{-1})",
      "Matrix Cookbook (40): d(X⁻¹) = -X⁻¹ (dX) X⁻¹; (61): ∂aᵀX⁻¹b/∂X = -X⁻ᵀabᵀX⁻ᵀ",
      [("a'*inv(A)*b", {**_SQUARE, "a": (3, 1), "b": (3, 1)})], domain="A invertible")
def inverse_rule(node, G, wanted):
    a = node.arg
    if not wanted(a):
        return []
    yt = node.T
    return [(a, ops.neg(ops.matmul(yt, G, yt)))]


@rule("det", Determinant, r"\bar A = \bar y \det(A)\, A^{-T}",
      "Matrix Cookbook (49): ∂det(X)/∂X = det(X) X⁻ᵀ", [("det(A)", _SQUARE)], domain="A invertible")
def det_rule(node, G, wanted):
    a = node.arg
    return [(a, ops.scale(G * node, Inverse(a).T))] if wanted(a) else []


@rule("logdet", LogDet, r"\bar A = \bar y\, A^{-T}",
      "Matrix Cookbook (57): ∂ log|det X|/∂X = X⁻ᵀ", [("logdet(A)", _SQUARE)], domain="det A > 0")
def logdet_rule(node, G, wanted):
    a = node.arg
    return [(a, ops.scale(G, Inverse(a).T))] if wanted(a) else []


@rule("norm2", Norm2, r"\bar A = \bar y\, A / \|A\|_F \quad\text{so}\quad \nabla \|A\|_F^2 = 2A",
      "Matrix Cookbook (130): ∂‖X‖²_F/∂X = 2X", [("norm2(X)", {"X": (2, 3)}),
                                                 ("norm2(A*x - y)^2", {"A": (3, 2), "x": (2, 1), "y": (3, 1)})],
      domain="A ≠ 0")
def norm2_rule(node, G, wanted):
    a = node.arg
    return [(a, ops.scale(G / node, a))] if wanted(a) else []


@rule("matpow", MatPow, r"\bar A = \textstyle\sum_{k=0}^{p-1} (A^k)^T \bar Y (A^{p-1-k})^T",
      "Matrix Cookbook (37) applied p times", [("tr(A*A*A)", _SQUARE)])
def matpow_rule(node, G, wanted):
    a, p = node.args
    if not wanted(a):
        return []
    if not (p.is_Integer and p > 0):
        from matcalc.errors import UnsupportedError
        raise UnsupportedError(f"matrix power with exponent {p} is not supported")
    n = int(p)
    terms = []
    for k in range(n):
        left = ops.transpose(a ** k) if k else None
        right = ops.transpose(a ** (n - 1 - k)) if n - 1 - k else None
        terms.append(ops.matmul(*[f for f in (left, G, right) if f is not None]))
    return [(a, ops.add(*terms))]
