"""The page's examples menu: the seed notes' models and the built-in recurrent ones."""
from __future__ import annotations

from ..recurrent.models import template


def _example(id, title, expr, dims=None, wrt=None, method="backprop", order=1, layout=None, sum_to_one=()):
    return {"id": id, "title": title, "expr": expr, "dims": {k: list(v) for k, v in (dims or {}).items()},
            "wrt": wrt, "method": method, "order": order, "layout": layout, "sum_to_one": list(sum_to_one)}


_TWO_LAYER = {"X": ("n", "d"), "W1": ("d", "h"), "b1": (1, "h"), "W2": ("h", "k"), "b2": (1, "k"), "Y": ("n", "k")}


def _recurrent(model: str, loss: str) -> dict:
    expr, shapes, labels = template(model, loss, "zeros")
    return _example(f"{model}-{loss}", f"{model.upper()}, {'cross-entropy' if loss == 'xent' else 'squared'} loss "
                    "(BPTT)", expr, shapes, sum_to_one=labels)


EXAMPLES = [
    _example("least-squares", "least squares", "norm2(X*w - y)^2", wrt=["w"]),
    _example("seed-000-linear", "seed 000: linear layer under an upstream gradient", "u'*W*x", wrt=["W", "x"]),
    _example("seed-000-mlp", "seed 000: two sigmoid layers, column convention",
             "0.5*norm2(sigmoid(W2*sigmoid(W1*x + b1) + b2) - y)^2",
             {"x": ("d", 1), "W1": ("h", "d"), "b1": ("h", 1), "W2": ("k", "h"), "b2": ("k", 1), "y": ("k", 1)},
             wrt=["W1", "b1", "W2", "b2"]),
    _example("seed-001-relu", "seed 001: MSE of a ReLU neuron, scalar bias", "sum((y - relu(X*w + b)).^2)/n",
             {"X": ("m", "d"), "w": ("d", 1), "b": (), "y": ("m", 1), "n": ()}, wrt=["w", "b"]),
    _example("seed-001-hadamard", "seed 001: Jacobian of w ⊙ x", "w .* x", wrt=["w", "x"], layout="numerator",
             method="jacobian"),
    _example("seed-002-softmax-ce", "seed 002: row sample, sigmoid layer, softmax cross-entropy",
             "-sum(l .* log(softmax(sigmoid(a*W1 + b1)*W2 + b2)))",
             {"a": (1, "d"), "W1": ("d", "h"), "b1": (1, "h"), "W2": ("h", "k"), "b2": (1, "k"), "l": (1, "k")},
             wrt=["W1", "b1", "W2", "b2"], sum_to_one=["l"]),
    _example("seed-003-softmax-regression", "seed 003: softmax regression over a batch",
             "-sum(Y .* log(softmax(X*W)))", {"X": ("n", "d"), "W": ("d", "k"), "Y": ("n", "k")}, wrt=["W"],
             sum_to_one=["Y"]),
    _example("seed-003-softmax-jacobian", "seed 003: the softmax Jacobian", "softmax(z)", {"z": (1, "n")},
             wrt=["z"], layout="numerator", method="jacobian"),
    _example("seed-004", "seed 004: two-layer sigmoid network on a batch",
             "h = X*W1 + b1\nh_sigmoid = sigmoid(h)\nY_pred = h_sigmoid*W2 + b2\nf = norm2(Y - Y_pred)^2",
             _TWO_LAYER, wrt=["W1", "b1", "W2", "b2"], method="trace"),
    _example("logistic-hessian", "Hessian of logistic regression", "sum(softplus(X*w)) - y'*X*w", wrt=["w"],
             order=2),
    _recurrent("rnn", "squared"),
    _recurrent("lstm", "xent"),
    _recurrent("gru", "squared"),
]
