"""Structural proofs that a square matrix expression is symmetric (Sᵀ = S).

Symmetric: I, 0, 𝟏𝟏ᵀ (square), diag(v), 1×1 values; AᵀA, AAᵀ and every product that reads
the same backwards under transposition (A S Aᵀ with S symmetric); sums, Hadamard products and
powers, entrywise functions, transposes and inverses of symmetric matrices.  Anything else is
not known to be symmetric (never guessed).  Used to drop transposes of symmetric values, so a
term plus its transpose is one term computed once (X S + X Sᵀ = 2 X S).
"""
from __future__ import annotations

from functools import lru_cache

from sympy.matrices.expressions import (HadamardPower, HadamardProduct, Identity, Inverse, MatAdd, MatMul,
                                        MatrixSymbol, OneMatrix, Transpose, ZeroMatrix)
from sympy.matrices.expressions.diagonal import DiagMatrix

from ..ir import ops
from ..ir.nodes import Elementwise, is_matrix


@lru_cache(maxsize=4096)
def is_symmetric(e, known: frozenset = frozenset()) -> bool:
    """True only when e is square and provably symmetric (``known``: names of symbols whose
    values were proved symmetric, such as generated code's earlier lines)."""
    if not is_matrix(e) or e.shape[0] != e.shape[1]:
        return False
    if e.shape == (1, 1) or isinstance(e, (Identity, ZeroMatrix, OneMatrix, DiagMatrix)):
        return True
    if isinstance(e, MatrixSymbol):
        return e.name in known
    if isinstance(e, (Transpose, Inverse)):
        return is_symmetric(e.arg, known)
    if isinstance(e, HadamardPower):
        return is_symmetric(e.args[0], known)
    if isinstance(e, Elementwise):
        return is_symmetric(e.arg, known)
    if isinstance(e, (MatAdd, HadamardProduct)):
        if all(is_symmetric(a, known) for a in e.args if is_matrix(a)):
            return True
        return isinstance(e, MatAdd) and set(ops.transpose(e).args) == set(e.args)   # A + Aᵀ
    if isinstance(e, MatMul):
        mats = [a for a in e.args if is_matrix(a)]
        k = len(mats)
        if any(not _transposes(mats[i], mats[k - 1 - i]) for i in range(k // 2)):
            return False
        return k % 2 == 0 or is_symmetric(mats[k // 2], known)
    return False


def _transposes(a, b) -> bool:
    """b = aᵀ, structurally ((A⁻¹)ᵀ = (Aᵀ)⁻¹ included)."""
    if ops.transpose(a) == b:
        return True
    return isinstance(a, Inverse) and isinstance(b, Inverse) and ops.transpose(a.arg) == b.arg


def symmetric_transpose(node):
    """Sᵀ -> S for a provably symmetric S (a textbook rewrite)."""
    if isinstance(node, Transpose) and is_symmetric(node.arg):
        return node.arg
    return None
