"""Matrix-algebra rewrites of derived results: inverses, determinants, collected terms.

Each rewrite is ``node -> node | None`` for ``simplify.rewrite``; each identity it
uses is a catalogue entry with a numerical self-test (rules/simplifications.py).
"""
from __future__ import annotations

from sympy import Determinant, Float, Identity, Integer, Inverse, Mul, Pow, Transpose
from sympy.matrices.expressions import MatAdd, MatMul
from sympy.matrices.expressions.diagonal import DiagMatrix

from ..ir import ops
from ..errors import MatcalcError
from ..ir.nodes import Elementwise, LogDet, Softmax, SumEntries, is_matrix
from ..lang.printing import language_length
from .symmetry import is_symmetric, symmetric_transpose  # noqa: F401  (is_symmetric: used by tests)


# ---------------------------------------------------------------- inverses and determinants
def inverse_of_inverse(node):
    """(X⁻¹)⁻¹ = X."""
    if isinstance(node, Inverse) and isinstance(node.arg, Inverse):
        return node.arg.arg
    return None


def inverse_of_transpose(node):
    """(Xᵀ)⁻¹ = (X⁻¹)ᵀ."""
    if isinstance(node, Inverse) and isinstance(node.arg, Transpose):
        return Transpose(Inverse(node.arg.arg))
    return None


def _inverse_pair(a, b) -> bool:
    """a b = I for a = X⁻¹, b = X (either order), or their transposes."""
    if isinstance(a, Transpose) and isinstance(b, Transpose):
        a, b = a.arg, b.arg
    return (isinstance(a, Inverse) and a.arg == b) or (isinstance(b, Inverse) and b.arg == a)


def inverse_pairs(node):
    """X⁻¹X = XX⁻¹ = I and X⁻ᵀXᵀ = XᵀX⁻ᵀ = I inside a product."""
    if not isinstance(node, MatMul):
        return None
    args = list(node.args)
    for i in range(len(args) - 1):
        if is_matrix(args[i]) and is_matrix(args[i + 1]) and _inverse_pair(args[i], args[i + 1]):
            return ops.matmul(*args[:i], Identity(args[i].shape[0]), *args[i + 2:])
    return None


def determinant_of_inverse(node):
    """det(X⁻¹) = 1/det X, logdet(X⁻¹) = −logdet X; det(Xᵀ) = det X, logdet(Xᵀ) = logdet X."""
    if isinstance(node, (Determinant, LogDet)) and isinstance(node.arg, Transpose):
        return type(node)(node.arg.arg)
    if isinstance(node, Determinant) and isinstance(node.arg, Inverse):
        return Pow(Determinant(node.arg.arg), -1)
    if isinstance(node, LogDet) and isinstance(node.arg, Inverse):
        return -LogDet(node.arg.arg)
    return None


def integral_floats(node):
    """A float coefficient with an integral value is that integer (1.0 X = X)."""
    if isinstance(node, MatMul):
        c, body = ops.split_coeff(node)
        if isinstance(c, Float) and float(c).is_integer():
            return ops.scale(Integer(int(c)), body)
    return None


# ---------------------------------------------------------------- softmax
def softmax_products(node):
    """e^z/Σe^z = softmax(z) for a column z, one factor 1/Σe^z per factor e^z, (e^z)ᵀ or diag(e^z)."""
    if not isinstance(node, MatMul):
        return None
    c, body = ops.split_coeff(node)
    factors = list(body.args) if isinstance(body, MatMul) else [body]
    powers = c.as_powers_dict() if c != 1 else {}
    for base, p in powers.items():
        if not (isinstance(base, SumEntries) and isinstance(base.arg, Elementwise) and base.arg.name == "exp"
                and base.arg.shape[1] == 1 and base.arg.shape[0] != 1 and p.is_Integer and p < 0):
            continue
        ez, left = base.arg, -int(p)
        out = []
        for f in factors:
            if left and f == ez:
                f, left = Softmax(ez.arg), left - 1
            elif left and isinstance(f, Transpose) and f.arg == ez:
                f, left = Transpose(Softmax(ez.arg)), left - 1
            elif left and isinstance(f, DiagMatrix) and f.args[0] == ez:
                f, left = DiagMatrix(Softmax(ez.arg)), left - 1
            out.append(f)
        if left == -int(p):
            continue
        return ops.matmul(c * base ** (-int(p) - left), *out)
    return None


