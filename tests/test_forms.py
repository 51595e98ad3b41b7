"""Textbook forms of the seed notes: the library's Unicode text (d.result_text(name)) must read
the way the notes write the gradient, and the numbers must agree with finite differences
(d.check().passed).  Also the shape of the SymPy results and the derivation steps.
"""
import numpy as np
import pytest
import sympy

import matcalc
from closed_form import closed_form_issues

NET_SHAPES = {"X": (6, 4), "W1": (4, 3), "b1": (1, 3), "W2": (3, 2), "b2": (1, 2), "Y": (6, 2)}
NET = "H = sigmoid(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2"


def squash(text):
    """Spacing between factors is a printing choice; the form is not."""
    return text.replace(" ", "")


def sigmoid(z):
    return 1.0 / (1.0 + np.exp(-z))


def assert_checked(d):
    result = d.check()
    assert result.passed, str(result)


def assert_closed_forms(d, shapes):
    for name in d.wrt:
        issues = closed_form_issues(d.gradient(name), name, shapes)
        assert not issues, (name, issues, d.gradient(name))


# ------------------------------------------------------------------ linear layer
def test_linear_layer():
    shapes = {"u": (3, 1), "W": (3, 4), "x": (4, 1)}
    d = matcalc.derive("u'*W*x", wrt=["W", "x", "u"], shapes=shapes)
    assert squash(d.result_text("W")) == "uxᵀ"
    assert squash(d.result_text("x")) == "Wᵀu"
    assert squash(d.result_text("u")) == "Wx"
    assert_checked(d)
    assert_closed_forms(d, shapes)


def test_linear_layer_default_kinds():
    d = matcalc.derive("u'*W*x")
    assert squash(d.result_text("W")) == "uxᵀ"
    assert squash(d.result_text("x")) == "Wᵀu"
    assert_checked(d)


# ------------------------------------------------------------------ least squares
def test_least_squares():
    shapes = {"X": (8, 3), "w": (3, 1), "y": (8, 1)}
    d = matcalc.derive("norm2(X*w - y)^2", wrt=["w"], shapes=shapes)
    assert d.result_text("w") == "2Xᵀ(Xw − y)"
    assert_checked(d)
    assert_closed_forms(d, shapes)
    g = d.gradient("w")
    assert isinstance(g, sympy.Basic)
    assert tuple(g.shape) == (3, 1)


def test_least_squares_symbolic_sizes():
    d = matcalc.derive("norm2(X*w - y)^2", wrt=["w"], shapes={"X": ("n", "d"), "w": ("d", 1), "y": ("n", 1)})
    assert d.result_text("w") == "2Xᵀ(Xw − y)"
    assert tuple(str(s) for s in d.gradient("w").shape) == ("d", "1")
    assert_checked(d)


def test_least_squares_numpy_matches_hand_gradient():
    d = matcalc.derive("norm2(X*w - y)^2", wrt=["w"], shapes={"X": (8, 3), "w": (3, 1), "y": (8, 1)})
    rng = np.random.default_rng(0)
    X, w, y = rng.normal(size=(8, 3)), rng.normal(size=(3, 1)), rng.normal(size=(8, 1))
    out = d.to_numpy()(X=X, w=w, y=y)
    np.testing.assert_allclose(out["w"], 2 * X.T @ (X @ w - y), rtol=1e-10, atol=1e-12)


# ------------------------------------------------------------------ softmax regression
def test_softmax_regression_sum_to_one():
    shapes = {"X": (5, 3), "W": (3, 4), "Y": (5, 4)}
    d = matcalc.derive("-sum(Y .* log(softmax(X*W)))", wrt=["W"], shapes=shapes, sum_to_one=["Y"])
    assert d.result_text("W") == "Xᵀ(softmax(XW) − Y)"
    assert_checked(d)
    assert_closed_forms(d, shapes)


def test_softmax_regression_sum_to_one_numbers():
    shapes = {"X": (5, 3), "W": (3, 4), "Y": (5, 4)}
    d = matcalc.derive("-sum(Y .* log(softmax(X*W)))", wrt=["W"], shapes=shapes, sum_to_one=["Y"])
    rng = np.random.default_rng(2)
    X, W = rng.normal(size=(5, 3)), rng.normal(size=(3, 4))
    Y = np.eye(4)[rng.integers(0, 4, size=5)]  # one-hot rows
    Z = X @ W
    S = np.exp(Z - Z.max(axis=1, keepdims=True))
    S /= S.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(d.to_numpy()(X=X, W=W, Y=Y)["W"], X.T @ (S - Y), rtol=1e-9, atol=1e-12)


def test_softmax_regression_general_y_is_exact():
    shapes = {"X": (5, 3), "W": (3, 4), "Y": (5, 4)}
    d = matcalc.derive("-sum(Y .* log(softmax(X*W)))", wrt=["W"], shapes=shapes)
    assert_checked(d)  # check() draws general Y: the result must not assume rows summing to one
    assert_closed_forms(d, shapes)


# ------------------------------------------------------------------ two-layer sigmoid net
@pytest.fixture(scope="module")
def net():
    return matcalc.derive(NET, shapes=NET_SHAPES)


def test_net_checks(net):
    assert set(net.wrt) == set(NET_SHAPES)
    assert_checked(net)
    assert_closed_forms(net, NET_SHAPES)


