"""The language's extensions, each defined by the IR of operations matcalc already differentiates.

matrixcalculus.org's ``vector(c)``, ``matrix(c)``, bare ``eye``, ``norm1`` and ``adj``; the
reductions ``sum(A, 1|2)`` and ``mean``; entrywise ``max``/``min``; ``logsumexp``; ``kron``,
``vec`` and ``commutation`` (so that printed Jacobians read back); ``sym``; and ``A^k`` for a
square matrix.  Each definition is a catalogue entry with a numerical self-test
(rules/structural.py).
"""
from __future__ import annotations

from sympy import Determinant, Identity, Integer, Inverse, OneMatrix, Rational, S
from sympy.matrices.expressions.kronecker import KroneckerProduct

from ..ir import ops
from ..ir.nodes import Commutation, LogSoftmax, Vec, is_matrix


def constant(name: str, shape, value=S.One):
    """vector(c) / matrix(c) / bare eye with the size their use implies."""
    if name == "eye":
        return Identity(shape[0])
    return ops.scale(value, OneMatrix(*shape)) if value != 1 else OneMatrix(*shape)


def commutation(m, n):
    return Commutation(m, n)


def axis_sum(a, axis: int):
    """sum(A, 1): the column sums 1ᵀA (a row); sum(A, 2): the row sums A1 (a column)."""
    if not is_matrix(a):
        return a
    rows, cols = a.shape
    if axis == 1:
        return a if rows == 1 else ops.as_scalar(ops.matmul(OneMatrix(1, rows), a))
    return a if cols == 1 else ops.as_scalar(ops.matmul(a, OneMatrix(cols, 1)))


def mean(a, axis: int | None = None):
    """mean of all entries, or of each column (axis 1) / row (axis 2)."""
    if not is_matrix(a):
        return a
    rows, cols = a.shape
    if axis is None:
        return ops.scale(1 / (rows * cols) if isinstance(rows * cols, Integer) else (rows * cols) ** -1,
                         ops.sum_entries(a))
    count = rows if axis == 1 else cols
    return ops.scale(Rational(1, int(count)) if isinstance(count, Integer) else count ** -1, axis_sum(a, axis))


def norm1(a):
    """sum(abs(A)): the 1-norm of a vector, the entrywise 1-norm of a matrix."""
    return ops.sum_entries(ops.apply("abs", a))


def adjugate(a):
    """adj(A) = det(A) inv(A) (A invertible)."""
    return S.One if not is_matrix(a) else ops.scale(Determinant(a), Inverse(a))


def extremum(a, b, largest: bool):
    """max(a, b) = (a + b + |a − b|)/2, min(a, b) = (a + b − |a − b|)/2, entrywise; the operands
    already have one shape (or one is a scalar).  At a tie abs'(0) = 0: each gets half the gradient."""
    gap = ops.apply("abs", ops.sub(a, b))
    total = ops.add(a, b, gap) if largest else ops.sub(ops.add(a, b), gap)
    return ops.scale(Rational(1, 2), total)


def logsumexp(a):
    """log(sum(exp(A))) over all entries, built stably from log-softmax (no overflow): a vector's
    is mean(a − logsoftmax(a)) (each entry of a − logsoftmax(a) is the logsumexp), so its gradient
    is softmax(a); a matrix's is that of the column of its rows' logsumexps."""
    if not is_matrix(a):
        return a
    rows, cols = a.shape
    if rows != 1 and cols != 1:
        per_row = ops.scale(_inverse(cols), ops.matmul(ops.sub(a, LogSoftmax(a)), OneMatrix(cols, 1)))
        return logsumexp(per_row)
    return ops.scale(_inverse(rows * cols), ops.sum_entries(ops.sub(a, LogSoftmax(a))))


def _inverse(size):
    return Rational(1, int(size)) if isinstance(size, Integer) else size ** -1


def kron(a, b):
    if not is_matrix(a) or not is_matrix(b):
        return ops.scale(a, b) if not is_matrix(a) else ops.scale(b, a)
    return KroneckerProduct(a, b)


def vec(a):
    if not is_matrix(a) or a.shape[1] == 1:
        return a
    return ops.transpose(a) if a.shape[0] == 1 else Vec(a)


def sym(a):
    """(A + Aᵀ)/2."""
    return a if not is_matrix(a) else ops.scale(Rational(1, 2), ops.add(a, ops.transpose(a)))


# name -> builder(values, axis) for calls of the language (values: the arguments' IR)
def _with_axis(f):
    return lambda values, axis: f(values[0], axis) if axis is not None else f(values[0])


BUILDERS = {
    "mean": _with_axis(mean),
    "norm1": lambda v, axis: norm1(v[0]),
    "adj": lambda v, axis: adjugate(v[0]),
    "logsumexp": lambda v, axis: logsumexp(v[0]),
    "kron": lambda v, axis: kron(v[0], v[1]),
    "vec": lambda v, axis: vec(v[0]),
    "sym": lambda v, axis: sym(v[0]),
}
