"""Generated code stays finite and right at large arguments where the simplified result cancels
what the chain rule wrote (found by a hostile review of the textbook-form simplifier)."""
import numpy as np
import pytest

import matcalc

CASES = [   # program, shapes, variable, arguments, exact gradient's first entry
    ("sum(log(1 + exp(-y .* (X*w))))", {"X": (2, 2), "w": (2, 1), "y": (2, 1)}, "w",
     dict(X=np.eye(2), w=np.array([[-40.0], [0.5]]), y=np.array([[1.0], [0.5]])), -1.0),
    ("sum(exp(x) ./ (1 + exp(x)))", {"x": (2, 1)}, "x", dict(x=np.array([[400.0], [0.5]])), 0.0),
    ("sum((exp(x) - exp(-x)) ./ (exp(x) + exp(-x)))", {"x": (2, 1)}, "x",
     dict(x=np.array([[400.0], [0.5]])), 0.0),
    ("sum(log(exp(x) + exp(-x)))", {"x": (2, 1)}, "x", dict(x=np.array([[400.0], [0.5]])), 1.0),
    ("sum(log(1 + exp(x))) - y'*x", {"x": (2, 1), "y": (2, 1)}, "x",
     dict(x=np.array([[50.0], [0.5]]), y=np.zeros((2, 1))), 1.0),
    ("-sum(y .* log(sigmoid(x)) + (1 - y) .* log(sigmoid(-x)))", {"x": (2, 1), "y": (2, 1)}, "x",
     dict(x=np.array([[50.0], [0.5]]), y=np.zeros((2, 1))), 1.0),
]


@pytest.mark.parametrize("expr, shapes, name, arrays, exact", CASES)
def test_cancelled_forms_are_computed_simplified(expr, shapes, name, arrays, exact):
    d = matcalc.derive(expr, wrt=[name], shapes=shapes)
    got = d.to_numpy()(**arrays)[name]
    assert np.all(np.isfinite(got)) and abs(got[0, 0] - exact) <= 1e-12
    # and the rest of the gradient is right (moderate entry): central differences
    assert d.check().passed


def test_networks_keep_their_delta_code():
    """Rearranged signs are no cancellation: an MLP's gradient is still written delta by delta."""
    d = matcalc.derive("H = sigmoid(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2", shapes={})
    assert "d_" in d.numpy_source()


def test_high_powers_do_not_stall_the_simplifier():
    # it took minutes (cancel/factor of a degree-37 rational); the time limit turns a stall into an error
    d = matcalc.derive("sum((exp(x)+1).^20 ./ (exp(x)-1+exp(-x)).^17)", wrt=["x"], shapes={"x": (3, 1)},
                       timeout=30)
    assert d.check().passed
