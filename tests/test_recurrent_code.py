"""Generated BPTT code against an independent NumPy loop: user names never collide with the
code's own (T, t, dtype, range, float, ...), every argument's shape is validated, and scalar
states with terminal losses (default kinds) work."""
import numpy as np
import pytest
from click.testing import CliRunner

import matcalc
from matcalc.cli import main

B, D, H = 2, 3, 4
SHAPES = {"x": ("B", "D"), "W": ("D", "H"), "V": ("H", "H")}


def _forward(x, W, V, c, terminal: bool):
    """The loss of h[t] = tanh(x[t] W + h[t-1] V + c); f = Σ_t sum(h[t]) (+ sum(h[T]) c), by hand."""
    h, total = np.zeros((x.shape[1], W.shape[1])), 0.0
    for t in range(x.shape[0]):
        h = np.tanh(x[t] @ W + h @ V + c)
        total += h.sum()
    return total + (h.sum() * c if terminal else 0.0)


def _fd(f, point, name, eps=1e-6):
    x0 = np.asarray(point[name], dtype=float)
    out = np.zeros(x0.shape)
    for i in np.ndindex(*x0.shape):
        up, dn = x0.copy(), x0.copy()
        up[i] += eps
        dn[i] -= eps
        out[i] = (f(**{**point, name: up}) - f(**{**point, name: dn})) / (2 * eps)
    return out


@pytest.mark.parametrize("name", ["T", "t", "range", "dtype", "float", "h_prev", "x_t", "g_h", "grad_W",
                                  "total", "step_loss", "d_h", "h_ts"])
@pytest.mark.parametrize("terminal", [False, True])
def test_user_names_are_never_overwritten(name, terminal):
    program = f"h[t] = tanh(x[t]*W + h[t-1]*V + {name}); f = sum_t(sum(h[t]))" + \
        (f" + sum(h[T])*{name}" if terminal else "")
    d = matcalc.derive(program, shapes={**SHAPES, name: ()})
    rng = np.random.default_rng(len(name))
    point = {"x": rng.standard_normal((5, B, D)), "W": 0.5 * rng.standard_normal((D, H)),
             "V": 0.5 * rng.standard_normal((H, H)), name: 0.3}

    def by_hand(x, W, V, **rest):
        return _forward(x, W, V, rest[name], terminal)
    got = d.to_numpy()(**point)
    for n in ("W", "V", name):
        assert np.allclose(got[n], _fd(by_hand, point, n), rtol=1e-6, atol=1e-7), n
    loss = matcalc.recurrent.bptt.compile_source(d.loss_source(), "loss")
    assert np.isclose(loss(**point), by_hand(**point))
    assert d.check().passed


def test_scalar_T_gradient_reproducer():
    """Issue 14.1: ∂f/∂T came out 0.115 instead of about 24 (T was the sequence length)."""
    d = matcalc.derive("h[t] = tanh(x[t]*W + h[t-1]*V + T); f = sum_t(sum(h[t]))", shapes={"T": ()})
    rng = np.random.default_rng(0)
    point = {"x": rng.standard_normal((6, 1, 1)), "W": np.array([[0.4]]), "V": np.array([[0.3]]), "T": 0.2}
    want = _fd(lambda x, W, V, T: _forward(x, W, V, T, False), point, "T")
    assert np.isclose(d.to_numpy()(**point)["T"], want, rtol=1e-7)


RNN = "h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b); f = sum_t(norm2(h[t]*V - y[t])^2)"
RNN_SHAPES = {"x": ("B", "D"), "y": ("B", "K"), "Wx": ("D", "H"), "Wh": ("H", "H"), "b": (1, "H"),
              "V": ("H", "K")}


def _rnn_point(T=4, B=3, D=2, H=5, K=2):
    rng = np.random.default_rng(7)
    return {"x": rng.standard_normal((T, B, D)), "y": rng.standard_normal((T, B, K)),
            "Wx": rng.standard_normal((D, H)), "Wh": rng.standard_normal((H, H)),
            "b": rng.standard_normal((1, H)), "V": rng.standard_normal((H, K))}


