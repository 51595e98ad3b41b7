"""Structured Hessians: matcalc's generated code against an expert's hand NumPy, jax.jit and PyTorch.

Softmax regression ``-sum(Y .* logsoftmax(X*W))``, order 2 with respect to the d×k matrix W
(a dk×dk Hessian, column-major vec).  The expert builds it block by block:
``H = −Zᵀ(r ⊙ Z) + blockdiag_c Xᵀ diag(r ⊙ p_c) X`` with ``Z = [p_c ⊙ X]_c`` (n × dk), one GEMM
— a syrk ``ZᵀZ`` when the labels are declared to sum to one (r = 1), as an expert would write it.
Also the Hessian-vector product (``to_numpy(hvp=True)``) against the expert's
``Xᵀ(r⊙(P⊙U − P⊙rowsum(P⊙U)))``, U = X V.

Each implementation is timed in CPU time (``time.process_time``) and wall time, interleaved in
rounds; a round whose wall time exceeds 1.5× its CPU time is counted as throttled (the process
waited for a CPU).  Peak memory is traced with ``tracemalloc`` (NumPy reports its buffers).
"""
from __future__ import annotations

import statistics
import time
import tracemalloc

import numpy as np

import matcalc

PROGRAM = "-sum(Y .* logsoftmax(X*W))"


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def expert_hessian(X, W, Y):
    """Hand NumPy for general labels (r = row sums of Y): one GEMM and k small block GEMMs."""
    n, d = X.shape
    k = W.shape[1]
    P = _softmax(X @ W)
    r = Y.sum(axis=1, keepdims=True)
    Z = (P[:, :, None] * X[:, None, :]).reshape(n, k * d)   # column c*d + a: vec(W) order
    H = (Z * r).T @ Z
    H *= -1.0
    Xr = X * r
    for c in range(k):
        H[c * d:(c + 1) * d, c * d:(c + 1) * d] += Xr.T @ (X * P[:, c:c + 1])
    return H


def expert_hessian_onehot(X, W, Y):
    """Hand NumPy when each label row sums to one: the Gram part as a syrk (ZᵀZ)."""
    n, d = X.shape
    k = W.shape[1]
    P = _softmax(X @ W)
    Z = (P[:, :, None] * X[:, None, :]).reshape(n, k * d)
    H = Z.T @ Z
    H *= -1.0
    for c in range(k):
        H[c * d:(c + 1) * d, c * d:(c + 1) * d] += X.T @ (X * P[:, c:c + 1])
    return H


def expert_hvp(X, W, Y, V):
    """Hand NumPy Hessian-vector product (never forms H)."""
    P = _softmax(X @ W)
    r = Y.sum(axis=1, keepdims=True)
    PU = P * (X @ V)
    return X.T @ (r * (PU - P * PU.sum(axis=1, keepdims=True)))


def timed(fns: dict, rounds: int, budget: float = 0.01) -> dict:
    """{name: (median CPU s, median wall s, spread of CPU (max/min of the middle half), throttled
    rounds)}: the functions take turns within each round, each sample a batch lasting ≥ budget."""
    number = {}
    for name, fn in fns.items():
        fn()
        t0 = time.perf_counter()
        fn()
        number[name] = max(1, int(budget / max(time.perf_counter() - t0, 1e-7)))
    cpu = {k: [] for k in fns}
    wall = {k: [] for k in fns}
    throttled = {k: 0 for k in fns}
    keys = list(fns)
    for r in range(rounds):
        for name in keys[r % len(keys):] + keys[:r % len(keys)]:
            fn, m = fns[name], number[name]
            fn()
            c0, w0 = time.process_time(), time.perf_counter()
            for _ in range(m):
                fn()
            c, w = (time.process_time() - c0) / m, (time.perf_counter() - w0) / m
            cpu[name].append(c)
            wall[name].append(w)
            throttled[name] += w > 1.5 * c
    out = {}
    for k in fns:
        s = sorted(cpu[k])
        mid = s[len(s) // 4: len(s) - len(s) // 4] or s
        out[k] = (statistics.median(cpu[k]), statistics.median(wall[k]), mid[-1] / max(mid[0], 1e-12), throttled[k])
    return out


def peak_bytes(fn) -> int:
    fn()
    tracemalloc.start()
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak


def _problem(n, d, k, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)) / np.sqrt(d)
    W = rng.standard_normal((d, k))
    Y = np.zeros((n, k))
    Y[np.arange(n), rng.integers(0, k, n)] = 1.0
    V = rng.standard_normal((d, k))
    return X, W, Y, V


