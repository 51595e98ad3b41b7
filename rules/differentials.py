"""Differential (forward) forms of the IR operations, used by the trace method.

Each entry gives dN from its arguments' differentials, as in seed 004
(``d(XW) = X dW``, ``d σ(H) = σ'(H) ⊙ dH``).  ``d(child)`` is None for an
argument that does not vary.  The numerical self-test of an entry derives its
adjoint rule's examples with the trace method and checks every step.
"""
from __future__ import annotations

from sympy import Abs, Add, Determinant, Inverse, Mul, Pow, Trace
from sympy.matrices.expressions import HadamardPower, HadamardProduct, MatAdd, MatMul, Transpose
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

from matcalc.ir import ops
from matcalc.ir.nodes import Elementwise, LogDet, LogSoftmax, Norm2, ScalarFunction, Softmax, SumEntries

from .registry import FUNCTIONS, differential
from .softmax import group_sums


def _sum(terms):
    terms = [t for t in terms if t is not None]
    return ops.add(*terms) if terms else None


def _product_rule(args, d, product):
    """Σ_i product(a_1, …, da_i, …, a_k) over the varying arguments."""
    return _sum([product(*args[:i], d(a), *args[i + 1:]) for i, a in enumerate(args) if d(a) is not None])


@differential("d:add", (MatAdd, Add), r"d(A + B) = dA + dB", "Matrix Cookbook (35)")
def d_add(node, d):
    return _sum([d(a) for a in node.args])


@differential("d:matmul", MatMul, r"d(AB) = (dA)\,B + A\,dB", "Matrix Cookbook (37)")
def d_matmul(node, d):
    return _product_rule(list(node.args), d, ops.matmul)


@differential("d:scalar_mul", Mul, r"d(ab) = (da)\,b + a\,db", "product rule")
def d_mul(node, d):
    return _product_rule(list(node.args), d, lambda *a: Mul(*a))


@differential("d:scalar_pow", Pow, r"d(b^e) = e\,b^{e-1}\,db + b^e \log b\,de", "power rule")
def d_pow(node, d):
    base, exp = node.args
    terms = []
    if d(base) is not None:
        terms.append(exp * Pow(base, exp - 1) * d(base))
    if d(exp) is not None:
        terms.append(node * ops.apply("log", base) * d(exp))
    return _sum(terms)


@differential("d:transpose", Transpose, r"d(A^T) = (dA)^T", "Matrix Cookbook (44)")
def d_transpose(node, d):
    return None if d(node.arg) is None else ops.transpose(d(node.arg))


@differential("d:hadamard", HadamardProduct, r"d(A \odot B) = dA \odot B + A \odot dB",
              "Matrix Cookbook (38)")
def d_hadamard(node, d):
    return _product_rule(list(node.args), d, ops.hadamard)


@differential("d:hadamard_power", HadamardPower,
              r"d(A^{\circ p}) = p\,A^{\circ(p-1)} \odot dA + A^{\circ p} \odot \log A\; dp",
              "power rule, entrywise")
def d_hadamard_power(node, d):
    base, exp = node.args
    terms = []
    if d(base) is not None:
        terms.append(ops.hadamard(ops.scale(exp, ops.hpow(base, exp - 1)), d(base)))
    if d(exp) is not None:
        terms.append(ops.scale(d(exp), ops.hadamard(node, ops.apply("log", base))))
    return _sum(terms)


@differential("d:trace", Trace, r"d\operatorname{tr}(A) = \operatorname{tr}(dA)", "Matrix Cookbook (36)")
def d_trace(node, d):
    da = d(node.arg)
    return None if da is None else ops.as_scalar(da) if da.shape == (1, 1) else Trace(da)


@differential("d:sum", SumEntries, r"d\operatorname{sum}(A) = \operatorname{sum}(dA) = \mathbf 1^T dA\, \mathbf 1",
              "linearity")
def d_sum(node, d):
    da = d(node.arg)
    return None if da is None else ops.sum_entries(da)


@differential("d:entrywise", (Elementwise, ScalarFunction), r"d f(U) = f'(U) \odot dU",
              "chain rule, entrywise (seed 004: d σ(h) = σ'(h) ⊙ dh)")
def d_entrywise(node, d):
    du = d(node.arg)
    if du is None:
        return None
    return ops.hadamard(FUNCTIONS[node.name].derivative(node.arg, node), du)


@differential("d:abs_scalar", Abs, r"d|a| = \operatorname{sign}(a)\,da", "calculus")
def d_abs_scalar(node, d):
    da = d(node.args[0])
    return None if da is None else ops.apply("sign", node.args[0]) * da


@differential("d:diag_matrix", DiagMatrix, r"d\operatorname{diag}(v) = \operatorname{diag}(dv)", "linearity")
def d_diag_matrix(node, d):
    dv = d(node.args[0])
    return None if dv is None else DiagMatrix(dv)


@differential("d:diagonal_of", DiagonalOf, r"d\operatorname{diag}(A) = \operatorname{diag}(dA)", "linearity")
def d_diagonal_of(node, d):
    da = d(node.args[0])
    return None if da is None else DiagonalOf(da)


@differential("d:inverse", Inverse, r"d(A^{-1}) = -A^{-1}\,dA\,A^{-1}", "Matrix Cookbook (40)")
def d_inverse(node, d):
    da = d(node.arg)
    return None if da is None else ops.neg(ops.matmul(node, da, node))


@differential("d:det", Determinant, r"d\det A = \det A\,\operatorname{tr}(A^{-1} dA)", "Matrix Cookbook (46)")
def d_det(node, d):
    da = d(node.arg)
    return None if da is None else node * Trace(ops.matmul(Inverse(node.arg), da))


@differential("d:logdet", LogDet, r"d\log\det A = \operatorname{tr}(A^{-1} dA)", "Matrix Cookbook (50)")
def d_logdet(node, d):
    da = d(node.arg)
    return None if da is None else Trace(ops.matmul(Inverse(node.arg), da))


@differential("d:norm2", Norm2, r"d\|A\| = \operatorname{tr}(A^T dA) / \|A\|", "Matrix Cookbook (130)")
def d_norm2(node, d):
    da = d(node.arg)
    if da is None:
        return None
    inner = ops.matmul(ops.transpose(node.arg), da)
    return (ops.as_scalar(inner) if inner.shape == (1, 1) else Trace(inner)) / node


@differential("d:softmax", Softmax,
              r"dS = S \odot dZ - S \odot \big((S \odot dZ)\mathbf 1 \mathbf 1^T\big)\quad (S = \operatorname{softmax}(Z),\ \text{per row})",
              "seed 003: J = diag(s) − s sᵀ")
def d_softmax(node, d):
    dz = d(node.arg)
    if dz is None:
        return None
    weighted = ops.hadamard(node, dz)
    return ops.sub(weighted, ops.hadamard(node, group_sums(weighted, node.over_columns)))


@differential("d:logsoftmax", LogSoftmax,
              r"dL = dZ - (S \odot dZ)\mathbf 1 \mathbf 1^T\quad (L = \log\operatorname{softmax}(Z))",
              "seed 003")
def d_logsoftmax(node, d):
    dz = d(node.arg)
    if dz is None:
        return None
    return ops.sub(dz, group_sums(ops.hadamard(Softmax(node.arg), dz), node.over_columns))

