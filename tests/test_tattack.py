"""Regressions found by the hostile correctness attack (branch tattack): each test is a program
that once gave a wrong number, a crash or a contract break, checked against finite differences."""
import numpy as np
import pytest

import matcalc
from fd import fd_gradient, rel_err


def _ridge(X, w, y, lambda_reg):
    return float(np.sum((X @ w - y) ** 2) + lambda_reg * np.sum(w * w))


@pytest.mark.parametrize("name", ["lambda", "lambda_reg", "lambda1"])
def test_a_lambda_name_keeps_the_users_spelling(name):
    """lambda… is spelled λ… inside matcalc; the contract's function takes and returns the user's name."""
    expr = f"norm2(X*w - y)^2 + {name}*norm2(w)^2"
    shapes = {"X": (5, 3), "w": (3, 1), "y": (5, 1), name: ()}
    d = matcalc.derive(expr, wrt=["w", name], shapes=shapes)
    rng = np.random.default_rng(0)
    point = {"X": rng.standard_normal((5, 3)), "w": rng.standard_normal((3, 1)),
             "y": rng.standard_normal((5, 1)), name: 0.7}
    out = d.to_numpy()(**point)
    assert set(out) == {"w", name}
    ref = {"X": point["X"], "w": point["w"], "y": point["y"], "lambda_reg": point[name]}
    assert rel_err(out["w"], fd_gradient(_ridge, ref, "w")) < 1e-8
    assert rel_err(out[name], fd_gradient(_ridge, ref, "lambda_reg")) < 1e-8
    assert out["λ" + name[6:]] is out[name]                  # matcalc's spelling still answers
    assert set(d.to_json()["wrt"]) == {"w", name}            # the contract's JSON keys are the --wrt names
    assert d.gradient(name) == d.gradient("λ" + name[6:])
    h = matcalc.derive(expr, wrt=["w", name], shapes=shapes, order=2)
    assert set(h.to_numpy()(**point)) == {"w", f"w,{name}", f"{name},w", name}
    assert h.hessian("w", name).shape == (3, 1)
    hv = h.to_numpy(hvp=True)(**point, v_w=np.ones((3, 1)), **{"v_" + name: 2.0})
    H = h.to_numpy()(**point)
    assert np.allclose(hv["w"], H["w"] @ np.ones((3, 1)) + 2.0 * H[f"w,{name}"])
    assert np.allclose(hv[name], np.sum(H[f"{name},w"]))


def test_a_lambda_name_in_a_recurrent_program():
    d = matcalc.derive("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(norm2(h[t])^2) + lambda_reg*norm2(W)^2",
                       shapes={"x": (2, 3), "W": (3, 4), "U": (4, 4), "lambda_reg": ()}, wrt=["W", "lambda_reg"])
    rng = np.random.default_rng(1)
    W = rng.standard_normal((3, 4))
    out = d.to_numpy()(x=rng.standard_normal((3, 2, 3)), W=W, U=rng.standard_normal((4, 4)), lambda_reg=0.3)
    assert set(out) == {"W", "lambda_reg"}
    assert abs(out["lambda_reg"] - np.sum(W * W)) < 1e-9
    assert d.check().passed


def test_a_lambda_name_in_the_framework_functions():
    jax = pytest.importorskip("jax")
    jax.config.update("jax_enable_x64", True)
    d = matcalc.derive("norm2(X*w - y)^2 + lambda*norm2(w)^2", wrt=["w", "lambda"],
                       shapes={"X": (5, 3), "w": (3, 1), "y": (5, 1), "lambda": ()})
    point = {"X": np.ones((5, 3)), "w": np.ones((3, 1)), "y": np.ones((5, 1)), "lambda": 0.5}
    out = jax.jit(d.to_jax())(**point)
    assert set(out) == {"w", "lambda"} and float(out["lambda"]) == 3.0


