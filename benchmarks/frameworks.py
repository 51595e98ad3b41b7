"""matcalc's generated JAX and PyTorch code against the frameworks' own autodiff.

    python benchmarks/frameworks.py [--quick] [--only gradients|bptt|hessian|logistic-forms] [--compile] [--threads N] [--workload TEXT]

Per workload (the gradient workloads of gradients.py, the BPTT models of bptt.py, the
logistic-regression Hessians of run.py and the matrix-variable Hessians below), medians of
CPU and wall time over interleaved rounds of
  * ``jax.jit(d.to_jax())`` and ``jax.jit(jax.grad(loss))`` (``jax.jit(jax.hessian)`` for Hessians);
  * ``d.to_torch()`` and torch eager autograd (forward + ``backward()``; ``torch.func.hessian``);
  * with ``--compile``: ``torch.compile(d.to_torch())`` and ``torch.compile(torch.func.grad(loss))``
    (inductor, which builds C++ with the system compiler: minutes on a small machine; when it
    cannot run, the reason is printed and the other columns are still timed).
All float64, results checked against each other before timing.  The Hessian autodiff
baselines differentiate matcalc's own forward code (``matcalc.codegen.frameworks.value_function``).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import matcalc  # noqa: E402
from run import LOGISTIC, _jax, _torch, environment  # noqa: E402


def _close(got, want, what):
    for k in want:
        a, b = np.asarray(got[k]), np.asarray(want[k])
        assert np.allclose(a.reshape(b.shape), b, rtol=1e-7, atol=1e-7), f"{what}: {k} disagrees"


def _np(x):
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def _time(fns, repeats, jax):
    """{key: (CPU s, wall s, spread, throttled)}: medians of interleaved rounds (structured.timed)."""
    from structured import timed

    def ready(fn):
        return (lambda: jax.block_until_ready(fn())) if jax is not None else fn
    return timed({k: ready(f) for k, f in fns.items()}, repeats)


COMPILE_SKIPPED: list = []   # why torch.compile did not run, printed under the tables


def _torch_compiled(torch, fn):
    """torch.compile(fn) (inductor: C++ on the CPU), or None when it cannot build here."""
    torch._dynamo.reset()
    return torch.compile(fn)


def _torch_times(torch, gen_t, eager, ts, want, label, repeats, compile_torch, grad_fn=None):
    """Generated torch vs torch autograd (eager; with compile_torch also both under
    torch.compile: the generated function, and ``grad_fn`` — the loss's gradient as a pure
    function, torch.func.grad — since .backward() breaks a compiled graph), all checked."""
    _close({k: _np(v) for k, v in gen_t(**ts).items()}, want, label)
    _close({k: _np(v) for k, v in eager().items()}, want, label)
    fns = {"gen-torch": lambda: gen_t(**ts), "torch": eager}
    if compile_torch and not COMPILE_SKIPPED:
        try:
            gen_c = _torch_compiled(torch, gen_t)
            _close({k: _np(v) for k, v in gen_c(**ts).items()}, want, label)
            grad_c = _torch_compiled(torch, grad_fn)
            _close({k: _np(v) for k, v in grad_c().items()}, want, label)
            fns.update({"gen-torch-c": lambda: gen_c(**ts), "torch-c": grad_c})
        except Exception as e:  # noqa: BLE001 - report why, time the rest
            COMPILE_SKIPPED.append(f"torch.compile skipped: {type(e).__name__}: {str(e).splitlines()[0][:200]}")
    return _time(fns, repeats, None)


def gradient_rows(repeats, jax, torch, compile_torch, only=""):
    import gradients
    out = []
    for make in gradients.WORKLOADS:
        label, expr, shapes, wrt, labels, point, _, hand, ref = make(np.random.default_rng(0))
        if only not in label:
            continue
        d = matcalc.derive(expr, wrt=wrt, shapes=shapes, sum_to_one=labels)
        want = hand(**point)
        names = list(point)
        times = {}
        if jax is not None:
            jnp = jax.numpy
            args = {n: jnp.asarray(point[n]) for n in names}
            gen = jax.jit(d.to_jax())
            grad = jax.jit(jax.grad(lambda *a: ref(jnp, *a), argnums=tuple(names.index(w) for w in wrt)))
            _close(gen(**args), want, label)
            _close(dict(zip(wrt, grad(*args.values()))), want, label)
            times.update(_time({"gen-jax": lambda: gen(**args), "jax": lambda: grad(*args.values())}, repeats, jax))
        if torch is not None:
            ts = {n: torch.from_numpy(point[n]) for n in names}
            gen_t = d.to_torch()

            def eager():
                leaves = {n: t.requires_grad_(n in wrt) if n in wrt else t for n, t in
                          ((n, ts[n].detach().clone() if n in wrt else ts[n]) for n in names)}
                ref(torch, *[leaves[n] for n in names]).backward()
                return {w: leaves[w].grad for w in wrt}
            idx = tuple(names.index(w) for w in wrt)
            grad = torch.func.grad(lambda *a: ref(torch, *a), argnums=idx)

            def grad_fn():
                return dict(zip(wrt, grad(*[ts[n] for n in names])))
            times.update(_torch_times(torch, gen_t, eager, ts, want, label, repeats, compile_torch, grad_fn))
        out.append((label, times))
    return out


def bptt_rows(repeats, jax, torch, compile_torch, sizes=None):
    import bptt
    from matcalc.recurrent.models import template
    sizes = sizes or bptt.SIZES
    out = []
    for model in ("rnn", "lstm"):
        point = bptt._point(model, np.random.default_rng(0), **sizes)
        expr, shapes, labels = template(model, "squared", "zeros")
        d = matcalc.derive(expr, shapes=shapes, sum_to_one=labels)
        hand = bptt.rnn_by_hand if model == "rnn" else bptt.lstm_by_hand
        want = hand(**point)
        params = {k: v for k, v in point.items() if k not in ("x", "y")}
        label = f"{model} BPTT T={sizes['T']} B={sizes['B']} D={sizes['D']} H={sizes['H']}"
        times = {}
        if jax is not None:
            jnp = jax.numpy
            args = {k: jnp.asarray(v) for k, v in point.items()}
            gen = jax.jit(d.to_jax())
            grad = jax.jit(jax.grad(bptt._jax_loss(model, jax)))
            pj = {k: args[k] for k in params}
            _close(gen(**args), want, label)
            _close(grad(pj, args["x"], args["y"]), want, label)
            times.update(_time({"gen-jax": lambda: gen(**args),
                                "jax": lambda: grad(pj, args["x"], args["y"])}, repeats, jax))
        if torch is not None:
            ts = {k: torch.from_numpy(v) for k, v in point.items()}
            gen_t = d.to_torch()
            tloss = bptt._torch_loss(model, torch)

            def eager():
                pt = {k: ts[k].detach().clone().requires_grad_() for k in params}
                tloss(pt, ts["x"], ts["y"]).backward()
                return {k: v.grad for k, v in pt.items()}
            grad = torch.func.grad(tloss)
            pt0 = {k: ts[k] for k in params}
            times.update(_torch_times(torch, gen_t, eager, ts, want, label, repeats, compile_torch,
                                      lambda: grad(pt0, ts["x"], ts["y"])))
        out.append((label, times))
    return out


# matrix-variable Hessians: jax.hessian / torch.func.hessian need one HVP per entry of the variable
MATRIX_HESSIANS = [
    ("softmax regression wrt W, X 2000×30, W 30×10", "-sum(Y .* logsoftmax(X*W))", "W",
     {"X": (2000, 30), "W": (30, 10), "Y": (2000, 10)}),
    ("logdet(X), X 30×30", "logdet(X)", "X", {"X": (30, 30)}),
    ("tr(X'*A*X), X 40×20", "tr(X'*A*X)", "X", {"X": (40, 20), "A": (40, 40)}),
    ("Gaussian NLL wrt Σ: logdet(S) + tr(inv(S)*M), S 30×30", "logdet(S) + tr(inv(S)*M)", "S",
     {"S": (30, 30), "M": (30, 30)}),
]


def _matrix_point(shapes, rng):
    point = {}
    for name, shape in shapes.items():
        a = rng.normal(size=shape) / np.sqrt(shape[-1])
        point[name] = a @ a.T + np.eye(shape[0]) if name in ("S", "X") and shape[0] == shape[1] else a
    if "Y" in point:   # one-hot labels
        point["Y"] = np.eye(point["Y"].shape[1])[rng.integers(0, point["Y"].shape[1], point["Y"].shape[0])]
    return point


def _vec_hessian(H, shape):
    """An autodiff Hessian of shape (r, c, r, c) as d vec / d vec (column-major), matcalc's layout."""
    H = np.asarray(H).reshape(tuple(shape) * 2)
    return H.transpose(1, 0, 3, 2).reshape(shape[0] * shape[1], shape[0] * shape[1])


