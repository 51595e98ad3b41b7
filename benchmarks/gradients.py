"""Gradient workloads: matcalc's generated code against hand-written NumPy, JAX and PyTorch.

Each workload: the program, its shapes, a point, the hand-written forward pass and backprop
(what an expert writes), and the same loss for JAX and PyTorch.
"""
from __future__ import annotations

import time

import numpy as np

import matcalc


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


def _onehot(rng, n, k):
    Y = np.zeros((n, k))
    Y[np.arange(n), rng.integers(0, k, n)] = 1.0
    return Y


# ------------------------------------------------------------------ workloads
def linreg(rng):
    n, d = 4096, 256
    p = {"X": rng.standard_normal((n, d)), "w": rng.standard_normal((d, 1)) / 16, "y": rng.standard_normal((n, 1))}

    def forward(X, w, y):
        r = X @ w - y
        return float(np.vdot(r, r))

    def hand(X, w, y):
        return {"w": 2.0 * (X.T @ (X @ w - y))}

    def ref(xp, X, w, y):
        r = X @ w - y
        return xp.sum(r * r)
    return ("linear regression X 4096×256", "norm2(X*w - y)^2", {k: v.shape for k, v in p.items()}, ["w"], (),
            p, forward, hand, ref)


def mlp(rng, n, d, h, k, label):
    p = {"X": rng.standard_normal((n, d)), "W1": rng.standard_normal((d, h)) / np.sqrt(d),
         "b1": np.zeros((1, h)), "W2": rng.standard_normal((h, k)) / np.sqrt(h), "b2": np.zeros((1, k)),
         "Y": rng.standard_normal((n, k))}

    def forward(X, W1, b1, W2, b2, Y):
        H = _sig(X @ W1 + b1)
        R = H @ W2 + b2 - Y
        return float(np.vdot(R, R))

    def hand(X, W1, b1, W2, b2, Y):
        H = _sig(X @ W1 + b1)
        dZ = 2.0 * (H @ W2 + b2 - Y)
        dU = (dZ @ W2.T) * H * (1.0 - H)
        return {"W1": X.T @ dU, "b1": dU.sum(axis=0, keepdims=True), "W2": H.T @ dZ,
                "b2": dZ.sum(axis=0, keepdims=True)}

    def ref(xp, X, W1, b1, W2, b2, Y):
        H = 1.0 / (1.0 + xp.exp(-(X @ W1 + b1)))
        R = H @ W2 + b2 - Y
        return xp.sum(R * R)
    return (label, "H = sigmoid(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2", {k: v.shape for k, v in p.items()},
            ["W1", "b1", "W2", "b2"], (), p, forward, hand, ref)


def softmax_regression(rng):
    n, d, k = 1024, 784, 10
    p = {"X": rng.standard_normal((n, d)) / 8, "W": rng.standard_normal((d, k)) / 28, "b": np.zeros((1, k)),
         "Y": _onehot(rng, n, k)}

    def _lsm(Z):
        Z = Z - Z.max(axis=1, keepdims=True)
        return Z - np.log(np.exp(Z).sum(axis=1, keepdims=True))

    def forward(X, W, b, Y):
        return float(-np.sum(Y * _lsm(X @ W + b)))

    def hand(X, W, b, Y):
        Z = X @ W + b
        E = np.exp(Z - Z.max(axis=1, keepdims=True))
        G = E / E.sum(axis=1, keepdims=True) - Y
        return {"W": X.T @ G, "b": G.sum(axis=0, keepdims=True)}

    def ref(xp, X, W, b, Y):
        Z = X @ W + b
        if xp.__name__ == "torch":
            return -xp.sum(Y * xp.log_softmax(Z, dim=1))
        return -xp.sum(Y * (Z - xp.log(xp.sum(xp.exp(Z - xp.max(Z, axis=1, keepdims=True)), axis=1,
                                              keepdims=True)) - xp.max(Z, axis=1, keepdims=True)))
    return ("softmax regression X 1024×784, 10 classes", "-sum(Y .* logsoftmax(X*W + b))",
            {k: v.shape for k, v in p.items()}, ["W", "b"], ["Y"], p, forward, hand, ref)


