"""Textbook-form rewrites applied to derived results.

Each rewrite is a small function ``node -> node | None`` (None: not applicable),
applied bottom-up once per distinct node (memoised, so shared deltas stay shared).
"""
from __future__ import annotations

from typing import Callable

from sympy import Identity, Integer
from sympy.matrices.expressions import (HadamardPower, HadamardProduct, MatAdd, MatMul, OneMatrix, Transpose,
                                        ZeroMatrix)
from sympy.matrices.expressions.diagonal import DiagMatrix
from sympy.matrices.expressions.kronecker import KroneckerProduct

from ..ir import ops
from .engine import _LEAVES
from .entrywise_algebra import maximal_islands
from .matrix_algebra import REWRITES as MATRIX_REWRITES
from ..ir.nodes import SumEntries, Vec, is_matrix

Rewrite = Callable[[object], object]


_rebuild = ops.rebuild


def rewrite(expr, rewrites: list[Rewrite], memo: dict | None = None):
    """Apply ``rewrites`` bottom-up until none applies at a node (iterative DFS)."""
    memo = {} if memo is None else memo
    stack = [(expr, False)]
    while stack:
        node, ready = stack.pop()
        if node in memo:
            continue
        if isinstance(node, _LEAVES) or not node.args:
            memo[node] = node
            continue
        if not ready:
            stack.append((node, True))
            stack.extend((a, False) for a in node.args if a not in memo)
            continue
        out = _rebuild(node, [memo[a] for a in node.args])
        for _ in range(20):
            for rw in rewrites:
                new = rw(out)
                if new is not None and new != out:
                    out = new
                    break
            else:
                break
        memo[node] = out
    return memo[expr]


# ---------------------------------------------------------------- rewrites
def ones_product(node):
    """1_{a×k} 1_{k×b} = k 1_{a×b}."""
    if not isinstance(node, MatMul):
        return None
    args = list(node.args)
    for i in range(len(args) - 1):
        a, b = args[i], args[i + 1]
        if isinstance(a, OneMatrix) and isinstance(b, OneMatrix):
            merged = ops.scale(a.shape[1], OneMatrix(a.shape[0], b.shape[1]))
            return ops.matmul(*args[:i], merged, *args[i + 2:])
    return None


def zero_diagonal(node):
    """diag(0) = 0."""
    if isinstance(node, DiagMatrix) and ops.is_zero(node.args[0]):
        return ZeroMatrix(*node.shape)
    return None


def diagonal_products(node):
    """diag(a) diag(b) = diag(a ⊙ b); 1ᵀ diag(v) = vᵀ; diag(v) 1 = v (v a column)."""
    if not isinstance(node, MatMul):
        return None
    args = list(node.args)
    for i in range(len(args) - 1):
        a, b = args[i], args[i + 1]
        if isinstance(a, DiagMatrix) and isinstance(b, DiagMatrix) and a.shape == b.shape \
                and a.args[0].shape == b.args[0].shape:
            merged = DiagMatrix(ops.hadamard(a.args[0], b.args[0]))
        elif isinstance(a, OneMatrix) and a.shape[0] == 1 and isinstance(b, DiagMatrix) and b.args[0].shape[1] == 1:
            merged = ops.transpose(b.args[0])
        elif isinstance(b, OneMatrix) and b.shape[1] == 1 and isinstance(a, DiagMatrix) and a.args[0].shape[1] == 1:
            merged = a.args[0]
        else:
            continue
        return ops.matmul(*args[:i], merged, *args[i + 2:])
    return None


def kronecker_contraction(node):
    """vec(M)ᵀ (C ⊗ D) = vec(Dᵀ M C)ᵀ, and 𝟏ᵀ (C ⊗ D) likewise with M = 𝟏 (a row times a Kronecker product)."""
    if not isinstance(node, MatMul):
        return None
    args = list(node.args)
    for i in range(len(args) - 1):
        a, b = args[i], args[i + 1]
        if not (isinstance(b, KroneckerProduct) and len(b.args) == 2):
            continue
        C, D = b.args
        if isinstance(a, Transpose) and isinstance(a.arg, Vec):
            M = a.arg.arg
        elif isinstance(a, OneMatrix) and a.shape[0] == 1:
            M = OneMatrix(D.shape[0], C.shape[0])
        else:
            continue
        if M.shape != (D.shape[0], C.shape[0]):
            continue
        inner = ops.matmul(ops.transpose(D), M, C)
        flat = Vec(inner) if 1 not in inner.shape else (ops.transpose(inner) if inner.shape[0] == 1 else inner)
        return ops.matmul(*args[:i], ops.transpose(flat), *args[i + 2:])
    return None


def _is_vec_identity_diag(m) -> bool:
    return isinstance(m, DiagMatrix) and isinstance(m.args[0], Vec) and isinstance(m.args[0].arg, Identity)


