"""Forward (Jacobian) rules: J_N = ∂vec(N)/∂vec(x) from the arguments' Jacobians.

Numerator layout (entries of N × entries of x), column-major ``vec``; a row vector's
vec is its transpose.  Vectors get the textbook forms (W, diag(σ'(z)) W, diag(s) − s sᵀ);
matrices the vec/Kronecker ones: vec(A X B) = (Bᵀ ⊗ A) vec(X), vec(Xᵀ) = K vec(X),
vec(A ⊙ X) = diag(vec A) vec(X).  A rule returns None where it has no closed form.
"""
from __future__ import annotations

from sympy import Abs, Add, Determinant, Identity, Inverse, Mul, Pow, S, Trace
from sympy.matrices.expressions.kronecker import KroneckerProduct
from sympy.matrices.expressions import (HadamardPower, HadamardProduct, MatAdd, MatMul, OneMatrix,
                                        Transpose)
from sympy.matrices.expressions.diagonal import DiagMatrix, DiagonalOf

from matcalc.ir import ops
from matcalc.ir.nodes import (Commutation, Elementwise, LogDet, LogSoftmax, Norm2, ScalarFunction, Softmax,
                        SumEntries, Vec, is_matrix)

from .registry import FUNCTIONS

JVP_RULES: dict = {}


def jvp_rule(*classes):
    def register(fn):
        for cls in classes:
            JVP_RULES[cls] = fn
        return fn
    return register


def jvp_for(node):
    for cls in type(node).__mro__:
        if cls in JVP_RULES:
            return JVP_RULES[cls]
    return None


def col(v):
    """vec(v) as a column: a row vector transposed, a matrix's columns stacked (a scalar stays)."""
    if not is_matrix(v):
        return v
    if v.shape[0] == 1 or v.shape[1] == 1:
        return ops.transpose(v) if v.shape[0] == 1 and v.shape[1] != 1 else v
    if isinstance(v, OneMatrix):
        return OneMatrix(v.shape[0] * v.shape[1], 1)
    return Vec(v)


def kron(A, B):
    """A ⊗ B, with I_1 ⊗ B = B and A ⊗ I_1 = A."""
    if A.shape == (1, 1) and isinstance(A, Identity):
        return B
    if B.shape == (1, 1) and isinstance(B, Identity):
        return A
    return KroneckerProduct(A, B)


def diag_times(v, J):
    """diag(vec v) J, or v J for a scalar v."""
    if not is_matrix(v):
        return ops.scale(v, J)
    if isinstance(v, OneMatrix) or v.shape == (1, 1):
        return ops.scale(ops.as_scalar(v), J) if not isinstance(v, OneMatrix) else J
    return ops.matmul(DiagMatrix(col(v)), J)


@jvp_rule(MatAdd, Add)
def jvp_add(node, J):
    return ops.add(*[J[a] for a in node.args if a in J])


@jvp_rule(Transpose)
def jvp_transpose(node, J):
    m, n = node.arg.shape
    if m == 1 or n == 1:            # vec of a vector and of its transpose agree
        return J[node.arg]
    return ops.matmul(Commutation(m, n), J[node.arg])


@jvp_rule(MatMul)
def jvp_matmul(node, J):
    scalars = [a for a in node.args if not is_matrix(a)]
    mats = [a for a in node.args if is_matrix(a)]
    coeff = Mul(*scalars)
    terms = []
    for i, c in enumerate(scalars):
        if c in J:
            rest = ops.matmul(*scalars[:i], *scalars[i + 1:], *mats)
            terms.append(ops.matmul(col(rest), J[c]))
    for i, m in enumerate(mats):
        if m not in J:
            continue
        L = ops.matmul(*mats[:i]) if i else None
        R = ops.matmul(*mats[i + 1:]) if i + 1 < len(mats) else None
        linear = _linear_map(L, m, R) if 1 in m.shape and 1 in node.shape else None
        if linear is None:          # vec(L m R) = (Rᵀ ⊗ L) vec(m)
            left = L if L is not None else Identity(m.shape[0])
            right = ops.transpose(R) if R is not None else Identity(m.shape[1])
            terms.append(ops.scale(coeff, ops.matmul(kron(right, left), J[m])))
            continue
        scalar, A = linear
        terms.append(ops.scale(coeff * scalar, J[m] if A is None else ops.matmul(A, J[m])))
    return ops.add(*terms)


def _linear_map(L, m, R):
    """(s, A) with vec(L m R) = s A vec(m) (A None: identity), for a vector m and a vector result.

    vec(L m R) = (Rᵀ ⊗ L) vec(m); for vectors the Kronecker product is an outer product.
    """
    if m.shape[1] == 1:                        # m a column: R is 1 x c
        if R is not None and R.shape[1] != 1:
            if L is not None and L.shape[0] != 1:
                return None
            return S.One, ops.transpose(R) if L is None else ops.matmul(ops.transpose(R), L)
        return (ops.as_scalar(R) if R is not None else S.One), L
    if L is not None and L.shape[0] != 1:      # m a row: L is k x 1
        if R is not None and R.shape[1] != 1:
            return None
        return S.One, L if R is None else ops.matmul(L, ops.transpose(R))
    return (ops.as_scalar(L) if L is not None else S.One), (ops.transpose(R) if R is not None else None)