def hessian_workloads(sizes=(50, 200, 500)):
    """(label, derivation, point, wrt, loss(np-module-name) or None): the logistic Hessians of
    run.py (vector w; hand-written losses) and the matrix-variable Hessians above (the
    frameworks differentiate matcalc's own forward code)."""
    out = []
    for dim in sizes:
        n = 2000
        rng = np.random.default_rng(0)
        point = {"X": rng.normal(size=(n, dim)) / np.sqrt(dim), "w": rng.normal(size=(dim, 1)),
                 "y": (rng.random((n, 1)) < 0.5).astype(float)}
        d = matcalc.derive(LOGISTIC, wrt=["w"], order=2, shapes={"X": (n, dim), "w": (dim, 1), "y": (n, 1)})
        out.append((f"logistic Hessian wrt w, X {n}×{dim}", d, point, "w"))
    for label, expr, wrt, shapes in MATRIX_HESSIANS:
        d = matcalc.derive(expr, wrt=[wrt], order=2, shapes=shapes)
        out.append((label, d, _matrix_point(shapes, np.random.default_rng(0)), wrt))
    return out


def hessian_rows(repeats, jax, torch, compile_torch, sizes=(50, 200, 500)):
    """Generated Hessians vs jax.jit(jax.hessian) and torch.func.hessian of the same function:
    {key: (CPU s, wall s, spread, throttled)} per workload."""
    from matcalc.codegen.frameworks import value_function
    from structured import timed
    out = []
    for label, d, point, wrt in hessian_workloads(sizes):
        want = d.to_numpy()(**point)
        shape = point[wrt].shape
        fns = {}
        if jax is not None:
            args = {k: jax.numpy.asarray(v) for k, v in point.items()}
            gen = jax.jit(d.to_jax())
            f = value_function(d, "jax")
            others = {k: v for k, v in args.items() if k != wrt}   # arguments, not constants XLA could fold
            hess = jax.jit(jax.hessian(lambda v, rest: f(**rest, **{wrt: v})))
            _close(gen(**args), want, label)
            _close({wrt: _vec_hessian(hess(args[wrt], others), shape)}, want, label)
            fns.update({"gen-jax": lambda: jax.block_until_ready(gen(**args)),
                        "jax": lambda: jax.block_until_ready(hess(args[wrt], others))})
        if torch is not None:
            ts = {k: torch.from_numpy(v) for k, v in point.items()}
            gen_t = d.to_torch()
            ft = value_function(d, "torch")
            thess = torch.func.hessian(lambda v: ft(**{**ts, wrt: v}))
            _close({k: _np(v) for k, v in gen_t(**ts).items()}, want, label)
            _close({wrt: _vec_hessian(_np(thess(ts[wrt])), shape)}, want, label)
            fns.update({"gen-torch": lambda: gen_t(**ts), "torch": lambda: thess(ts[wrt])})
        out.append((label, timed(fns, repeats)))
    return out


