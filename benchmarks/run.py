"""matcalc benchmarks: generated code against hand-written NumPy, JAX and PyTorch.

    python benchmarks/run.py [--quick] [--large] [--only gradients|bptt|hessian|structured|derivation]

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


CLOCK = {"timer": time.process_time, "name": "CPU time (of all the process's threads)"}   # --wall: perf_counter


def median_times(fns: dict, repeats: int, warmup: int = 3, sample_seconds: float = 0.002,
                 slow_seconds: float = 0.05) -> dict:
    """Median seconds per call of each function, measured fairly: after a warm-up, the
    functions take turns (in a rotating order) within each of ``repeats`` rounds, so drift in
    the machine's speed falls on all of them alike.  A sample times a batch of calls lasting
    about ``sample_seconds`` (one call for slow functions), which steadies sub-millisecond
    timings, after one untimed call that brings the function's data back into the caches;
    functions slower than ``slow_seconds`` sit out after a quarter of the rounds."""
    per_call = {}
    median_times.samples = {}   # key -> (CPU seconds, wall seconds) per round: paired ratios
    for key, fn in fns.items():
        for _ in range(warmup):
            fn()
        t0 = time.perf_counter()
        fn()
        per_call[key] = time.perf_counter() - t0
    number = {k: max(1, int(sample_seconds / max(t, 1e-7))) for k, t in per_call.items()}
    samples: dict = {k: [] for k in fns}
    keys = list(fns)
    for r in range(repeats):
        for key in keys[r % len(keys):] + keys[:r % len(keys)]:
            if per_call[key] > slow_seconds and r >= max(3, repeats // 4):
                continue
            fn, n = fns[key], number[key]
            fn()   # untimed: the caches hold this function's data again, as in back-to-back calls
            clock = CLOCK["timer"]
            c0, w0 = time.process_time(), time.perf_counter()
            t0 = clock()
            for _ in range(n):
                fn()
            samples[key].append((clock() - t0) / n)
            c1, w1 = time.process_time(), time.perf_counter()
            median_times.samples.setdefault(key, []).append(((c1 - c0) / n, (w1 - w0) / n))
    return {k: statistics.median(v) for k, v in samples.items()}


def print_spread(title: str, rows) -> None:
    """For each row with paired ratios: generated / hand by CPU time and by wall time, the median
    of the per-round ratios and their interquartile range; the load and thread settings with it."""
    if not any("paired" in t for _, _, t in rows):
        return
    threads = ", ".join(f"{k}={os.environ[k]}" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                        if k in os.environ) or "thread variables unset"
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "-"
    print(f"\n### {title}: generated / hand per interleaved round ({threads}; load average {load})\n")
    print("| workload | CPU time: median [IQR] | wall time: median [IQR] | CPU/wall of generated |")
    print("|---|---|---|---|")
    for name, _, t in rows:
        p = t.get("paired")
        if not p:
            continue
        cells = [f"{q[0]:.3f} [{q[1]:.3f}–{q[2]:.3f}]" if q else "-" for q in (p.get("cpu"), p.get("wall"))]
        print(f"| {name} | {cells[0]} | {cells[1]} | {p.get('cpu_per_wall', 0):.2f} |")


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

        def hand():   # an expert's syrk: (√v X)ᵀ(√v X), v = σ(1 − σ) ≥ 0
            s = 1.0 / (1.0 + np.exp(-(X @ w)))
            Z = X * np.sqrt(s * (1.0 - s))
            return Z.T @ Z

        H = generated(X=X, w=w, y=y)["w"]
        assert np.allclose(H, hand(), rtol=1e-10, atol=1e-10), "generated Hessian disagrees"
        fns = {"generated": lambda: generated(X=X, w=w, y=y),
                 "hand": hand,
                 "forward": lambda: np.sum(np.logaddexp(0.0, X @ w)) - np.vdot(y, X @ w)}
        times = median_times(fns, repeats)   # the NumPy implementations, interleaved
        if jax is not None:
            jnp = jax.numpy
            Xj, yj = jnp.asarray(X), jnp.asarray(y[:, 0])

            def loss(wv):
                z = Xj @ wv
                return jnp.sum(jnp.logaddexp(0.0, z)) - yj @ z
            hess = jax.jit(jax.hessian(loss))
            wj = jnp.asarray(w[:, 0])
            assert np.allclose(np.asarray(hess(wj)), H, rtol=1e-8, atol=1e-8)
            times.update(median_times({"jax": lambda: hess(wj).block_until_ready()}, repeats))
        if torch is not None:
            Xt, yt = torch.from_numpy(X), torch.from_numpy(y[:, 0])

            def tloss(wv):
                z = Xt @ wv
                return torch.nn.functional.softplus(z).sum() - yt @ z
            thess = torch.func.hessian(tloss)
            wt = torch.from_numpy(w[:, 0].copy())
            assert np.allclose(thess(wt).numpy(), H, rtol=1e-8, atol=1e-8)
            times.update(median_times({"torch": lambda: thess(wt)}, repeats))
        rows.append((f"logistic Hessian d={d}", derive_s, times))
    return rows


def print_table(title, rows, kind="gradient"):
    print(f"\n## {title}\n")
    head = ("workload", "derive+compile s", "generated ms", "hand ms", "jax ms", "torch ms", "forward ms",
            "gen/hand", "gen/jax", "gen/torch", f"{kind}/forward")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for name, derive_s, t in rows:
        g = t["generated"]

        def ms(k):
            return f"{t[k] * 1e3:.3f}" if k in t else "-"

        def ratio(k):
            return f"{g / t[k]:.2f}" if k in t else "-"
        print("| " + " | ".join([name, f"{derive_s:.3f}", ms("generated"), ms("hand"), ms("jax"), ms("torch"),
                                 ms("forward"), ratio("hand"), ratio("jax"), ratio("torch"), ratio("forward")])
              + " |")


def derivation_rows():
    """Seed models derived, simplified and compiled (warm), and an L-layer MLP's scaling."""
    from matcalc.recurrent.models import template
    seeds = [
        ("linear regression", "norm2(X*W - Y)^2", {"X": ("n", "d"), "W": ("d", "k"), "Y": ("n", "k")}, ()),
        ("ReLU neuron", "norm2(relu(X*w + b) - y)^2", {"X": ("n", "d"), "w": ("d", 1), "b": (), "y": ("n", 1)}, ()),
        ("2-layer sigmoid net", "H = sigmoid(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2",
         {"X": ("n", "d"), "W1": ("d", "h"), "b1": (1, "h"), "W2": ("h", "k"), "b2": (1, "k"), "Y": ("n", "k")}, ()),
        ("softmax regression", "-sum(Y .* logsoftmax(X*W + b))",
         {"X": ("n", "d"), "W": ("d", "k"), "b": (1, "k"), "Y": ("n", "k")}, ("Y",)),
        ("RNN (BPTT)", *template("rnn", "xent", "param")[:2], ("y",)),
        ("LSTM (BPTT)", *template("lstm", "xent", "param")[:2], ("y",)),
    ]
    print("\n## Derivation speed (warm: derive, simplify, compile)\n")
    print("| model | seconds |")
    print("|---|---|")
    for name, expr, shapes, labels in seeds:
        matcalc.derive(expr, shapes=shapes, sum_to_one=labels).to_numpy()
        t0 = time.perf_counter()
        matcalc.derive(expr, shapes=shapes, sum_to_one=labels).to_numpy()
        print(f"| {name} | {time.perf_counter() - t0:.3f} |")
    import subprocess
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import matcalc.cli, matcalc.derivation"], check=True)
    print(f"\nCLI cold start (import): {time.perf_counter() - t0:.2f} s")
    print("\n## Scaling with depth: an L-layer tanh MLP (derive + compile, each L in a fresh process)\n")
    print("| L | seconds | DAG nodes of the gradients | generated code (chars) |")
    print("|---|---|---|---|")
    base = previous = None
    for L in (2, 4, 8, 16, 32, 64, 128):
        out = subprocess.run([sys.executable, "-c", _DEPTH_SCRIPT, str(L)], check=True, capture_output=True,
                             text=True, cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
        seconds, nodes, chars = out.stdout.split()
        seconds = float(seconds)
        base = seconds if L == 8 else base
        extra = f" ({seconds / base:.1f}× L=8)" if base and L > 8 else ""
        if L == 128:
            extra += f", {seconds / previous:.2f}× L=64"
        previous = seconds
        print(f"| {L} | {seconds:.3f}{extra} | {nodes} | {chars} |")


_DEPTH_SCRIPT = """
import sys, time
import matcalc
from matcalc.differentiate.engine import topological
matcalc.derive("sum(tanh(X*W))", shapes={"X": ("n", "d"), "W": ("d", "h")}).numpy_source()   # imports, warm
L = int(sys.argv[1])
lines, prev, shapes = [], "X", {"X": ("n", "d0")}
for i in range(1, L + 1):
    lines.append(f"H{i} = tanh({prev}*W{i} + b{i})")
    shapes[f"W{i}"], shapes[f"b{i}"] = (f"d{i - 1}", f"d{i}"), (1, f"d{i}")
    prev = f"H{i}"
lines.append(f"f = norm2({prev}*V - Y)^2")
shapes.update(V=(f"d{L}", "k"), Y=("n", "k"))
t0 = time.process_time()   # CPU time: steadier than the wall clock on a shared machine
d = matcalc.derive("; ".join(lines), shapes=shapes)
source = d.numpy_source()
seconds = time.process_time() - t0
seen = set()
print(seconds, sum(len(topological(g, seen=seen)) for g in d.gradients.values()), len(source))
"""


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", choices=["gradients", "bptt", "hessian", "structured", "derivation"], default=None)
    parser.add_argument("--large", action="store_true", help="structured Hessians also at n = 5000")
    parser.add_argument("--wall", action="store_true",
                        help="time with the wall clock (default: the process's CPU time, steadier on a shared machine)")
    args = parser.parse_args(argv)
    if args.wall:
        CLOCK.update(timer=time.perf_counter, name="wall time")
    repeats = 7 if args.quick else 31
    print("# matcalc benchmarks")
    print(f"\n{environment()}; {CLOCK['name']}; "
          f"medians of {repeats} interleaved rounds after warm-up (each sample a batch of calls lasting ≥ 2 ms); "
          "ratios below 1 in the gen/jax and gen/torch columns mean matcalc's code is faster.")
    if args.only in (None, "gradients"):
        import gradients
        print_table("Gradients (float64)", gradients.rows(repeats, median_times, _jax(), _torch()))
    if args.only in (None, "bptt"):
        import bptt
        bptt_rows = bptt.rows(repeats, median_times, _jax(), _torch())
        print_table("Backpropagation through time (float64, squared error per step, K = 10)", bptt_rows)
        print_spread("BPTT", bptt_rows)
    if args.only in (None, "hessian"):
        print_table("Closed-form Hessians (X 2000×d, float64)", hessian_rows((50, 200, 500), repeats), "hessian")
    if args.only in (None, "structured"):
        import structured
        sizes = [(50, 5, 3), (200, 10, 5), (500, 20, 10)] + ([(5000, 20, 10)] if args.large else [])
        structured.print_rows(structured.rows(sizes, max(5, repeats // 2), _jax(), _torch()))
    if args.only in (None, "derivation"):
        derivation_rows()


if __name__ == "__main__":
    main()
