"""Inverses read once become linear solves in generated code (matcalc/codegen/solves.py and
NumpyCodegen.solved); inverses read several times stay one inverse.  Every function is checked
numerically against hand NumPy and finite differences."""
import numpy as np
import pytest
from sympy import MatrixSymbol
from sympy.matrices.expressions import Inverse

import matcalc
from fd import fd_gradient, rel_err
from matcalc.codegen.solves import inline_single_inverses


def _point(shapes, seed):
    rng = np.random.default_rng(seed)
    return {k: rng.normal(size=s) for k, s in shapes.items()}


@pytest.mark.parametrize("expr,shapes,wrt,ref,hand", [
    ("logdet(X'*X + eye(5))", {"X": (9, 5)}, "X",
     lambda X: np.linalg.slogdet(X.T @ X + np.eye(5))[1],
     lambda X: 2 * X @ np.linalg.inv(X.T @ X + np.eye(5))),
    ("a'*inv(X)*b", {"a": (4, 1), "X": (4, 4), "b": (4, 1)}, "b",
     lambda a, X, b: (a.T @ np.linalg.inv(X) @ b).item(),
     lambda a, X, b: np.linalg.inv(X).T @ a),
    ("logdet(X'*X + eye(3)) + sum(X*C)", {"X": (6, 3), "C": (3, 2)}, "X",
     lambda X, C: np.linalg.slogdet(X.T @ X + np.eye(3))[1] + np.sum(X @ C),
     lambda X, C: 2 * X @ np.linalg.inv(X.T @ X + np.eye(3)) + np.ones((6, 2)) @ C.T),
])
def test_an_inverse_read_once_is_a_solve(expr, shapes, wrt, ref, hand):
    d = matcalc.derive(expr, wrt=[wrt], shapes=shapes)
    src = d.numpy_source()
    assert "np.linalg.solve(" in src and "np.linalg.inv(" not in src, src
    arrays = _point(shapes, 1)
    if "X" in arrays and shapes["X"][0] == shapes["X"][1]:
        arrays["X"] = arrays["X"] + 4 * np.eye(shapes["X"][0])
    got = d.to_numpy()(**arrays)[wrt]
    assert got.shape == shapes[wrt]
    assert rel_err(got, hand(**arrays)) <= 1e-12
    assert rel_err(got, fd_gradient(ref, arrays, wrt)) <= 1e-6


def test_an_inverse_read_several_times_stays_one_inverse():
    """S⁻¹ − S⁻¹AᵀAS⁻¹: one inv (three solves would cost more; measured 1.25× at d = 200)."""
    d = matcalc.derive("logdet(S) + tr(inv(S)*A'*A)", wrt=["S"], shapes={"S": (4, 4), "A": (7, 4)})
    src = d.numpy_source()
    assert src.count("np.linalg.inv(") == 1 and "np.linalg.solve(" not in src, src
    rng = np.random.default_rng(2)
    B, A = rng.normal(size=(4, 4)), rng.normal(size=(7, 4))
    S = B @ B.T + np.eye(4)
    Si = np.linalg.inv(S)
    assert rel_err(d.to_numpy()(S=S, A=A)["S"], Si - Si @ A.T @ A @ Si) <= 1e-10


def test_only_a_single_plain_factor_is_inlined():
    u, X, Y = MatrixSymbol("u", 3, 3), MatrixSymbol("X", 5, 3), MatrixSymbol("Y", 3, 3)
    d = MatrixSymbol("d", 3, 3)
    lines, outputs = inline_single_inverses([("d", Inverse(u))], {"X": X * d})
    assert lines == [] and outputs["X"] == X * Inverse(u)
    for outs in ({"X": X * d, "Y": d * Y}, {"Y": d * Y * d}, {"Y": d + Y}):   # two readers, twice, not a factor
        lines, outputs = inline_single_inverses([("d", Inverse(u))], outs)
        assert lines == [("d", Inverse(u))] and outputs == outs


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_solves_translate_to_the_frameworks(backend):
    pytest.importorskip(backend)
    d = matcalc.derive("logdet(X'*X + eye(4))", wrt=["X"], shapes={"X": (7, 4)})
    X = np.random.default_rng(3).normal(size=(7, 4))
    want = 2 * X @ np.linalg.inv(X.T @ X + np.eye(4))
    if backend == "jax":
        import jax
        jax.config.update("jax_enable_x64", True)
        got = np.asarray(d.to_jax()(X=jax.numpy.asarray(X))["X"])
    else:
        import torch
        got = d.to_torch()(X=torch.from_numpy(X))["X"].numpy()
    assert rel_err(got, want) <= 1e-12