@jvp_rule(HadamardProduct)
def jvp_hadamard(node, J):
    args = node.args
    return ops.add(*[diag_times(ops.hadamard(*args[:i], *args[i + 1:]), J[a])
                     for i, a in enumerate(args) if a in J])


@jvp_rule(HadamardPower)
def jvp_hadamard_power(node, J):
    base, exp = node.args
    terms = []
    if base in J:
        terms.append(diag_times(ops.scale(exp, ops.hpow(base, exp - 1)), J[base]))
    if exp in J:                    # d(A^∘p)/dp = A^∘p ⊙ log A
        terms.append(ops.matmul(col(ops.hadamard(node, ops.apply("log", base))), J[exp]))
    return ops.add(*terms)


@jvp_rule(Elementwise, ScalarFunction)
def jvp_entrywise(node, J):
    return diag_times(FUNCTIONS[node.name].derivative(node.arg, node), J[node.arg])


@jvp_rule(Mul)
def jvp_mul(node, J):
    args = node.args
    return ops.add(*[ops.scale(Mul(*args[:i], *args[i + 1:]), J[a]) for i, a in enumerate(args) if a in J])


@jvp_rule(Pow)
def jvp_pow(node, J):
    base, exp = node.args
    terms = []
    if base in J:
        terms.append(ops.scale(exp * Pow(base, exp - 1), J[base]))
    if exp in J:
        terms.append(ops.scale(node * ops.apply("log", base), J[exp]))
    return ops.add(*terms)


@jvp_rule(DiagMatrix)
def jvp_diag_matrix(node, J):
    """vec(diag(v)) = vec(I) ⊙ (𝟏 ⊗ v) = diag(vec I)(𝟏 ⊗ I) v."""
    n = node.shape[0]
    select = ops.matmul(DiagMatrix(Vec(Identity(n))), kron(OneMatrix(n, 1), Identity(n)))
    return ops.matmul(select, J[node.args[0]])


@jvp_rule(DiagonalOf)
def jvp_diagonal_of(node, J):
    """diag(A) = (𝟏ᵀ ⊗ I) diag(vec I) vec(A): the diagonal entries of vec(A)."""
    n = node.args[0].shape[0]
    select = ops.matmul(kron(OneMatrix(1, n), Identity(n)), DiagMatrix(Vec(Identity(n))))
    return ops.matmul(select, J[node.args[0]])


@jvp_rule(Trace)
def jvp_trace(node, J):
    a = node.arg
    if a.shape == (1, 1):
        return J[a]
    return ops.matmul(ops.transpose(Vec(Identity(a.shape[0]))), J[a])     # d tr A = vec(I)ᵀ d vec A


@jvp_rule(SumEntries)
def jvp_sum(node, J):
    a = node.arg
    return ops.matmul(OneMatrix(1, a.shape[0] * a.shape[1]), J[a])


@jvp_rule(Norm2)
def jvp_norm2(node, J):
    a = node.arg
    return ops.scale(Pow(node, -1), ops.matmul(ops.transpose(col(a)), J[a]))


def _row_spread(shape):
    """𝟏𝟏ᵀ ⊗ I: vec(M 𝟏𝟏ᵀ) = (𝟏𝟏ᵀ ⊗ I) vec(M), each row's sum spread over the row."""
    m, n = shape
    return kron(OneMatrix(n, n), Identity(m))


@jvp_rule(Softmax)
def jvp_softmax(node, J):
    if 1 not in node.shape:         # per row of a matrix: diag(vec S) − diag(vec S)(𝟏𝟏ᵀ ⊗ I)diag(vec S)
        D = DiagMatrix(Vec(node))
        return ops.matmul(ops.sub(D, ops.matmul(D, _row_spread(node.shape), D)), J[node.arg])
    s = col(node)
    return ops.sub(ops.matmul(DiagMatrix(s), J[node.arg]), ops.matmul(s, ops.transpose(s), J[node.arg]))


@jvp_rule(LogSoftmax)
def jvp_logsoftmax(node, J):
    if 1 not in node.shape:         # per row: I − (𝟏𝟏ᵀ ⊗ I)diag(vec S)
        spread = ops.matmul(_row_spread(node.shape), DiagMatrix(Vec(Softmax(node.arg))), J[node.arg])
        return ops.sub(J[node.arg], spread)
    s = col(Softmax(node.arg))
    k = s.shape[0]
    return ops.sub(J[node.arg], ops.matmul(OneMatrix(k, 1), ops.transpose(s), J[node.arg]))


@jvp_rule(Inverse)
def jvp_inverse(node, J):
    """vec(dA⁻¹) = −(A⁻ᵀ ⊗ A⁻¹) vec(dA)."""
    return ops.neg(ops.matmul(kron(ops.transpose(node), node), J[node.arg]))


@jvp_rule(Determinant)
def jvp_det(node, J):
    """d det A = det A · vec(A⁻ᵀ)ᵀ vec(dA)."""
    return ops.scale(node, ops.matmul(ops.transpose(col(ops.transpose(Inverse(node.arg)))), J[node.arg]))


@jvp_rule(LogDet)
def jvp_logdet(node, J):
    """d log det A = vec(A⁻ᵀ)ᵀ vec(dA)."""
    return ops.matmul(ops.transpose(col(ops.transpose(Inverse(node.arg)))), J[node.arg])


@jvp_rule(Abs)
def jvp_abs(node, J):
    return ops.scale(ops.apply("sign", node.args[0]), J[node.args[0]])