def _kron_with_identity(m):
    """u for u ⊗ I or I ⊗ u with u a vector (row or column), else None."""
    if isinstance(m, KroneckerProduct) and len(m.args) == 2:
        a, b = m.args
        if isinstance(b, Identity) and 1 in a.shape:
            return a
        if isinstance(a, Identity) and 1 in b.shape:
            return b
    return None


def diagonal_selection(node):
    """(aᵀ ⊗ I) diag(vec I) (b ⊗ I) = diag(a ⊙ b) (also I ⊗ b; a or b may be 𝟏);
    vec(I)ᵀ diag(vec I) = vec(I)ᵀ."""
    if not isinstance(node, MatMul):
        return None
    args = list(node.args)
    for i in range(len(args) - 1):
        if isinstance(args[i], Transpose) and isinstance(args[i].arg, Vec) and \
                isinstance(args[i].arg.arg, Identity) and _is_vec_identity_diag(args[i + 1]):
            return ops.matmul(*args[:i + 1], *args[i + 2:])
    for i in range(len(args) - 2):
        a, mid, b = _kron_with_identity(args[i]), args[i + 1], _kron_with_identity(args[i + 2])
        if a is not None and b is not None and _is_vec_identity_diag(mid) and a.shape[0] == 1 \
                and b.shape[1] == 1 and a.shape[1] == b.shape[0]:
            merged = DiagMatrix(ops.hadamard(ops.transpose(a), b))
            return ops.matmul(*args[:i], merged, *args[i + 3:])
    return None


def kronecker_products(node):
    """(A ⊗ B)(C ⊗ D) = AC ⊗ BD (the mixed-product property), when the shapes allow."""
    if not isinstance(node, MatMul):
        return None
    args = list(node.args)
    for i in range(len(args) - 1):
        a, b = args[i], args[i + 1]
        if isinstance(a, KroneckerProduct) and isinstance(b, KroneckerProduct) and len(a.args) == len(b.args) == 2:
            (A, B), (C, D) = a.args, b.args
            if A.shape[1] == C.shape[0] and B.shape[1] == D.shape[0]:
                left, right = ops.matmul(A, C), ops.matmul(B, D)
                c1, left = ops.split_coeff(left)
                c2, right = ops.split_coeff(right)
                merged = ops.scale(c1 * c2, KroneckerProduct(left, right))
                return ops.matmul(*args[:i], merged, *args[i + 2:])
    return None


def kronecker_sums(node):
    """A ⊗ B + A ⊗ C = A ⊗ (B + C) and B ⊗ A + C ⊗ A = (B + C) ⊗ A."""
    if not isinstance(node, MatAdd):
        return None
    terms = list(node.args)
    for i, t in enumerate(terms):
        for j in range(i + 1, len(terms)):
            u = terms[j]
            if not (isinstance(t, KroneckerProduct) and isinstance(u, KroneckerProduct)
                    and len(t.args) == len(u.args) == 2):
                continue
            (A, B), (C, D) = t.args, u.args
            if A == C and B.shape == D.shape:
                merged = KroneckerProduct(A, ops.add(B, D))
            elif B == D and A.shape == C.shape:
                merged = KroneckerProduct(ops.add(A, C), B)
            else:
                continue
            rest = [x for k, x in enumerate(terms) if k not in (i, j)]
            return ops.add(merged, *rest)
    return None


def diagonal_sums(node):
    """diag(a) R + diag(b) R = diag(a + b) R (same tail R)."""
    if not isinstance(node, MatAdd):
        return None
    groups: dict = {}
    for t in node.args:
        c, body = ops.split_coeff(t)
        f = list(body.args) if isinstance(body, MatMul) else [body]
        if isinstance(f[0], DiagMatrix) and f[0].args[0].shape[1] == 1:
            tail = ops.matmul(*f[1:]) if len(f) > 1 else None
            groups.setdefault(tail, []).append((t, ops.scale(c, f[0].args[0])))
    for tail, members in groups.items():
        if len(members) > 1:
            rest = [t for t in node.args if t not in {m[0] for m in members}]
            merged = DiagMatrix(ops.add(*[v for _, v in members]))
            return ops.add(merged if tail is None else ops.matmul(merged, tail), *rest)
    return None


def hadamard_powers(node):
    """a^∘p ⊙ a^∘q = a^∘(p+q) (a ⊙ a = a^∘2): equal wherever the left side is defined."""
    if not isinstance(node, HadamardProduct):
        return None
    c, body = ops.split_coeff(node)
    factors = list(body.args) if isinstance(body, HadamardProduct) else [body]
    powers: dict = {}
    order = []
    for f in factors:
        base, p = (f.base, f.exp) if isinstance(f, HadamardPower) else (f, Integer(1))
        if base not in powers:
            order.append(base)
        powers[base] = powers.get(base, Integer(0)) + p
    if len(order) == len(factors):
        return None
    merged = [ops.hpow(b, powers[b]) for b in order if powers[b] != 0]
    return ops.scale(c, ops.hadamard(*merged) if merged else OneMatrix(*node.shape))