@pytest.mark.parametrize("name, bad, message", [
    ("b", lambda p: np.ones((3, 5)), r"b must have shape \(1, H\)"),                 # (B,H) for (1,H)
    ("y", lambda p: p["y"][:, :1, :], r"y must have shape \(T, B, K\) with B = 3"),    # (T,1,K)
    ("y", lambda p: p["y"][:-1], r"y must have shape \(T, B, K\) with T = 4"),
    ("Wh", lambda p: np.ones((5, 4)), r"Wh must have shape \(H, H\)"),
    ("V", lambda p: np.ones(5), r"V must have shape \(H, K\)"),
    ("x", lambda p: 1.0, r"x must have shape \(T, B, D\)"),
])
@pytest.mark.parametrize("source", ["numpy_source", "loss_source"])
def test_recurrent_code_validates_every_argument(name, bad, message, source):
    d = matcalc.derive(RNN, shapes=RNN_SHAPES)
    fn = matcalc.recurrent.bptt.compile_source(getattr(d, source)(), "gradients" if source == "numpy_source" else "loss")
    point = _rnn_point()
    fn(**point)
    with pytest.raises(ValueError, match=message):
        fn(**{**point, name: bad(point)})


def test_recurrent_code_validates_fixed_sizes():
    """W (5,5) where (1,1) was derived broadcast silently before."""
    d = matcalc.derive("h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h[t]))")
    fn = d.to_numpy()
    point = {"x": np.ones((3, 1, 1)), "W": np.ones((1, 1)), "U": np.ones((1, 1))}
    fn(**point)
    with pytest.raises(ValueError, match=r"W must have shape \(1, 1\)"):
        fn(**{**point, "W": np.ones((5, 5))})


def test_recurrent_programs_refuse_shapes_of_non_variables():
    for extra in ({"Q": (2, 2)}, {"h_prev": (1, 1)}, {"t": ()}):
        with pytest.raises(matcalc.MatcalcError, match="not a variable"):
            matcalc.derive(RNN, shapes={**RNN_SHAPES, **extra})
    result = CliRunner().invoke(main, ["derive", RNN, "--dim", "Q=2,2"])
    assert result.exit_code == 2 and "'Q', which is not a variable" in result.stderr
    matcalc.derive(RNN, shapes={**RNN_SHAPES, "h": ("B", "H")})   # a state's shape is fine


@pytest.mark.parametrize("program", [
    "h[t] = tanh(x[t]*W + h[t-1]*U); f = norm2(h[T]*V - y)^2",               # issue 14.6
    "h[t] = tanh(x[t]*W + h[t-1]*U); c[t] = h[t]*2; f = norm2(c[T]*V - y)^2",  # a seeded value
    "h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h[t])) + sum(h[T]*V)",
    "h[0] = a; h[t] = tanh(x[t]*W + h[t-1]*U); f = norm2(h[T]*V - y)^2",     # a scalar initial value
])
@pytest.mark.parametrize("fmt", ["text", "numpy", "latex", "markdown", "json"])
def test_scalar_state_with_terminal_loss(program, fmt):
    result = CliRunner().invoke(main, ["derive", program, "--format", fmt, "--steps", "--check"])
    assert result.exit_code == 0, (result.stdout, result.stderr)


def test_scalar_initial_value_against_a_loop_by_hand():
    d = matcalc.derive("h[0] = a; h[t] = tanh(x[t]*W + h[t-1]*U); f = norm2(h[T]*V - y)^2")
    rng = np.random.default_rng(3)
    point = {"x": rng.standard_normal((4, 1, 1)), "W": rng.standard_normal((1, 1)), "U": rng.standard_normal((1, 1)),
             "V": rng.standard_normal((3, 2)), "y": rng.standard_normal((3, 1)), "a": 0.3}

    def by_hand(x, W, U, V, y, a):
        h = a
        for t in range(x.shape[0]):
            h = np.tanh(x[t, 0, 0] * W[0, 0] + h * U[0, 0])
        return np.sum((h * V - y) ** 2)
    got = d.to_numpy()(**point)
    assert got["a"].shape == ()
    for n in ("W", "U", "V", "y", "a"):
        assert np.allclose(got[n], _fd(by_hand, point, n), rtol=1e-6, atol=1e-8), n


def test_generated_recurrent_programs_with_default_kinds():
    """Random recurrent programs without shapes (issue 14.6's neighbours): refused cleanly or right."""
    import random
    import sys
    import os
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from recurrent_gen import RecurrentGenerator, check_recurrent
    outcomes = []
    for k in range(12):
        program, _, _ = RecurrentGenerator(random.Random(1400 + k)).recurrent()
        outcome, detail = check_recurrent(program, None, seed=k)
        assert outcome in ("ok", "refused", "skipped"), (program, outcome, detail)
        outcomes.append(outcome)
    assert outcomes.count("ok") >= 3