def logistic_forms(repeats, jax, sizes=(50, 200, 500), n=2000):
    """The vector logistic Hessian Xᵀ diag(σ(1−σ)) X written in several ways XLA might compile
    differently (XLA's CPU backend has no syrk: Zᵀ Z costs a full GEMM), against jax.hessian."""
    from structured import timed
    jnp = jax.numpy

    def weights(X, w):
        s = jax.nn.sigmoid(X @ w)
        return s * (1.0 - s)

    def tdot(a, b):   # aᵀ b as one dot_general
        return jax.lax.dot_general(a, b, (((0,), (0,)), ((), ())))
    forms = {
        "sqrt(v)·X, dot_general (generated)": lambda X, w: tdot(jnp.sqrt(weights(X, w)) * X, jnp.sqrt(weights(X, w)) * X),
        "sqrt(v)·X, Z.T @ Z": lambda X, w: (lambda Z: Z.T @ Z)(jnp.sqrt(weights(X, w)) * X),
        "X.T @ (v·X)": lambda X, w: X.T @ (weights(X, w) * X),
        "dot_general(X, v·X)": lambda X, w: tdot(X, weights(X, w) * X),
        "einsum('ni,n,nj->ij')": lambda X, w: jnp.einsum("ni,n,nj->ij", X, weights(X, w)[:, 0], X),
        "(X.T · vᵀ) @ X": lambda X, w: (X.T * weights(X, w).T) @ X,
    }
    print("\n## The vector logistic Hessian in other forms, X 2000×d (JAX, float64)\n")
    print("Speed-up = jax.jit(jax.hessian) time / the form's time, CPU (wall in brackets).\n")
    print("| form | " + " | ".join(f"d={dim}" for dim in sizes) + " |")
    print("|---|" + "---|" * len(sizes))
    cells = {k: [] for k in forms}
    for dim in sizes:
        rng = np.random.default_rng(0)
        X, w = jnp.asarray(rng.normal(size=(n, dim)) / np.sqrt(dim)), jnp.asarray(rng.normal(size=(dim, 1)))
        y = jnp.asarray((rng.random((n, 1)) < 0.5).astype(float))

        def loss(v, X, y):
            z = X @ v
            return jnp.sum(jnp.logaddexp(0.0, z)) - jnp.sum(y * z)
        hess = jax.jit(jax.hessian(loss))
        want = np.asarray(hess(w, X, y)).reshape(dim, dim)
        fns = {"jax.hessian": lambda: jax.block_until_ready(hess(w, X, y))}
        for k, f in forms.items():
            g = jax.jit(f)
            assert np.allclose(np.asarray(g(X, w)), want, rtol=1e-9, atol=1e-9), k
            fns[k] = (lambda g=g: jax.block_until_ready(g(X, w)))
        t = timed(fns, repeats)
        h = t["jax.hessian"]
        for k in forms:
            cells[k].append(f"{h[0] / t[k][0]:.2f} ({h[1] / t[k][1]:.2f})")
    for k in forms:
        print(f"| {k} | " + " | ".join(cells[k]) + " |")


