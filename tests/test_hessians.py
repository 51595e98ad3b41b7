"""Hessians (order=2): closed forms against finite differences of hand-written NumPy functions
(FD of the FD gradient, as the scoring harness does), textbook shapes, mixed blocks, HVPs."""
import numpy as np
import pytest

import matcalc
from closed_form import closed_form_issues
from fd import fd_gradient, fd_jacobian, rel_err, vec
from matcalc.lang.printing import to_unicode


def _sig(z):
    return 1.0 / (1.0 + np.exp(-z))


# (expr, wrt, shapes, NumPy reference of f, generator)
CASES = {
    "quadratic_form": ("x'*A*x", ["x"], {"x": (4, 1), "A": (4, 4)},
                       lambda x, A: np.sum(x.T @ A @ x)),
    "least_squares": ("norm2(A*x - b)^2", ["x"], {"A": (6, 3), "x": (3, 1), "b": (6, 1)},
                      lambda A, x, b: float(np.sum((A @ x - b) ** 2))),
    "logistic_softplus": ("sum(softplus(X*w)) - y'*X*w", ["w"], {"X": (8, 3), "w": (3, 1), "y": (8, 1)},
                          lambda X, w, y: np.sum(np.logaddexp(0, X @ w)) - np.sum(y.T @ X @ w)),
    "logistic_cross_entropy": ("-sum(y .* log(sigmoid(X*w)) + (1 - y) .* log(1 - sigmoid(X*w)))", ["w"],
                               {"X": (7, 3), "w": (3, 1), "y": (7, 1)},
                               lambda X, w, y: float(-np.sum(y * np.log(_sig(X @ w))
                                                             + (1 - y) * np.log(1 - _sig(X @ w))))),
    "log_sum_exp": ("log(sum(exp(x)))", ["x"], {"x": (5, 1)},
                    lambda x: float(np.log(np.sum(np.exp(x))))),
    "row_vector_tanh": ("sum(tanh(x*W))", ["x"], {"x": (1, 3), "W": (3, 4)},
                        lambda x, W: float(np.sum(np.tanh(x @ W)))),
    "mixed_bilinear": ("x'*A*y + sum(x.*y) + sum(x.^3)", ["x", "y"], {"x": (3, 1), "y": (3, 1), "A": (3, 3)},
                       lambda x, A, y: np.sum(x.T @ A @ y) + np.sum(x * y) + np.sum(x ** 3)),
    "scalars": ("a^2*b + sin(a*b)", ["a", "b"], {"a": (), "b": ()},
                lambda a, b: float(a ** 2 * b + np.sin(a * b))),
    "ridge_scalar_and_vector": ("norm2(X*w - y)^2 + lam*w'*w", ["w", "lam"],
                                {"X": (6, 3), "w": (3, 1), "y": (6, 1), "lam": ()},
                                lambda X, w, y, lam: np.sum((X @ w - y) ** 2) + lam * np.sum(w * w)),
}


