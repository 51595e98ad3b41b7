"""Identities the derivation methods use besides the per-operation rules.

Each entry's function is its numerical self-test: both sides at random
matrices, returning their largest relative difference.
"""
from __future__ import annotations

import numpy as np

from .registry import identity


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


@identity("definition", r"N = \text{its definition}",
          "substitution of a named intermediate (h = XW_1 + b_1, seed 004)")
def _definition(rng):
    # naming a value does not change it: f computed through H equals f inlined
    X, W1, W2 = rng.normal(size=(4, 3)), rng.normal(size=(3, 5)), rng.normal(size=(5, 2))
    H = _sigmoid(X @ W1)
    return _rel(np.sum(H @ W2), np.sum(_sigmoid(X @ W1) @ W2))


@identity("norm_as_trace", r"\|A\|_F^2 = \operatorname{tr}(A^T A)", "Matrix Cookbook (16); seed 004")
def _norm_as_trace(rng):
    A = rng.normal(size=(4, 3))
    return _rel(np.linalg.norm(A) ** 2, np.trace(A.T @ A))


@identity("trace_cyclic", r"\operatorname{tr}(ABC) = \operatorname{tr}(CAB),\quad \operatorname{tr}(A^T) = \operatorname{tr}(A)",
          "Matrix Cookbook (16), (14); seed 004")
def _trace_cyclic(rng):
    A, B, C = rng.normal(size=(3, 4)), rng.normal(size=(4, 5)), rng.normal(size=(5, 3))
    return max(_rel(np.trace(A @ B @ C), np.trace(C @ A @ B)), _rel(np.trace(A.T @ A @ B @ C), np.trace((A @ B @ C).T @ A)))


@identity("trace_hadamard", r"\operatorname{tr}\big(G^T (A \odot dX)\big) = \operatorname{tr}\big((G \odot A)^T dX\big)",
          "Matrix Cookbook (521); seed 004 (σ'(h) ⊙ dh)")
def _trace_hadamard(rng):
    G, A, D = (rng.normal(size=(4, 3)) for _ in range(3))
    return _rel(np.trace(G.T @ (A * D)), np.trace((G * A).T @ D))


@identity("trace_gradient", r"df = \operatorname{tr}(G^T dX)\ \text{for all } dX \iff \frac{\partial f}{\partial X} = G",
          "definition of the gradient (seed 004)")
def _trace_gradient(rng):
    # f(X) = tr(Xᵀ A X) has G = (A + Aᵀ) X: compare tr(Gᵀ dX) with a central difference
    A, X, D = rng.normal(size=(3, 3)), rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    f = lambda M: np.trace(M.T @ A @ M)  # noqa: E731
    h = 1e-5
    return _rel((f(X + h * D) - f(X - h * D)) / (2 * h), np.trace(((A + A.T) @ X).T @ D))


@identity("chain_rule", r"\frac{\partial f}{\partial N} = \sum_{P \text{ uses } N} \Big(\frac{\partial f}{\partial N}\Big)_{\text{through } P}",
          "total derivative: the adjoint of a node sums its users' contributions (seeds 000, 003)")
def _chain_rule(rng):
    # f = sum(σ(u)) + sum(u ⊙ u) with u = X w: df/dw = Xᵀ(σ'(u) + 2u)
    X, w = rng.normal(size=(5, 3)), rng.normal(size=(3, 1))
    f = lambda v: np.sum(_sigmoid(X @ v)) + np.sum((X @ v) ** 2)  # noqa: E731
    u = X @ w
    g = X.T @ (_sigmoid(u) * (1 - _sigmoid(u)) + 2 * u)
    h = 1e-6
    fd = np.array([[(f(w + h * e) - f(w - h * e)) / (2 * h)] for e in np.eye(3)[:, :, None]])
    return _rel(fd.reshape(3, 1), g)


@identity("jacobian_chain", r"\frac{\partial y}{\partial x} = \frac{\partial y}{\partial g}\,\frac{\partial g}{\partial x}\quad\text{(numerator layout)}",
          "vector chain rule (seed 001, Parr & Howard sec. 4.5)")
def _jacobian_chain(rng):
    W, A, x = rng.normal(size=(3, 4)), rng.normal(size=(4, 2)), rng.normal(size=(2, 1))
    y = lambda v: _sigmoid(W @ (A @ v))  # noqa: E731
    s = y(x)
    J = (s * (1 - s)) * W @ A            # diag(σ'(g)) W A
    h = 1e-6
    fd = np.hstack([(y(x + h * e) - y(x - h * e)) / (2 * h) for e in np.eye(2)[:, :, None]])
    return _rel(fd, J)


@identity("collect_terms", r"a\,dx + b\,dx + c\,dy = (a + b)\,dx + c\,dy", "distributivity (scalar differentials)")
def _collect_terms(rng):
    a, b, c, dx, dy = rng.normal(size=5)
    return _rel(a * dx + b * dx + c * dy, (a + b) * dx + c * dy)
