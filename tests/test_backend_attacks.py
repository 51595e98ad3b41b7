"""Regressions from a hostile review of the JAX / PyTorch translations of Hessian and
Hessian-vector-product code: each program's Hessian blocks and HVPs (NumPy, JAX, torch)
against the frameworks' own autodiff, in float64."""
import numpy as np
import pytest

import matcalc
from framework_ref import framework, generated, reference, rel

TOL = 1e-10

CASES = [
    # torch: x.reshape((6, 3, 2), order='F') was written x.T.reshape((6, 3, 2)) (a wrong HVP)
    ("norm2(X*W - Y)^2 + 2*tr(W'*W)", ["W", "X"], {"W": (3, 2), "X": (4, 3), "Y": (4, 2)}),
    # torch.kron of a transposed tensor raised "view size is not compatible"
    ("a*tr(X'*X)*b", ["X", "a"], {"a": (), "b": (), "X": (3, 2)}),
    # ... and of a (3, 1) column of strides (1, 3), which torch calls contiguous
    ("f = logdet(((C) / (exp(b)))' * ((C) / (exp(b))) + eye(3))", ["C", "b"], {"C": (1, 3), "b": ()}),
    # JAX: _dot(a, b, ta, tb) contracted axis 1 of a 1-D operand (a column sum times v.T)
    ("sum(inv(X))", ["X"], {"X": (3, 3)}),
    ("sum(Y*inv(X)')", ["X"], {"X": (3, 3), "Y": (2, 3)}),
    ("x'*inv(A'*A + eye(3))*x", ["x", "A"], {"x": (3, 1), "A": (4, 3)}),
]


def _point(shapes, seed=0):
    rng = np.random.default_rng(seed)
    point = {k: rng.standard_normal(s) for k, s in shapes.items()}
    for k, s in shapes.items():   # square matrices well away from singular
        if len(s) == 2 and s[0] == s[1] and k == "X":
            point[k] = point[k] + 3 * np.eye(s[0])
    return point


@pytest.mark.parametrize("backend", ["jax", "torch"])
@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_hessian_and_hvp_match_autodiff(case, backend):
    framework(backend)
    expr, wrt, shapes = case
    d = matcalc.derive(expr, wrt=wrt, order=2, shapes=shapes)
    point = _point(shapes)
    want = reference(d, backend, point)
    got, mine = generated(d, backend, point), d.to_numpy()(**point)
    for k in want:
        assert rel(got[k], want[k]) <= TOL and rel(mine[k], want[k]) <= TOL, k
    rng = np.random.default_rng(1)
    directions = {n: rng.standard_normal(np.shape(point[n])) for n in wrt}
    want = reference(d, backend, point, directions)
    got = generated(d, backend, point, hvp=True, directions=directions)
    mine = d.to_numpy(hvp=True)(**point, **{f"v_{n}": v for n, v in directions.items()})
    for n in wrt:
        assert np.shape(got[n]) == np.shape(mine[n]) == np.shape(point[n]), n
        assert rel(got[n], want[n]) <= TOL and rel(mine[n], want[n]) <= TOL, n


def test_jax_add_into_keeps_the_result_dtype():
    """A Python-number term (2·1 on the diagonal of tr(P)²'s Hessian) was promoted to float64
    by _add_into's identity factor, so a float32 Hessian came back float64."""
    jax = framework("jax")
    d = matcalc.derive("f = (tr((P)'))^2", wrt=["P"], shapes={"P": (3, 3)}, order=2)
    P = np.random.default_rng(0).standard_normal((3, 3))
    want = d.to_numpy()(P=P)["P"]
    got = jax.jit(d.to_jax())(P=jax.numpy.asarray(P, dtype="float32"))["P"]
    assert got.dtype == np.float32 and rel(np.asarray(got), want) <= 1e-6
    assert rel(want, 2 * np.outer(np.eye(3).ravel(), np.eye(3).ravel())) == 0


def test_a_constant_jax_result_has_the_arguments_dtype():
    """∂(d + ΣX)/∂d = 1 was returned as the Python number 1.0: float64 under jit, for float32 arguments."""
    jax = framework("jax")
    d = matcalc.derive("f = d + sum(X)", shapes={"d": (), "X": (2, 2)})
    out = jax.jit(d.to_jax())(d=np.float32(2), X=np.ones((2, 2), np.float32))
    assert {k: v.dtype for k, v in out.items()} == {"d": np.float32, "X": np.float32}
    assert float(out["d"]) == 1.0 and np.all(np.asarray(out["X"]) == 1.0)
    d = matcalc.derive("z1 = b; f = d - z1", shapes={"b": (), "d": ()})   # returned through a copy
    out = jax.jit(d.to_jax())(b=np.float32(2), d=np.float32(1))
    assert {k: (v.dtype, float(v)) for k, v in out.items()} == {"b": (np.float32, -1.0), "d": (np.float32, 1.0)}
    d = matcalc.derive("z1 = 1e-1 - b; f = z1 - (p)' * (p)", shapes={"b": (), "p": (3, 1)})   # -1.0 * d_z1
    out = jax.jit(d.to_jax())(b=np.float32(2), p=np.ones((3, 1), np.float32))
    assert out["b"].dtype == out["p"].dtype == np.float32 and float(out["b"]) == -1.0
