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


def _tiny_rnn(rng, T=4):
    X = rng.normal(size=(T, 2, 3))
    Wx, Wh, V = rng.normal(size=(3, 4)) * 0.5, rng.normal(size=(4, 4)) * 0.5, rng.normal(size=(4, 2))

    def loss(bump_t=None, bump=None):
        h, total = np.zeros((2, 4)), 0.0
        for t in range(T):
            h = np.tanh(X[t] @ Wx + h @ Wh)
            if t == bump_t:
                h = h + bump
            total += np.sum((h @ V) ** 2)
        return total
    return X, Wx, Wh, V, loss


def _states(X, Wx, Wh):
    hs, h = [], np.zeros((X.shape[1], Wh.shape[0]))
    for x in X:
        h = np.tanh(x @ Wx + h @ Wh)
        hs.append(h)
    return hs


@identity("bptt", r"\delta_{h_t} = \frac{\partial \ell_t}{\partial h_t} + "
          r"\frac{\partial J_{t+1}}{\partial h_t}\Big|_{\delta_{t+1}},\quad \delta_{h_{T+1}} = 0",
          "backpropagation through time: the adjoint of a state is its step's own term plus "
          "what step t+1 sends back (seed 003, RNN and LSTM)")
def _bptt(rng):
    # the recurrence δ_t = 2 z_t Vᵀ + (δ_{t+1} ⊙ (1 − h_{t+1}²)) W_hᵀ against differences of the unrolled loss
    X, Wx, Wh, V, loss = _tiny_rnn(rng)
    T, hs = X.shape[0], _states(X, Wx, Wh)
    deltas, carry = [None] * T, np.zeros((2, 4))
    for t in range(T - 1, -1, -1):
        deltas[t] = 2 * (hs[t] @ V) @ V.T + carry
        carry = (deltas[t] * (1 - hs[t] ** 2)) @ Wh.T
    worst, eps = 0.0, 1e-6
    for t in (0, T - 1):
        E = rng.normal(size=(2, 4))
        fd = (loss(t, eps * E) - loss(t, -eps * E)) / (2 * eps)
        worst = max(worst, _rel(fd, np.sum(deltas[t] * E)))
    return worst


@identity("sum_over_time", r"\frac{\partial f}{\partial W} = \sum_{t=1}^{T} "
          r"\frac{\partial J_t}{\partial W}\Big|_{W \text{ used at step } t}",
          "a parameter shared by every step: its gradient is the sum of the steps' contributions "
          "(seed 003: \\partial L/\\partial V = \\sum_t h_t^T (a_t - y_t))")
def _sum_over_time(rng):
    X, Wx, Wh, V, loss = _tiny_rnn(rng)
    T, hs = X.shape[0], _states(X, Wx, Wh)
    grad = sum(hs[t].T @ (2 * hs[t] @ V) for t in range(T))
    E, eps = rng.normal(size=V.shape), 1e-6

    def at(v):
        return sum(np.sum((h @ v) ** 2) for h in hs)
    fd = (at(V + eps * E) - at(V - eps * E)) / (2 * eps)
    return _rel(fd, np.sum(grad * E))


@identity("symmetric_transpose", r"S^T = S \ \text{for } S = A^T A + \lambda I,\ A S A^T,\ S^{-1},\ f_{\odot}(S)",
          "definition of symmetry; (AB)^T = B^T A^T, (S^{-1})^T = (S^T)^{-1} (Matrix Cookbook (4), (2))")
def _symmetric_transpose(rng):
    A, B = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    S = A.T @ A + 0.5 * np.eye(3)
    T = B @ np.linalg.inv(S) @ B.T
    return max(_rel(S.T, S), _rel(np.linalg.inv(S).T, np.linalg.inv(S)), _rel(T.T, T), _rel(np.tanh(S).T, np.tanh(S)))
