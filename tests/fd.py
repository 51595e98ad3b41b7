"""Finite-difference references and the error metric used by matcalc's numerical tests.

Conventions (those of the scoring harness):
  * 4th-order central stencil (f(x-2h) - 8 f(x-h) + 8 f(x+h) - f(x+2h)) / 12h with a
    relative step h = 1e-3 * max(1, |x_i|), in float64;
  * a Jacobian is d vec(F) / d vec(X) with column-major (Fortran) vec; numerator layout
    has shape (size F, size X), denominator layout is its transpose;
  * error = max|got - want| / max(1, max|want|), a pass when <= TOL.
"""
import zlib

import numpy as np

TOL = 1e-5
REL_STEP = 1e-3
N_POINTS = 2
_WEIGHTS = {-2: 1.0 / 12.0, -1: -8.0 / 12.0, 1: 8.0 / 12.0, 2: -1.0 / 12.0}


def vec(A):
    """Column-major vectorisation of a scalar / 2-D value (1-D result)."""
    return np.asarray(A, dtype=np.float64).reshape(-1, order="F")


def as_float_arrays(arrays):
    return {k: np.array(v, dtype=np.float64) for k, v in arrays.items()}


def rel_err(got, want):
    got = np.asarray(got, dtype=np.float64)
    want = np.asarray(want, dtype=np.float64)
    if not np.all(np.isfinite(got)):
        return float("inf")
    scale = max(1.0, float(np.max(np.abs(want))))
    return float(np.max(np.abs(got - want))) / scale


def _directional(fun, arrays, name, rel):
    """Yield (j, d vec(F)/d vec(X)_j) for every column-major entry j of arrays[name]."""
    arrays = as_float_arrays(arrays)
    x0 = arrays[name]
    flat0 = vec(x0)
    for j in range(flat0.size):
        h = rel * max(1.0, abs(flat0[j]))
        total = 0.0
        for k, w in _WEIGHTS.items():
            flat = flat0.copy()
            flat[j] += k * h
            moved = flat.reshape(x0.shape, order="F")
            total = total + w * vec(fun(**{**arrays, name: moved}))
        yield j, total / h


def fd_gradient(fun, arrays, name, rel=REL_STEP):
    """Gradient of a scalar-valued fun w.r.t. arrays[name], with that variable's shape."""
    shape = np.shape(arrays[name])
    g = np.zeros(int(np.prod(shape)) if shape else 1)
    for j, col in _directional(fun, arrays, name, rel):
        if col.size != 1:
            raise ValueError(f"function is not scalar-valued (size {col.size})")
        g[j] = col[0]
    return g.reshape(shape, order="F")


def fd_jacobian(fun, arrays, name, layout="numerator", rel=REL_STEP):
    """d vec(F) / d vec(X): (size F, size X) in numerator layout, transposed otherwise."""
    cols = dict(_directional(fun, arrays, name, rel))
    J = np.stack([cols[j] for j in range(len(cols))], axis=1)
    if layout == "numerator":
        return J
    if layout == "denominator":
        return J.T.copy()
    raise ValueError(f"unknown layout {layout!r}")


def reference(problem, arrays, name):
    """FD reference derivative of the problem's ref in its kind / layout."""
    if problem["kind"] == "gradient":
        return fd_gradient(problem["ref"], arrays, name)
    if problem["kind"] == "jacobian":
        return fd_jacobian(problem["ref"], arrays, name, problem.get("layout", "numerator"))
    raise NotImplementedError(f"no FD reference for kind {problem['kind']!r}")


def rng_for(problem, seed=0):
    """The problem's deterministic generator (crc32 of its id, plus a seed)."""
    return np.random.default_rng([zlib.crc32(problem["id"].encode()), int(seed)])


def points(problem, n=N_POINTS, seed=0):
    rng = rng_for(problem, seed)
    return [problem["gen"](rng) for _ in range(n)]


def tool_inputs(arrays, k):
    """Inputs for matcalc's NumPy function at point k: float64 2-D arrays; a scalar is a
    Python float at even k and a 0-d array at odd k (the contract allows both)."""
    out = {}
    for name, value in arrays.items():
        a = np.array(value, dtype=np.float64)
        out[name] = a if a.ndim else (float(a) if k % 2 == 0 else a)
    return out
