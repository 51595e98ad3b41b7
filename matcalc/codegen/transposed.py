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


def wanted(nodes, rank=None) -> set:
    """Runs that chains hold both ways round and that the chains would take: each chain takes
    its runs greedily in ``rank`` order (a key of (factors, i, j); default longest first), never
    two that overlap; a run only one chain would take is dropped, until that settles."""
    rank = rank or (lambda factors, i, j: (i - j, i))
    chains = [[a for a in node.args if a.is_Matrix] for node in nodes if isinstance(node, MatMul)]
    holders: dict = {}
    for k, factors in enumerate(chains):
        for _, _, run in runs(factors):
            holders.setdefault(run, set()).add(k)
    out = {run for run, ks in holders.items() if flipped(run) != run and flipped(run) in holders
           and (ks | holders[flipped(run)]) != ks}
    while out:
        taken: dict = {}
        for k, factors in enumerate(chains):
            used: set = set()
            for i, j, run in sorted((r for r in runs(factors) if r[2] in out), key=lambda r: rank(factors, r[0], r[1])):
                if used.isdisjoint(range(i, j)):
                    used |= set(range(i, j))
                    taken.setdefault(frozenset((run, flipped(run))), set()).add(k)
        kept = {run for run in out if len(taken.get(frozenset((run, flipped(run))), ())) >= 2}
        if kept == out:
            break
        out = kept
    return out