def _cells(t, pairs, speedup=False) -> list:
    """Per (generated, reference) pair: both times in ms, CPU (wall), the ratio generated/reference
    (reference/generated with ``speedup``) and the spreads; '-' where either was not timed."""
    cells = []
    for g, r in pairs:
        if g not in t or r not in t:
            cells += ["-"] * 4
            continue
        a, b = t[g], t[r]
        num, den = (b, a) if speedup else (a, b)
        cells += [f"{a[0] * 1e3:.3f} ({a[1] * 1e3:.3f})", f"{b[0] * 1e3:.3f} ({b[1] * 1e3:.3f})",
                  f"{num[0] / den[0]:.2f} ({num[1] / den[1]:.2f})", f"{a[2]:.2f}/{b[2]:.2f}"]
    return cells


def print_hessians(rows):
    """Speed-ups (autodiff time / generated time) in CPU and wall time, with spreads."""
    print("\n## Closed-form Hessians vs jax.jit(jax.hessian) / torch.func.hessian (float64)\n")
    print("Times in ms (CPU; wall in brackets); speed-up = autodiff / generated (above 1: matcalc faster); "
          "spread = max/min of the middle half of the CPU samples.\n")
    head = ["workload", "gen-jax ms", "jax.hessian ms", "speed-up CPU (wall)", "spread gen/jax",
            "gen-torch ms", "torch.func.hessian ms", "speed-up CPU (wall)", "spread gen/torch"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for name, t in rows:
        print("| " + " | ".join([name] + _cells(t, (("gen-jax", "jax"), ("gen-torch", "torch")), speedup=True)) + " |")


def print_table(title, rows):
    keys = [("gen-jax", "jax"), ("gen-torch", "torch"), ("gen-torch-c", "torch-c")]
    present = [(g, r) for g, r in keys if any(g in t for _, t in rows)]
    head = ["workload"]
    for g, r in present:
        head += [f"{g} ms", f"{r} ms", f"{g}/{r} CPU (wall)", "spread"]
    print(f"\n## {title}\n")
    print("Times in ms: CPU (wall in brackets); spread = max/min of the middle half of the CPU samples "
          "(generated/reference).\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for name, t in rows:
        print("| " + " | ".join([name] + _cells(t, present)) + " |")
    for line in COMPILE_SKIPPED[:1]:
        print(f"\n{line}")


def _devices(jax, torch) -> str:
    """Which accelerators the frameworks see (the timings are CPU timings without one)."""
    seen = []
    if jax is not None:
        seen += [f"JAX {dev.platform}" for dev in jax.devices() if dev.platform != "cpu"]
    if torch is not None and torch.cuda.is_available():
        seen.append(f"torch {torch.cuda.get_device_name(0)}")
    return "accelerators: " + ", ".join(seen) if seen else "no GPU on this machine: CPU timings only"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", choices=["gradients", "bptt", "hessian", "logistic-forms"], default=None)
    parser.add_argument("--compile", action="store_true", help="also torch.compile (inductor) both torch functions")
    parser.add_argument("--workload", default="", help="only the gradient workloads whose label contains this")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch's intra-op threads (1 keeps timings steady on a busy machine)")
    args = parser.parse_args(argv)
    repeats = 7 if args.quick else 31
    jax, torch = _jax(), _torch()
    if torch is not None and args.threads:
        torch.set_num_threads(args.threads)
    print("# matcalc's JAX and PyTorch code against the frameworks' autodiff")
    print(f"\n{environment()}; {_devices(jax, torch)}; medians of {repeats} interleaved rounds after "
          "warm-up (each sample a batch of calls lasting ≥ 10 ms); ratios below 1 mean matcalc's code is faster.")
    if args.compile:
        print(f"\ntorch.compile: inductor, C++ compiler {shutil.which('g++') or shutil.which('c++') or 'none found'}")
    if args.only in (None, "gradients"):
        print_table("Gradients (float64)", gradient_rows(repeats, jax, torch, args.compile, args.workload))
    if args.only in (None, "bptt"):
        print_table("Backpropagation through time (float64)", bptt_rows(repeats, jax, torch, args.compile))
    if args.only in (None, "hessian"):
        print_hessians(hessian_rows(max(3, repeats // 3), jax, torch, args.compile))
    if args.only in (None, "logistic-forms") and jax is not None:
        logistic_forms(max(3, repeats // 3), jax)


if __name__ == "__main__":
    main()