def rows(sizes, rounds, jax=None, torch=None, hvp=True):
    """One row per (labels, n, d, k): times (ms), ratios and peak memory (MB)."""
    out = []
    for onehot in (False, True):
        for n, d, k in sizes:
            X, W, Y, V = _problem(n, d, k)
            t0 = time.perf_counter()
            D = matcalc.derive(PROGRAM, wrt=["W"], order=2, shapes={"X": ("n", d), "W": (d, k), "Y": ("n", k)},
                               sum_to_one=("Y",) if onehot else ())
            gen = D.to_numpy()
            derive_s = time.perf_counter() - t0
            hand = expert_hessian_onehot if onehot else expert_hessian
            H = gen(X=X, W=W, Y=Y)["W"]
            assert np.allclose(H, hand(X, W, Y), rtol=1e-9, atol=1e-9), "generated Hessian disagrees"
            fns = {"generated": lambda: gen(X=X, W=W, Y=Y), "expert": lambda: hand(X, W, Y)}
            t = timed(fns, rounds)
            mem = {k2: peak_bytes(f) for k2, f in fns.items()}
            if jax is not None and n * d * k <= 10 ** 6:
                t.update(timed({"jax": _jax_hessian(jax, X, W, Y, H)}, max(3, rounds // 3)))
            if torch is not None and n * d * k <= 10 ** 6:
                t.update(timed({"torch": _torch_hessian(torch, X, W, Y, H)}, max(3, rounds // 3)))
            label = "one-hot Y (sum_to_one; expert syrk)" if onehot else "general Y (expert GEMM)"
            out.append((f"Hessian, {label}, n={n} d={d} k={k}", derive_s, t, mem))
            if hvp and not onehot:
                g = D.to_numpy(hvp=True)
                got = g(X=X, W=W, Y=Y, v_W=V)["W"].reshape(-1, order="F")
                assert np.allclose(got, H @ V.reshape(-1, order="F"), rtol=1e-9, atol=1e-9)
                fns = {"generated": lambda: g(X=X, W=W, Y=Y, v_W=V), "expert": lambda: expert_hvp(X, W, Y, V)}
                t = timed(fns, rounds)
                mem = {k2: peak_bytes(f) for k2, f in fns.items()}
                out.append((f"HVP (hvp=True), n={n} d={d} k={k}", 0.0, t, mem))
    return out


def _jax_hessian(jax, X, W, Y, H):
    jnp = jax.numpy
    Xj, Yj = jnp.asarray(X), jnp.asarray(Y)
    d, k = W.shape

    def loss(w):   # w = vec(W), column-major
        return -jnp.sum(Yj * jax.nn.log_softmax(Xj @ w.reshape(k, d).T, axis=1))
    hess = jax.jit(jax.hessian(loss))
    w = jnp.asarray(W.reshape(-1, order="F"))
    assert np.allclose(np.asarray(hess(w)), H, rtol=1e-8, atol=1e-8)
    return lambda: hess(w).block_until_ready()


def _torch_hessian(torch, X, W, Y, H):
    Xt, Yt = torch.from_numpy(X), torch.from_numpy(Y)
    d, k = W.shape

    def loss(w):
        return -(Yt * torch.log_softmax(Xt @ w.reshape(k, d).T, dim=1)).sum()
    hess = torch.func.hessian(loss)
    w = torch.from_numpy(W.reshape(-1, order="F").copy())
    assert np.allclose(hess(w).numpy(), H, rtol=1e-8, atol=1e-8)
    return lambda: hess(w)


def print_rows(rows_):
    print("\n## Structured Hessians: softmax regression wrt W (float64; CPU time, interleaved rounds)\n")
    print("Ratios are generated / expert hand NumPy (CPU time; wall time in brackets); spread is the "
          "max/min of the middle half of the CPU samples; 'throttled' counts rounds whose wall time "
          "exceeded 1.5× CPU time.\n")
    head = ("workload", "derive s", "generated ms", "expert ms", "gen/expert CPU (wall)", "spread gen/exp",
            "throttled gen/exp", "jax ms", "torch ms", "peak MB gen/expert", "mem ratio")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for name, derive_s, t, mem in rows_:
        g, e = t["generated"], t["expert"]

        def ms(key):
            return f"{t[key][0] * 1e3:.3f}" if key in t else "-"
        print("| " + " | ".join([
            name, f"{derive_s:.2f}", ms("generated"), ms("expert"),
            f"{g[0] / e[0]:.2f} ({g[1] / e[1]:.2f})", f"{g[2]:.2f}/{e[2]:.2f}", f"{g[3]}/{e[3]}",
            ms("jax"), ms("torch"),
            f"{mem['generated'] / 2**20:.2f}/{mem['expert'] / 2**20:.2f}",
            f"{mem['generated'] / mem['expert']:.2f}"]) + " |")
