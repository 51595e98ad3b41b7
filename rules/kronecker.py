"""Adjoint rules of vec and the Kronecker product (``vec(A)``, ``kron(A, B)`` in programs).

With Ḡ the adjoint of the result, in closed matrix form (each block of a Kronecker product
is one entry of A times B):

- vec: Ā = unvec(Ḡ) = (vec(I_n)ᵀ ⊗ I_m)(I_n ⊗ Ḡ) for an m×n A;
- kron, K = A ⊗ B with A p×q, B r×s: Ā = (I_p ⊗ 1_rᵀ)(Ḡ ⊙ (1_p 1_qᵀ ⊗ B))(I_q ⊗ 1_s),
  B̄ = (1_pᵀ ⊗ I_r)(Ḡ ⊙ (A ⊗ 1_r 1_sᵀ))(1_q ⊗ I_s).
"""
from __future__ import annotations

from sympy import Identity, OneMatrix
from sympy.matrices.expressions.kronecker import KroneckerProduct

from matcalc.ir import ops
from matcalc.ir.nodes import Vec

from .registry import rule


def unvec(g, rows, cols):
    """The m×n matrix whose vec is the mn×1 column g."""
    return ops.matmul(KroneckerProduct(ops.transpose(Vec(Identity(cols))), Identity(rows)),
                      KroneckerProduct(Identity(cols), g))


@rule("vec", Vec, r"\bar A = \operatorname{unvec}(\bar g) = (\operatorname{vec}(I_n)^T \otimes I_m)(I_n \otimes \bar g)",
      "Magnus & Neudecker: vec is linear; its adjoint reshapes the column back",
      [("vec(X)'*y", {"X": (2, 3), "y": (6, 1)}), ("norm2(vec(A*X) - y)^2", {"A": (2, 2), "X": (2, 3), "y": (6, 1)})])
def vec_rule(node, G, wanted):
    a = node.arg
    return [(a, unvec(G, *a.shape))] if wanted(a) else []


@rule("kron", KroneckerProduct,
      r"\bar A = (I_p \otimes \mathbf{1}_r^T)(\bar K \odot (\mathbf{1}\mathbf{1}^T \otimes B))(I_q \otimes \mathbf{1}_s),\ "
      r"\bar B = (\mathbf{1}_p^T \otimes I_r)(\bar K \odot (A \otimes \mathbf{1}\mathbf{1}^T))(\mathbf{1}_q \otimes I_s)",
      "block (i, j) of A ⊗ B is a_ij B (Magnus & Neudecker, ch. 2)",
      [("sum(kron(A, B) .* C)", {"A": (2, 3), "B": (3, 2), "C": (6, 6)}),
       ("norm2(kron(A, x))^2", {"A": (2, 2), "x": (3, 1)})])
def kron_rule(node, G, wanted):
    if len(node.args) != 2:
        rest = KroneckerProduct(*node.args[1:])
        node = KroneckerProduct(node.args[0], rest)   # pragma: no cover - the builder makes pairs
    a, b = node.args
    (p, q), (r, s) = a.shape, b.shape
    out = []
    if wanted(a):
        weighted = ops.hadamard(G, KroneckerProduct(OneMatrix(p, q), b))
        out.append((a, ops.matmul(KroneckerProduct(Identity(p), OneMatrix(1, r)), weighted,
                                  KroneckerProduct(Identity(q), OneMatrix(s, 1)))))
    if wanted(b):
        weighted = ops.hadamard(G, KroneckerProduct(a, OneMatrix(r, s)))
        out.append((b, ops.matmul(KroneckerProduct(OneMatrix(1, p), Identity(r)), weighted,
                                  KroneckerProduct(OneMatrix(q, 1), Identity(s)))))
    return out
