"""Random recurrent programs and an independent reference: the program unrolled as text.

``unroll(program, T)`` rewrites a recurrent program into plain statements of the core
language (``h[t]`` at step 3 becomes ``h__3``, ``sum_t(e)`` becomes ``(e@1) + (e@2) + …``),
which ``expr_eval`` (a separate interpreter) evaluates; central differences of that value
are the reference for matcalc's BPTT gradients.
"""
from __future__ import annotations

import re

import numpy as np

import matcalc
from matcalc.errors import MatcalcError, UnsupportedError
from program_gen import Generator, _value, reference_gradient

_INDEX = re.compile(r"\b([A-Za-z_]\w*)\[(t-1|t|T|0)\]")


def _at(text: str, t: int, T: int) -> str:
    def sub(m):
        name, at = m.group(1), m.group(2)
        k = {"t": t, "t-1": t - 1, "T": T, "0": 0}[at]
        return f"{name}__{k}"
    return _INDEX.sub(sub, text)


def _expand_sums(text: str, T: int) -> str:
    """sum_t(e) -> ((e at 1) + … + (e at T)), innermost first."""
    while "sum_t(" in text:
        i = text.index("sum_t(")
        depth, j = 0, i + len("sum_t")
        while True:
            if text[j] == "(":
                depth += 1
            elif text[j] == ")":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        body = text[i + len("sum_t("):j]
        text = text[:i] + "(" + " + ".join(f"({_at(body, t, T)})" for t in range(1, T + 1)) + ")" + text[j + 1:]
    return text


def unroll(program: str, T: int, zero_states: list[str]) -> str:
    """The program for a fixed T as plain statements; states without h[0] start from the
    variable ``h__0`` (the caller passes zeros)."""
    lines = [s.strip() for s in re.split(r"[;\n]", program) if s.strip()]
    out = []
    steps, inits, rest = [], {}, []
    for line in lines:
        m = re.match(r"^([A-Za-z_]\w*)\[(t|0)\]\s*=(.*)$", line)
        if m and m.group(2) == "t":
            steps.append((m.group(1), m.group(3)))
        elif m:
            inits[m.group(1)] = m.group(3)
        else:
            rest.append(line)
    statics, loss = rest[:-1], rest[-1]
    out += statics
    for name, expr in inits.items():
        out.append(f"{name}__0 = {expr}")
    for t in range(1, T + 1):
        for name, expr in steps:
            out.append(f"{name}__{t} = {_at(expr, t, T)}")
    lhs, _, rhs = loss.partition("=")
    out.append(f"f = {_at(_expand_sums(rhs, T), T, T)}")
    return "; ".join(out)


# ---------------------------------------------------------------- generator
class RecurrentGenerator(Generator):
    """States h (and sometimes C), per-step inputs x[t], losses over time and at T."""

    def __init__(self, rnd, max_depth: int = 3):
        super().__init__(rnd, max_depth)
        self.leaves: list = []
        self.named.update({n: None for n in ("x", "h", "C", "h0", "f")})   # names the template uses

    def variable(self, shape) -> str:
        same = [text for text, s in self.leaves if s == shape]
        if same and self.rnd.random() < 0.6:
            return self.rnd.choice(same)
        return super().variable(shape)

    def name(self, shape, depth) -> str:   # statements without time cannot use h[t]
        return self.matrix(shape, depth + 1) if shape != () else self.scalar(depth + 1)

    def recurrent(self) -> tuple[str, dict, list]:
        rnd = self.rnd
        B, D, H = rnd.choice([1, 2, 3]), rnd.choice([2, 3]), rnd.choice([2, 3])
        self.vars.update({"U": (D, H), "W": (H, H)})
        act = rnd.choice(["tanh", "sigmoid", "sin", "softplus"])
        lines = [f"h[t] = {act}(x[t]*U + h[t-1]*W + {self.variable((1, H)) if B > 1 else self.variable((B, H))})"]
        states = ["h"]
        if rnd.random() < 0.4:   # a second, coupled state
            lines.append("C[t] = C[t-1] .* sigmoid(h[t]*W) + tanh(h[t-1]*W)")
            states.append("C")
            self.leaves.append(("C[t]", (B, H)))
        initial = rnd.random() < 0.5
        if initial:
            lines.append("h[0] = h0")
        self.leaves += [("h[t]", (B, H)), ("x[t]", (B, D))]
        if rnd.random() < 0.5:
            self.leaves.append(("h[t-1]", (B, H)))
        loss = []
        for _ in range(rnd.randint(1, 2)):
            coef = rnd.choice(["", "2*", "0.5*", "-"])
            body = self.scalar(1)
            loss.append(f"{coef}sum_t({body})")
        self.leaves = [(t.replace("[t]", "[T]"), s) for t, s in self.leaves if t.endswith("[t]") and t != "x[t]"]
        if rnd.random() < 0.4:
            loss.append(self.scalar(2))
        statements = self.statements
        if "[t]" not in " ".join(loss) and "[T]" not in " ".join(loss):
            loss.append("sum_t(sum(h[t]))")
        program = "; ".join(statements + lines + ["f = " + " + ".join(loss)])
        extra = {"x": (B, D), **({"h0": (B, H)} if initial else {})}
        shapes = {n: s for n, s in {**self.vars, **extra}.items() if re.search(rf"\b{n}\b", program)}
        return program, shapes, states


