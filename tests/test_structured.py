"""Structured Hessian code (matcalc/codegen/structured.py): matrix-variable Hessians, mixed blocks and
Hessian-vector products without Kronecker products, commutation matrices or diag(vec(·)) in
the generated code — each checked against finite differences of hand NumPy references."""
import tracemalloc

import numpy as np
import pytest

import matcalc
from fd import fd_gradient, fd_jacobian, rel_err, vec

SOFTMAX_REGRESSION = "-sum(Y .* logsoftmax(X*W))"
MATERIALISED = ("np.kron(", "np.diagflat(", "_commutation(", "np.eye(", "np.ones(")


def _logsoftmax(Z):
    s = Z - Z.max(axis=1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=1, keepdims=True))


def _softmax(Z):
    return np.exp(_logsoftmax(Z))


def softmax_regression_hessian(X, W, Y):
    """Hand reference: Σ_i r_i (diag(p_i) − p_i p_iᵀ) ⊗ x_i x_iᵀ, column-major vec(W)."""
    n, d = X.shape
    k = W.shape[1]
    P = _softmax(X @ W)
    r = Y.sum(axis=1)
    H = np.zeros((d * k, d * k))
    for i in range(n):
        H += r[i] * np.kron(np.diag(P[i]) - np.outer(P[i], P[i]), np.outer(X[i], X[i]))
    return H


def _fd_hessian(ref, arrays, a, b):
    grad = lambda **kw: vec(fd_gradient(ref, kw, a))  # noqa: E731
    return fd_jacobian(grad, arrays, b)


