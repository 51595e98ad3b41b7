"""The simplifier's identities (matcalc/differentiate/entrywise_algebra.py, matcalc/differentiate/matrix_algebra.py).

Each entry's self-test builds an expression of the kind its rewrite targets, applies
the rewrite itself (not a copy of the identity), checks that it fired, and compares
both sides numerically at random points of the identity's domain.
"""
from __future__ import annotations

import numpy as np

from .registry import identity, selftest_tool


def _evaluate(expr, arrays: dict):
    """Value of an IR expression at ``arrays`` (name -> ndarray or float), by generated code."""
    from sympy import MatrixSymbol, Symbol
    variables = {n: (MatrixSymbol(n, *np.shape(v)) if np.ndim(v) else Symbol(n, real=True))
                 for n, v in arrays.items()}
    fn = selftest_tool("numpy_function")(variables, {"out": expr}, "_value")
    return np.asarray(fn(**arrays)["out"], float)


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def _check_rewrite(rewrite, build, draw, rng, points=3) -> float:
    """Largest relative difference between ``build(symbols)`` and its rewrite; inf when the
    rewrite did not fire (its test would then prove nothing)."""
    node = build()
    new = rewrite(node)
    if new is None or new == node:
        return float("inf")
    return max(_rel(_evaluate(new, arrays), _evaluate(node, arrays))
               for arrays in (draw(rng) for _ in range(points)))


def _island(text: str, shapes: dict):
    """The closed form of a small program's value (built by the parser)."""
    return selftest_tool("parse")(text, shapes).output


def _simplify_island(node):
    return selftest_tool("entrywise_islands")(node)


def _normal(shapes, positive=()):
    def draw(rng):
        return {n: (rng.uniform(0.5, 2.0, size=s) if n in positive else rng.normal(size=s)) if s
                else float(rng.uniform(0.5, 2.0) if n in positive else rng.normal())
                for n, s in shapes.items()}
    return draw



def _island_rewrite(text, shapes, rng):
    """Self-test of the entrywise-island simplifier on the last statement of ``text``."""
    return _check_rewrite(_simplify_island, lambda: _island(text, shapes), _normal(shapes), rng)

@identity("simplify:entrywise_scalar",
          r"F(A_1,\dots,A_k) \text{ entrywise} = f(a_1,\dots,a_k) \text{ entry by entry: } "
          r"\frac{1-y}{1-\sigma}\,\sigma(1-\sigma) - \frac{y}{\sigma}\,\sigma(1-\sigma) = \sigma - y",
          "scalar algebra (cancel, factor) on an entrywise island; BCE: Bishop, PRML (4.91)",
          domain="where the island as written is defined")
def _entrywise_scalar(rng):
    shapes = {"y": (5, 1), "X": (5, 3), "w": (3, 1)}
    text = "s = sigmoid(X*w); f = ((1 - y) ./ (1 - s) - y ./ s) .* s .* (1 - s)"
    return _island_rewrite(text, shapes, rng)


@identity("simplify:sigmoid_exp",
          r"e^{u} = \frac{\sigma(u)}{1-\sigma(u)},\quad \sigma(-u) = 1 - \sigma(u),\quad "
          r"\frac{e^{u}}{1+e^{u}} = \sigma(u)",
          "definition of the logistic function σ(u) = 1/(1 + e^{−u})")
def _sigmoid_exp(rng):
    shapes = {"X": (4, 3), "w": (3, 1), "y": (4, 1)}
    text = "f = y - exp(X*w) ./ (1 + exp(X*w))"
    return _island_rewrite(text, shapes, rng)


@identity("simplify:tanh_exp",
          r"e^{2u} = \frac{1+\tanh u}{1-\tanh u},\quad \frac{e^{u}-e^{-u}}{e^{u}+e^{-u}} = \tanh u",
          "definition of tanh u = (e^u − e^{−u})/(e^u + e^{−u})")
def _tanh_exp(rng):
    shapes = {"A": (4, 3), "x": (3, 1)}
    text = "f = 4*(exp(A*x) + exp(-A*x)).^(-2)"
    return _island_rewrite(text, shapes, rng)


@identity("simplify:softmax_exp",
          r"e^{z} = \Big(\textstyle\sum_i e^{z_i}\Big)\operatorname{softmax}(z),\quad "
          r"\frac{a^T e^{z}}{\sum_i e^{z_i}} = a^T\operatorname{softmax}(z)",
          "definition of softmax(z) = e^z / Σ e^{z_i} (z a column vector)")
def _softmax_exp(rng):
    shapes = {"W": (4, 3), "x": (3, 1), "u": (4, 1)}
    text = "f = (u/sum(exp(W*x)) - (u'*exp(W*x))/sum(exp(W*x))^2) .* exp(W*x)"
    return _island_rewrite(text, shapes, rng)


