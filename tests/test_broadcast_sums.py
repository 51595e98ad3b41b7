"""Sums of a product with a broadcast operand are GEMVs in generated code: row sums of
A ⊙ (𝟏 r) as A rᵀ, column sums of A ⊙ (c 𝟏ᵀ) as cᵀA (NumpyCodegen.sum_through_broadcast);
the broadcast is never expanded.  Checked against hand NumPy."""
import numpy as np
import pytest
from sympy import MatMul, MatrixSymbol
from sympy.matrices.expressions import HadamardProduct, OneMatrix

import matcalc
from fd import fd_gradient, rel_err
from matcalc.codegen.numpy_code import NumpyCodegen, compile_source


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def test_the_softmax_adjoint_of_a_rank_one_delta_is_a_gemv():
    n, d = 9, 4
    shapes = {"X": (n, d), "Wq": (d, d), "Wk": (d, d), "Wv": (d, d)}
    dv = matcalc.derive("sum(softmax(X*Wq*(X*Wk)')*X*Wv)", wrt=["Wq", "Wk", "Wv"], shapes=shapes)
    src = dv.numpy_source()
    body = src.split("def gradients")[1].splitlines()
    assert not any(" * " in line and ".sum(axis=1" in line for line in body), src   # no n×n product summed
    rng = np.random.default_rng(0)
    a = {k: rng.normal(size=s) / 2 for k, s in shapes.items()}
    X, Wq, Wk, Wv = a["X"], a["Wq"], a["Wk"], a["Wv"]
    Q, K = X @ Wq, X @ Wk
    A = _softmax(Q @ K.T)
    v = X @ Wv.sum(axis=1)
    dS = A * (v[None, :] - (A @ v)[:, None])
    want = {"Wq": X.T @ (dS @ K), "Wk": X.T @ (dS.T @ Q), "Wv": np.broadcast_to((X.T @ A.sum(axis=0))[:, None], (d, d))}
    got = dv.to_numpy()(**a)
    for k in want:
        assert rel_err(got[k], want[k]) <= 1e-12, k
    ref = lambda X, Wq, Wk, Wv: np.sum(_softmax(X @ Wq @ (X @ Wk).T) @ X @ Wv)  # noqa: E731
    assert rel_err(got["Wq"], fd_gradient(ref, a, "Wq")) <= 1e-6


@pytest.mark.parametrize("rows,q", [(True, 1), (True, 3), (False, 1), (False, 2)])
def test_row_and_column_sums_through_a_broadcast(rows, q):
    m, n, k = 5, 4, 3
    A, B = MatrixSymbol("A", m, n), MatrixSymbol("B", k, n) if rows else MatrixSymbol("B", m, k)
    bcast = MatMul(OneMatrix(m, k), B) if rows else MatMul(B, OneMatrix(k, n))
    prod = HadamardProduct(A, MatMul(-2, bcast))
    expr = MatMul(prod, OneMatrix(n, q)) if rows else MatMul(OneMatrix(q, m), prod)
    src = NumpyCodegen({"A": A, "B": B}, {"out": expr}).source()
    assert " @ " in src and "np.ones(" not in src, src
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(m, n)), rng.normal(size=B.shape)
    full = a * (-2 * (np.ones((m, k)) @ b if rows else b @ np.ones((k, n))))
    want = full @ np.ones((n, q)) if rows else np.ones((q, m)) @ full
    got = compile_source(src, "gradients")(A=a, B=b)["out"]
    assert got.shape == want.shape and rel_err(got, want) <= 1e-12
