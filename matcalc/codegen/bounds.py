"""Interval bounds of expressions, from the functions' ranges (for code generation).

``interval(e)`` returns (lo, hi) with None for unbounded; it is conservative: a
bound it does not know is None.  Used to compute Xᵀ diag(v) X as (√v X)ᵀ(√v X),
which NumPy evaluates with a symmetric rank-k update, when v ≥ 0.
"""
from __future__ import annotations

from sympy import Integer
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul, OneMatrix

from ..ir import ops
from .. import rules
from ..ir.nodes import Elementwise

_UNKNOWN = (None, None)


def _scale(c, iv):
    lo, hi = iv
    if c >= 0:
        return (None if lo is None else c * lo, None if hi is None else c * hi)
    return (None if hi is None else c * hi, None if lo is None else c * lo)


def _add(a, b):
    return (None if a[0] is None or b[0] is None else a[0] + b[0],
            None if a[1] is None or b[1] is None else a[1] + b[1])


def _mul(a, b):
    if None in a or None in b:
        if a[0] is not None and b[0] is not None and a[0] >= 0 and b[0] >= 0:
            return (a[0] * b[0], None if a[1] is None or b[1] is None else a[1] * b[1])
        return _UNKNOWN
    products = [x * y for x in a for y in b]
    return (min(products), max(products))


def interval(e) -> tuple:
    """(lo, hi) bounds of every entry of ``e``."""
    if isinstance(e, OneMatrix):
        return (1, 1)
    if isinstance(e, Elementwise):
        lo, hi = rules.FUNCTIONS[e.name].bounds
        return (lo, hi)
    if e.is_number if hasattr(e, "is_number") else False:
        v = float(e)
        return (v, v)
    if isinstance(e, MatMul):
        c, body = ops.split_coeff(e)
        if body is not e and getattr(c, "is_number", False):
            return _scale(float(c), interval(body))
        return _UNKNOWN
    if isinstance(e, MatAdd):
        out = (0, 0)
        for t in e.args:
            out = _add(out, interval(t))
        return out
    if isinstance(e, HadamardProduct):
        out = (1, 1)
        for t in e.args:
            out = _mul(out, interval(t))
        return out
    if isinstance(e, HadamardPower) and isinstance(e.exp, Integer) and e.exp % 2 == 0 and e.exp > 0:
        return (0, None)
    return _UNKNOWN


def nonnegative(e) -> bool:
    lo = interval(e)[0]
    return lo is not None and lo >= 0
