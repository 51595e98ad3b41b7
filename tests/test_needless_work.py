"""No needless work in generated gradients: a sum pushed through a product (a GEMV, not a GEMM),
checked numerically against finite differences."""
import re
import numpy as np

import matcalc
from fd import fd_gradient, rel_err


def _softmax(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def test_sum_of_attention_output_reduces_before_multiplying():
    shapes = {"X": (9, 4), "Wq": (4, 3), "Wk": (4, 3), "Wv": (4, 2)}
    d = matcalc.derive("sum(softmax(X*Wq*(X*Wk)')*X*Wv)", wrt=["Wq", "Wk", "Wv"], shapes=shapes)
    src = d.numpy_source()
    # 𝟏ᵀ Wvᵀ Xᵀ as (𝟏ᵀ Wvᵀ) Xᵀ and Xᵀ Aᵀ 𝟏 as Xᵀ (Aᵀ 𝟏): vectors, never an n×n×d product
    assert ".sum(axis=0, keepdims=True) @ " in src and re.search(r"@ _t\d+\.T\.sum\(axis=1, keepdims=True\)", src), src
    rng = np.random.default_rng(0)
    arrays = {k: rng.normal(size=s) for k, s in shapes.items()}
    ref = lambda X, Wq, Wk, Wv: np.sum(_softmax(X @ Wq @ (X @ Wk).T) @ X @ Wv)  # noqa: E731
    got = d.to_numpy()(**arrays)
    for name in ("Wq", "Wk", "Wv"):
        assert rel_err(got[name], fd_gradient(ref, arrays, name)) <= 1e-6, name


def test_row_sums_of_a_chain_are_matrix_vector_products():
    shapes = {"A": (5, 6), "B": (6, 7), "C": (7, 3)}
    d = matcalc.derive("sum(A*B*C)", wrt=["A", "B", "C"], shapes=shapes)
    rng = np.random.default_rng(1)
    arrays = {k: rng.normal(size=s) for k, s in shapes.items()}
    got = d.to_numpy()(**arrays)
    for name in shapes:
        want = fd_gradient(lambda A, B, C: np.sum(A @ B @ C), arrays, name)
        assert rel_err(got[name], want) <= 1e-8, name
