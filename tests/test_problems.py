"""matcalc against numerical references on the problem set (tests/problem_set.py).

Per problem, as the contract says: d = matcalc.derive(expr, wrt=..., shapes=...[, layout]),
f = d.to_numpy(), evaluated at two points of the problem's generator (a scalar variable is
passed as a Python float at the first point and as a 0-d array at the second); every
result must match central finite differences of the problem's NumPy ref (error
max|a-b|/max(1,max|b|) <= 1e-5), and d.gradient(name) / d.jacobian(name) must be a closed
matrix form of the right shape.

A single derive may not run longer than MATCALC_TEST_TIMEOUT seconds (default 60).
"""
import functools
import os

import numpy as np
import pytest

from closed_form import closed_form_issues
from fd import TOL, points, reference, rel_err, tool_inputs
from problem_set import PROBLEMS

from matcalc.limits import time_limit   # fails a problem (LimitError) instead of hanging the suite

TIME_LIMIT = float(os.environ.get("MATCALC_TEST_TIMEOUT", "60"))

GRADIENT = [p for p in PROBLEMS if p["kind"] == "gradient"]
JACOBIAN = [p for p in PROBLEMS if p["kind"] == "jacobian"]
JACOBIAN_PARAMS = [pytest.param(p, id=p["id"]) for p in JACOBIAN]


@pytest.fixture(scope="module")
def matcalc():
    import matcalc as module   # an import failure is an error of every test, not a skip
    return module


@functools.lru_cache(maxsize=None)
def _prepared(problem_id):
    """The problem's points and their FD references (computed once per problem)."""
    problem = next(p for p in PROBLEMS if p["id"] == problem_id)
    return [(arrays, {name: reference(problem, arrays, name) for name in problem["wrt"]})
            for arrays in points(problem)]


_DERIVED = {}


def _derive(matcalc, problem):
    """matcalc.derive for the problem (cached: the numeric and symbolic tests share it)."""
    if problem["id"] not in _DERIVED:
        kwargs = dict(wrt=list(problem["wrt"]),
                      shapes={k: tuple(v) for k, v in problem["shapes"].items()})
        if problem["kind"] == "jacobian":
            kwargs["layout"] = problem["layout"]
        try:
            with time_limit(TIME_LIMIT):
                _DERIVED[problem["id"]] = ("ok", matcalc.derive(problem["expr"], **kwargs))
        except Exception as exc:  # noqa: BLE001 - reported by every test of the problem
            _DERIVED[problem["id"]] = ("error", exc)
    status, value = _DERIVED[problem["id"]]
    if status == "error":
        raise value
    return value


def _check_numeric(matcalc, problem):
    prepared = _prepared(problem["id"])
    d = _derive(matcalc, problem)
    with time_limit(TIME_LIMIT):
        f = d.to_numpy()
        failures = []
        for k, (arrays, refs) in enumerate(prepared):
            out = f(**tool_inputs(arrays, k))
            for name in problem["wrt"]:
                if name not in out:
                    failures.append(f"point {k}: no result for {name!r} (keys {sorted(out)})")
                    continue
                got = np.asarray(out[name], dtype=np.float64)
                want = refs[name]
                if got.shape != want.shape:
                    failures.append(f"point {k}: {name}: shape {got.shape} != {want.shape}")
                    continue
                err = rel_err(got, want)
                if not err <= TOL:
                    failures.append(f"point {k}: {name}: relative error {err:.2e} > {TOL:g}")
    assert not failures, f"{problem['expr']}\n" + "\n".join(failures)


def _check_closed_form(matcalc, problem):
    d = _derive(matcalc, problem)
    getter = getattr(d, problem["kind"])            # d.gradient / d.jacobian
    failures = []
    for name in problem["wrt"]:
        with time_limit(TIME_LIMIT):
            g = getter(name)
        want = None if problem["kind"] == "gradient" else _prepared(problem["id"])[0][1][name].shape
        issues = closed_form_issues(g, name, problem["shapes"], want)
        if issues:
            failures.append(f"{name}: " + "; ".join(issues) + f"\n    {g}")
    assert not failures, f"{problem['expr']}\n" + "\n".join(failures)


@pytest.mark.parametrize("problem", GRADIENT, ids=[p["id"] for p in GRADIENT])
def test_gradient_matches_finite_differences(matcalc, problem):
    _check_numeric(matcalc, problem)


@pytest.mark.parametrize("problem", GRADIENT, ids=[p["id"] for p in GRADIENT])
def test_gradient_is_closed_form(matcalc, problem):
    _check_closed_form(matcalc, problem)


@pytest.mark.parametrize("problem", JACOBIAN_PARAMS)
def test_jacobian_matches_finite_differences(matcalc, problem):
    _check_numeric(matcalc, problem)


@pytest.mark.parametrize("problem", JACOBIAN_PARAMS)
def test_jacobian_is_closed_form(matcalc, problem):
    _check_closed_form(matcalc, problem)
