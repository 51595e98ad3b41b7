"""Numerical verification: random points inside the domain, central finite differences."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sympy import Determinant, Inverse, Pow
from sympy.matrices.expressions import HadamardPower

from .. import rules
from ..codegen.numpy_code import NumpyCodegen, compile_source
from ..differentiate.engine import _LEAVES, topological
from ..errors import DomainError
from ..ir.nodes import Elementwise, LogDet, ScalarFunction, is_matrix
from ..differentiate.memory import DEFAULT_MEMORY_LIMIT, guard

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
        text = f"check {status}: max relative error {self.max_rel_error:.2e} (tolerance {self.tolerance:g}; {per})"
        return text + (f"\n  note: {self.note}" if self.note and not self.note.startswith("finite differences of") else "")


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


_EPS = float(np.finfo(float).eps)
_LEVELS = 9          # steps h0, h0/4, ..., h0/4**8 for a badly conditioned entry
_SAFETY = 10.0       # the estimated error of a difference is widened by this factor
_RESOLVED = 0.05     # above this relative error estimate finite differences decide nothing


def noise_level(f, x0, rng) -> float:
    """The absolute rounding noise of f near x0, from the 4th differences of f along a tiny
    random direction (pure noise for a smooth f; Hamming's difference table, as in Moré & Wild's
    ECnoise): max |Δ⁴f| / √70, at least 2·eps·|f|."""
    x0 = np.asarray(x0, dtype=float)
    u = rng.standard_normal(x0.shape)
    delta = 1e-9 * max(1.0, float(np.max(np.abs(x0), initial=0.0)))
    values = []
    for j in range(10):
        x = x0 + j * delta * u
        values.append(np.asarray(f(x if x0.shape else float(x)), dtype=float))
    values = np.stack(values)
    fourth = np.diff(values, n=4, axis=0)
    noise = float(np.max(np.abs(fourth), initial=0.0)) / np.sqrt(70.0)
    return max(noise, 2 * _EPS * float(np.max(np.abs(values), initial=0.0)))


def adaptive_derivative(f, x0, idx, noise: float, rel_step: float = 1e-3):
    """(estimate, error bound) of ∂f/∂x0[idx] for a badly conditioned f: the 4th-order stencil at
    steps h0·4⁻ᵏ; a level's truncation error is its difference from the next level, its rounding
    error 1.5·noise/h; the level with the smallest total wins (Richardson's comparison of steps)."""
    estimates, best = [], None
    for k in range(_LEVELS):
        step = rel_step * 4.0 ** -k
        estimates.append(entry_derivative(f, x0, idx, step))
        if k == 0:
            continue
        h = step * max(1.0, abs(float(np.asarray(x0)[idx])))
        truncation = float(np.max(np.abs(estimates[-2] - estimates[-1]), initial=0.0)) / 15.0
        bound = truncation + 1.5 * noise / h
        if not np.isfinite(bound):
            continue
        if best is None or bound < best[1]:
            best = (estimates[-1], bound)
        elif bound > 16 * best[1]:   # rounding dominates from here on
            break
    return best if best is not None else (estimates[-1], float("inf"))


def compare_derivatives(f, x0, indices, claimed, tolerance: float, rng, rel_step: float = 1e-3,
                        claimed_fn=None):
    """Compare claimed[j] with ∂f/∂x0[indices[j]]: plain central differences first; entries that
    disagree get adaptive steps and an error bound from the function's rounding noise, plus the
    rounding noise of the claimed values themselves (``claimed_fn(x)``, their function of x0).
    Returns (relative error, tolerance used, finite differences' relative error estimate)."""
    fd = [entry_derivative(f, x0, idx, rel_step) for idx in indices]
    claimed = [np.asarray(c, dtype=float) for c in claimed]

    def scale():
        return max(1.0, max((float(np.max(np.abs(d), initial=0.0)) for d in fd), default=0.0))
    s = scale()
    bad = [j for j, (c, d) in enumerate(zip(claimed, fd)) if not _close(c, d, tolerance * s)]
    bound = 0.0
    if bad:
        noise = noise_level(f, x0, rng)
        for j in bad:
            fd[j], err = adaptive_derivative(f, x0, indices[j], noise, rel_step)
            bound = max(bound, err)
        if claimed_fn is not None:
            bound += noise_level(claimed_fn, x0, rng)
        s = scale()
    worst = max((float(np.max(np.abs(c - d), initial=0.0)) for c, d in zip(claimed, fd)), default=0.0)
    if not all(np.all(np.isfinite(c)) for c in claimed):
        worst = float("inf")
    estimate = bound / s
    return worst / s, max(tolerance, _SAFETY * estimate), estimate


def _close(a, b, atol) -> bool:
    return bool(np.all(np.isfinite(a)) and np.all(np.isfinite(b)) and np.max(np.abs(a - b), initial=0.0) <= atol)


def rel_error(a, b) -> float:
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    if not np.all(np.isfinite(a)):
        return float("inf")
    return float(np.max(np.abs(a - b), initial=0.0) / max(1.0, float(np.max(np.abs(b), initial=0.0))))


class DomainSampler:
    """Random points where every function of the program is defined and smooth."""

    def __init__(self, program, sum_to_one=(), seed: int = 0, memory_limit=DEFAULT_MEMORY_LIMIT):
        self.program = program
        self.memory_limit = memory_limit
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
        conditions["value"] = program.output   # finite: no overflow at the point
        self.conditions = conditions
        self.sizes = {s: _SIZE_CHOICES[i % len(_SIZE_CHOICES)] for i, s in enumerate(program.size_symbols)}
        self._probe = None
        if conditions:
            self.guard(conditions, largest=True)   # callers may draw at other small sizes
            src = NumpyCodegen(program.variables, conditions, "conditions").source()
            self._probe = compile_source(src, "conditions")

    def guard(self, outputs: dict, labels=None, largest: bool = False) -> None:
        """Refuse (LimitError) arrays over the memory limit that evaluating ``outputs`` at this
        sampler's sizes (``largest``: at the largest size it draws) would build."""
        sizes = {s: max(_SIZE_CHOICES) for s in self.sizes} if largest else self.sizes
        guard(outputs, sizes, self.memory_limit, labels or {k: "the function" for k in outputs},
              " at the check's sizes")

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
                from ..errors import LimitError
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
                          "(away from kinks such as relu at 0, with positive arguments of log/sqrt, "
                          "and a finite value)")