@identity("simplify:softmax_products",
          r"\frac{\operatorname{diag}(e^z)}{\sum e^{z}} - \frac{e^z (e^z)^T}{(\sum e^{z})^2} = "
          r"\operatorname{diag}(s) - s s^T,\ s = \operatorname{softmax}(z)",
          "definition of softmax: one factor 1/Σe^z per factor e^z of a product")
def _softmax_products(rng):
    softmax_products = selftest_tool("matrix_algebra").softmax_products
    shapes = {"z": (4, 1)}
    return _check_rewrite(softmax_products, lambda: _island("f = exp(z)*exp(z)'/sum(exp(z))^2", shapes),
                          _normal(shapes), rng)


@identity("simplify:sqrt_square", r"\sqrt{x} \odot \sqrt{x} = x",
          "(√x)² = x wherever √x is defined (x ≥ 0)", domain="x ≥ 0")
def _sqrt_square(rng):
    shapes = {"x": (4, 1), "B": (4, 2), "y": (2, 1)}
    return _check_rewrite(_simplify_island, lambda: _island("f = sqrt(x) .* sqrt(x) .* (B*y)", shapes),
                          _normal(shapes, positive={"x"}), rng)


@identity("simplify:inverse_of_inverse", r"(X^{-1})^{-1} = X", "Matrix Cookbook (sec. 3.1)",
          domain="X invertible")
def _inverse_of_inverse(rng):
    inverse_of_inverse = selftest_tool("matrix_algebra").inverse_of_inverse
    shapes = {"X": (3, 3)}
    return _check_rewrite(inverse_of_inverse, lambda: _island("f = inv(inv(X))", shapes),
                          _normal(shapes), rng)


@identity("simplify:inverse_of_transpose", r"(X^T)^{-1} = (X^{-1})^T = X^{-T}", "Matrix Cookbook (sec. 3.1)",
          domain="X invertible")
def _inverse_of_transpose(rng):
    inverse_of_transpose = selftest_tool("matrix_algebra").inverse_of_transpose
    shapes = {"X": (3, 3)}
    return _check_rewrite(inverse_of_transpose, lambda: _island("f = inv(X')", shapes), _normal(shapes), rng)


@identity("simplify:inverse_pairs", r"X^{-1}X = XX^{-1} = I,\quad X^{-T}X^T = X^TX^{-T} = I",
          "definition of the inverse", domain="X invertible")
def _inverse_pairs(rng):
    inverse_pairs = selftest_tool("matrix_algebra").inverse_pairs
    shapes = {"A": (2, 3), "X": (3, 3), "B": (3, 2)}
    return _check_rewrite(inverse_pairs, lambda: _island("f = A*inv(X)'*X'*B", shapes), _normal(shapes), rng)


@identity("simplify:det_of_inverse", r"\det(X^{-1}) = \frac{1}{\det X},\quad \log\det(X^{-1}) = -\log\det X,"
          r"\quad \det(X^T) = \det X",
          "Matrix Cookbook (18), (19)", domain="X invertible")
def _det_of_inverse(rng):
    determinant_of_inverse = selftest_tool("matrix_algebra").determinant_of_inverse
    shapes = {"X": (3, 3)}
    return max(_check_rewrite(determinant_of_inverse, lambda: _island(f"f = {text}", shapes), _normal(shapes), rng)
               for text in ("det(inv(X))", "det(X')"))


@identity("simplify:collect_terms",
          r"cAR + cBR = c(A + B)R,\quad LA + LB = L(A + B),\quad "
          r"\tfrac12 A^Tx + \tfrac12 Ax = \tfrac12(A + A^T)x",
          "distributivity of the matrix product over sums")
def _collect_terms(rng):
    collect_terms = selftest_tool("matrix_algebra").collect_terms
    shapes = {"A": (4, 4), "x": (4, 1), "b": (4, 1), "q": ()}
    return _check_rewrite(collect_terms, lambda: _island("f = A'*x/(2*q) + A*x/(2*q) - b/q", shapes),
                          _normal(shapes, positive={"q"}), rng)


@identity("simplify:symmetric_transpose",
          r"M^T = M \text{ for } M = X^TX + \lambda I,\ A + A^T,\ B S B^T (S = S^T),\ M^{-1} (M = M^T)",
          "(AB)ᵀ = BᵀAᵀ, (A + B)ᵀ = Aᵀ + Bᵀ, (M⁻¹)ᵀ = (Mᵀ)⁻¹: symmetry proved from the structure",
          domain="only where the structure proves M = Mᵀ")
def _symmetric_transpose(rng):
    symmetric_transpose = selftest_tool("matrix_algebra").symmetric_transpose
    shapes = {"X": (5, 3), "c": ()}
    return _check_rewrite(symmetric_transpose, lambda: _island("f = inv(X'*X + c*eye(3))'", shapes),
                          _normal(shapes, positive={"c"}), rng)
