"""Catalogue entries of the language's extensions (matcalc/lang/extensions.py): each defines a
function by operations the catalogue already differentiates; its self-test evaluates the
definition against NumPy and checks the derivative through it by finite differences."""
from __future__ import annotations

import numpy as np

from .registry import identity, selftest_tool


def _defines(program: str, shapes: dict, reference, positive=()):
    """Self-test: the program's value equals ``reference`` at random points, and its gradient
    with respect to every variable passes the finite-difference check."""
    def check(rng):
        parse, derive = selftest_tool("parse"), selftest_tool("derive")
        prog = parse(program, shapes)
        value = selftest_tool("numpy_function")(prog.variables, {"f": prog.output}, "value")
        worst = 0.0
        for _ in range(3):
            point = {n: (rng.uniform(0.5, 2.0, s) if n in positive else rng.standard_normal(s)) if s
                     else float(rng.standard_normal()) for n, s in shapes.items()}
            got = np.asarray(value(**point)["f"], dtype=float)
            want = np.asarray(reference(**point), dtype=float).reshape(got.shape)
            worst = max(worst, float(np.max(np.abs(got - want)) / max(1.0, float(np.max(np.abs(want))))))
        if not hasattr(prog.output, "shape") or prog.output.shape == (1, 1):   # a scalar function
            worst = max(worst, derive(program, shapes=shapes).check().max_rel_error)
        return worst
    return check


def _entry(id, latex, source, program, shapes, reference, domain="", positive=()):
    identity(id, latex, source, domain)(_defines(program, shapes, reference, positive))


_M, _V = {"A": (3, 4)}, {"x": (5, 1)}
_entry("def:vector", r"\operatorname{vector}(c) = c\,\mathbf{1}", "matrixcalculus.org: vector(c), size by use",
       "sum(log(exp(x) + vector(2)))", _V, lambda x: np.sum(np.log(np.exp(x) + 2)))
_entry("def:matrix", r"\operatorname{matrix}(c) = c\,\mathbf{1}\mathbf{1}^T", "matrixcalculus.org: matrix(c)",
       "sum((A + matrix(3)).^2)", _M, lambda A: np.sum((A + 3) ** 2))
_entry("def:eye", r"\operatorname{eye} = I \ (\text{size by use})", "matrixcalculus.org: eye",
       "x'*(B + eye)*x", {"x": (4, 1), "B": (4, 4)}, lambda x, B: x.T @ (B + np.eye(4)) @ x)
_entry("def:norm1", r"\|A\|_1 = \mathbf{1}^T |A| \mathbf{1}", "matrixcalculus.org: norm1 (entrywise for a matrix)",
       "norm1(A)", _M, lambda A: np.sum(np.abs(A)))
_entry("def:adj", r"\operatorname{adj}(A) = \det(A)\, A^{-1}", "Matrix Cookbook (A invertible); matrixcalculus.org: adj",
       "sum(adj(B))", {"B": (3, 3)}, lambda B: np.sum(np.linalg.det(B) * np.linalg.inv(B)), domain="A invertible")
_entry("def:sum_axis", r"\operatorname{sum}(A,1) = \mathbf{1}^T A,\ \operatorname{sum}(A,2) = A\mathbf{1}",
       "MATLAB's sum(A, dim)", "norm2(sum(A, 1))^2 + norm2(sum(A, 2))^2", _M,
       lambda A: np.sum(A.sum(0) ** 2) + np.sum(A.sum(1) ** 2))
_entry("def:mean", r"\operatorname{mean}(A) = \tfrac{1}{mn}\mathbf{1}^T A \mathbf{1},\ "
       r"\operatorname{mean}(A,1) = \tfrac1m \mathbf{1}^T A", "MATLAB's mean(A, dim)",
       "mean(A.^2) + norm2(mean(A, 1))^2 + norm2(mean(A, 2))^2", _M,
       lambda A: np.mean(A ** 2) + np.sum(A.mean(0) ** 2) + np.sum(A.mean(1) ** 2))
_entry("def:max", r"\max(a,b) = \tfrac12(a + b + |a - b|)", "entrywise; ties split the gradient in halves (abs'(0) = 0)",
       "sum(max(A, B).^2)", {"A": (3, 4), "B": (3, 4)}, lambda A, B: np.sum(np.maximum(A, B) ** 2))
_entry("def:min", r"\min(a,b) = \tfrac12(a + b - |a - b|)", "entrywise; ties split the gradient in halves (abs'(0) = 0)",
       "sum(min(A, 0.3).^2)", _M, lambda A: np.sum(np.minimum(A, 0.3) ** 2))
_entry("def:logsumexp", r"\operatorname{logsumexp}(a) = \tfrac1n \mathbf{1}^T (a - \operatorname{logsoftmax}(a))",
       "over all entries; a matrix: of the column of its rows' logsumexps (stable)",
       "logsumexp(A)", _M, lambda A: np.log(np.sum(np.exp(A))))
_entry("def:kron", r"(A \otimes B)_{(i-1)p+k,(j-1)q+l} = a_{ij} b_{kl}", "Matrix Cookbook (10.2.1); NumPy kron",
       "kron(A, B)", {"A": (2, 3), "B": (3, 2)}, lambda A, B: np.kron(A, B))
_entry("def:vec", r"\operatorname{vec}(A) = [a_1; \dots; a_n]", "Magnus & Neudecker (column-major)",
       "vec(A)", _M, lambda A: A.reshape(-1, 1, order="F"))
_entry("def:commutation", r"K_{m,n} \operatorname{vec}(A) = \operatorname{vec}(A^T)", "Magnus & Neudecker",
       "commutation(3, 4)*vec(A)", _M, lambda A: A.T.reshape(-1, 1, order="F"))
_entry("def:sym", r"\operatorname{sym}(A) = \tfrac12 (A + A^T)", "symmetric part", "sum(sym(B).^3)", {"B": (3, 3)},
       lambda B: np.sum(((B + B.T) / 2) ** 3))
