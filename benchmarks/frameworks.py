"""matcalc's generated JAX and PyTorch code against the frameworks' own autodiff.

    python benchmarks/frameworks.py [--quick] [--only gradients|bptt|hessian] [--compile] [--threads N]

Per workload (the gradient workloads of gradients.py, the BPTT models of bptt.py, the
logistic-regression Hessians of run.py): the median time of
  * ``jax.jit(d.to_jax())`` and ``jax.jit(jax.grad(loss))`` (``jax.hessian`` for Hessians);
  * ``d.to_torch()`` and torch eager autograd (forward + ``backward()``; ``torch.func.hessian``);
  * with ``--compile``: both torch functions under ``torch.compile`` (inductor; slow to build).
Ratios below 1 mean matcalc's code is faster.  All float64 on the CPU, results checked
against each other before timing.
"""
from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import matcalc  # noqa: E402
from run import LOGISTIC, _jax, _torch, environment, median_times  # noqa: E402


def _close(got, want, what):
    for k in want:
        a, b = np.asarray(got[k]), np.asarray(want[k])
        assert np.allclose(a.reshape(b.shape), b, rtol=1e-7, atol=1e-7), f"{what}: {k} disagrees"


def _np(x):
    return x.detach().numpy() if hasattr(x, "detach") else np.asarray(x)


def _time(fns, repeats, jax):
    def ready(fn):
        return (lambda: jax.block_until_ready(fn())) if jax is not None else fn
    return median_times({k: ready(f) for k, f in fns.items()}, repeats)


def _torch_compiled(torch, fn):
    torch._dynamo.reset()
    return torch.compile(fn)


def _torch_times(torch, gen_t, eager, ts, want, label, repeats, compile_torch):
    """Generated torch vs torch autograd (eager; compiled too with compile_torch), both checked."""
    _close({k: _np(v) for k, v in gen_t(**ts).items()}, want, label)
    _close({k: _np(v) for k, v in eager().items()}, want, label)
    fns = {"gen-torch": lambda: gen_t(**ts), "torch": eager}
    if compile_torch:
        gen_c, eager_c = _torch_compiled(torch, gen_t), _torch_compiled(torch, eager)
        fns.update({"gen-torch-c": lambda: gen_c(**ts), "torch-c": eager_c})
    return _time(fns, repeats, None)


def gradient_rows(repeats, jax, torch, compile_torch):
    import gradients
    out = []
    for make in gradients.WORKLOADS:
        label, expr, shapes, wrt, labels, point, _, hand, ref = make(np.random.default_rng(0))
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
            times.update(_torch_times(torch, gen_t, eager, ts, want, label, repeats, compile_torch))
        out.append((label, times))
    return out


def bptt_rows(repeats, jax, torch, compile_torch, sizes=None):
    import bptt
    from matcalc.models import template
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
            times.update(_torch_times(torch, gen_t, eager, ts, want, label, repeats, compile_torch))
        out.append((label, times))
    return out


def hessian_rows(repeats, jax, torch, compile_torch, sizes=(50, 200, 500)):
    out = []
    for dim in sizes:
        n = 2000
        rng = np.random.default_rng(0)
        X = rng.normal(size=(n, dim)) / np.sqrt(dim)
        w = rng.normal(size=(dim, 1))
        y = (rng.random((n, 1)) < 0.5).astype(float)
        d = matcalc.derive(LOGISTIC, wrt=["w"], order=2, shapes={"X": (n, dim), "w": (dim, 1), "y": (n, 1)})
        want = {"w": d.to_numpy()(X=X, w=w, y=y)["w"]}
        label = f"logistic Hessian X {n}×{dim}"
        times = {}
        if jax is not None:
            jnp = jax.numpy
            Xj, yj, wj = jnp.asarray(X), jnp.asarray(y), jnp.asarray(w)
            gen = jax.jit(d.to_jax())

            def loss(wv):
                z = Xj @ wv
                return jnp.sum(jnp.logaddexp(0.0, z)) - jnp.sum(yj * z)
            hess = jax.jit(jax.hessian(loss))
            _close(gen(X=Xj, w=wj, y=yj), want, label)
            _close({"w": np.asarray(hess(wj)).reshape(dim, dim)}, want, label)
            times.update(_time({"gen-jax": lambda: gen(X=Xj, w=wj, y=yj), "jax": lambda: hess(wj)}, repeats, jax))
        if torch is not None:
            Xt, yt, wt = torch.from_numpy(X), torch.from_numpy(y), torch.from_numpy(w)
            gen_t = d.to_torch()

            def tloss(wv):
                z = Xt @ wv
                return torch.nn.functional.softplus(z).sum() - (yt * z).sum()
            thess = torch.func.hessian(tloss)
            _close({"w": _np(gen_t(X=Xt, w=wt, y=yt)["w"])}, want, label)
            _close({"w": _np(thess(wt)).reshape(dim, dim)}, want, label)
            times.update(_time({"gen-torch": lambda: gen_t(X=Xt, w=wt, y=yt), "torch": lambda: thess(wt)},
                               repeats, None))
        out.append((label, times))
    return out


def print_table(title, rows):
    keys = [("gen-jax", "jax"), ("gen-torch", "torch"), ("gen-torch-c", "torch-c")]
    present = [(g, r) for g, r in keys if any(g in t for _, t in rows)]
    head = ["workload"]
    for g, r in present:
        head += [f"{g} ms", f"{r} ms", f"{g}/{r}"]
    print(f"\n## {title}\n")
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    for name, t in rows:
        cells = [name]
        for g, r in present:
            cells += [f"{t[g] * 1e3:.3f}" if g in t else "-", f"{t[r] * 1e3:.3f}" if r in t else "-",
                      f"{t[g] / t[r]:.2f}" if g in t and r in t else "-"]
        print("| " + " | ".join(cells) + " |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--only", choices=["gradients", "bptt", "hessian"], default=None)
    parser.add_argument("--compile", action="store_true", help="also torch.compile (inductor) both torch functions")
    parser.add_argument("--threads", type=int, default=None,
                        help="torch's intra-op threads (1 keeps timings steady on a busy machine)")
    args = parser.parse_args(argv)
    repeats = 7 if args.quick else 31
    jax, torch = _jax(), _torch()
    if torch is not None and args.threads:
        torch.set_num_threads(args.threads)
    print("# matcalc's JAX and PyTorch code against the frameworks' autodiff")
    print(f"\n{environment()}; CPU only; medians of {repeats} interleaved rounds after warm-up; "
          "ratios below 1 mean matcalc's code is faster.")
    if args.only in (None, "gradients"):
        print_table("Gradients (float64)", gradient_rows(repeats, jax, torch, args.compile))
    if args.only in (None, "bptt"):
        print_table("Backpropagation through time (float64)", bptt_rows(repeats, jax, torch, args.compile))
    if args.only in (None, "hessian"):
        print_table("Closed-form Hessians vs jax.hessian / torch.func.hessian (float64)",
                    hessian_rows(repeats, jax, torch, args.compile))


if __name__ == "__main__":
    main()