def finite_difference_check(program, results: dict, gradient_fn, sum_to_one=(), seed: int = 0,
                            points: int = 2, tolerance: float = TOLERANCE, layout=None,
                            memory_limit=DEFAULT_MEMORY_LIMIT, labels=None) -> CheckResult:
    """Compare gradient_fn(**point)[name] with 4th-order central differences of the function.

    Gradients compare entry by entry; Jacobians (layout given) column by column of
    ∂vec(f)/∂vec(x) (column-major vec), transposed for the denominator layout.  Where the plain
    differences disagree, steps adapt and the tolerance widens by their estimated error
    (see ``compare_derivatives``), so a badly conditioned function does not fail a right result.
    Arrays over ``memory_limit`` bytes are refused before anything is evaluated.
    """
    sampler = DomainSampler(program, sum_to_one, seed, memory_limit)
    sampler.guard({**results, "f": program.output}, {**(labels or {}), "f": "the function"})
    value_src = NumpyCodegen(program.variables, {"f": program.output}, "value").source()
    value_fn = compile_source(value_src, "value")
    rng = np.random.default_rng(seed + 1)
    tally = Tally(tolerance)
    with np.errstate(all="ignore"):   # an overflow shows as a non-finite value, not as warnings
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

                def value(x, name=name, point=point):
                    return np.asarray(value_fn(**{**point, name: x})["f"], dtype=float).reshape(-1, order="F")
                if layout is not None:
                    J = g if layout == "numerator" else g.T
                    if J.ndim != 2 or J.shape[1] != (x0.size or 1):
                        tally.add(name, float("inf"), tolerance, 0.0)
                        continue
                    cols = [int(np.ravel_multi_index(idx, x0.shape, order="F")) if x0.shape else 0
                            for idx in indices]
                    claimed = [J[:, k] for k in cols]
                else:
                    if g.shape != x0.shape:
                        tally.add(name, float("inf"), tolerance, 0.0)
                        continue
                    claimed = [g[idx].reshape(1) for idx in indices]

                def derived(x, name=name, point=point):
                    return np.asarray(gradient_fn(**{**point, name: x})[name], dtype=float)
                tally.add(name, *compare_derivatives(value, x0, indices, claimed, tolerance, rng,
                                                     claimed_fn=derived))
    return tally.result()


