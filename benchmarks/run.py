"""matcalc benchmarks: generated code against hand-written NumPy, JAX and PyTorch.

    python benchmarks/run.py [--quick] [--only hessian|bptt]

Prints one table per workload family: the median time of each implementation (warm-up
first, then repeated runs), and the ratios to matcalc's generated code.  JAX and PyTorch are
optional (`pip install -e '.[bench]'`); their columns read "-" when they are missing.  All
implementations run on the CPU in float64 with the same thread settings.
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import matcalc  # noqa: E402


def median_time(fn, repeats: int, warmup: int = 3) -> float:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _jax():
    try:
        import jax
        jax.config.update("jax_enable_x64", True)
        return jax
    except Exception:  # noqa: BLE001 - optional
        return None


def _torch():
    try:
        import torch
        torch.set_default_dtype(torch.float64)
        return torch
    except Exception:  # noqa: BLE001 - optional
        return None


def environment() -> str:
    parts = [f"Python {platform.python_version()}", f"NumPy {np.__version__}", f"{os.cpu_count()} CPUs",
             platform.machine()]
    jax, torch = _jax(), _torch()
    parts.append(f"JAX {jax.__version__}" if jax else "JAX -")
    parts.append(f"PyTorch {torch.__version__} ({torch.get_num_threads()} threads)" if torch else "PyTorch -")
    return ", ".join(parts)


# ------------------------------------------------------------------ Hessians
LOGISTIC = "sum(softplus(X*w)) - y'*X*w"


def hessian_rows(sizes, repeats):
    """Closed-form Hessian of logistic regression, X 2000×d."""
    jax, torch = _jax(), _torch()
    rows = []
    for d in sizes:
        n = 2000
        rng = np.random.default_rng(0)
        X = rng.normal(size=(n, d)) / np.sqrt(d)
        w = rng.normal(size=(d, 1))
        y = (rng.random((n, 1)) < 0.5).astype(float)
        t0 = time.perf_counter()
        deriv = matcalc.derive(LOGISTIC, wrt=["w"], order=2, shapes={"X": (n, d), "w": (d, 1), "y": (n, 1)})
        generated = deriv.to_numpy()
        derive_s = time.perf_counter() - t0

        def hand():
            s = 1.0 / (1.0 + np.exp(-(X @ w)))
            return X.T @ (X * (s * (1.0 - s)))

        H = generated(X=X, w=w, y=y)["w"]
        assert np.allclose(H, hand(), rtol=1e-10, atol=1e-10), "generated Hessian disagrees"
        times = {"generated": median_time(lambda: generated(X=X, w=w, y=y), repeats),
                 "hand": median_time(hand, repeats)}
        if jax is not None:
            jnp = jax.numpy
            Xj, yj = jnp.asarray(X), jnp.asarray(y[:, 0])

            def loss(wv):
                z = Xj @ wv
                return jnp.sum(jnp.logaddexp(0.0, z)) - yj @ z
            hess = jax.jit(jax.hessian(loss))
            wj = jnp.asarray(w[:, 0])
            assert np.allclose(np.asarray(hess(wj)), H, rtol=1e-8, atol=1e-8)
            times["jax"] = median_time(lambda: hess(wj).block_until_ready(), repeats)
        if torch is not None:
            Xt, yt = torch.from_numpy(X), torch.from_numpy(y[:, 0])

            def tloss(wv):
                z = Xt @ wv
                return torch.nn.functional.softplus(z).sum() - yt @ z
            thess = torch.func.hessian(tloss)
            wt = torch.from_numpy(w[:, 0].copy())
            assert np.allclose(thess(wt).numpy(), H, rtol=1e-8, atol=1e-8)
            times["torch"] = median_time(lambda: thess(wt), max(3, repeats // 4))
        rows.append((f"logistic Hessian d={d}", derive_s, times))
    return rows


def print_table(title, rows):
    print(f"\n## {title}\n")
    head = ("workload", "derive s", "generated ms", "hand ms", "jax ms", "torch ms",
            "gen/hand", "jax/gen", "torch/gen")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for name, derive_s, t in rows:
        g = t["generated"]
        def ms(k):
            return f"{t[k] * 1e3:.3f}" if k in t else "-"
        def ratio(k, inverse=False):
            if k not in t:
                return "-"
            return f"{(t[k] / g if inverse else g / t[k]):.2f}"
        print("| " + " | ".join([name, f"{derive_s:.3f}", ms("generated"), ms("hand"), ms("jax"), ms("torch"),
                                 ratio("hand"), ratio("jax", True), ratio("torch", True)]) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", choices=["hessian", "bptt"], default=None)
    args = parser.parse_args(argv)
    repeats = 7 if args.quick else 31
    print("# matcalc benchmarks")
    print(f"\n{environment()}; medians of {repeats} runs after warm-up; "
          "ratios > 1 in the jax/gen and torch/gen columns mean matcalc's code is faster.")
    if args.only in (None, "bptt"):
        import bptt
        print_table("Backpropagation through time (float64, squared error per step, K = 10)",
                    bptt.rows(repeats, median_time, _jax(), _torch()))
    if args.only in (None, "hessian"):
        print_table("Closed-form Hessians (X 2000×d, float64)", hessian_rows((50, 200, 500), repeats))


if __name__ == "__main__":
    main()