# ---------------------------------------------------------------- collecting terms
def _terms(node):
    """(coefficient, [matrix factors]) of each term of a sum."""
    out = []
    for t in node.args:
        c, body = ops.split_coeff(t)
        out.append((c, list(body.args) if isinstance(body, MatMul) else [body]))
    return out


def _common_scalar(coeffs):
    """The largest common factor of scalar coefficients (powers of shared bases, numbers' gcd)."""
    dicts = [Mul.make_args(c) for c in coeffs]
    common = None
    for parts in dicts:
        powers = {}
        for f in parts:
            if f.is_Number:
                continue
            b, e = (f.base, f.exp) if isinstance(f, Pow) and f.exp.is_Integer else (f, Integer(1))
            powers[b] = powers.get(b, 0) + e
        if common is None:
            common = powers
        else:
            common = {b: (min(e, powers[b]) if e > 0 else max(e, powers[b])) for b, e in common.items()
                      if b in powers and (e > 0) == (powers[b] > 0)}
    g = Mul(*[b ** e for b, e in (common or {}).items() if e != 0])
    nums = [c.as_coeff_Mul()[0] for c in coeffs]
    if all(n.is_Rational for n in nums):
        from sympy import gcd
        num = nums[0]
        for n in nums[1:]:
            num = gcd(num, n)
        if all(n < 0 for n in nums):
            num = -abs(num)
        g = g * num
    return g


def _collections(node, depth):
    """Candidate forms of a sum with factors collected (common scalar, equal coefficients,
    common leading or trailing factors)."""
    terms = _terms(node)
    coeffs = [c for c, _ in terms]
    g = _common_scalar(coeffs)
    if g != 1 and g != 0:
        inner = ops.add(*[ops.scale(c / g, ops.matmul(*f)) for c, f in terms])
        yield ops.scale(g, _best(inner, depth + 1)), not g.is_Integer
    by_coeff: dict = {}
    for c, f in terms:
        by_coeff.setdefault(c, []).append(ops.matmul(*f))
    if len(by_coeff) < len(terms):
        parts = [ops.scale(c, _best(ops.add(*bodies), depth + 1) if len(bodies) > 1 else bodies[0])
                 for c, bodies in by_coeff.items()]
        yield ops.add(*parts), False
    for side in (0, -1):
        groups: dict = {}
        for c, f in terms:
            key = f[side] if len(f) > 1 else None
            groups.setdefault(key, []).append((c, f))
        for key, members in groups.items():
            if key is None or len(members) < 2:
                continue
            rest = [ops.scale(c, ops.matmul(*f)) for c, f in terms if (c, f) not in members]
            inner = ops.add(*[ops.scale(c, ops.matmul(*(f[1:] if side == 0 else f[:-1]))) for c, f in members])
            inner = _best(inner, depth + 1)
            merged = ops.matmul(key, inner) if side == 0 else ops.matmul(inner, key)
            yield ops.add(merged, *rest), False


def _cost(expr) -> tuple:
    """Printed length, then the number of terms: a fraction or symbol factored out of a sum
    (c·(A + B)) merges with its context's coefficient (Xᵀ(σ − y)/8)."""
    return language_length(expr), len(expr.args) if isinstance(expr, MatAdd) else 1


def _best(expr, depth=0):
    """The shortest collected form of a sum (itself when nothing is shorter)."""
    if not isinstance(expr, MatAdd) or depth > 2:
        return expr
    best, n = expr, _cost(expr)
    for cand, tie_ok in _collections(expr, depth):
        m = _cost(cand)
        if m < n if tie_ok else m[0] < n[0]:
            best, n = cand, m
    return best


_MAX_TREE = 500


def collect_terms(node):
    """c·A·R + c·B·R = c·(A + B)·R (and leading factors, common scalar factors), when shorter."""
    if not isinstance(node, MatAdd) or len(node.args) > 12 or ops.tree_size(node, _MAX_TREE) > _MAX_TREE:
        return None   # a sum whose written-out tree is large is left as written: measuring by printing
    try:              # each candidate is quadratic in a deep network's depth
        out = _best(node)
    except MatcalcError:   # a time limit
        raise
    except Exception:  # noqa: BLE001 - best effort: the sum as written is always right
        return None
    return None if out == node else out


REWRITES = [symmetric_transpose, inverse_of_inverse, inverse_of_transpose, inverse_pairs, determinant_of_inverse, integral_floats,
            softmax_products, collect_terms]