def _point(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return {k: (rng.normal(size=s) if s else float(rng.normal())) for k, s in shapes.items()}


@pytest.mark.parametrize("n,d,k", [(7, 3, 2), (11, 4, 3), (5, 2, 5)])
@pytest.mark.parametrize("symbolic", [False, True])
def test_softmax_regression_hessian_matches_hand_reference(n, d, k, symbolic):
    shapes = {"X": ("n" if symbolic else n, d), "W": (d, k), "Y": ("n" if symbolic else n, k)}
    D = matcalc.derive(SOFTMAX_REGRESSION, wrt=["W"], order=2, shapes=shapes)
    src = D.numpy_source()
    assert not any(m in src for m in MATERIALISED), src
    assert src.count("_softmax(") == 2   # the helper's definition and one call: softmax once
    rng = np.random.default_rng(n)
    X, W, Y = rng.normal(size=(n, d)), rng.normal(size=(d, k)), rng.normal(size=(n, k))   # any labels
    H = D.to_numpy()(X=X, W=W, Y=Y)["W"]
    assert H.shape == (d * k, d * k)
    assert rel_err(H, softmax_regression_hessian(X, W, Y)) <= 1e-12
    assert D.check().passed


def test_softmax_regression_hessian_against_finite_differences():
    shapes = {"X": (6, 3), "W": (3, 4), "Y": (6, 4)}
    D = matcalc.derive(SOFTMAX_REGRESSION, wrt=["W"], order=2, shapes=shapes)
    arrays = _point(shapes, 2)
    want = _fd_hessian(lambda X, W, Y: -np.sum(Y * _logsoftmax(X @ W)), arrays, "W", "W")
    assert rel_err(D.to_numpy()(**arrays)["W"], want) <= 1e-6


def test_softmax_regression_hessian_memory_is_linear_in_the_data():
    """n·k = 9000: a materialised diag(vec S) alone would take 648 MB; the blocks need ~1 MB."""
    n, d, k = 3000, 4, 3
    D = matcalc.derive(SOFTMAX_REGRESSION, wrt=["W"], order=2, shapes={"X": ("n", d), "W": (d, k), "Y": ("n", k)})
    f = D.to_numpy()
    rng = np.random.default_rng(0)
    X, W, Y = rng.normal(size=(n, d)), rng.normal(size=(d, k)), np.eye(k)[rng.integers(0, k, n)]
    tracemalloc.start()
    H = f(X=X, W=W, Y=Y)["W"]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 8 * n * d * k * 4
    assert rel_err(H, softmax_regression_hessian(X, W, Y)) <= 1e-10


@pytest.mark.parametrize("expr,shapes,wrt,ref", [
    (SOFTMAX_REGRESSION, {"X": (6, 3), "W": (3, 4), "Y": (6, 4)}, "W",
     lambda X, W, Y: -np.sum(Y * _logsoftmax(X @ W))),
    ("norm2(A*X - B)^2", {"A": (4, 3), "X": (3, 2), "B": (4, 2)}, "X",
     lambda A, X, B: np.sum((A @ X - B) ** 2)),
    ("sum(tanh(X*W)) + tr(W'*W*W'*W)", {"X": (5, 3), "W": (3, 2)}, "W",
     lambda X, W: np.sum(np.tanh(X @ W)) + np.trace(W.T @ W @ W.T @ W)),
    ("tr(X*X*A)", {"X": (3, 3), "A": (3, 3)}, "X", lambda X, A: np.trace(X @ X @ A)),
])
def test_hvp_of_a_matrix_variable_never_forms_h(expr, shapes, wrt, ref):
    D = matcalc.derive(expr, wrt=[wrt], order=2, shapes=shapes)
    src = D.hvp_source()
    assert not any(m in src for m in MATERIALISED), src
    arrays = _point(shapes, 1)
    V = np.random.default_rng(5).normal(size=shapes[wrt])
    got = D.to_numpy(hvp=True)(**arrays, **{"v_" + wrt: V})[wrt]
    want = _fd_hessian(ref, arrays, wrt, wrt) @ vec(V)
    assert rel_err(vec(got), want) <= 1e-6
    H = D.to_numpy()(**arrays)[wrt]
    assert rel_err(vec(got), H @ vec(V)) <= 1e-12


@pytest.mark.parametrize("expr,shapes,wrt", [
    (SOFTMAX_REGRESSION, {"X": ("n", 5), "W": (5, 3), "Y": ("n", 3)}, ["W"]),
    (SOFTMAX_REGRESSION, {"X": ("n", 3), "W": (3, 4), "Y": ("n", 4)}, ["W"]),   # two terms: an unvec view
    ("sum(tanh(X*W*V))", {"X": (5, 3), "W": (3, 2), "V": (2, 2)}, ["W", "V"]),
    ("det(X) + sum(X*w)", {"X": (3, 3), "w": (3, 1)}, ["X", "w"]),
])
def test_hvp_of_a_matrix_variable_comes_in_its_shape(expr, shapes, wrt):
    """H v for an m×n variable is an m×n array (column-major unvec of the vec-form product),
    the same numbers as the Hessian blocks times vec(v); one term needs no copy at all."""
    d = matcalc.derive(expr, wrt=wrt, order=2, shapes=shapes)
    concrete = {k: tuple(7 if s == "n" else s for s in v) for k, v in shapes.items()}
    arrays = _point(concrete, 6)
    if "det(" in expr:
        arrays["X"] = arrays["X"] + 3 * np.eye(3)
    rng = np.random.default_rng(7)
    v = {"v_" + n: rng.normal(size=concrete[n]) for n in wrt}
    H, hv = d.to_numpy()(**arrays), d.to_numpy(hvp=True)(**arrays, **v)
    for a in wrt:
        assert hv[a].shape == concrete[a], (a, hv[a].shape)
        want = sum(H[a if a == b else f"{a},{b}"] @ vec(v["v_" + b]) for b in wrt)
        assert rel_err(vec(hv[a]), want) <= 1e-10, a
    if expr == SOFTMAX_REGRESSION:   # Xᵀ(r ⊙ (P ⊙ U − P ⊙ rowsum(P ⊙ U))), U = X V: the expert's HVP
        X, W, Y, V = arrays["X"], arrays["W"], arrays["Y"], v["v_W"]
        P, r = _softmax(X @ W), Y.sum(axis=1, keepdims=True)
        PU = P * (X @ V)
        assert rel_err(hv["W"], X.T @ (r * (PU - P * PU.sum(axis=1, keepdims=True)))) <= 1e-12
    if shapes.get("W") == (5, 3):   # one term left: returned as contracted, no copy
        assert "ascontiguousarray" not in d.hvp_source() and ".reshape(" not in d.hvp_source()


@pytest.mark.parametrize("expr,shapes,ref", [
    ("tr(X'*A*X)", {"X": (3, 2), "A": (3, 3)}, lambda X, A: np.trace(X.T @ A @ X)),
    ("tr(X*X*A)", {"X": (3, 3), "A": (3, 3)}, lambda X, A: np.trace(X @ X @ A)),
    ("sum(X'*X)", {"X": (4, 2)}, lambda X: np.sum(X.T @ X)),
    ("sum(sigmoid(X*w)) + norm2(X)^2", {"X": (4, 3), "w": (3, 1)},
     lambda X, w: np.sum(1 / (1 + np.exp(-X @ w))) + np.sum(X * X)),
    ("sum(softmax(X*W) .* C)", {"X": (4, 3), "W": (3, 3), "C": (4, 3)},
     lambda X, W, C: np.sum(_softmax(X @ W) * C)),
])
def test_structured_matrix_hessians_match_finite_differences(expr, shapes, ref):
    name = "X" if "X" in shapes and expr != "sum(softmax(X*W) .* C)" else "W"
    D = matcalc.derive(expr, wrt=[name], order=2, shapes=shapes)
    src = D.numpy_source()
    assert not any(m in src for m in ("np.kron(", "_commutation(", "np.diagflat(")), src
    arrays = _point(shapes, 3)
    want = _fd_hessian(ref, arrays, name, name)
    assert rel_err(D.to_numpy()(**arrays)[name], want) <= 1e-6


def test_mixed_blocks_of_two_matrix_variables():
    shapes = {"X": (5, 3), "W": (3, 2), "V": (2, 2)}
    ref = lambda X, W, V: np.sum(np.tanh(X @ W @ V))  # noqa: E731
    D = matcalc.derive("sum(tanh(X*W*V))", wrt=["W", "V"], order=2, shapes=shapes)
    assert "np.kron(" not in D.numpy_source()
    arrays = _point(shapes, 4)
    out = D.to_numpy()(**arrays)
    for key, (a, b) in {"W": ("W", "W"), "V": ("V", "V"), "W,V": ("W", "V"), "V,W": ("V", "W")}.items():
        assert rel_err(out[key], _fd_hessian(ref, arrays, a, b)) <= 1e-6, key
    hv = D.to_numpy(hvp=True)(**arrays, v_W=np.ones((3, 2)), v_V=np.eye(2))
    want_W = out["W"] @ vec(np.ones((3, 2))) + out["W,V"] @ vec(np.eye(2))
    assert rel_err(vec(hv["W"]), want_W) <= 1e-12


@pytest.mark.parametrize("expr,shapes,ref", [
    ("logdet(X'*X + eye(4))", {"X": (7, 4)}, lambda X: np.linalg.slogdet(X.T @ X + np.eye(4))[1]),
    ("H = X'*X; f = logdet(H + lam*eye(3)) + sum(H.*H)", {"X": (6, 3), "lam": ()},
     lambda X, lam: np.linalg.slogdet(X.T @ X + lam * np.eye(3))[1] + np.sum((X.T @ X) ** 2)),
])
def test_a_term_plus_its_transpose_is_one_gemm_when_symmetric(expr, shapes, ref):
    d = matcalc.derive(expr, wrt=["X"], shapes=shapes)
    src = d.numpy_source()
    products = src.count(" @ ") + src.count("np.linalg.solve(")   # X S⁻¹ read once: solve(Sᵀ, Xᵀ)ᵀ
    assert products == 2 and "X @ d_u.T" not in src and "X @ d_H.T" not in src, src   # XᵀX once, X S once
    arrays = _point(shapes, 0)
    if "lam" in arrays:
        arrays["lam"] = abs(arrays["lam"]) + 1.0
    want = fd_gradient(ref, arrays, "X")
    assert rel_err(d.to_numpy()(**arrays)["X"], want) <= 1e-6


def test_symmetry_is_proved_never_guessed():
    from matcalc.lang.build import parse
    from matcalc.differentiate.symmetry import is_symmetric
    p = parse("sum(A'*A + B*C*B' + inv(C'*C) + tanh(A'*A) - D)", {"A": (4, 3), "B": (3, 3), "C": (3, 3), "D": (3, 3)})
    A, B, C, D = (p.variables[n] for n in "ABCD")
    assert is_symmetric(A.T * A) and is_symmetric((C.T * C).I) and not is_symmetric(B * C * B.T)
    assert not is_symmetric(D) and not is_symmetric(A.T * A + D) and not is_symmetric(A.T * A * B)


@pytest.mark.parametrize("expr,shapes,wrt", [
    ("logdet(X)", {"X": (3, 3)}, ["X"]),
    ("tr(inv(X)*A)", {"X": (3, 3), "A": (3, 3)}, ["X"]),
    ("-sum(Y .* logsoftmax(X*W + b))", {"X": (6, 3), "W": (3, 4), "b": (1, 4), "Y": (6, 4)}, ["W", "b"]),
    ("sum(tanh(X*W1)*W2)", {"X": (5, 3), "W1": (3, 4), "W2": (4, 2)}, ["W1", "W2"]),
    ("norm2(X'*X - A)^2", {"X": (4, 3), "A": (3, 3)}, ["X"]),
    ("x'*X*X'*x", {"x": (3, 1), "X": (3, 2)}, ["X", "x"]),
    ("sum((A*X*B) .^ 2)", {"A": (2, 3), "X": (3, 4), "B": (4, 2)}, ["X"]),
    ("det(X)", {"X": (3, 3)}, ["X"]),
])
def test_matrix_hessians_and_hvps_without_structure(expr, shapes, wrt):
    d = matcalc.derive(expr, wrt=wrt, shapes=shapes, order=2)
    for src in (d.numpy_source(), d.hvp_source()):
        assert not any(m in src for m in ("np.kron(", "_commutation(", "np.diagflat(")), src
    assert d.check().passed                      # every block against differences of the gradient
    rng = np.random.default_rng(0)
    arrays = {k: rng.normal(size=s) for k, s in shapes.items()}
    if shapes.get("X", (0, 1))[0] == shapes.get("X", (0, 1))[1]:
        arrays["X"] = arrays["X"] + 3 * np.eye(shapes["X"][0])
    v = {"v_" + n: rng.normal(size=shapes[n]) for n in wrt}
    H, hv = d.to_numpy()(**arrays), d.to_numpy(hvp=True)(**arrays, **v)
    for a in wrt:
        want = sum(H[a if a == b else f"{a},{b}"] @ vec(v["v_" + b]) for b in wrt)
        assert rel_err(vec(hv[a]), want) <= 1e-10, a
