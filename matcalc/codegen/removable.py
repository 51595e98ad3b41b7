"""Removable singularities of the generated code: products whose closed form divides by zero
at points where the product itself is defined.

- det(M)·(…M⁻¹…) becomes (…adj M…): ∂det X/∂X = adj(X)ᵀ exists where X is singular.
- (…r…)/‖r‖ becomes (…unit(r)…) with unit(0) = 0 (the convention of relu'(0) = 0: ∂‖x‖/∂x at
  x = 0 is taken as 0, a subgradient), computed with scaling so that no square over/underflows.

The scalar moves onto one occurrence that the product is linear in (reached through matrix,
Kronecker and Hadamard products, transposes, vec, traces and sums of entries only), so that
moving it is exact.
"""
from __future__ import annotations

from sympy import Basic, Integer, Mul, Pow, Determinant, Inverse
from sympy import HadamardProduct, Trace
from sympy.matrices.expressions import KroneckerProduct, MatAdd, MatMul, Transpose
from sympy.matrices.expressions.matexpr import MatrixExpr

from ..ir.nodes import Norm2, SumEntries, Vec

_LINEAR = (MatMul, Transpose, Vec, KroneckerProduct, Trace, SumEntries, HadamardProduct)

HELPERS = {"_adjugate": '''def _adjugate(a):
    """adj(a) = det(a)·inv(a), also where a is singular: from a = U S Vᵀ, adj(a) = det(U)det(V)·V adj(S) Uᵀ
    with adj(S) = diag(∏_{j≠i} s_j) (products without division, so exact in rank n−1)."""
    n = a.shape[0]
    if n == 1:
        return np.ones_like(a)
    u, s, vt = np.linalg.svd(a)
    ones = np.ones(1, s.dtype)
    others = np.concatenate((ones, np.cumprod(s[:-1]))) * np.concatenate((np.cumprod(s[:0:-1])[::-1], ones))
    sign = np.linalg.det(u) * np.linalg.det(vt)
    return (sign * vt.T * others) @ u.T''',
    "_norm2": '''def _norm2(x):
    """Euclidean/Frobenius norm scaled by max|x| (no overflow or underflow of the squares)."""
    m = np.max(np.abs(x))
    if not 0.0 < m < np.inf:   # 0, inf or nan
        return m
    return m * np.sqrt(np.sum(np.square(x / m)))''',
    "_unit": '''def _unit(x):
    """x / ‖x‖ without over/underflow; 0 at x = 0 (the subgradient convention, like relu'(0) = 0)."""
    m = np.max(np.abs(x))
    if not 0.0 < m < np.inf:
        return np.zeros_like(x) if m == 0.0 else x / _norm2(x)
    y = x / m
    return y / np.sqrt(np.sum(np.square(y)))''',
}


class _OnOneMatrix(MatrixExpr):
    """A code-generator node of one matrix argument, with its shape."""

    def __new__(cls, arg):
        return Basic.__new__(cls, arg)

    @property
    def arg(self):
        return self.args[0]

    @property
    def shape(self):
        return self.arg.shape


class Unit(_OnOneMatrix):
    """r / ‖r‖, 0 at r = 0 (only made by the code generator)."""


class Adjugate(_OnOneMatrix):
    """adj(M) = det(M)·M⁻¹ (only made by the code generator)."""


def absorb(coeff, body):
    """(coeff', body') with every factor det(M) / ‖r‖⁻¹ of the scalar ``coeff`` that can be moved
    onto a single linear M⁻¹ / r in the matrix ``body`` moved there (as adj(M) / unit(r))."""
    factors = absorb_factors(list(Mul.make_args(coeff)) + [body])
    if factors[-1] is body and isinstance(body, MatAdd):   # c·(a + b) = c·a + c·b, each absorbed
        terms, moved = [], False
        for term in body.args:
            c, t = absorb(coeff, term)
            moved = moved or t is not term
            terms.append(t if c == 1 else MatMul(c, t))
        if moved:
            return Integer(1), MatAdd(*terms)
    return Mul(*factors[:-1]), factors[-1]


def absorb_factors(factors: list) -> list:
    """The factors of a product with each det(M)ᵏ (k ≥ 1) / ‖r‖⁻ᵏ moved, one power at a time,
    onto an occurrence of M⁻¹ / r in another factor that the product is linear in (as adj(M) /
    unit(r)): c·g(…, r, …) = g(…, c·r, …) for g linear in that slot."""
    factors = list(factors)
    changed = True
    while changed:
        changed = False
        for i, fac in enumerate(factors):
            base, exp = (fac.base, fac.exp) if isinstance(fac, Pow) else (fac, Integer(1))
            if isinstance(base, Determinant) and exp.is_Integer and exp > 0:
                target, into, left = Inverse(base.arg), Adjugate(base.arg), base ** (exp - 1)
            elif isinstance(base, Norm2) and exp.is_Integer and exp < 0:
                target, into, left = base.arg, Unit(base.arg), base ** (exp + 1)
            else:
                continue
            for j, other in enumerate(factors):
                moved = _replace_one(other, target, into) if j != i else None
                if moved is not None:
                    factors[j], factors[i] = moved, left
                    changed = True
                    break
            if changed:
                break
    return factors


def _replace_one(e, target, into):
    """``e`` with one occurrence of ``target`` reached through linear operations only replaced by
    ``into``, or None if there is none."""
    if e == target:
        return into
    if not isinstance(e, _LINEAR):
        return None
    for k, a in enumerate(e.args):
        moved = _replace_one(a, target, into)
        if moved is not None:
            return e.func(*e.args[:k], moved, *e.args[k + 1:])
    return None
