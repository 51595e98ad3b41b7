"""Numerical self-tests of the catalogue: every entry is checked against numbers.

Adjoint rules and functions: their example programs are derived and compared
with finite differences.  Differentials: the adjoint rule's examples are
derived by the trace method and every step is checked.  Method identities:
both sides at random matrices.
"""
from __future__ import annotations

import numpy as np

from ..differentiate import matrix_algebra
from ..lang.build import parse
from ..codegen.numpy_code import NumpyCodegen, compile_source
from ..derivation import derive
from ..differentiate.entrywise_algebra import entrywise_islands
from ..rules.registry import SELFTEST_TOOLS

TOLERANCE = 1e-6


def _numpy_function(variables: dict, outputs: dict, name: str):
    """The generated NumPy function computing ``outputs`` from ``variables``."""
    return compile_source(NumpyCodegen(variables, outputs, name).source(), name)


# the engine, handed to the identities' checks (the catalogue never imports it)
SELFTEST_TOOLS.update(parse=parse, derive=derive, numpy_function=_numpy_function,
                      entrywise_islands=entrywise_islands, matrix_algebra=matrix_algebra)


def _examples_for_differential(entry) -> list:
    from ..rules import FUNCTIONS, RULES
    out = []
    for r in RULES.values():
        if set(r.applies_to) & set(entry.applies_to):
            out.extend(r.examples)
    if entry.id == "d:entrywise":
        out.extend(ex for f in FUNCTIONS.values() for ex in f.examples)
    return out


def run_selftests(entry) -> tuple[bool, str]:
    """(passed, summary) for one entry of the catalogue."""
    kind = getattr(entry, "kind", "function")
    if kind == "identity":
        err = entry.check(np.random.default_rng(0))
        return err <= TOLERANCE, f"max relative error {err:.1e}"
    if kind == "differential":
        worst, used = 0.0, False
        for program, shapes in _examples_for_differential(entry):
            d = derive(program, shapes=shapes, method="trace")
            err = d.verify_steps()
            worst = max(worst, err)
            if err > TOLERANCE:
                return False, f"{program}: a trace step is off by {err:.1e}"
            used = used or any(entry.id in s.rules for s in d.steps)
        if not used:
            return False, "no example exercises this entry"
        return True, f"trace-method steps hold to {worst:.1e}"
    worst, used = 0.0, False
    for program, shapes in entry.examples:
        d = derive(program, shapes=shapes)
        result = d.check()
        worst = max(worst, result.max_rel_error)
        if not result.passed:
            return False, f"{program}: {result}"
        used = used or entry.id in d.rules_used() or any(
            s.rule == "entrywise" and getattr(s.node, "name", None) == entry.id[3:] for s in d.records)
    if not used:
        return False, "no example exercises this entry"
    bounds_error = _check_bounds(entry) or _check_inplace(entry)
    if bounds_error:
        return False, bounds_error
    return True, f"max relative error {worst:.1e}"


def _check_bounds(entry) -> str:
    """A function's declared range holds at many points (used to prove weights ≥ 0 in codegen)."""
    lo, hi = getattr(entry, "bounds", (None, None))
    if lo is None and hi is None:
        return ""
    from sympy import MatrixSymbol
    from ..ir.nodes import Elementwise
    X = MatrixSymbol("X", 400, 1)
    fn = _numpy_function({"X": X}, {"y": Elementwise(entry.name, X)}, "f")
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.normal(size=(200, 1)) * 5, rng.uniform(0.01, 50, size=(200, 1))])
    if entry.domain in ("positive", "nonzero"):
        x = np.abs(x) + 0.01
    if entry.domain == "unit":
        x = np.tanh(x) * 0.99
    y = fn(X=x)["y"]
    if not np.all(np.isfinite(y)):
        return "non-finite values inside the domain"
    if lo is not None and np.min(y) < lo or hi is not None and np.max(y) > hi:
        return f"values outside the declared bounds {entry.bounds}"
    return ""


def _check_inplace(entry) -> str:
    """A function's in-place NumPy form writes into its argument the values of the plain form
    (float64 and float32, small and large arrays, extreme arguments included)."""
    template = getattr(entry, "numpy_inplace", "")
    if not template:
        return ""
    from ..codegen.numpy_code import HELPERS
    namespace = {"np": np}
    for helper in entry.helpers:
        exec(HELPERS[helper], namespace)  # noqa: S102 - our own helper source
    rng = np.random.default_rng(1)
    for size in (8, 5000):
        x = np.concatenate([rng.normal(size=(size - 4, 1)) * 5, [[800.0], [-800.0], [0.0], [30.0]]])
        if entry.domain in ("positive", "nonzero"):
            x = np.abs(x) + 0.01
        if entry.domain == "unit":
            x = np.tanh(x) * 0.99
        for dtype in (np.float64, np.float32):
            arg = x.astype(dtype)
            with np.errstate(all="ignore"):
                want = eval(entry.numpy.format(x="x"), namespace, {"x": arg.copy()})  # noqa: S307
                buffer = arg.copy()
                got = eval(template.format(x="x"), namespace, {"x": buffer})  # noqa: S307
            if got is not buffer:
                return f"numpy_inplace does not write into its argument ({template})"
            rtol = 1e-6 if dtype == np.float32 else 1e-13
            if got.dtype != want.dtype or not np.allclose(got, want, rtol=rtol, atol=0, equal_nan=True):
                return f"numpy_inplace disagrees with numpy ({dtype.__name__}, {size} entries)"
    return ""
