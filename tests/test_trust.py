"""Issue 14 (part B): reproducers of crashes, wrong numbers at special points, and their
neighbours — every generated value is compared with an independent NumPy computation."""
import functools
import warnings

import numpy as np
import pytest
from click.testing import CliRunner

import matcalc
from matcalc.cli import main


def run(*args):
    result = CliRunner().invoke(main, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise AssertionError(f"the CLI raised {result.exception!r}") from result.exception
    return result


# ---------------------------------------------------------------- 4: symbolic squared sizes
@pytest.mark.parametrize("expr", ["tr(A)", "tr(X'*A*X)", "logdet(X) - tr(S*X)"])
def test_hessian_with_a_squared_symbolic_size_checks(expr):
    result = run("derive", expr, "--order", "2", "--check")
    assert result.exit_code == 0, result.stderr
    assert "check passed" in result.stdout + result.stderr


def test_hessian_code_of_a_squared_symbolic_size_runs():
    d = matcalc.derive("tr(X'*A*X)", wrt=["X"], order=2)
    X, A = np.random.default_rng(0).standard_normal((2, 3, 3))
    H = d.to_numpy()(X=X, A=A)["X"]
    assert H.shape == (9, 9)
    np.testing.assert_allclose(H, np.kron(np.eye(3), A + A.T), atol=1e-12)
    assert run("derive", "tr(A)", "--order", "2", "--format", "numpy").exit_code == 0
    assert "(n²×n²)" in run("derive", "tr(A)", "--order", "2").stdout


# ---------------------------------------------------------------- 8: a matrix times itself in a claim
def test_claim_with_a_matrix_power_is_judged():
    result = run("check", "norm2(X*w - y)^2", "--wrt", "w", "--claim", "2*X*(X*w - y)", "--dim", "X=n,n")
    assert result.exit_code == 1, result.stderr
    assert "transpose" in result.stdout
    result = run("check", "tr(X*X*X)", "--wrt", "X", "--claim", "3*(X*X)'")
    assert result.exit_code == 0, result.stderr
    result = run("check", "tr(X*X*X)", "--wrt", "X", "--claim", "3*X*X")
    assert result.exit_code == 1, result.stderr
    result = run("check", "tr(inv(X)*inv(X))", "--wrt", "X", "--claim", "-2*(inv(X)*inv(X)*inv(X))'")
    assert result.exit_code == 0, result.stdout
    result = run("check", "tr(inv(X)*inv(X))", "--wrt", "X", "--claim", "-2*inv(X)*inv(X)*inv(X)")
    assert result.exit_code == 1 and "transpose" in result.stdout, result.stdout


def test_matrix_power_code():
    from sympy import MatPow, MatrixSymbol
    from matcalc.codegen.numpy_code import NumpyCodegen, compile_source
    X = MatrixSymbol("X", 3, 3)
    x = np.random.default_rng(1).standard_normal((3, 3)) + 3 * np.eye(3)
    for p in (2, 3, -2):
        f = compile_source(NumpyCodegen({"X": X}, {"v": MatPow(X, p)}, "f").source(), "f")
        np.testing.assert_allclose(f(X=x)["v"], np.linalg.matrix_power(x, p) if p > 0 else
                                   np.linalg.matrix_power(np.linalg.inv(x), -p), rtol=1e-10)


# ---------------------------------------------------------------- 12: det at a singular matrix
def _adj(a):
    """Adjugate by cofactors (independent of the generated code)."""
    n = a.shape[0]
    c = np.empty_like(a)
    for i in range(n):
        for j in range(n):
            c[i, j] = (-1) ** (i + j) * np.linalg.det(np.delete(np.delete(a, i, 0), j, 1)) if n > 1 else 1.0
    return c.T


def test_det_gradient_at_a_singular_matrix():
    f = matcalc.derive("det(X)", wrt=["X"], shapes={"X": (2, 2)}).to_numpy()
    np.testing.assert_allclose(f(X=np.array([[1.0, 2.0], [2.0, 4.0]]))["X"], [[4, -2], [-2, 1]], atol=1e-12)
    f = matcalc.derive("det(X)", wrt=["X"]).to_numpy()
    rng = np.random.default_rng(2)
    for n, rank in ((1, 0), (3, 2), (4, 3), (4, 2), (5, 5)):
        a = rng.standard_normal((n, rank)) @ rng.standard_normal((rank, n))
        np.testing.assert_allclose(f(X=a)["X"], _adj(a).T, atol=1e-10)


@pytest.mark.parametrize("expr, grad", [
    ("det(A*X)", lambda A, X: A.T @ _adj(A @ X).T),
    ("det(X)^2", lambda A, X: 2 * np.linalg.det(X) * _adj(X).T),
    ("3*det(X) + tr(A*X)", lambda A, X: 3 * _adj(X).T + A.T),
    ("det(X')", lambda A, X: _adj(X).T),
])
def test_det_neighbours_at_singular_matrices(expr, grad):
    rng = np.random.default_rng(3)
    A = rng.standard_normal((4, 4))
    X = rng.standard_normal((4, 3)) @ rng.standard_normal((3, 4))
    shapes = {"X": (4, 4), "A": (4, 4)} if "A" in expr else {"X": (4, 4)}
    f = matcalc.derive(expr, wrt=["X"], shapes=shapes).to_numpy()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = f(X=X, A=A)["X"] if "A" in expr else f(X=X)["X"]
    np.testing.assert_allclose(got, grad(A, X), atol=1e-9)


@pytest.mark.parametrize("expr, wrt, want", [
    ("det(a*X)", "a", lambda X, A: np.sum(_adj(X).T * X)),                 # tr(adj(aX) X) at a = 1
    ("det(X)*tr(A*X)", "X", lambda X, A: np.trace(A @ X) * _adj(X).T + np.linalg.det(X) * A.T),
    ("det(X)*sum(X)", "X", lambda X, A: np.sum(X) * _adj(X).T + np.linalg.det(X)),
])
def test_scalar_products_with_a_determinant_at_singular_matrices(expr, wrt, want):
    X = np.array([[1.0, 2.0, 3.0], [2.0, 4.0, 6.0], [0.5, -1.0, 2.0]])
    A = np.random.default_rng(6).standard_normal((3, 3))
    d = matcalc.derive(expr, wrt=[wrt])
    args = {k: v for k, v in {"a": 1.0, "X": X, "A": A}.items() if k in d.program.variables}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = d.to_numpy()(**args)[wrt]
    np.testing.assert_allclose(got, want(X, A), atol=1e-9)
    assert d.check().passed


def test_det_gradient_away_from_singular_matches_the_closed_form():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((5, 5))
    f = matcalc.derive("det(X)", wrt=["X"]).to_numpy()
    np.testing.assert_allclose(f(X=X)["X"], np.linalg.det(X) * np.linalg.inv(X).T, rtol=1e-10)


# ---------------------------------------------------------------- 13: norm2 over/underflow, value at 0
@pytest.mark.parametrize("scale", [1e200, 1e-200, 1.0, 1e-320])
def test_norm2_gradient_is_scaled(scale):
    f = matcalc.derive("norm2(x)", wrt=["x"]).to_numpy()
    x = np.array([[scale], [scale], [0.0]])
    np.testing.assert_allclose(f(x=x)["x"], [[0.5 ** 0.5], [0.5 ** 0.5], [0]], rtol=1e-12)


def test_norm2_value_and_gradient_at_zero_and_extremes():
    d = matcalc.derive("norm2(A*x - y)", wrt=["x", "A", "y"])
    f = d.to_numpy()
    A, x, y = np.eye(3), np.zeros((3, 1)), np.zeros((3, 1))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = f(A=A, x=x, y=y)
    for v in got.values():
        assert np.all(v == 0)        # the documented convention: ∂‖r‖/∂r = 0 at r = 0
    X = np.full((2, 3), 1e-200)
    g = matcalc.derive("norm2(X)", wrt=["X"]).to_numpy()(X=X)["X"]
    np.testing.assert_allclose(g, np.full((2, 3), 6 ** -0.5), rtol=1e-12)
    from matcalc.codegen.numpy_code import NumpyCodegen, compile_source
    from sympy import MatrixSymbol
    from matcalc.ir.nodes import Norm2
    v = MatrixSymbol("v", 3, 1)
    value = compile_source(NumpyCodegen({"v": v}, {"n": Norm2(v)}, "value").source(), "value")
    assert value(v=np.array([[3e200], [4e200], [0.0]]))["n"] == pytest.approx(5e200)
    assert value(v=np.array([[3e-200], [4e-200], [0.0]]))["n"] == pytest.approx(5e-200)
    assert value(v=np.zeros((3, 1)))["n"] == 0.0


def test_norm2_through_a_chain():
    """∂‖W x‖/∂x = Wᵀ W x / ‖W x‖ at huge values."""
    f = matcalc.derive("norm2(W*x)", wrt=["x"]).to_numpy()
    rng = np.random.default_rng(5)
    W, x = rng.standard_normal((4, 3)), rng.standard_normal((3, 1))
    want = W.T @ W @ x / np.linalg.norm(W @ x)
    np.testing.assert_allclose(f(W=W, x=x * 1e250)["x"], want, rtol=1e-12)
    np.testing.assert_allclose(f(W=W, x=x * 1e-250)["x"], want, rtol=1e-12)


# ---------------------------------------------------------------- 14: complex arrays refused
@pytest.mark.parametrize("expr, wrt, order", [("norm2(X*w - y)^2", "w", 1), ("sum(sigmoid(X*w))", "X", 2),
                                              ("sigmoid(W*x)", "x", 1)])
def test_generated_functions_refuse_complex(expr, wrt, order):
    d = matcalc.derive(expr, wrt=[wrt], order=order, layout="numerator" if expr.startswith("sigmoid") else None)
    f = d.to_numpy()
    args = {"X": np.ones((3, 3)), "w": np.ones((3, 1)), "y": np.ones((3, 1)), "W": np.ones((3, 3)),
            "x": np.ones((3, 1))}
    args = {k: v for k, v in args.items() if k in d.program.variables}
    f(**args)
    for name in args:
        bad = dict(args, **{name: args[name] + 1j})
        with pytest.raises(TypeError, match="real"):
            f(**bad)


def test_recurrent_code_refuses_complex():
    d = matcalc.derive("h[t] = tanh(x[t]*W + h[t-1]*V); f = sum_t(sum(h[t]))", wrt=["W"])
    f = d.to_numpy()
    with pytest.raises(TypeError, match="real"):
        f(x=np.ones((4, 2, 3)) + 1j, W=np.ones((3, 3)), V=np.ones((3, 3)))


# ---------------------------------------------------------------- 5: deep programs compile
def _nested(depth):
    s = "x"
    for k in range(depth):
        s = f"({s}*2+{k})"
    return f"sum({s})"


def _chain(n, link="tanh(W*h{p})"):
    body = "; ".join(f"h{i} = " + link.format(p=i - 1) for i in range(2, n + 1))
    return f"h1 = tanh(W*x); {body}; f = sum(h{n})"


def test_deeply_nested_expression_checks():
    d = matcalc.derive(_nested(126))
    r = d.check()
    assert r.passed, r
    x = np.random.default_rng(0).standard_normal((4, 1))
    np.testing.assert_allclose(d.to_numpy()(x=x)["x"], np.full((4, 1), 2.0 ** 126))


def test_long_statement_chain_checks():
    r = matcalc.derive(_chain(101), wrt=["W"]).check()
    assert r.passed, r


def test_wide_sums_and_chains_compile():
    from matcalc.codegen.numpy_code import _too_deep
    assert _too_deep("(" * 30 + "x" + ")" * 30) and not _too_deep("(x) + (y)")
    expr = " + ".join(f"sum(sigmoid(X*a{i}))" for i in range(40))
    d = matcalc.derive(expr, wrt=["X"], shapes={"X": (3, 2), **{f"a{i}": () for i in range(40)}})
    assert d.check().passed
    long_chain = "tr(" + "*".join(["A", "B"] * 40) + ")"
    d = matcalc.derive(long_chain, wrt=["A"], shapes={"A": (2, 2), "B": (2, 2)})
    assert d.check().passed


# ---------------------------------------------------------------- 11: badly conditioned checks
BADLY_CONDITIONED = {
    "power": "tr(" + "*".join(["A"] * 200) + ")",
    "nested det": "det(X*det(X*det(X*det(X*det(X)))))",
    "tanh chain": _chain(50),
}


@functools.lru_cache(maxsize=None)
def _derived(name):
    return matcalc.derive(BADLY_CONDITIONED[name])


@pytest.mark.parametrize("name", list(BADLY_CONDITIONED))
def test_correct_gradient_of_a_badly_conditioned_function_passes(name):
    d = _derived(name)
    for seed in (0,) if name == "power" else (0, 1):
        r = d.check(seed=seed)
        assert r.passed, (seed, str(r))


@pytest.mark.parametrize("name", list(BADLY_CONDITIONED))
@pytest.mark.parametrize("wrong", ["scaled", "transposed", "one entry"])
def test_wrong_gradient_of_a_badly_conditioned_function_fails(name, wrong):
    from matcalc.verify.numeric import finite_difference_check
    d = _derived(name)
    right = d.to_numpy()

    def spoiled(**point):
        out = dict(right(**point))
        for k, g in out.items():
            g = np.array(g, dtype=float)
            if wrong == "scaled":
                g = g * (1 + 1e-4)
            elif wrong == "transposed" and g.shape[0] == g.shape[1] and g.shape[0] > 1:
                g = g.T
            else:
                g.flat[0] += 1e-3 * max(1.0, np.max(np.abs(g)))
            out[k] = g
        return out
    r = finite_difference_check(d.program, d._results, spoiled, seed=0)
    assert not r.passed, str(r)


def test_overflowing_check_is_silent():
    d = matcalc.derive("sum(exp(exp(exp(X))))")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert d.check().passed
    result = run("derive", "sum(exp(1000*x))", "--check")
    assert result.exit_code == 0 and "Warning" not in result.stderr


def test_recurrent_check_of_a_long_sequence_passes():
    d = matcalc.derive("h[t] = tanh(x[t]*W + h[t-1]*V); f = sum_t(sum(h[t]))")
    assert d.check(points=3).passed


# ---------------------------------------------------------------- 10: memory limit
def test_hessian_check_over_the_memory_limit_is_refused():
    result = run("derive", "sum(sigmoid(X*w))", "--dim", "X=300,300", "--wrt", "X", "--order", "2", "--check")
    assert result.exit_code == 2
    line = result.stderr.strip()
    assert "\n" not in line and "Hessian" in line and "90000×90000" in line and "GiB" in line


@pytest.mark.parametrize("args, shown", [
    (["derive", "sigmoid(W*x)", "--dim", "W=2000,2000", "--wrt", "W", "--layout", "numerator", "--check"],
     "2000×4000000"),
    (["check", "norm2(x*x')^2", "--wrt", "x", "--claim", "4*(x'*x)*x", "--dim", "x=100000,1"], "100000×100000"),
    (["derive", "sum(sigmoid(X*w))", "--dim", "X=30,30", "--wrt", "X", "--order", "2", "--check",
      "--memory-limit", "1M"], "900×900"),
])
def test_arrays_over_the_limit_are_refused(args, shown):
    result = run(*args)
    assert result.exit_code == 2, result.stderr
    assert shown in result.stderr and "memory limit" in result.stderr


def test_memory_limit_option_and_argument():
    assert run("derive", "sum(sigmoid(X*w))", "--dim", "X=30,30", "--wrt", "X", "--order", "2",
               "--memory-limit", "0").exit_code == 0
    for bad in ("12x", "-1", "nan", ""):
        result = run("derive", "sum(X)", "--memory-limit", bad)
        assert result.exit_code == 2 and "memory-limit" in result.stderr, (bad, result.stderr)
    d = matcalc.derive("sum(sigmoid(X*w))", wrt=["X"], shapes={"X": (40, 40), "w": (40, 1)}, order=2,
                       memory_limit=2 ** 20)
    with pytest.raises(matcalc.errors.LimitError, match="1600×1600"):
        d.to_numpy()
    with pytest.raises(matcalc.errors.LimitError):
        d.check()
    d.memory_limit = None
    assert d.to_numpy()(X=np.ones((40, 40)), w=np.ones((40, 1)))["X"].shape == (1600, 1600)


def test_memory_parse_and_estimate():
    from sympy import Symbol
    from matcalc.differentiate.memory import entries, parse_limit
    assert parse_limit("4G") == 4 * 2 ** 30 and parse_limit("1.5GiB") == 3 * 2 ** 29
    assert parse_limit("512M") == 2 ** 29 and parse_limit("1000") == 1000 and parse_limit("0") is None
    n = Symbol("n")
    assert entries((n ** 2, 3), {n: 5}) == 75 and entries((n, 1), {}) is None


def test_refused_request_stays_small():
    """Peak memory of a refused request (the issue's 60 GiB Hessian) stays far below 1 GiB."""
    import resource
    import subprocess
    import sys
    code = ("import resource, matcalc\n"
            "d = matcalc.derive('sum(sigmoid(X*w))', wrt=['X'], shapes={'X': (300, 300)}, order=2)\n"
            "try:\n    d.check()\nexcept matcalc.errors.LimitError:\n    pass\n"
            "try:\n"   # VmHWM: this process's own peak (ru_maxrss keeps the forking parent's size)
            "    print(next(l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')))\n"
            "except OSError:\n"
            "    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert int(out.stdout.split()[-1]) < 1024 * 1024   # KiB on Linux


@pytest.mark.parametrize("expr", ["sum(exp(exp(exp(X))))", "sum(exp(100*x))^3"])
def test_badly_conditioned_hessians_check(expr):
    from matcalc.verify.numeric import hessian_check
    d = matcalc.derive(expr, order=2)
    assert d.check().passed
    right = d.to_numpy()

    def spoiled(**point):
        return {k: np.asarray(v) * (1 + 1e-4) for k, v in right(**point).items()}
    r = hessian_check(d.program, d._first, d._results, spoiled)
    assert not r.passed, str(r)


def test_recurrent_check_refuses_huge_arguments():
    result = run("derive", "h[t] = tanh(x[t]*W + h[t-1]*V); f = sum_t(sum(h[t]))", "--dim", "V=30000,30000",
                 "--dim", "W=3,30000", "--dim", "x=1,3", "--check")
    assert result.exit_code == 2 and "too many to evaluate" in result.stderr, result.stderr


def test_norm2_hessian_at_huge_values():
    """(I − u uᵀ)/‖x‖ with u = x/‖x‖: ‖x‖⁻³ x xᵀ is computed as unit(x) unit(x)ᵀ / ‖x‖."""
    d = matcalc.derive("norm2(x)", order=2)
    f = d.to_numpy()
    for scale in (1e200, 1.0, 1e-200):
        x = np.array([[1.0], [2.0], [0.5]])
        u = x / np.linalg.norm(x)
        want = (np.eye(3) - u @ u.T) / np.linalg.norm(x)
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = f(x=x * scale)["x"]
        np.testing.assert_allclose(got * scale, want, rtol=1e-12, atol=1e-15)