def _point(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {k: (rng.normal(size=s) if s else float(rng.normal())) for k, s in shapes.items()}


def _fd_hessian(ref, arrays, a, b):
    """∂vec(∇_a f)/∂vec(b): FD (over b) of the FD gradient (over a)."""
    grad = lambda **kw: vec(fd_gradient(ref, kw, a))  # noqa: E731
    return fd_jacobian(grad, arrays, b)


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_hessian_matches_finite_differences(case):
    expr, wrt, shapes, ref = CASES[case]
    d = matcalc.derive(expr, wrt=wrt, shapes=shapes, order=2)
    f = d.to_numpy()
    for seed in (0, 1):
        arrays = _point(shapes, seed)
        got = f(**arrays)
        for a in wrt:
            for b in wrt:
                key = a if a == b else f"{a},{b}"
                want = _fd_hessian(ref, arrays, a, b)
                assert rel_err(np.asarray(got[key]).reshape(want.shape), want) <= 1e-5, (key, seed)
    for a in wrt:
        n = int(np.prod(shapes[a])) if shapes[a] else 1
        H = d.hessian(a)
        if n > 1 or hasattr(H, "shape"):
            assert tuple(H.shape) == (n, n)
        assert not closed_form_issues(H, a, shapes, (n, n) if n > 1 else None) or n == 1
    assert d.check().passed


def test_textbook_forms():
    assert to_unicode(matcalc.derive("x'*A*x", wrt="x", order=2).hessian("x")) in ("Aᵀ + A", "A + Aᵀ")
    assert to_unicode(matcalc.derive("norm2(A*x - b)^2", wrt="x", order=2).hessian("x")) == "2Aᵀ A"
    assert to_unicode(matcalc.derive("sum(softplus(X*w)) - y'*X*w", wrt="w", order=2).hessian("w")) == \
        "Xᵀ diag(sigmoid(Xw) ⊙ (1 − sigmoid(Xw)))X"
    lse = to_unicode(matcalc.derive("log(sum(exp(x)))", wrt="x", order=2).hessian("x"))
    assert lse == "diag(softmax(x)) − softmax(x)softmax(x)ᵀ"   # e^x/Σe^x folded into softmax (issue 15)


def test_generated_hessian_never_builds_diag():
    d = matcalc.derive("sum(softplus(X*w)) - y'*X*w", wrt="w", order=2)
    src = d.numpy_source()
    assert "np.diag" not in src and "kron" not in src
    assert ".T @ _t" in src and "np.sqrt(" in src      # σ(1 − σ) ≥ 0: the symmetric (√v X)ᵀ(√v X) form


def test_symmetric_form_only_when_the_weights_are_nonnegative():
    d = matcalc.derive("sum(sin(X*w))", wrt="w", order=2)   # sin'' = −sin changes sign
    src = d.numpy_source()
    assert "np.sqrt(" not in src and "np.diag" not in src
    assert d.check().passed


def test_hessian_vector_product_matches_and_avoids_h():
    shapes = {"X": (40, 5), "w": (5, 1), "y": (40, 1)}
    d = matcalc.derive("sum(softplus(X*w)) - y'*X*w", wrt="w", order=2, shapes=shapes)
    arrays = _point(shapes)
    v = np.random.default_rng(3).normal(size=(5, 1))
    hvp = d.to_numpy(hvp=True)(**arrays, v_w=v)["w"]
    assert rel_err(hvp, d.to_numpy()(**arrays)["w"] @ v) <= 1e-12
    assert "X.T @ (" in d.hvp_source() and "@ v_w" in d.hvp_source()


def test_mixed_blocks_are_transposes():
    d = matcalc.derive("x'*A*y + sum(x.*y)", wrt=["x", "y"], order=2)
    assert to_unicode(d.hessian("x", "y")) == "A + 𝕀" and to_unicode(d.hessian("y", "x")) == "Aᵀ + 𝕀"


MATRIX_CASES = {
    "least_squares_matrix": ("norm2(A*X - B)^2", {"A": (4, 3), "X": (3, 2), "B": (4, 2)},
                             lambda A, X, B: np.sum((A @ X - B) ** 2), "2(𝕀₂ ⊗ (Aᵀ A))"),
    "trace_quadratic": ("tr(X'*A*X)", {"X": (3, 2), "A": (3, 3)},
                        lambda X, A: np.trace(X.T @ A @ X), "𝕀₂ ⊗ (Aᵀ + A)"),
    "exp_linear": ("sum(exp(X*w))", {"X": (4, 3), "w": (3, 1)},
                   lambda X, w: np.sum(np.exp(X @ w)), None),
}


@pytest.mark.parametrize("case", MATRIX_CASES, ids=list(MATRIX_CASES))
def test_matrix_variable_hessian_in_vec_form(case):
    expr, shapes, ref, form = MATRIX_CASES[case]
    d = matcalc.derive(expr, wrt=["X"], shapes=shapes, order=2)
    arrays = _point(shapes)
    want = _fd_hessian(ref, arrays, "X", "X")
    assert rel_err(d.to_numpy()(**arrays)["X"], want) <= 1e-5
    n = int(np.prod(shapes["X"]))
    assert tuple(d.hessian("X").shape) == (n, n)
    if form:
        assert to_unicode(d.hessian("X")) == form


def test_cli_hessian():
    from click.testing import CliRunner
    from matcalc.cli import main
    r = CliRunner().invoke(main, ["derive", "x'*A*x", "--wrt", "x", "--order", "2", "--check"])
    assert r.exit_code == 0, r.output
    assert "∂²f/∂x∂xᵀ = Aᵀ + A" in r.output and "check passed" in r.output