def sum_entries(node):
    """sum(c M) = c sum(M); sum(1_{m×n}) = mn."""
    if not isinstance(node, SumEntries):
        return None
    c, body = ops.split_coeff(node.arg)
    if isinstance(body, OneMatrix):
        return c * body.shape[0] * body.shape[1]
    if c != 1:
        return c * SumEntries(body)
    return None


def _negative(c) -> bool:
    return c.could_extract_minus_sign() if hasattr(c, "could_extract_minus_sign") else False


def _negatable(f):
    """(score, -f) for the best sum inside f to absorb a minus sign; score = #neg − #pos terms."""
    if isinstance(f, MatAdd):
        signs = [_negative(ops.split_coeff(t)[0]) for t in f.args]
        return sum(signs) - (len(signs) - sum(signs)), ops.add(*[ops.neg(t) for t in f.args])
    if isinstance(f, (MatMul, HadamardProduct)) and not _negative(ops.split_coeff(f)[0]):
        best = None
        for i, a in enumerate(f.args):
            found = _negatable(a) if is_matrix(a) else None
            if found and (best is None or found[0] > best[0]):
                args = list(f.args)
                args[i] = found[1]
                best = (found[0], args)
        if best is not None:
            build = ops.matmul if isinstance(f, MatMul) else ops.hadamard
            return best[0], build(*best[1])
    return None


def positive_sums(node):
    """-c (A - B) -> c (B - A): a negative coefficient is absorbed by the sum with most minus signs."""
    if not isinstance(node, MatMul):
        return None
    coeff, body = ops.split_coeff(node)
    if not _negative(coeff):
        return None
    found = _negatable(body)
    if found is None or found[0] < 0:
        return None
    return ops.scale(-coeff, found[1])


def sum_to_one(names: set) -> Rewrite:
    """Rows of Y (entries of a vector y) sum to one: Y 1 = 1, 1ᵀ Yᵀ = 1ᵀ, sum(y) = 1, sum(Y) = rows."""
    def declared(m):
        base = m.arg if isinstance(m, Transpose) else m
        return base if is_matrix(base) and getattr(base, "name", None) in names else None

    def sums_to_one(a, b) -> bool:
        """Does a·b contract Y's normalised axis (its columns; a column vector's rows) with ones?"""
        if isinstance(b, OneMatrix) and declared(a) is not None:
            y, over_columns = declared(a), not isinstance(a, Transpose)
        elif isinstance(a, OneMatrix) and declared(b) is not None:
            y, over_columns = declared(b), isinstance(b, Transpose)
        else:
            return False
        return over_columns if y.shape[1] != 1 else not over_columns

    def apply(node):
        if isinstance(node, SumEntries) and declared(node.arg) is not None:
            rows, cols = declared(node.arg).shape
            return Integer(1) if 1 in (rows, cols) else rows
        if not isinstance(node, MatMul):
            return None
        args = list(node.args)
        for i in range(len(args) - 1):
            a, b = args[i], args[i + 1]
            if sums_to_one(a, b):
                return ops.matmul(*args[:i], OneMatrix(a.shape[0], b.shape[1]), *args[i + 2:])
        return None
    return apply


BASIC = [ones_product, zero_diagonal, hadamard_powers, diagonal_products, diagonal_sums, kronecker_contraction, kronecker_products,
         kronecker_sums, diagonal_selection, sum_entries, positive_sums]
BASIC += MATRIX_REWRITES


def _islands_memo(memo: dict, keep, changed) -> dict:
    """The island simplifier's memo kept beside the rewrites' (a deep network's results share most
    of their DAG: walking it afresh for each result is quadratic); one per ``keep`` and ``changed``."""
    key = ("islands memo", keep)
    held = memo.get(key)
    if held is None or held[1] is not changed:
        held = memo[key] = ({}, changed)
    return held[0]


def textbook(expr, sum_to_one_names=(), memo=None, keep=frozenset(), changed: list | None = None):
    """The textbook-form rewrites, repeated until nothing changes (a rewrite can build
    nodes that other rewrites then simplify, e.g. diag(a)diag(b) -> diag(a ⊙ b)); entrywise
    islands are simplified as scalar algebra, the values in ``keep`` (the user's named
    intermediates) kept whole so that results still read with their names; ``changed`` (a list)
    collects the islands that scalar algebra rewrote."""
    rewrites = list(BASIC)
    if sum_to_one_names:
        rewrites.insert(0, sum_to_one(set(sum_to_one_names)))
    memo = {} if memo is None else memo   # one pass of the rewrites is a function of the node:
    islands = _islands_memo(memo, keep, changed)   # both memos serve every pass and every result
    out = rewrite(maximal_islands(expr, islands, keep, changed), rewrites, memo)
    for _ in range(4):
        again = rewrite(maximal_islands(out, islands, keep, changed), rewrites, memo)   # entrywise islands as scalar algebra
        if again == out:
            break
        out = again
    return out
