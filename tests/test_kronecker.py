"""Jacobians of matrix functions and w.r.t. matrices: vec/Kronecker closed forms (column-major vec),
both layouts, against finite differences of hand-written NumPy references."""
import numpy as np
import pytest

import matcalc
from closed_form import closed_form_issues
from fd import fd_jacobian, rel_err
from matcalc.lang.printing import to_unicode


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


CASES = {
    "AXB": ("A*X*B", "X", {"A": (2, 3), "X": (3, 4), "B": (4, 2)}, lambda A, X, B: A @ X @ B, "Bᵀ ⊗ A"),
    "transpose": ("X'", "X", {"X": (2, 3)}, lambda X: X.T, "K_{2,3}"),
    "hadamard": ("X .* Y", "X", {"X": (2, 3), "Y": (2, 3)}, lambda X, Y: X * Y, "diag(vec(Y))"),
    "sigmoid_layer": ("sigmoid(W*X)", "W", {"W": (2, 3), "X": (3, 4)}, lambda W, X: _sig(W @ X), None),
    "square": ("X*X", "X", {"X": (3, 3)}, lambda X: X @ X, "Xᵀ ⊗ 𝕀₃ + 𝕀₃ ⊗ X"),
    "inverse": ("inv(X)", "X", {"X": (3, 3)}, lambda X: np.linalg.inv(X), "−(X⁻ᵀ ⊗ X⁻¹)"),
    "sum": ("sum(X)", "X", {"X": (2, 3)}, lambda X: np.sum(X), "𝟏ᵀ"),
    "trace": ("tr(A*X)", "X", {"A": (3, 2), "X": (2, 3)}, lambda A, X: np.trace(A @ X), "vec(Aᵀ)ᵀ"),
    "matrix_times_vector": ("X*w", "X", {"X": (3, 2), "w": (2, 1)}, lambda X, w: X @ w, "wᵀ ⊗ 𝕀₃"),
    "gram": ("X'*X", "X", {"X": (3, 2)}, lambda X: X.T @ X, None),
    "logdet": ("logdet(X)", "X", {"X": (3, 3)}, lambda X: np.linalg.slogdet(X)[1], None),
    "affine_bias": ("X*W + b", "W", {"X": (4, 3), "W": (3, 2), "b": (1, 2)}, lambda X, W, b: X @ W + b, None),
}


def _point(shapes, seed):
    rng = np.random.default_rng(seed)
    out = {}
    for k, s in shapes.items():
        v = rng.normal(size=s)
        if len(s) == 2 and s[0] == s[1] and s[0] > 1:
            v = v @ v.T / s[0] + np.eye(s[0])   # well-conditioned, det > 0
        out[k] = v
    return out


@pytest.mark.parametrize("layout", ["numerator", "denominator"])
@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_matrix_jacobian(case, layout):
    expr, wrt, shapes, ref, form = CASES[case]
    d = matcalc.derive(expr, wrt=[wrt], shapes=shapes, layout=layout)
    f = d.to_numpy()
    for seed in (0, 1):
        arrays = _point(shapes, seed)
        want = fd_jacobian(ref, arrays, wrt, layout)
        assert rel_err(np.asarray(f(**arrays)[wrt]).reshape(want.shape), want) <= 1e-5
    J = d.jacobian(wrt)
    assert not closed_form_issues(J, wrt, shapes, tuple(want.shape))
    if form and layout == "numerator":
        assert to_unicode(J) == form
    assert d.check().passed


def test_generated_jacobian_applies_kron_and_commutation_without_building_them():
    d = matcalc.derive("A*X'*B", wrt=["X"], shapes={"A": (2, 3), "X": (4, 3), "B": (4, 2)}, layout="numerator")
    assert "np.kron(" not in d.numpy_source() and "_commutation(" not in d.numpy_source()
    assert d.check().passed


def _softmax_rows(Z):
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("layout", ["numerator", "denominator"])
def test_softmax_per_row_of_a_matrix(layout):
    shapes = {"X": (3, 2), "W": (2, 4)}
    d = matcalc.derive("softmax(X*W)", wrt=["W"], shapes=shapes, layout=layout)
    arrays = _point(shapes, 0)
    want = fd_jacobian(lambda X, W: _softmax_rows(X @ W), arrays, "W", layout)
    assert rel_err(d.to_numpy()(**arrays)["W"], want) <= 1e-5


def test_multinomial_logistic_hessian():
    shapes = {"X": (5, 3), "W": (3, 4), "Y": (5, 4)}
    d = matcalc.derive("-sum(Y .* log(softmax(X*W)))", wrt=["W"], shapes=shapes, order=2, sum_to_one=["Y"])
    assert d.check().passed
    assert "𝕀₄ ⊗ Xᵀ" in to_unicode(d.hessian("W"))


def test_folded_absolute_value():
    """SymPy folds (a^2)^1.5 into |a|^3-like forms; matcalc differentiates them."""
    for src in ("(a^2)^1.5", "(a^2)^0.5"):
        assert matcalc.derive(src).check().passed


def test_check_finds_points_inside_a_barrier():
    """log(b − A x) > needs b − A x > 0: the sampler shrinks variables until it holds."""
    assert matcalc.derive("-sum(log(b - A*x))", wrt="x").check().passed
    assert matcalc.derive("-sum(log(b - A*x))", wrt="x", order=2).check().passed
