"""Smart constructors over the IR: one call for scalars and matrices alike.

Each returns a canonical SymPy node (SymPy checks the shapes); rules and the
builder use these instead of SymPy's classes so that scalars (Expr) and
matrices (MatrixExpr) mix correctly.
"""
from __future__ import annotations

from sympy import Add, Integer, Mul, Pow, S, Trace
from sympy.matrices.expressions import (HadamardPower, HadamardProduct, Identity, MatAdd,
                                        MatMul, OneMatrix, Transpose, ZeroMatrix)
from sympy.matrices.expressions.diagonal import DiagMatrix

from .nodes import Elementwise, ScalarFunction, is_matrix


def is_zero(e) -> bool:
    return isinstance(e, ZeroMatrix) or (not is_matrix(e) and e == 0)


def as_scalar(e):
    """A 1x1 matrix as a scalar (its trace); scalars unchanged."""
    if is_matrix(e) and e.shape == (1, 1):
        if isinstance(e, Identity) or isinstance(e, OneMatrix):
            return S.One
        return Trace(e)
    return e


def split_coeff(e):
    """(scalar coefficient, matrix part) of a matrix term: 2*X*Y -> (2, X*Y)."""
    if isinstance(e, MatMul):
        args = _factors(e)   # a nested product's scalar too: c·((s·X)·Y)
        scalars = [a for a in args if not is_matrix(a)]
        if scalars:
            mats = [a for a in args if is_matrix(a)]
            return Mul(*scalars), (mats[0] if len(mats) == 1 else MatMul(*mats))
    return S.One, e


def _factors(e) -> list:
    """The factors of a matrix product, nested products flattened (in order)."""
    out = []
    for a in e.args:
        out.extend(_factors(a) if isinstance(a, MatMul) else [a])
    return out


def add(*terms):
    """Sum with like terms combined (X + 2X -> 3X) and zeros dropped."""
    flat = []
    for t in terms:
        flat.extend(t.args if isinstance(t, (MatAdd, Add)) else (t,))
    nonzero = [t for t in flat if not is_zero(t)]
    if not nonzero:   # zeros of a matrix kind stay a zero matrix of its shape
        matrices = [t for t in flat if is_matrix(t)]
        return ZeroMatrix(*matrices[0].shape) if matrices else S.Zero
    flat = nonzero
    if not is_matrix(flat[0]):
        return Add(*flat)
    shape = flat[0].shape
    coeffs: dict = {}
    bodies: dict = {}
    for t in flat:
        c, body = split_coeff(t)
        key = frozenset(body.args) if isinstance(body, MatAdd) else body  # sums equal up to order
        bodies.setdefault(key, body)
        coeffs[key] = coeffs.get(key, S.Zero) + c
    kept = [scale(c, bodies[key]) for key, c in coeffs.items() if c != 0]
    if not kept:
        return ZeroMatrix(*shape)
    return kept[0] if len(kept) == 1 else MatAdd(*kept)


def neg(e):
    return scale(S.NegativeOne, e)


def sub(a, b):
    return add(a, neg(b))


def scale(s, e):
    """Scalar s times e (scalar or matrix)."""
    return matmul(s, e) if is_matrix(e) else Mul(s, e)


def matmul(*factors):
    """Product with the contract's '*': scalars scale, matrices multiply.

    Nested products are flattened, scalars moved to the front, identities
    dropped; sums are never distributed (2(Xw - y) stays as written).
    """
    coeff, mats, rows, cols = S.One, [], None, None
    for f in factors:
        if not is_matrix(f):
            coeff = coeff * f
            continue
        rows = f.shape[0] if rows is None else rows
        cols = f.shape[1]
        for a in (f.args if isinstance(f, MatMul) else (f,)):
            if not is_matrix(a):
                coeff = coeff * a
            elif not isinstance(a, Identity):
                mats.append(a)
    if rows is None:
        return coeff
    if coeff == 0 or any(isinstance(m, ZeroMatrix) for m in mats):
        return ZeroMatrix(rows, cols)
    if not mats:
        body = Identity(rows)
    elif len(mats) == 1:
        body = mats[0]
    else:
        body = MatMul(*mats)
    if coeff == 1:
        return body
    return MatMul(coeff, *(body.args if isinstance(body, MatMul) else (body,)))


