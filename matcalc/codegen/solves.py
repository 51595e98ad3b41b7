"""Inverses read once become linear solves in generated gradient code.

A delta line ``d = M⁻¹`` (or ``(M⁻¹)ᵀ``) whose only reader is one matrix product, with ``d``
a plain factor there, is inlined into that product; the code generator then writes
``solve(M, B)`` for ``M⁻¹B`` and ``solve(Mᵀ, Aᵀ)ᵀ`` for ``A M⁻¹`` (``NumpyCodegen.solved``):
one LU factorisation and two triangular solves instead of an inverse and a GEMM.  Measured
(1 BLAS thread): ``2X(XᵀX + I)⁻¹``, X 1000×500, 0.88× the time of ``inv`` and a GEMM.  An
inverse read several times (the Gaussian NLL's ``S⁻¹ − S⁻¹AᵀAS⁻¹``) stays one ``inv``.
"""
from __future__ import annotations

from sympy import MatMul, MatrixSymbol
from sympy.matrices.expressions import Inverse, Transpose


def _inverse(expr) -> bool:
    return isinstance(expr, Inverse) or (isinstance(expr, Transpose) and isinstance(expr.arg, Inverse))


def _occurrences(expr, sym, memo) -> int:
    """How many times ``sym`` is read in ``expr`` (with multiplicity, over the DAG)."""
    if expr == sym:
        return 1
    if expr.is_Atom or isinstance(expr, MatrixSymbol) or not expr.args:
        return 0
    if expr not in memo:
        memo[expr] = sum(_occurrences(a, sym, memo) for a in expr.args)
    return memo[expr]


def _plain_factor(expr, sym) -> bool:
    """Is ``sym`` (or its transpose) one factor of a product somewhere in ``expr``?"""
    stack, seen = [expr], set()
    while stack:
        e = stack.pop()
        if e in seen or e.is_Atom or isinstance(e, MatrixSymbol):
            continue
        seen.add(e)
        if isinstance(e, MatMul) and any(a == sym or (isinstance(a, Transpose) and a.arg == sym) for a in e.args):
            return True
        stack.extend(e.args)
    return False


def inline_single_inverses(lines: list, outputs: dict):
    """(name, expr) lines and results with each inverse read once by one product inlined there."""
    lines, outputs = list(lines), dict(outputs)
    k = 0
    while k < len(lines):
        name, expr = lines[k]
        if not _inverse(expr):
            k += 1
            continue
        sym = MatrixSymbol(name, *expr.shape)
        readers = [("line", j) for j in range(k + 1, len(lines)) if _occurrences(lines[j][1], sym, {})] + \
            [("out", key) for key, e in outputs.items() if _occurrences(e, sym, {})]
        if len(readers) != 1:
            k += 1
            continue
        kind, where = readers[0]
        target = lines[where][1] if kind == "line" else outputs[where]
        if _occurrences(target, sym, {}) != 1 or not _plain_factor(target, sym):
            k += 1
            continue
        inlined = target.xreplace({sym: expr})
        if kind == "line":
            lines[where] = (lines[where][0], inlined)
        else:
            outputs[where] = inlined
        del lines[k]
    return lines, outputs