class Tally:
    """Per-name worst relative error, the tolerance each comparison was held to, failures."""

    def __init__(self, tolerance: float):
        self.tolerance = tolerance
        self.errors: dict = {}
        self.limits: dict = {}
        self.failed: set = set()
        self.estimate = 0.0

    def add(self, name, error: float, limit: float, estimate: float) -> None:
        self.errors[name] = max(self.errors.get(name, 0.0), error) if np.isfinite(error) else float("inf")
        self.limits[name] = max(self.limits.get(name, self.tolerance), limit)
        if not error <= limit:
            self.failed.add(name)
        self.estimate = max(self.estimate, estimate)

    def result(self) -> CheckResult:
        worst = max(self.errors.values(), default=0.0)
        used = max(self.limits.values(), default=self.tolerance)
        passed, note = not self.failed, ""
        if not np.isfinite(worst):
            note = "a derived value is not finite at a check point (overflow, or a wrong shape)"
        elif self.estimate > _RESOLVED:
            passed = False
            note = (f"inconclusive: finite differences cannot resolve the derivative here (estimated "
                    f"relative error {self.estimate:.1e}); the function is too badly conditioned to check")
        elif used > self.tolerance:
            note = (f"tolerance widened from {self.tolerance:g} to {used:.1e} by the finite differences' "
                    "estimated error: a badly conditioned function")
        return CheckResult(worst, passed, self.errors, used, note)


def hessian_check(program, gradients: dict, blocks: dict, hessian_fn, sum_to_one=(), seed: int = 0,
                  points: int = 2, tolerance: float = TOLERANCE, memory_limit=DEFAULT_MEMORY_LIMIT,
                  labels=None) -> CheckResult:
    """Hessian blocks against central differences of the gradient, which is itself first
    compared with central differences of the function (so nothing is taken on trust)."""
    sampler = DomainSampler(program, sum_to_one, seed, memory_limit)
    sampler.guard({**blocks, **{f"∇{k}": v for k, v in gradients.items()}},
                  {**(labels or {}), **{f"∇{k}": f"the gradient ∂f/∂{k}" for k in gradients}})
    grad_fn = compile_source(NumpyCodegen(program.variables, gradients, "grad").source(), "grad")
    first = finite_difference_check(program, gradients, grad_fn, sum_to_one, seed, points, tolerance,
                                    memory_limit=memory_limit)
    rng = np.random.default_rng(seed + 2)
    tally = Tally(tolerance)
    for k, v in first.errors.items():
        tally.errors[f"∇{k}"], tally.limits[f"∇{k}"] = v, first.tolerance
    if not first.passed:
        tally.failed.add("∇")
    with np.errstate(all="ignore"):
        for _ in range(points):
            point = sampler.point()
            got = hessian_fn(**point)
            for key, H in got.items():
                a, _, b = key.partition(",")
                b = b or a
                x0 = np.asarray(point[b], dtype=float)
                indices = sorted(np.ndindex(*x0.shape), key=lambda ix: ix[::-1]) if x0.shape else [()]
                H = np.asarray(H, dtype=float)
                rows = int(np.size(np.asarray(point[a])))
                if H.size != rows * len(indices):
                    tally.add(key, float("inf"), tolerance, 0.0)
                    continue
                H = H.reshape(rows, len(indices))

                def gradient(x, a=a, b=b, point=point):
                    return np.asarray(grad_fn(**{**point, b: x})[a], dtype=float).reshape(-1, order="F")
                claimed = [H[:, j] for j in range(len(indices))]

                def hessian(x, key=key, b=b, point=point):
                    return np.asarray(hessian_fn(**{**point, b: x})[key], dtype=float)
                tally.add(key, *compare_derivatives(gradient, x0, indices, claimed, tolerance, rng, 1e-4,
                                                    claimed_fn=hessian))
    result = tally.result()
    if first.note and not result.note:
        result.note = first.note
    return result


def draw_structured(sampler, name, kind, shape):
    """A random point of the structured space for the domain sampler (spd, or diagonal with
    positive entries, where the program needs det > 0 or positive entries)."""
    n, rng = shape[0], sampler.rng
    definite = kind == "spd" or name in sampler.spd or name in sampler.positive
    if kind == "diagonal":
        d = rng.uniform(0.5, 2.0, n) * (1 if definite else rng.choice((-1, 1), n))
        return np.diag(d)
    r = rng.standard_normal((n, n))
    if definite:
        return r @ r.T / n + np.eye(n)
    return (r + r.T) / 2