def hadamard(*factors):
    """Entrywise product; scalar factors and coefficients move to the front, 1s drop."""
    coeff, mats, shape = S.One, [], None
    for f in factors:
        if not is_matrix(f):
            coeff = coeff * f
            continue
        shape = f.shape
        c, body = split_coeff(f)
        coeff = coeff * c
        for a in (body.args if isinstance(body, HadamardProduct) else (body,)):
            if isinstance(a, ZeroMatrix):
                return ZeroMatrix(*shape)
            if not isinstance(a, OneMatrix) and not (isinstance(a, Identity) and a.shape == (1, 1)):
                mats.append(a)
    if shape is None:
        return coeff
    if not mats:
        return scale(coeff, OneMatrix(*shape))
    body = mats[0] if len(mats) == 1 else HadamardProduct(*mats)
    return scale(coeff, body)


def hpow(e, p):
    """Entrywise power."""
    if p == 1:
        return e
    if is_matrix(e):
        if p == 0:
            return OneMatrix(*e.shape)
        return HadamardPower(e, p)
    return Pow(e, p)


def transpose(e):
    """eᵀ pushed through products, sums and entrywise products; shared nodes kept whole.

    (AB)ᵀ = BᵀAᵀ and (Aᵀ)ᵀ = A; a transposed sigmoid(Z) or inv(A) stays
    ``Transpose(node)`` so that generated code reuses the node's value.
    """
    if not is_matrix(e):
        return e
    if isinstance(e, Transpose):
        return e.arg
    if isinstance(e, MatMul):
        return matmul(*[transpose(a) for a in reversed(e.args)])
    if isinstance(e, MatAdd):
        return add(*[transpose(a) for a in e.args])
    if isinstance(e, HadamardProduct):
        return hadamard(*[transpose(a) for a in e.args])
    if isinstance(e, (OneMatrix, ZeroMatrix)):
        return type(e)(e.shape[1], e.shape[0])
    if isinstance(e, (Identity, DiagMatrix)) or e.shape == (1, 1):
        return e
    return Transpose(e)


def ones_like(e):
    return OneMatrix(*e.shape) if is_matrix(e) else S.One


def one_minus(e):
    """1 - e, entrywise."""
    return sub(ones_like(e), e)


def apply(name: str, e):
    """The registered function ``name`` applied entrywise."""
    return Elementwise(name, e) if is_matrix(e) else ScalarFunction(name, e)


def broadcast(e, shape):
    """e extended to ``shape`` by NumPy rules, explicitly: a row b becomes 1_m b."""
    rows, cols = shape
    if not is_matrix(e):
        return scale(e, OneMatrix(rows, cols))
    r, c = e.shape
    if r != rows:
        e = MatMul(OneMatrix(rows, 1), e)
    if c != cols:
        e = MatMul(e, OneMatrix(1, cols))
    return e


def sum_entries(e):
    """Sum of all entries (a 1x1 matrix is just its value)."""
    from .nodes import SumEntries
    if not is_matrix(e):
        return e
    return as_scalar(e) if e.shape == (1, 1) else SumEntries(e)


def zeros_like(e):
    return ZeroMatrix(*e.shape) if is_matrix(e) else Integer(0)


def shaped(result, like):
    """A zero gradient of a matrix variable as a zero matrix of its shape (tr(N − Nᵀ) -> 0_{2×2})."""
    if is_matrix(like) and not is_matrix(result) and result == 0:
        return ZeroMatrix(*like.shape)
    return result


def rebuild(node, args):
    """``node`` with new arguments, through the canonical constructors (products, sums)."""
    if tuple(args) == node.args:
        return node
    if isinstance(node, MatMul):
        return matmul(*args)
    if isinstance(node, MatAdd):
        return add(*args)
    if isinstance(node, HadamardProduct):
        return hadamard(*args)
    return node.func(*args)


def tree_size(expr, cap: int) -> int:
    """Nodes of expr written out as a tree (shared subexpressions counted each time), capped just
    above ``cap``; linear in the DAG's size."""
    sizes: dict = {}

    def size(node) -> int:
        if node in sizes:
            return sizes[node]
        total = 1
        for a in node.args:
            total += size(a)
            if total > cap:
                break
        sizes[node] = min(total, cap + 1)
        return sizes[node]
    try:
        return size(expr)
    except RecursionError:
        return cap + 1
