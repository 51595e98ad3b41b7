"""Random well-typed programs over the whole contract language, for property tests.

``generate(rnd)`` takes a ``random.Random``-like object (Hypothesis' ``st.randoms()`` in the
tests, seeded ``random.Random`` in ``tests/long_run.py``) and returns ``(program, shapes)``.
Arguments of log/sqrt, divisors and the matrices of inv/det/logdet are positive or SPD by
construction, so the functions are evaluated inside their domains; relu/abs kinks are
detected by the checker (finite differences at two step sizes), not avoided here.

``check_program`` runs one program through matcalc and compares with an independent
reference: central differences of ``expr_eval`` (a separate NumPy interpreter of the
language) and the JSON ``result`` strings evaluated by the same interpreter.
"""
from __future__ import annotations

import numpy as np

import matcalc
from matcalc.errors import MatcalcError, UnsupportedError
from expr_eval import evaluate

SMOOTH = ["exp", "sin", "cos", "tanh", "sigmoid", "softplus"]
KINKED = ["relu", "abs"]
SIZES = [1, 2, 3, 4]


class Generator:
    def __init__(self, rnd, max_depth: int = 4):
        self.rnd = rnd
        self.max_depth = max_depth
        self.vars: dict[str, tuple] = {}
        self.named: dict[str, tuple] = {}
        self.statements: list[str] = []
        self.counter = 0
        self.seen: dict[tuple, list] = {}   # shape -> expressions generated so far

    # ---------------------------------------------------------- names
    def variable(self, shape) -> str:
        same = [n for n, s in self.vars.items() if s == shape]
        if same and self.rnd.random() < 0.5:
            return self.rnd.choice(same)
        if shape == ():
            pool = "abcdeg"
        elif shape[1] == 1:
            pool = "pqruvwxyz"
        else:
            pool = "ABCDEFGHKLMNPQRSUVWXYZ"
        base = self.rnd.choice(pool)
        name = base
        k = 1
        while name in self.vars or name in self.named:
            k += 1
            name = f"{base}{k}"
        self.vars[name] = shape
        return name

    def size(self) -> int:
        return self.rnd.choice(SIZES)

    # ---------------------------------------------------------- values
    def matrix(self, shape, depth: int) -> str:
        """An expression of ``shape`` (rows, cols); (1, 1) is avoided by the callers.  Now and
        then an earlier expression of the shape again, verbatim, negated or scaled: values equal
        in structure but not by name (the generated code shares them)."""
        earlier = self.seen.setdefault(shape, [])
        if earlier and self.rnd.random() < 0.08:
            return self.rnd.choice(["({})", "-({})", "2 * ({})", "({}) / 2"]).format(self.rnd.choice(earlier))
        text = self.fresh_matrix(shape, depth)
        if not text.isidentifier():
            earlier.append(text)
        return text

    def fresh_matrix(self, shape, depth: int) -> str:
        r = self.rnd.random()
        if depth >= self.max_depth or r < 0.15:
            return self.variable(shape)
        m, n = shape
        choice = self.rnd.choice([
            "add", "sub", "hadamard", "divide", "scale", "matmul", "transpose", "smooth", "kinked", "log",
            "sqrt", "square", "power", "softmax", "logsoftmax", "broadcast", "diag", "inv", "named", "neg",
            "scalar_div", "diag_of", "varying_power"])
        sub = lambda s=shape: self.matrix(s, depth + 1)  # noqa: E731
        if choice == "add":
            return f"{sub()} + {sub()}"
        if choice == "sub":
            return f"{sub()} - ({sub()})"
        if choice == "neg":
            return f"-({sub()})"
        if choice == "hadamard":
            return f"({sub()}) .* ({sub()})"
        if choice == "divide":
            return f"({sub()}) ./ ({self.positive(shape, depth + 1)})"
        if choice == "scale":
            return f"{self.scalar(depth + 1)} * ({sub()})"
        if choice == "scalar_div":
            return f"({sub()}) / ({self.positive_scalar(depth + 1)})"
        if choice == "matmul":
            k = self.size()
            left = self.matrix((m, k), depth + 1) if (m, k) != (1, 1) else self.scalar(depth + 1)
            right = self.matrix((k, n), depth + 1) if (k, n) != (1, 1) else self.scalar(depth + 1)
            return f"({left}) * ({right})"
        if choice == "transpose":
            return f"({self.matrix((n, m), depth + 1)})'"
        if choice == "smooth":
            return f"{self.rnd.choice(SMOOTH)}({sub()})"
        if choice == "kinked":
            return f"{self.rnd.choice(KINKED)}({sub()})"
        if choice == "log":
            return f"log({self.positive(shape, depth + 1)})"
        if choice == "sqrt":
            return f"sqrt({self.positive(shape, depth + 1)})"
        if choice == "square":
            return f"({sub()}) .^ 2"
        if choice == "power":
            return f"({self.positive(shape, depth + 1)}) .^ {self.rnd.choice(['0.5', '-1', '3', '1.5'])}"
        if choice == "softmax":
            return f"softmax({sub()})"
        if choice == "logsoftmax":
            return f"logsoftmax({sub()})"
        if choice == "broadcast":   # a row, a column or a scalar added to a matrix
            kind = self.rnd.choice(["row", "col", "scalar"])
            if kind == "row" and m > 1 and n > 1:
                return f"{sub()} + {self.variable((1, n))}"
            if kind == "col" and m > 1 and n > 1:
                return f"{sub()} + {self.variable((m, 1))}"
            return f"{sub()} + {self.scalar(depth + 1)}"
        if choice == "diag" and m == n and m > 1:
            return f"diag({self.matrix((m, 1), depth + 1)})"
        if choice == "inv" and m == n and m > 1:
            return f"inv({self.spd(m, depth + 1)})"
        if choice == "diag_of" and n == 1 and m > 1:
            return f"diag({self.matrix((m, m), depth + 1)})"
        if choice == "varying_power":
            return f"({self.positive(shape, depth + 1)}) .^ ({self.scalar(depth + 1)})"
        if choice == "named":
            return self.name(shape, depth)
        return self.variable(shape)

    def name(self, shape, depth) -> str:
        same = [n for n, s in self.named.items() if s == shape]
        if same and self.rnd.random() < 0.5:   # a name used twice
            return self.rnd.choice(same)
        name = None
        while name is None or name in self.vars:   # a variable may already be called H2
            self.counter += 1
            name = f"H{self.counter}" if shape != () and shape[1] != 1 else f"z{self.counter}"
        value = self.matrix(shape, depth + 1) if shape != () else self.scalar(depth + 1)
        self.statements.append(f"{name} = {value}")
        self.named[name] = shape
        return name

    def positive(self, shape, depth) -> str:
        inner = self.matrix(shape, depth + 1)
        form = self.rnd.choice(["exp({})", "sigmoid({})", "({0}) .* ({0}) + 1", "softplus({}) + 0.5"])
        return form.format(inner)

    def positive_scalar(self, depth) -> str:
        inner = self.scalar(depth + 1)
        return self.rnd.choice(["exp({})", "({0})^2 + 1", "sigmoid({})"]).format(inner)

    def spd(self, m, depth) -> str:
        k = self.size()
        X = self.matrix((k, m), depth + 1) if (k, m) != (1, 1) else self.variable((k, m))
        return f"({X})' * ({X}) + eye({m})"

    def vector_or_matrix_shape(self):
        while True:
            shape = (self.size(), self.size())
            if shape != (1, 1):
                return shape

    def scalar(self, depth: int) -> str:
        r = self.rnd.random()
        if depth >= self.max_depth or r < 0.15:
            if self.rnd.random() < 0.6:
                return self.variable(())
            return self.rnd.choice(["2", "3", "0.5", "1.5", ".5", "1e-1", "2.5E+0"])
        choice = self.rnd.choice(["sum", "norm", "norm2sq", "trace", "quad", "fn", "mul", "add", "pow",
                                  "logdet", "det", "div", "named"])
        if choice == "sum":
            return f"sum({self.matrix(self.vector_or_matrix_shape(), depth + 1)})"
        if choice == "norm":
            return f"norm2({self.matrix(self.vector_or_matrix_shape(), depth + 1)})"
        if choice == "norm2sq":
            return f"norm2({self.matrix(self.vector_or_matrix_shape(), depth + 1)})^2"
        if choice == "trace":
            m = self.rnd.choice([2, 3, 4])
            return f"tr({self.matrix((m, m), depth + 1)})"
        if choice == "quad":
            k = self.rnd.choice([2, 3, 4])
            return f"({self.matrix((k, 1), depth + 1)})' * ({self.matrix((k, 1), depth + 1)})"
        if choice == "fn":
            return f"{self.rnd.choice(SMOOTH)}({self.scalar(depth + 1)})"
        if choice == "mul":
            return f"({self.scalar(depth + 1)}) * ({self.scalar(depth + 1)})"
        if choice == "add":
            return f"{self.scalar(depth + 1)} - {self.scalar(depth + 1)}"
        if choice == "pow":
            if self.rnd.random() < 0.5:
                return f"({self.positive_scalar(depth + 1)})^({self.scalar(depth + 1)})"
            return f"({self.scalar(depth + 1)})^2"
        if choice == "logdet":
            return f"logdet({self.spd(self.rnd.choice([2, 3]), depth + 1)})"
        if choice == "det":
            return f"det({self.spd(self.rnd.choice([2, 3]), depth + 1)})"
        if choice == "div":
            return f"({self.scalar(depth + 1)}) / ({self.positive_scalar(depth + 1)})"
        return self.name((), depth)

    def program(self) -> tuple[str, dict]:
        f = self.scalar(0)
        if not self.vars:
            f = f"{f} + sum({self.variable(self.vector_or_matrix_shape())})"
        program = "; ".join(self.statements + [f"f = {f}"])
        return program, dict(self.vars)


