"""Adjoint rules of inverse, determinant, log-determinant and norm."""
from __future__ import annotations

from sympy import Determinant, Inverse

from matcalc.ir import ops
from matcalc.ir.nodes import LogDet, Norm2

from .registry import rule

_SQUARE = {"A": (3, 3)}


@rule("inverse", Inverse, r"\bar A = -Y^T \bar Y Y^T \quad (Y = A^{-1})",
      "Matrix Cookbook (40): d(X⁻¹) = -X⁻¹ (dX) X⁻¹; (61): ∂aᵀX⁻¹b/∂X = -X⁻ᵀabᵀX⁻ᵀ",
      [("a'*inv(A)*b", {**_SQUARE, "a": (3, 1), "b": (3, 1)})], domain="A invertible")
def inverse_rule(node, G, wanted):
    a = node.arg
    if not wanted(a):
        return []
    yt = ops.transpose(node)
    return [(a, ops.neg(ops.matmul(yt, G, yt)))]


@rule("det", Determinant, r"\bar A = \bar y \det(A)\, A^{-T}",
      "Matrix Cookbook (49): ∂det(X)/∂X = det(X) X⁻ᵀ", [("det(A)", _SQUARE)], domain="A invertible")
def det_rule(node, G, wanted):
    a = node.arg
    return [(a, ops.scale(G * node, ops.transpose(Inverse(a))))] if wanted(a) else []


@rule("logdet", LogDet, r"\bar A = \bar y\, A^{-T}",
      "Matrix Cookbook (57): ∂ log|det X|/∂X = X⁻ᵀ", [("logdet(A)", _SQUARE)], domain="det A > 0")
def logdet_rule(node, G, wanted):
    a = node.arg
    return [(a, ops.scale(G, ops.transpose(Inverse(a))))] if wanted(a) else []


@rule("norm2", Norm2, r"\bar A = \bar y\, A / \|A\|_F \quad\text{so}\quad \nabla \|A\|_F^2 = 2A",
      "Matrix Cookbook (130): ∂‖X‖²_F/∂X = 2X", [("norm2(X)", {"X": (2, 3)}),
                                                 ("norm2(A*x - y)^2", {"A": (3, 2), "x": (2, 1), "y": (3, 1)})],
      domain="A ≠ 0")
def norm2_rule(node, G, wanted):
    a = node.arg
    return [(a, ops.scale(G / node, a))] if wanted(a) else []
