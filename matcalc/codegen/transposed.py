"""Products whose transpose the generated code also needs: computed once, read as ``P.T``.

A backward pass often needs (X Wv)ᵀ = Wvᵀ Xᵀ where the forward pass computed X Wv (the
values of self-attention, ``A (X Wv)`` forward and ``δ (X Wv)ᵀ`` backward).  The chains are
different expressions, so subexpression sharing misses them; here every run of plain factors
(symbols and their transposes) of every matrix chain is compared with the reversed transposes
of the others' runs.  Such a run is computed as one temporary the first time a chain holds
it; a chain holding the transposed run reads ``temporary.T`` (a view: no copy, no GEMM).
"""
from __future__ import annotations

from sympy import MatMul, MatrixSymbol, Transpose

from ..ir import ops


def plain(factor) -> bool:
    return isinstance(factor, MatrixSymbol) or (isinstance(factor, Transpose) and isinstance(factor.arg, MatrixSymbol))


def flipped(run: tuple) -> tuple:
    """The factors of the transposed product: (A B)ᵀ = Bᵀ Aᵀ."""
    return tuple(ops.transpose(f) for f in reversed(run))


def runs(factors: list):
    """Every run of two or more consecutive plain factors."""
    n = len(factors)
    for i in range(n):
        for j in range(i + 2, n + 1):
            run = tuple(factors[i:j])
            if not all(plain(f) for f in run):
                break
            yield i, j, run


def wanted(nodes) -> set:
    """Runs that one chain holds and another holds transposed (each as itself, not its flip)."""
    seen: dict = {}
    for node in nodes:
        if isinstance(node, MatMul):
            for _, _, run in runs([a for a in node.args if a.is_Matrix]):
                seen.setdefault(run, set()).add(node)
    out = set()
    for run, holders in seen.items():
        flip = flipped(run)
        if flip != run and flip in seen and (holders | seen[flip]) != holders:
            out.add(run)
    return out
