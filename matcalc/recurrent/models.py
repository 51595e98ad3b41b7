"""Built-in recurrent models (``matcalc derive --model rnn|lstm|gru``), written in the language.

Each template is an ordinary recurrent program: the engine derives it like any
user-written one.  Row convention (one sample per row), as in seed 003:
x[t] is B×D, h[t] is B×H, the per-step scores s[t] = h[t]V + c are B×K.
"""
from __future__ import annotations

from ..errors import MatcalcError

_STEPS = {
    "rnn": """h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b)""",
    "lstm": """f[t] = sigmoid(h[t-1]*Wf + x[t]*Uf + bf)
i[t] = sigmoid(h[t-1]*Wi + x[t]*Ui + bi)
a[t] = tanh(h[t-1]*Wa + x[t]*Ua + ba)
o[t] = sigmoid(h[t-1]*Wo + x[t]*Uo + bo)
C[t] = C[t-1] .* f[t] + i[t] .* a[t]
h[t] = o[t] .* tanh(C[t])""",
    "gru": """z[t] = sigmoid(x[t]*Uz + h[t-1]*Wz + bz)
r[t] = sigmoid(x[t]*Ur + h[t-1]*Wr + br)
n[t] = tanh(x[t]*Un + (r[t] .* h[t-1])*Wn + bn)
h[t] = (1 - z[t]) .* n[t] + z[t] .* h[t-1]""",
}
_STATES = {"rnn": ["h"], "lstm": ["h", "C"], "gru": ["h"]}
_LOSSES = {
    "squared": "f = sum_t(norm2(s[t] - y[t])^2)",
    "xent": "f = sum_t(-sum(y[t] .* logsoftmax(s[t])))",
}
MODELS = tuple(_STEPS)
LOSSES = tuple(_LOSSES)
INITIAL = ("zeros", "param")


def template(model: str, loss: str = "squared", initial: str = "zeros") -> tuple[str, dict, list]:
    """(program, shapes, sum_to_one) of a built-in model."""
    if model not in _STEPS:
        raise MatcalcError(f"unknown model {model!r}: choose one of {', '.join(MODELS)}")
    if loss not in _LOSSES:
        raise MatcalcError(f"unknown loss {loss!r}: choose one of {', '.join(LOSSES)}")
    if initial not in INITIAL:
        raise MatcalcError(f"unknown initial state {initial!r}: choose zeros or param")
    lines = [_STEPS[model], "s[t] = h[t]*V + c"]
    shapes = {"x": ("B", "D"), "y": ("B", "K"), "V": ("H", "K"), "c": (1, "K")}
    for word in _STEPS[model].replace("(", " ").replace(")", " ").replace("*", " ").replace("+", " ").split():
        if word[:1] == "W" and len(word) <= 3:
            shapes[word] = ("H", "H")
        elif word[:1] in "U" and len(word) <= 3:
            shapes[word] = ("D", "H")
        elif word[:1] == "b" and len(word) <= 3:
            shapes[word] = (1, "H")
    if model == "rnn":
        shapes["Wx"] = ("D", "H")
    if initial == "param":
        for s in _STATES[model]:
            lines.append(f"{s}[0] = {s}0")
            shapes[f"{s}0"] = ("B", "H")
    lines.append(_LOSSES[loss])
    return "\n".join(lines), shapes, (["y"] if loss == "xent" else [])