def generate(rnd, max_depth: int = 4) -> tuple[str, dict]:
    return Generator(rnd, max_depth).program()


# ---------------------------------------------------------------- the property
def point_for(shapes: dict, rng) -> dict:
    return {n: (0.6 * rng.standard_normal(s) if s else float(0.6 * rng.standard_normal()))
            for n, s in shapes.items()}


def _value(program, arrays):
    with np.errstate(all="ignore"):
        return float(evaluate(program, arrays))


def reference_gradient(program, point, name, h):
    """Central differences (4th order) of the independent interpreter; None if not finite."""
    x0 = np.asarray(point[name], dtype=float)
    g = np.zeros(x0.shape)
    for idx in np.ndindex(*x0.shape) if x0.shape else [()]:
        acc = 0.0
        for k, c in ((-2, 1 / 12), (-1, -8 / 12), (1, 8 / 12), (2, -1 / 12)):
            x = x0.copy()
            x[idx] += k * h
            acc += c * _value(program, {**point, name: x if x0.shape else float(x)})
        g[idx] = acc / h
    return g if np.all(np.isfinite(g)) else None


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a - b), initial=0.0) / max(1.0, float(np.max(np.abs(b), initial=0.0))))


def check_program(program: str, shapes: dict, seed: int = 0, tolerance: float = 1e-6) -> tuple[str, str]:
    """(outcome, detail): outcome is ok | refused | skipped | wrong | crash."""
    try:
        d = matcalc.derive(program, shapes=shapes)
    except UnsupportedError as err:
        return "refused", str(err).split(" (at")[0][:80]
    except MatcalcError as err:
        return "crash", f"{type(err).__name__}: {err}"
    except Exception as err:  # noqa: BLE001 - the property: nothing else escapes
        return "crash", f"{type(err).__name__}: {err}"
    rng = np.random.default_rng(seed)
    point = point_for(shapes, rng)
    f0 = _value(program, point)
    if not np.isfinite(f0) or abs(f0) > 1e8:
        return "skipped", "value not finite or huge at the random point"
    before = {k: np.copy(v) for k, v in point.items()}
    try:
        got = d.to_numpy()(**point)
        data = d.to_json()
    except Exception as err:  # noqa: BLE001
        return "crash", f"{type(err).__name__}: {err}"
    for k, v in before.items():   # in-place updates must never touch an argument
        if not np.array_equal(v, point[k], equal_nan=True):
            return "wrong", f"the generated code modified its argument {k}"
    for name in d.wrt:
        try:
            fd1 = reference_gradient(program, point, name, 1e-4)
            fd2 = reference_gradient(program, point, name, 1e-3)
        except ValueError:   # a difference step left the domain (logdet of det <= 0)
            return "skipped", "the reference is undefined near the point"
        if fd1 is None or fd2 is None or _rel(fd1, fd2) > 1e-5:
            return "skipped", "not smooth at the point (kink or ill-conditioned)"
        with np.errstate(all="ignore"):
            mine = np.asarray(got[name], dtype=float).reshape(np.shape(fd1))
        noise = 1e-15 * abs(f0) / 1e-4   # the differences' own rounding error, relative to max(1, |g|)
        if _rel(mine, fd1) > tolerance + noise:
            return "wrong", f"{name}: generated code off by {_rel(mine, fd1):.1e}"
        try:
            text = data["wrt"][name]["result"]
            back = np.asarray(evaluate(f"g = {text}", point), dtype=float)
        except Exception as err:  # noqa: BLE001
            return "wrong", f"{name}: result {data['wrt'][name]['result']!r} does not evaluate: {err}"
        if back.shape != np.shape(fd1):
            back = back.reshape(np.shape(fd1)) if back.size == np.size(fd1) else back
        if _rel(back, fd1) > tolerance + noise:
            return "wrong", f"{name}: JSON result off by {_rel(back, fd1):.1e}: {text[:80]}"
    return "ok", ""
