"""A small, independent NumPy interpreter of the contract language.

It exists only to check the test data: every problem's hand-written ``ref`` must agree
with what its ``expr`` means under the contract (precedence, broadcasting, 1x1 values
as scalars, softmax over a vector's entries or a matrix's rows, ...).  It shares no
code with matcalc.

    evaluate("H = tanh(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2", arrays) -> value
"""
import re

import numpy as np

_TOKEN = re.compile(r"""\s*(?:
    (?P<num>(?:\d+\.\d+|\.\d+|\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z_0-9]*)
  | (?P<op>\.\*|\./|\.\^|[-+*/^'(),])
)""", re.VERBOSE)

_ASSIGN = re.compile(r"^\s*([A-Za-z_][A-Za-z_0-9]*)\s*=(.*)$", re.DOTALL)


def _scalarize(v):
    """Scalars (and 1x1 values) become 0-d float arrays; everything else stays 2-D."""
    v = np.asarray(v, dtype=np.float64)
    if v.ndim == 0 or v.size == 1 and v.ndim == 2 and v.shape == (1, 1):
        return np.asarray(float(v.reshape(())))
    if v.ndim != 2:
        raise ValueError(f"value of shape {v.shape} is not 2-D")
    return v


def _is_scalar(v):
    return np.ndim(v) == 0


def _over_all_entries(v):
    return _is_scalar(v) or v.shape[0] == 1 or v.shape[1] == 1


def _logsoftmax(v):
    axis = None if _over_all_entries(v) else 1
    z = v - np.max(v, axis=axis, keepdims=True)
    return z - np.log(np.sum(np.exp(z), axis=axis, keepdims=True))


def _diag(v):
    if _is_scalar(v):
        return v
    if v.shape[0] == 1 or v.shape[1] == 1:
        return np.diag(v.reshape(-1))
    if v.shape[0] != v.shape[1]:
        raise ValueError("diag of a non-square matrix")
    return np.diag(v).reshape(-1, 1).copy()


def _square(name, v):
    if _is_scalar(v) or v.shape[0] != v.shape[1]:
        raise ValueError(f"{name} of a non-square value {np.shape(v)}")
    return v


def _logdet(v):
    det = np.linalg.det(_square("logdet", v))
    if not det > 0:
        raise ValueError("logdet of a matrix with det <= 0")
    return np.log(det)


FUNCTIONS = {
    "exp": np.exp, "log": np.log, "sin": np.sin, "cos": np.cos, "tanh": np.tanh,
    "sigmoid": lambda v: 1.0 / (1.0 + np.exp(-v)),
    "relu": lambda v: np.maximum(v, 0.0),
    "softplus": lambda v: np.logaddexp(0.0, v),
    "sqrt": np.sqrt, "abs": np.abs,
    "step": lambda v: np.heaviside(v, 0.0), "sign": np.sign,   # matcalc's extensions (relu', abs')
    "sum": np.sum,
    "tr": lambda v: np.trace(_square("tr", v)),
    "det": lambda v: np.linalg.det(_square("det", v)),
    "logdet": _logdet,
    "inv": lambda v: np.linalg.inv(_square("inv", v)),
    "norm2": lambda v: np.sqrt(np.sum(v * v)),
    "softmax": lambda v: np.exp(_logsoftmax(v)),
    "logsoftmax": _logsoftmax,
    "diag": _diag,
}


def _matmul(a, b):
    if _is_scalar(a) or _is_scalar(b):
        return a * b
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"shape mismatch in *: {a.shape} * {b.shape}")
    return a @ b


def _elementwise(op):
    def apply(a, b):
        try:
            np.broadcast_shapes(np.shape(a), np.shape(b))
        except ValueError:
            raise ValueError(f"shape mismatch: {np.shape(a)} vs {np.shape(b)}") from None
        return op(a, b)
    return apply


def _divide(a, b):
    if not _is_scalar(b):
        raise ValueError("'/' needs a scalar divisor")
    return a / b