def _softmax_rows(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def _softmax_xp(xp, Z):
    if xp.__name__ == "torch":
        return xp.softmax(Z, dim=1)
    E = xp.exp(Z - xp.max(Z, axis=1, keepdims=True))
    return E / xp.sum(E, axis=1, keepdims=True)


def attention(rng):
    """Self-attention with a squared error, n = 256, d = 64."""
    n, d = 256, 64
    p = {"X": rng.standard_normal((n, d)) / 4, "Wq": rng.standard_normal((d, d)) / 8,
         "Wk": rng.standard_normal((d, d)) / 8, "Wv": rng.standard_normal((d, d)) / 8,
         "Y": rng.standard_normal((n, d))}

    def forward(X, Wq, Wk, Wv, Y):
        R = _softmax_rows((X @ Wq) @ (X @ Wk).T) @ (X @ Wv) - Y
        return float(np.vdot(R, R))

    def hand(X, Wq, Wk, Wv, Y):
        Q, K, V = X @ Wq, X @ Wk, X @ Wv
        A = _softmax_rows(Q @ K.T)
        dR = 2.0 * (A @ V - Y)
        dA = dR @ V.T
        dS = A * (dA - (A * dA).sum(axis=1, keepdims=True))
        return {"Wq": X.T @ (dS @ K), "Wk": X.T @ (dS.T @ Q), "Wv": X.T @ (A.T @ dR)}

    def ref(xp, X, Wq, Wk, Wv, Y):
        R = _softmax_xp(xp, (X @ Wq) @ (X @ Wk).T) @ (X @ Wv) - Y
        return xp.sum(R * R)
    return ("self-attention ‖softmax(XWq(XWk)ᵀ)XWv − Y‖², n=256 d=64",
            "A = softmax(X*Wq*(X*Wk)'); f = norm2(A*X*Wv - Y)^2", {k: v.shape for k, v in p.items()},
            ["Wq", "Wk", "Wv"], (), p, forward, hand, ref)


def attention_sum(rng):
    """sum(softmax(X Wq (X Wk)ᵀ) X Wv), n = 256, d = 64: rank-1 adjoints."""
    n, d = 256, 64
    p = {"X": rng.standard_normal((n, d)) / 4, "Wq": rng.standard_normal((d, d)) / 8,
         "Wk": rng.standard_normal((d, d)) / 8, "Wv": rng.standard_normal((d, d)) / 8}

    def forward(X, Wq, Wk, Wv):
        return float(np.sum(_softmax_rows((X @ Wq) @ (X @ Wk).T) @ (X @ Wv)))

    def hand(X, Wq, Wk, Wv):
        Q, K = X @ Wq, X @ Wk
        A = _softmax_rows(Q @ K.T)
        v = X @ Wv.sum(axis=1)                      # dA = 𝟏 vᵀ: a row broadcast, kept as a vector
        dS = A * (v[None, :] - (A @ v)[:, None])
        col = X.T @ A.sum(axis=0)
        return {"Wq": X.T @ (dS @ K), "Wk": X.T @ (dS.T @ Q),
                "Wv": np.broadcast_to(col[:, None], Wv.shape)}

    def ref(xp, X, Wq, Wk, Wv):
        return xp.sum(_softmax_xp(xp, (X @ Wq) @ (X @ Wk).T) @ (X @ Wv))
    return ("sum(softmax(XWq(XWk)ᵀ)XWv), n=256 d=64", "sum(softmax(X*Wq*(X*Wk)')*X*Wv)",
            {k: v.shape for k, v in p.items()}, ["Wq", "Wk", "Wv"], (), p, forward, hand, ref)


def logdet_gram(rng):
    """logdet(XᵀX + I), X 1000×500."""
    n, d = 1000, 500
    p = {"X": rng.standard_normal((n, d)) / np.sqrt(n)}

    def forward(X):
        return float(np.linalg.slogdet(X.T @ X + np.eye(d))[1])

    def hand(X):
        return {"X": 2.0 * (X @ np.linalg.inv(X.T @ X + np.eye(d)))}

    def ref(xp, X):
        eye = xp.eye(d, dtype=X.dtype) if xp.__name__ == "torch" else xp.eye(d)
        return xp.linalg.slogdet(X.T @ X + eye)[1]
    return ("logdet(XᵀX + I), X 1000×500", "logdet(X'*X + eye(500))", {"X": (n, d)}, ["X"], (),
            p, forward, hand, ref)


def gaussian_nll(rng):
    """Gaussian negative log-likelihood wrt the covariance: logdet(S) + tr(S⁻¹AᵀA), A 2000×200."""
    n, d = 2000, 200
    B = rng.standard_normal((d, d)) / np.sqrt(d)
    p = {"S": B @ B.T + np.eye(d), "A": rng.standard_normal((n, d))}

    def forward(S, A):
        return float(np.linalg.slogdet(S)[1] + np.trace(np.linalg.solve(S, A.T @ A)))

    def hand(S, A):
        Si = np.linalg.inv(S)
        return {"S": Si - Si @ (A.T @ A) @ Si}     # S symmetric: Sᵀ = S

    def ref(xp, S, A):
        return xp.linalg.slogdet(S)[1] + xp.trace(xp.linalg.inv(S) @ (A.T @ A))
    return ("Gaussian NLL wrt covariance, A 2000×200, S 200×200", "logdet(S) + tr(inv(S)*A'*A)",
            {k: v.shape for k, v in p.items()}, ["S"], (), p, forward, hand, ref)


WORKLOADS = [linreg, lambda r: mlp(r, 1024, 784, 256, 10, "sigmoid MLP 1024×784→256→10"),
             lambda r: mlp(r, 32, 20, 16, 3, "sigmoid MLP 32×20→16→3"), softmax_regression,
             attention, attention_sum, logdet_gram, gaussian_nll]


def rows(repeats, median_times, jax=None, torch=None):
    out = []
    for make in WORKLOADS:
        rng = np.random.default_rng(0)
        label, expr, shapes, wrt, labels, point, forward, hand, ref = make(rng)
        t0 = time.perf_counter()
        d = matcalc.derive(expr, wrt=wrt, shapes=shapes, sum_to_one=labels)
        generated = d.to_numpy()
        derive_s = time.perf_counter() - t0
        got, want = generated(**point), hand(**point)
        for k in want:
            assert np.allclose(got[k], want[k], rtol=1e-9, atol=1e-9), f"{label}: generated {k} disagrees"
        fns = {"generated": lambda: generated(**point),
               "hand": lambda: hand(**point),
               "forward": lambda: forward(**point)}
        times = median_times(fns, repeats)   # the NumPy implementations, interleaved
        names = list(point)
        if jax is not None:
            jnp = jax.numpy
            args = [jnp.asarray(point[n]) for n in names]
            grad = jax.jit(jax.grad(lambda *a: ref(jnp, *a), argnums=tuple(names.index(w) for w in wrt)))
            gj = grad(*args)
            assert all(np.allclose(np.asarray(g), want[w], rtol=1e-7, atol=1e-7) for g, w in zip(gj, wrt))
            times.update(median_times({"jax": lambda: jax.block_until_ready(grad(*args))}, repeats))
        if torch is not None:
            def run():
                ts = {n: torch.from_numpy(point[n]).requires_grad_(n in wrt) for n in names}
                ref(torch, *[ts[n] for n in names]).backward()
                return ts
            ts = run()
            assert all(np.allclose(ts[w].grad.numpy(), want[w], rtol=1e-7, atol=1e-7) for w in wrt)
            times.update(median_times({"torch": run}, repeats))
        out.append((label, derive_s, times))
    return out