def test_latex_states_the_sizes_inside_kron_and_vec():
    """The Unicode text writes 𝕀₂ and 𝟏₄ inside ⊗ and vec (their sizes are not implied there);
    the LaTeX said I and \\mathbf{1}, which leaves the value open."""
    d = matcalc.derive("sum(vec(X*Y))", wrt=["Y"], shapes={"X": (2, 3), "Y": (3, 2)})
    assert d.result_text("Y") == "Xᵀ(vec(𝕀₂)ᵀ ⊗ 𝕀₂)(𝕀₂ ⊗ 𝟏₄)"
    latex = d.to_json()["wrt"]["Y"]["latex"]
    assert r"\operatorname{vec}\left(I_{2}\right)^{T} \otimes I_{2}" in latex and r"I_{2} \otimes \mathbf{1}_{4}" in latex
    d = matcalc.derive("sum(kron(X, Y))", wrt=["Y"], shapes={"X": ("m", "n"), "Y": (2, 3)})
    assert r"\mathbf{1}_{m}^{T} X \mathbf{1}_{n}" in d.to_json()["wrt"]["Y"]["latex"]


@pytest.mark.parametrize("expr", ["inv(x)", "x'*x + inv(x)", "2*inv(x)"])
def test_a_one_by_one_quotient_prints_its_numerator(expr):
    """x is 1×1 (inv makes it square): −1/x² printed as '−/x^2' (the JSON result did not parse) and
    (2x³ − 1)/x² with doubled parentheses."""
    d = matcalc.derive(expr)
    for text in (d.result_text("x"), d.to_json()["wrt"]["x"]["result"]):
        assert "−/" not in text and "-/" not in text and "((" not in text, text
        assert matcalc.check(expr, ["x"], text).verdict == "correct", text


@pytest.mark.parametrize("kind", ["symmetric", "spd", "diagonal"])
@pytest.mark.parametrize("convention", ["sym", "cookbook"])
def test_a_one_by_one_structured_variable_is_its_plain_gradient(kind, convention):
    """A 1×1 S declared symmetric/spd/diagonal was refused as 'not a square matrix, not (1, 1)'."""
    d = matcalc.derive("x'*S*x + logdet(S)", wrt=["S", "x"], shapes={"S": (1, 1), "x": (1, 1)},
                       structure={"S": kind}, convention=convention)
    out = d.to_numpy()(S=np.array([[2.0]]), x=np.array([[3.0]]))
    assert abs(float(np.squeeze(out["S"])) - (9.0 + 0.5)) < 1e-12        # x² + 1/S
    assert abs(float(np.squeeze(out["x"])) - 12.0) < 1e-12               # 2Sx
    assert d.check().passed


def test_no_simplified_form_divides_by_one_minus_sigmoid():
    """e^u written as σ(u)/(1 − σ(u)) (the σ-form of the island simplifier) is inf once σ(u) rounds
    to 1 (u ≳ 37) and loses digits long before: sum(exp(x) ./ (1 + exp(-x))) had the Hessian
    −σ²(2σ² + 4 − 5σ)/(σ − 1), inf at x = 40 (the true value is about 2.4e17)."""
    d = matcalc.derive("sum(exp(x) ./ (1 + exp(-x)))", wrt=["x"], shapes={"x": (2, 1)}, order=2)
    x = np.array([[1.0], [40.0]])
    H = d.to_numpy()(x=x)["x"]
    s, q = 1 / (1 + np.exp(-x)), 1 / (1 + np.exp(x))          # σ(x) and 1 − σ(x), both accurate
    want = np.exp(x) * (s + 2 * s * q + s * q * (q - s))
    assert np.allclose(np.diag(H), want.ravel(), rtol=1e-10, atol=0)
    assert "sigmoid(x) − 1" not in d.result_text("x") and "1 − sigmoid(x))⁻¹" not in d.result_text("x")


def test_no_simplified_form_subtracts_sigmoid_from_one_where_the_function_does_not():
    """−1/(1 + e^x) was simplified to σ(x) − 1, which keeps only absolute accuracy (1 − σ(30)
    has 3 correct digits); multiplied by e^x in the Hessian of sum(sqrt(1 + exp(x))) it was
    0.2% off at x = 30.  −σ(−x) and the exp form are accurate."""
    d = matcalc.derive("sum(sqrt(1 + exp(x)))", wrt=["x"], shapes={"x": (3, 1)}, order=2)
    x = np.array([[-3.0], [30.0], [60.0]])
    e = np.exp(x)
    want = e * (2 + e) / (4 * (1 + e) ** 1.5)
    assert np.allclose(np.diag(d.to_numpy()(x=x)["x"]), want.ravel(), rtol=1e-10, atol=0)