def _power(a, b):
    if not (_is_scalar(a) and _is_scalar(b)):
        raise ValueError("'^' is the power of a scalar")
    return a ** b


def _hadamard_power(a, b):
    if not _is_scalar(b):
        raise ValueError("'.^' needs a scalar exponent")
    return np.power(a, b)


_ADDITIVE = {"+": _elementwise(np.add), "-": _elementwise(np.subtract)}
_MULTIPLICATIVE = {"*": _matmul, ".*": _elementwise(np.multiply),
                   "./": _elementwise(np.divide), "/": _divide}
_POWER = {"^": _power, ".^": _hadamard_power}


class _Parser:
    def __init__(self, text, env):
        self.toks = []
        pos = 0
        text = text.rstrip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise SyntaxError(f"bad character at {pos}: {text[pos:pos + 10]!r}")
            kind = m.lastgroup
            self.toks.append((kind, m.group(kind)))
            pos = m.end()
        self.i = 0
        self.env = env

    def peek(self):
        return self.toks[self.i][1] if self.i < len(self.toks) else None

    def take(self, expected=None):
        tok = self.toks[self.i]
        if expected is not None and tok[1] != expected:
            raise SyntaxError(f"expected {expected!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self):
        v = self.additive()
        if self.i != len(self.toks):
            raise SyntaxError(f"unexpected {self.peek()!r}")
        return v

    def additive(self):                     # + -   (left-associative, loosest)
        v = self.multiplicative()
        while self.peek() in _ADDITIVE:
            op = self.take()[1]
            v = _scalarize(_ADDITIVE[op](v, self.multiplicative()))
        return v

    def multiplicative(self):               # * .* ./ /   (left-associative)
        v = self.unary()
        while self.peek() in _MULTIPLICATIVE:
            op = self.take()[1]
            v = _scalarize(_MULTIPLICATIVE[op](v, self.unary()))
        return v

    def unary(self):                        # -x  (looser than ^, tighter than *)
        if self.peek() == "-":
            self.take()
            return _scalarize(-self.unary())
        if self.peek() == "+":
            self.take()
            return self.unary()
        return self.power()

    def power(self):                        # ^ .^  (right-associative)
        base = self.postfix()
        if self.peek() in _POWER:
            op = self.take()[1]
            return _scalarize(_POWER[op](base, self.unary()))
        return base

    def postfix(self):                      # A'  (tightest)
        v = self.primary()
        while self.peek() == "'":
            self.take()
            v = v if _is_scalar(v) else v.T.copy()
        return v

    def primary(self):
        kind, text = self.take()
        if kind == "num":
            return np.asarray(float(text))
        if text == "(":
            v = self.additive()
            self.take(")")
            return v
        if kind == "name":
            if self.peek() == "(" and text in ("ones", "eye"):   # the printed results' constructors
                self.take("(")
                sizes = [int(self.additive())]
                while self.peek() == ",":
                    self.take(",")
                    sizes.append(int(self.additive()))
                self.take(")")
                return _scalarize(np.ones(tuple(sizes)) if text == "ones" else np.eye(sizes[0]))
            if self.peek() == "(" and text in FUNCTIONS:
                self.take("(")
                arg = self.additive()
                self.take(")")
                return _scalarize(FUNCTIONS[text](arg))
            if text not in self.env:
                raise NameError(f"unknown variable {text!r}")
            return self.env[text]
        raise SyntaxError(f"unexpected {text!r}")


def statements(program):
    """[(name or None, expression text)] of a program (';' or newline separated)."""
    out = []
    for part in re.split(r"[;\n]", program):
        if not part.strip():
            continue
        m = _ASSIGN.match(part)
        out.append((m.group(1), m.group(2)) if m else (None, part))
    return out


def evaluate(program, arrays):
    """Value of the program: the statement named f if there is one, else the last."""
    env = {k: _scalarize(v) for k, v in arrays.items()}
    last = None
    for name, text in statements(program):
        last = _Parser(text, env).parse()
        if name is not None:
            env[name] = last
    return env["f"] if any(n == "f" for n, _ in statements(program)) else last