def _rel(a, b) -> float:
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b), initial=0.0) / max(1.0, float(np.max(np.abs(b), initial=0.0))))


def check_recurrent(program: str, shapes: dict | None, seed: int = 0, T: int = 3, tolerance: float = 1e-6):
    """(outcome, detail) against the unrolled program's central differences.  ``shapes=None``:
    the default kinds (the names' first letters, symbolic sizes), which may refuse the program."""
    try:
        d = matcalc.derive(program, shapes=shapes)
    except UnsupportedError as err:
        return "refused", str(err)[:80]
    except MatcalcError as err:
        if shapes is None:   # the default kinds need not fit a program written for declared shapes
            return "refused", f"default kinds: {str(err)[:60]}"
        return "crash", f"{type(err).__name__}: {err}"
    except Exception as err:  # noqa: BLE001 - a generated program is well typed
        return "crash", f"{type(err).__name__}: {err}"
    rng = np.random.default_rng(seed)
    sizes: dict = {}

    def concrete(shape) -> tuple:
        return tuple(int(s) if s.is_Integer else sizes.setdefault(s, int(rng.integers(2, 4))) for s in shape)
    default_kinds = shapes is None
    if default_kinds:
        shapes = {n: concrete(v.shape) if hasattr(v, "shape") else () for n, v in d.variables.items()}
    point = {n: 0.5 * rng.standard_normal(((T,) if n == "x" else ()) + tuple(s)) if s else
             float(0.5 * rng.standard_normal()) for n, s in shapes.items()}
    env = {k: v for k, v in point.items() if k != "x"}
    for t in range(T):
        env[f"x__{t + 1}"] = point["x"][t]
    zero = [s for s in d.full_seq.states if s not in d.full_seq.inits]
    for s in zero:
        prev = d.full_program.variables[d.prev[s]]
        env[f"{s}__0"] = np.zeros(concrete(prev.shape))
    text = unroll(program, T, zero)
    try:
        got = d.to_numpy()(**point)
    except Exception as err:  # noqa: BLE001
        return "crash", f"{type(err).__name__}: {err}"

    try:
        f0 = _value(text, env)
    except ValueError as err:   # 1×1 values are scalars to the reference (tr of a 1×1 matrix)
        if not default_kinds:
            raise
        return "skipped", f"reference: {err}"
    if not np.isfinite(f0):
        return "skipped", "value not finite"
    noise = 1e-15 * abs(f0) / 1e-4   # the differences' own rounding error
    for name in d.wrt:
        keys = [name] if name != "x" else [f"x__{t + 1}" for t in range(T)]
        fd = [reference_gradient(text, env, key, 1e-4) for key in keys]
        if any(g is None for g in fd):
            return "skipped", "differences not finite"
        ref = fd[0] if name != "x" else np.stack(fd)
        err = _rel(np.asarray(got[name], dtype=float).reshape(ref.shape), ref)
        if err > tolerance + noise:
            return "wrong", f"{name}: off by {err:.1e}"
    return "ok", ""
