"""Checks of the test data and helpers themselves (no matcalc needed).

* every problem is well formed and its generator deterministic and inside the domain;
* its hand-written NumPy ref means what its expr says (an independent interpreter of the
  contract language, tests/expr_eval.py, agrees with it);
* the hand-derived derivative agrees with the finite differences far below the tolerance
  (so a failure in test_problems.py is matcalc's, not the reference's);
* fd.py's vec/layout conventions and closed_form.py's verdicts on known cases.
"""
import numpy as np
import pytest
import sympy

from closed_form import closed_form_issues
from expr_eval import evaluate
from fd import TOL, fd_gradient, fd_jacobian, points, reference, rel_err, tool_inputs
from problem_set import CATEGORIES, N_SEED_PROBLEMS, PROBLEMS

IDS = [p["id"] for p in PROBLEMS]


def test_ids_unique_and_enough_problems():
    assert len(set(IDS)) == len(IDS)
    new_gradients = [p for p in PROBLEMS[N_SEED_PROBLEMS:] if p["kind"] == "gradient"]
    assert len(new_gradients) >= 35
    assert {p["category"] for p in new_gradients} >= {"quadratic", "trace", "inverse_det",
                                                      "elementwise", "nn"}


@pytest.mark.parametrize("problem", PROBLEMS, ids=IDS)
def test_problem_is_well_formed(problem):
    assert problem["category"] in CATEGORIES
    assert problem["kind"] in ("gradient", "jacobian", "hessian")
    if problem["kind"] == "jacobian":
        assert problem["layout"] in ("numerator", "denominator")
    assert problem["wrt"] and set(problem["wrt"]) <= set(problem["shapes"])
    for shape in problem["shapes"].values():
        assert isinstance(shape, tuple) and len(shape) in (0, 2)
        assert all(isinstance(n, int) and n > 0 for n in shape)


@pytest.mark.parametrize("problem", PROBLEMS, ids=IDS)
def test_points_are_deterministic_and_in_domain(problem):
    first, again = points(problem), points(problem)
    assert len(first) == 2
    for a, b in zip(first, again):
        assert set(a) == set(problem["shapes"])
        for name, shape in problem["shapes"].items():
            assert np.shape(a[name]) == shape, name
            assert np.array_equal(a[name], b[name])
            if shape == ():
                assert isinstance(a[name], float), f"{name}: scalars are drawn as floats"
        value = np.asarray(problem["ref"](**a), dtype=np.float64)
        assert np.all(np.isfinite(value))
        if problem["kind"] == "gradient":
            assert value.size == 1
    assert not all(np.array_equal(first[0][n], first[1][n]) for n in problem["wrt"])


@pytest.mark.parametrize("problem", PROBLEMS, ids=IDS)
def test_ref_agrees_with_expression(problem):
    for arrays in points(problem):
        want = np.asarray(problem["ref"](**arrays), dtype=np.float64)
        got = np.asarray(evaluate(problem["expr"], arrays), dtype=np.float64)
        assert got.size == want.size
        assert rel_err(got.reshape(want.shape), want) < 1e-10


@pytest.mark.parametrize("problem", PROBLEMS, ids=IDS)
def test_finite_differences_agree_with_hand_derivative(problem):
    for seed in (0, 1):
        for arrays in points(problem, seed=seed):
            exact = problem["analytic"](**arrays)
            for name in problem["wrt"]:
                fdref = reference(problem, arrays, name)
                hand = np.asarray(exact[name], dtype=np.float64)
                assert hand.shape == fdref.shape, name
                assert rel_err(hand, fdref) < 1e-3 * TOL, name


def test_fd_conventions():
    rng = np.random.default_rng(0)
    A, X = rng.standard_normal((3, 4)), rng.standard_normal((4, 2))
    J = fd_jacobian(lambda A, X: A @ X, {"A": A, "X": X}, "X")
    assert J.shape == (6, 8)
    assert rel_err(J, np.kron(np.eye(2), A)) < 1e-10           # vec(AX) = (I kron A) vec X
    Jd = fd_jacobian(lambda A, X: A @ X, {"A": A, "X": X}, "X", layout="denominator")
    assert np.array_equal(Jd, J.T)
    JA = fd_jacobian(lambda A, X: A @ X, {"A": A, "X": X}, "A")
    assert rel_err(JA, np.kron(X.T, np.eye(3))) < 1e-10         # (X' kron I) vec A
    g = fd_gradient(lambda a, x: a * np.sum(x ** 2), {"a": 1.5, "x": X}, "a")
    assert np.shape(g) == () and abs(g - np.sum(X ** 2)) < 1e-9
    assert rel_err(fd_gradient(lambda a, x: a * np.sum(x ** 2), {"a": 1.5, "x": X}, "x"),
                   3.0 * X) < 1e-10
    assert rel_err([0.25, 0.5], [0.25, 0.5 + 3e-5]) == pytest.approx(3e-5)   # scale 1
    assert rel_err([1.0, 20.0], [1.0, 20.02]) == pytest.approx(0.02 / 20.02)   # scale max|b|
    assert rel_err([np.nan], [0.0]) == float("inf")
    inputs = [tool_inputs({"a": 2.0, "X": X}, k) for k in (0, 1)]
    assert type(inputs[0]["a"]) is float
    assert isinstance(inputs[1]["a"], np.ndarray) and inputs[1]["a"].shape == ()


def test_closed_form_verdicts():
    X = sympy.MatrixSymbol("X", 3, 2)
    W = sympy.MatrixSymbol("W", 2, 2)
    a, i, j = sympy.symbols("a i j")
    shapes = {"X": (3, 2), "W": (2, 2), "a": ()}
    assert closed_form_issues(2 * X * W + a * X, "X", shapes) == []
    assert closed_form_issues(sympy.Trace(W) * a, "a", shapes) == []
    assert closed_form_issues(sympy.Matrix([[a, 1], [2, 3], [4, 5]]), "X", shapes) == []
    assert closed_form_issues(sympy.ZeroMatrix(3, 2), "X", shapes) == []
    assert closed_form_issues(sympy.Integer(0), "X", shapes) == []
    assert closed_form_issues(sympy.Matrix([[a]]), "a", shapes) == []
    assert closed_form_issues(W, "X", shapes, want=(2, 2)) == []

    def flagged(g, name="X", want=None, words=()):
        issues = closed_form_issues(g, name, shapes, want)
        assert issues and all(w in " ".join(issues) for w in words), issues

    flagged(X[0, 0] * X, words=["MatrixElement"])
    flagged(sympy.KroneckerDelta(i, j) * X, words=["KroneckerDelta"])
    flagged(sympy.Sum(a ** i, (i, 0, 3)), name="a", words=["Sum"])
    flagged(sympy.Derivative(sympy.Function("f")(a), a), name="a", words=["Derivative"])
    flagged(sympy.FunctionMatrix(3, 2, sympy.Lambda((i, j), i + j)), words=["FunctionMatrix"])
    flagged(sympy.MatrixSymbol("Y", 3, 2), words=["Y"])
    flagged(sympy.MatrixSymbol("X", sympy.Symbol("n"), 2), words=["n"])
    flagged(X.T, words=["(2, 3)"])
    flagged(a, words=["scalar expression"])
    flagged("X", words=["not a SymPy object"])
    flagged(sympy.Array([[1, 2], [3, 4]]), name="W", words=["NDimArray"])
