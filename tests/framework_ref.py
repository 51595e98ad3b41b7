"""References for the JAX / PyTorch backends: the frameworks' own autodiff of the function.

The function (the program's output; a recurrent program's unrolled loss) is matcalc's
forward code in the framework; ``jax.grad`` / ``torch.autograd`` differentiate it, and the
results are laid out as matcalc's are (gradients in the variable's shape; Jacobians and
Hessian blocks as d vec(F) / d vec(X) with column-major vec).  The derivative code under test
shares nothing with that reference but the forward pass.
"""
import importlib
import os

import numpy as np
import pytest

from matcalc.codegen.frameworks import value_function


def framework(name: str):
    """The framework's module; the test skips without it — and fails in CI (env CI set)."""
    try:
        module = importlib.import_module(name)
    except ImportError:
        if os.environ.get("CI"):
            pytest.fail(f"{name} is not installed: CI installs matcalc[{name}]")
        pytest.skip(f"{name} is not installed (pip install 'matcalc[{name}]')")
    if name == "jax":
        module.config.update("jax_enable_x64", True)
    return module


def rel(got, want) -> float:
    got, want = np.asarray(got, dtype=np.float64), np.asarray(want, dtype=np.float64)
    if got.size != want.size or not np.all(np.isfinite(got)):
        return float("inf")
    got = got.reshape(want.shape)
    return float(np.max(np.abs(got - want), initial=0.0) / max(1.0, float(np.max(np.abs(want), initial=0.0))))


def _cm(J, out_shape, in_shape):
    """A derivative array of shape out_shape + in_shape as d vec(out) / d vec(in) (column-major)."""
    J = np.asarray(J, dtype=np.float64).reshape(tuple(out_shape) + tuple(in_shape))
    no, ni = len(out_shape), len(in_shape)
    axes = list(range(no))[::-1] + [no + k for k in range(ni)][::-1]
    return J.transpose(axes).reshape(int(np.prod(out_shape)), int(np.prod(in_shape)))


def to_numpy(x):
    return x.detach().cpu().numpy() if hasattr(x, "detach") else np.asarray(x)


def inputs(backend: str, point: dict, dtype="float64"):
    """The point as the framework's arrays (0-d arrays for scalars)."""
    if backend == "jax":
        import jax.numpy as jnp
        return {k: jnp.asarray(np.asarray(v, dtype=dtype)) for k, v in point.items()}
    import torch
    return {k: torch.tensor(np.asarray(v, dtype=dtype)) for k, v in point.items()}


def reference(d, backend: str, point: dict, directions: dict | None = None) -> dict:
    """The framework's autodiff results, keyed and laid out as ``d.to_numpy()``'s; with
    ``directions`` (order 2): the Hessian-vector products instead."""
    fk = value_function(d, backend)
    names = list(point)

    def f(*args, **kwargs):   # positional arguments in the order of ``names``
        return fk(**dict(zip(names, args)), **kwargs)
    x = inputs(backend, point)
    shapes = {n: np.shape(point[n]) for n in names}
    order = getattr(d, "order", 1)
    layout = getattr(d, "layout", None)
    if backend == "jax":
        import jax

        def part(fun, name):
            def g(v):
                return fun(**{**x, name: v})
            return g

        if layout is not None:
            out = {}
            for n in d.wrt:
                J = jax.jacfwd(part(f, n))(x[n])
                F = np.shape(f(**x))
                J = _cm(J, F, shapes[n])
                out[n] = J if layout == "numerator" else J.T
            return out
        if order == 2:
            out = {}
            for a in d.wrt:
                grad_a = jax.grad(f, argnums=names.index(a))
                for b in d.wrt:
                    def g(v, b=b):
                        args = [x[n] for n in names]
                        args[names.index(b)] = v
                        return grad_a(*args)
                    H = jax.jacfwd(g)(x[b])
                    out[a if a == b else f"{a},{b}"] = _cm(H, shapes[a], shapes[b])
            if directions is not None:
                return {a: sum(out[a if a == b else f"{a},{b}"] @ np.asarray(directions[b], float).reshape(-1, order="F")
                               for b in d.wrt).reshape(shapes[a], order="F") for a in d.wrt}
            return out
        grads = jax.jit(jax.grad(lambda *a: f(*a), argnums=tuple(names.index(n) for n in d.wrt)))(
            *[x[n] for n in names])   # jit: one compilation, not one per operation
        return {n: np.asarray(g) for n, g in zip(d.wrt, grads)}
    import torch
    if layout is not None:
        out = {}
        for n in d.wrt:
            J = torch.autograd.functional.jacobian(lambda v, n=n: f(**{**x, n: v}), x[n])
            F = tuple(f(**x).shape)
            J = _cm(to_numpy(J), F, shapes[n])
            out[n] = J if layout == "numerator" else J.T
        return out
    if order == 2:
        out = {}
        for a in d.wrt:
            for b in d.wrt:
                def grad_a(vb, a=a, b=b):
                    args = {**x}
                    args[b] = vb
                    va = args[a] if a != b else vb
                    if a != b:
                        va = va.detach().requires_grad_(True)
                        args[a] = va
                    return torch.autograd.grad(f(**args), va, create_graph=True)[0]
                H = torch.autograd.functional.jacobian(grad_a, x[b].clone().requires_grad_(True))
                out[a if a == b else f"{a},{b}"] = _cm(to_numpy(H), shapes[a], shapes[b])
        if directions is not None:
            return {a: sum(out[a if a == b else f"{a},{b}"] @ np.asarray(directions[b], float).reshape(-1, order="F")
                           for b in d.wrt).reshape(shapes[a], order="F") for a in d.wrt}
        return out
    leaves = {n: v.clone().requires_grad_(True) for n, v in x.items()}
    value = f(**leaves)
    if not getattr(value, "requires_grad", False):   # a constant function (the program cancels its variables)
        return {n: np.zeros(shapes[n]) for n in d.wrt}
    grads = torch.autograd.grad(value, [leaves[n] for n in d.wrt], allow_unused=True)
    return {n: (np.zeros(shapes[n]) if g is None else to_numpy(g)) for n, g in zip(d.wrt, grads)}


def generated(d, backend: str, point: dict, hvp: bool = False, directions: dict | None = None) -> dict:
    kw = {"hvp": True} if hvp else {}
    fn = d.to_jax(**kw) if backend == "jax" else d.to_torch(**kw)
    if backend == "jax":   # jit-ed, as it is meant to run (and one compilation is quicker)
        import jax
        fn = jax.jit(fn)
    args = inputs(backend, {**point, **{f"v_{k}": v for k, v in (directions or {}).items()}})
    return {k: to_numpy(v) for k, v in fn(**args).items()}


def worst_difference(d, backend: str, point: dict) -> tuple[float, str]:
    """(largest relative difference, which result) between matcalc's code and the autodiff."""
    want = reference(d, backend, point)
    got = generated(d, backend, point)
    worst, where = 0.0, ""
    for k, w in want.items():
        e = rel(got[k], w)
        if e > worst or not where:
            worst, where = e, k
    return worst, where
