"""Numerical verification: random points inside the domain, central finite differences."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sympy import Determinant, Inverse, Pow
from sympy.matrices.expressions import HadamardPower

from . import rules
from .codegen import NumpyCodegen, compile_source
from .engine import _LEAVES, topological
from .errors import DomainError
from .ir import Elementwise, LogDet, ScalarFunction, is_matrix

TOLERANCE = 1e-6
_STENCIL = ((-2, 1.0 / 12), (-1, -8.0 / 12), (1, 8.0 / 12), (2, -1.0 / 12))
_SIZE_CHOICES = (3, 4, 5, 2, 6, 7)
MAX_ENTRIES_PER_VARIABLE = 300
MAX_ENTRIES_TO_EVALUATE = 4_000_000


@dataclass
class CheckResult:
    """Outcome of comparing derived results with central finite differences."""

    max_rel_error: float
    passed: bool
    errors: dict = field(default_factory=dict)   # name -> rel error
    tolerance: float = TOLERANCE
    note: str = ""

    def to_dict(self) -> dict:
        return {"max_rel_error": float(self.max_rel_error), "passed": bool(self.passed)}

    def __str__(self) -> str:
        status = "passed" if self.passed else "FAILED"
        per = ", ".join(f"{k}: {v:.1e}" for k, v in self.errors.items())
        return f"check {status}: max relative error {self.max_rel_error:.2e} (tolerance {self.tolerance:g}; {per})"


def entry_derivative(f, x0, idx, rel_step: float):
    """∂f/∂x0[idx] by the 4th-order central stencil, step rel_step·max(1, |x0[idx]|); ``f`` takes
    the perturbed x (a float for a scalar) and returns a number or an array."""
    h = rel_step * max(1.0, abs(float(x0[idx])))
    acc = 0.0
    for k, c in _STENCIL:
        xk = x0.copy()
        xk[idx] += k * h
        acc = acc + c * np.asarray(f(xk if x0.shape else float(xk)), dtype=float)
    return acc / h


def rel_error(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not np.all(np.isfinite(a)):
        return float("inf")
    return float(np.max(np.abs(a - b), initial=0.0) / max(1.0, float(np.max(np.abs(b), initial=0.0))))


class DomainSampler:
    """Random points where every function of the program is defined and smooth."""

    def __init__(self, program, sum_to_one=(), seed: int = 0):
        self.program = program
        self.rng = np.random.default_rng(seed)
        self.sum_to_one = set(sum_to_one)
        self.positive: set[str] = set()
        self.spd: set[str] = set()
        conditions = {}
        for node in topological(program.output):
            if isinstance(node, (Elementwise, ScalarFunction)):
                fn = rules.FUNCTIONS[node.name]
                if fn.domain in ("positive", "nonzero"):
                    self._mark(node.arg, self.positive)
                    conditions[f"pos{len(conditions)}"] = node.arg
                if fn.domain == "unit":   # arcsin, arccos (and tan, away from its poles): |u| < 1
                    conditions[f"unit{len(conditions)}"] = node.arg
                if fn.kinks:
                    conditions[f"kink{len(conditions)}"] = node.arg
            elif isinstance(node, (LogDet, Determinant, Inverse)):
                self._mark(node.arg, self.spd)
                if isinstance(node, LogDet):
                    conditions[f"det{len(conditions)}"] = Determinant(node.arg)
            elif isinstance(node, (HadamardPower, Pow)) and not (node.exp.is_Integer and node.exp > 0):
                self._mark(node.base, self.positive)
                conditions[f"pos{len(conditions)}"] = node.base
        self.conditions = conditions
        self.sizes = {s: _SIZE_CHOICES[i % len(_SIZE_CHOICES)] for i, s in enumerate(program.size_symbols)}
        self._probe = None
        if conditions:
            src = NumpyCodegen(program.variables, conditions, "conditions").source()
            self._probe = compile_source(src, "conditions")

    def _mark(self, expr, bucket):
        for node in topological(expr):
            if isinstance(node, _LEAVES) and getattr(node, "name", None) in self.program.variables:
                bucket.add(node.name)

    def _shape(self, v):
        return tuple(int(self.sizes.get(d, d)) for d in v.shape) if is_matrix(v) else ()

    def draw(self) -> dict:
        out = {}
        for name, v in self.program.variables.items():
            shape = self._shape(v)
            if shape and shape[0] * shape[1] > MAX_ENTRIES_TO_EVALUATE:
                from .errors import LimitError
                raise LimitError(f"{name} has {shape[0]}×{shape[1]} entries, too many to evaluate numerically; "
                                 "declare symbolic sizes (--dim X=n,d) for the check")
            if name in self.sum_to_one and shape:
                z = np.exp(self.rng.standard_normal(shape))
                axis = None if 1 in shape else 1
                out[name] = z / z.sum(axis=axis, keepdims=True)
            elif name in self.spd and shape and shape[0] == shape[1]:
                # positive definite plus antisymmetric: det > 0, invertible, and not symmetric, so a
                # transpose error in a gradient of det/inv/logdet shows
                n = shape[0]
                r, k = self.rng.standard_normal((n, n)), self.rng.standard_normal((n, n))
                out[name] = r @ r.T / n + np.eye(n) + 0.5 * (k - k.T) / np.sqrt(n)
            elif name in self.positive:
                out[name] = self.rng.uniform(0.5, 2.0, shape) if shape else float(self.rng.uniform(0.5, 2.0))
            else:
                out[name] = self.rng.standard_normal(shape) if shape else float(self.rng.standard_normal())
        structure = getattr(self.program, "structure", None)
        if structure:   # declared symmetric / spd / diagonal variables: points in their space
            from .structure import draw_structured
            for name, kind in structure.items():
                out[name] = draw_structured(self, name, kind, np.shape(out[name]))
        return out

    def valid(self, point) -> bool:
        if self._probe is None:
            return True
        with np.errstate(all="ignore"):
            values = self._probe(**point)
        for key, val in values.items():
            val = np.asarray(val, dtype=float)
            if not np.all(np.isfinite(val)):
                return False
            if key.startswith(("pos", "det")) and np.any(val <= 1e-3):
                return False
            if key.startswith("kink") and np.any(np.abs(val) < 1e-2):
                return False
            if key.startswith("unit") and np.any(np.abs(val) > 0.9):
                return False
        return True

    def point(self, attempts: int = 60) -> dict:
        for k in range(attempts):
            p = self.draw()
            if k >= 10:   # e.g. log(b - A*x): shrink some variables so that the others dominate
                p = {n: v if n in self.sum_to_one or n in self.spd else v * self.rng.choice((1.0, 0.1, 0.01))
                     for n, v in p.items()}
            if self.valid(p):
                return p
        raise DomainError("could not find a random point inside the function's domain "
                          "(away from kinks such as relu at 0, with positive arguments of log/sqrt)")


def finite_difference_check(program, results: dict, gradient_fn, sum_to_one=(), seed: int = 0,
                            points: int = 2, tolerance: float = TOLERANCE, layout=None) -> CheckResult:
    """Compare gradient_fn(**point)[name] with 4th-order central differences of the function.

    Gradients compare entry by entry; Jacobians (layout given) column by column of
    ∂vec(f)/∂vec(x) (column-major vec), transposed for the denominator layout.
    """
    value_src = NumpyCodegen(program.variables, {"f": program.output}, "value").source()
    value_fn = compile_source(value_src, "value")
    sampler = DomainSampler(program, sum_to_one, seed)
    rng = np.random.default_rng(seed + 1)
    errors: dict = {}
    for _ in range(points):
        point = sampler.point()
        got = gradient_fn(**point)
        for name in results:
            x0 = np.asarray(point[name], dtype=float)
            g = np.asarray(got[name], dtype=float)
            indices = list(np.ndindex(*x0.shape)) if x0.shape else [()]
            if len(indices) > MAX_ENTRIES_PER_VARIABLE:
                picks = rng.choice(len(indices), MAX_ENTRIES_PER_VARIABLE, replace=False)
                indices = [indices[i] for i in picks]
            fd = np.zeros(len(indices))
            fd_columns = [None] * len(indices)
            def value(x, name=name, point=point):
                return value_fn(**{**point, name: x})["f"]
            for j, idx in enumerate(indices):
                derivative = entry_derivative(value, x0, idx, 1e-3)
                fd[j] = derivative if layout is None else 0.0
                if layout is not None:
                    fd_columns[j] = derivative.reshape(-1, order="F")
            if layout is not None:
                J = g if layout == "numerator" else g.T
                cols = [int(np.ravel_multi_index(idx, x0.shape, order="F")) if x0.shape else 0 for idx in indices]
                if J.ndim != 2 or J.shape[1] != (x0.size or 1):
                    errors[name] = float("inf")
                    continue
                mine = np.stack([J[:, k] for k in cols])
                errors[name] = max(errors.get(name, 0.0), rel_error(mine, np.stack(fd_columns)))
                continue
            if g.shape != x0.shape:
                errors[name] = float("inf")
                continue
            mine = np.array([g[idx] for idx in indices])
            errors[name] = max(errors.get(name, 0.0), rel_error(mine, fd))
    worst = max(errors.values(), default=0.0)
    return CheckResult(worst, bool(worst <= tolerance), errors, tolerance)


def hessian_check(program, gradients: dict, blocks: dict, hessian_fn, sum_to_one=(), seed: int = 0,
                  points: int = 2, tolerance: float = TOLERANCE) -> CheckResult:
    """Hessian blocks against central differences of the gradient, which is itself first
    compared with central differences of the function (so nothing is taken on trust)."""
    grad_fn = compile_source(NumpyCodegen(program.variables, gradients, "grad").source(), "grad")
    first = finite_difference_check(program, gradients, grad_fn, sum_to_one, seed, points, tolerance)
    sampler = DomainSampler(program, sum_to_one, seed)
    errors = {f"∇{k}": v for k, v in first.errors.items()}
    for _ in range(points):
        point = sampler.point()
        got = hessian_fn(**point)
        for key, H in got.items():
            a, _, b = key.partition(",")
            b = b or a
            x0 = np.asarray(point[b], dtype=float)
            cols = []
            for idx in (sorted(np.ndindex(*x0.shape), key=lambda ix: ix[::-1]) if x0.shape else [()]):
                cols.append(entry_derivative(lambda x, a=a, b=b: grad_fn(**{**point, b: x})[a], x0, idx, 1e-4)
                            .reshape(-1, order="F"))
            fd = np.stack(cols, axis=1)
            H = np.asarray(H, dtype=float).reshape(fd.shape)
            errors[key] = max(errors.get(key, 0.0), rel_error(H, fd))
    worst = max(errors.values(), default=0.0)
    return CheckResult(worst, bool(worst <= tolerance), errors, tolerance)