def test_net_bias_shapes_and_column_sums(net):
    assert tuple(net.gradient("b1").shape) == (1, 3)
    assert tuple(net.gradient("b2").shape) == (1, 2)
    assert "𝟏ᵀ" in net.result_text("b1")
    assert "𝟏ᵀ" in net.result_text("b2")
    assert squash(net.result_text("b2")) == "2𝟏ᵀ(HW2+b2−Y)"
    assert squash(net.result_text("W2")) == "2Hᵀ(HW2+b2−Y)"

    rng = np.random.default_rng(5)
    arrays = {k: rng.normal(size=s) for k, s in NET_SHAPES.items()}
    out = net.to_numpy()(**arrays)
    X, W1, b1, W2, b2, Y = (arrays[k] for k in ("X", "W1", "b1", "W2", "b2", "Y"))
    H = sigmoid(X @ W1 + b1)
    G2 = 2 * (H @ W2 + b2 - Y)
    D1 = (G2 @ W2.T) * H * (1 - H)
    assert out["b1"].shape == (1, 3) and out["b2"].shape == (1, 2)
    np.testing.assert_allclose(out["b2"], G2.sum(axis=0, keepdims=True), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["b1"], D1.sum(axis=0, keepdims=True), rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["W1"], X.T @ D1, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(out["W2"], H.T @ G2, rtol=1e-9, atol=1e-12)


def test_net_sigmoid_derivative_reuses_forward_value(net):
    for name in ("W1", "b1", "X"):
        text = net.result_text(name)
        assert "H ⊙ (1 − H)" in text, text
        assert "sigmoid" not in text, text  # H is named, so σ(XW1 + b1) is not recomputed
    assert "2Xᵀ(" in net.result_text("W1")


def test_sigmoid_derivative_of_named_intermediate_single_layer():
    shapes = {"X": (5, 3), "W": (3, 2), "Y": (5, 2)}
    d = matcalc.derive("H = sigmoid(X*W); f = norm2(H - Y)^2", wrt=["W"], shapes=shapes)
    text = d.result_text("W")
    assert "H ⊙ (1 − H)" in text, text
    assert text.startswith("2Xᵀ(")
    assert_checked(d)


# ------------------------------------------------------------------ ReLU
def test_relu_layer_uses_step():
    shapes = {"W": (3, 4), "x": (4, 1), "b": (3, 1)}
    d = matcalc.derive("sum(relu(W*x + b))", shapes=shapes)
    for name in ("W", "x", "b"):
        assert "step(" in d.result_text(name), d.result_text(name)
    assert squash(d.result_text("W")) == "step(Wx+b)xᵀ"
    assert squash(d.result_text("x")) == "Wᵀstep(Wx+b)"
    assert_checked(d)
    assert_closed_forms(d, shapes)


def test_relu_neuron_uses_step():
    shapes = {"w": (4, 1), "x": (4, 1), "b": ()}
    d = matcalc.derive("relu(w'*x + b)", shapes=shapes)
    assert "step(" in d.result_text("w")
    assert "step(" in d.result_text("b")
    assert_checked(d)
    assert_closed_forms(d, shapes)
    g = d.gradient("b")
    assert isinstance(g, sympy.Basic)
    assert getattr(g, "shape", ()) in ((), (1, 1))


# ------------------------------------------------------------------ API shape
def test_gradient_objects_have_variable_shapes(net):
    for name, shape in NET_SHAPES.items():
        g = net.gradient(name)
        assert isinstance(g, sympy.Basic), type(g)
        assert tuple(int(s) for s in g.shape) == shape, name


def test_steps_have_rules(net):
    assert isinstance(net.steps, list) and net.steps
    rules = [s.rule for s in net.steps]
    assert all(isinstance(r, str) and r for r in rules)
    assert {"matmul", "entrywise", "norm2"} <= {r for s in net.steps for r in s.rules}


def test_steps_least_squares():
    d = matcalc.derive("norm2(X*w - y)^2", wrt=["w"])
    assert d.steps and all(hasattr(s, "rule") for s in d.steps)
    assert [s.rule for s in d.steps] == ["norm2", "matmul"]


def test_scalar_coefficient_gradient_is_plain():
    d = matcalc.derive("lam*w'*w", shapes={"lam": (), "w": (3, 1)})
    assert d.result_text("lam").replace(" ", "") == "wᵀw"
    assert d.check().passed


@pytest.mark.parametrize("expr,shapes,label,form", [
    ("-log(softmax(x*W))*y", {"x": (1, 4), "W": (4, 3), "y": (3, 1)}, "y", "xᵀ(softmax(xW)−yᵀ)"),
    ("-log(softmax(W*x))'*y", {"x": (4, 1), "W": (3, 4), "y": (3, 1)}, "y", "(softmax(Wx)−y)xᵀ"),
    ("-sum(Y .* logsoftmax(X*W + b))", {"X": (6, 4), "W": (4, 3), "Y": (6, 3), "b": (1, 3)}, "Y",
     "Xᵀ(softmax(XW+b)−Y)"),
])
def test_sum_to_one_gives_s_minus_y_in_every_orientation(expr, shapes, label, form):
    d = matcalc.derive(expr, wrt=["W"], shapes=shapes, sum_to_one=[label])
    assert d.result_text("W").replace(" ", "") == form
    assert d.check().passed


def test_hadamard_powers_of_one_base_merge():
    """a^∘p ⊙ a^∘q = a^∘(p+q): the derivative of log(sigmoid) no longer carries σ^∘(−2) ⊙ σ."""
    from matcalc.lang.printing import to_unicode
    d = matcalc.derive("-sum(y .* log(sigmoid(X*w)) + (1 - y) .* log(1 - sigmoid(X*w)))", wrt="w", order=2)
    assert "^∘(−2)" not in to_unicode(d.hessian("w"))
    assert d.check().passed
