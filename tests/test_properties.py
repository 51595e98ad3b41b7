"""Property-based tests (Hypothesis): never a wrong gradient, never a crash, never a hang.

CI runs a bounded number of examples; ``python tests/long_run.py`` runs 10,000+ programs and
prints the counts.
"""
import os
import string

import numpy as np
import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings, strategies as st

import matcalc
from matcalc.cli import main
from matcalc.errors import LimitError, MatcalcError
from program_gen import check_program, generate
from recurrent_gen import RecurrentGenerator, check_recurrent, unroll

EXAMPLES = int(os.environ.get("MATCALC_PROPERTY_EXAMPLES", "60"))
FAST = settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow],
                derandomize=True)


# ---------------------------------------------------------------- correctness
@FAST
@given(st.randoms(use_true_random=False), st.integers(2, 5))
def test_random_programs_are_right_or_refused(rnd, depth):
    program, shapes = generate(rnd, depth)
    outcome, detail = check_program(program, shapes, seed=rnd.randint(0, 2**31))
    assert outcome in ("ok", "refused", "skipped"), f"{outcome}: {detail}\n{program}\n{shapes}"


@settings(max_examples=max(10, EXAMPLES // 3), deadline=None, suppress_health_check=[HealthCheck.too_slow],
          derandomize=True)
@given(st.randoms(use_true_random=False))
def test_random_recurrent_programs_match_the_unrolled_program(rnd):
    program, shapes, _ = RecurrentGenerator(rnd).recurrent()
    outcome, detail = check_recurrent(program, shapes, seed=rnd.randint(0, 2**31))
    assert outcome in ("ok", "refused", "skipped"), f"{outcome}: {detail}\n{program}\n{shapes}"


def test_unrolling_reference_is_not_vacuous():
    program = "h[t] = tanh(x[t]*U + h[t-1]*W); f = sum_t(sum(h[t]))"
    text = unroll(program, 2, ["h"])
    assert " ".join(text.split()) == ("h__1 = tanh(x__1*U + h__0*W); h__2 = tanh(x__2*U + h__1*W); "
                                      "f = ((sum(h__1)) + (sum(h__2)))")


def test_the_checker_catches_a_wrong_gradient(monkeypatch):
    """The property is not vacuous: a gradient off by 1% is reported as wrong."""
    from matcalc.derivation import Derivation
    real = Derivation.to_numpy

    def skewed(self, hvp=False):
        fn = real(self, hvp)
        return lambda **kw: {k: 1.01 * np.asarray(v) for k, v in fn(**kw).items()}
    monkeypatch.setattr(Derivation, "to_numpy", skewed)
    assert check_program("f = sum(exp(A*x))", {"A": (3, 2), "x": (2, 1)})[0] == "wrong"


# ---------------------------------------------------------------- malformed input
VALID = ["H = sigmoid(X*W1 + b1); f = norm2(H*W2 + b2 - Y)^2", "x'*A*x + 2*b'*x", "tr(inv(X)*A)",
         "-sum(Y .* logsoftmax(X*W))", "h[t] = tanh(x[t]*W + h[t-1]*U); f = sum_t(sum(h[t]))"]
NASTY = [
    "(" * 10000 + "x" + ")" * 10000, "-" * 5000 + "x", "x" + "^x" * 3000, "sum(" * 300 + "x" + ")" * 300,
    "__import__('os').system('touch /tmp/matcalc_pwned')", "exec('1')", "x.__class__", "lambda: 0",
    "1e999999*x", "99999999999999999999999999999999999*sum(x)", "x + 1e-400", "sum(x) # comment",
    "sum(x", "sum(x))", "((x)", "x[", "x]", "x[t", "f(x)", "foo(x)", "sum()", "sum(x, y)", "x'''''",
    "x = ", "= x", ";;;", "\n\n", "", "   ", "x ++ y", "x ** 2", "x .^", ".5.5", "1..2", "x..*y",
    "Σx", "x·y", "ｘ+1", "\x00", "\u202ex", "x\ty", "norm2(x)^2 ^ 2 ^", "inv(x)", "det(x)", "A*B*C'*D",
    "x[t] = x[t-1]", "h[t] = h[t-1]; f = sum_t(h[t])", "sum_t(sum_t(x))", "T", "t", "x[T]",
]


def _cli(args):
    return CliRunner().invoke(main, args, catch_exceptions=True)


def _assert_clean(result, args):
    assert result.exception is None or isinstance(result.exception, SystemExit), (args, repr(result.exception))
    assert result.exit_code in (0, 1, 2), (args, result.exit_code, result.output)
    text = result.output
    assert "Traceback" not in text and "internal error" not in text, (args, text)
    if result.exit_code == 2:
        first = result.stderr.splitlines()[0] if result.stderr else ""
        assert first.startswith("matcalc: ") and len(first) < 400, (args, first)


@pytest.mark.parametrize("expr", NASTY, ids=[str(i) for i in range(len(NASTY))])
def test_nasty_inputs_exit_cleanly(expr, tmp_path):
    result = _cli(["derive", expr, "--timeout", "20"])
    _assert_clean(result, expr)
    assert not os.path.exists("/tmp/matcalc_pwned")


def _mutate(rnd, text):
    chars = list(text)
    for _ in range(rnd.randint(1, 4)):
        op = rnd.choice(["insert", "delete", "replace", "swap"])
        i = rnd.randrange(len(chars) + 1)
        alphabet = "()[]*+-'.^;=,/0123456789eExXtTabs_ \n" + "σ∂é"
        if op == "insert":
            chars.insert(i, rnd.choice(alphabet))
        elif chars and i < len(chars):
            if op == "delete":
                del chars[i]
            elif op == "replace":
                chars[i] = rnd.choice(alphabet)
            elif i + 1 < len(chars):
                chars[i], chars[i + 1] = chars[i + 1], chars[i]
    return "".join(chars)


@FAST
@given(st.randoms(use_true_random=False))
def test_mutated_programs_never_crash(rnd):
    expr = _mutate(rnd, rnd.choice(VALID))
    try:
        matcalc.derive(expr, timeout=20)
    except MatcalcError:
        pass
    _assert_clean(_cli(["derive", expr, "--timeout", "20"]), expr)


@FAST
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=60))
def test_random_text_never_crashes(text):
    try:
        matcalc.derive(text, timeout=20)
    except MatcalcError:
        pass


DIMS = st.lists(st.text(alphabet=string.ascii_letters + string.digits + "=,.- ?", max_size=12), max_size=3)


@FAST
@given(DIMS)
def test_bad_dims_never_crash(dims):
    args = ["derive", "x'*A*x"]
    for d in dims:
        args += ["--dim", d]
    _assert_clean(_cli(args), args)


@pytest.mark.parametrize("dims", [["A=3,4", "x=3,1"], ["x=0,1"], ["x=-1,2"], ["x=1,2,3"], ["x=n,n", "A=2,3"],
                                  ["A=1e3,2"], ["A=99999999999,2"], ["x=", "x=2,1"], ["=2,2"]])
def test_shape_conflicts_and_bad_dims_exit_2(dims):
    args = ["derive", "x'*A*x"]
    for d in dims:
        args += ["--dim", d]
    result = _cli(args)
    _assert_clean(result, args)
    assert result.exit_code == 2


# ---------------------------------------------------------------- limits
def test_long_chains_are_legal():
    for op in ("+", "-", "*"):
        src = "a" + f"{op}a" * 9000
        d = matcalc.derive(src, shapes={"a": ()})
        assert d.check().passed


def test_timeout_stops_a_slow_derivation(monkeypatch):
    import time
    from matcalc.derivation import Derivation
    real = Derivation.__init__

    def slow(self, *args, **kwargs):   # a derivation that takes 30 s
        time.sleep(30)
        real(self, *args, **kwargs)
    monkeypatch.setattr(Derivation, "__init__", slow)
    start = time.perf_counter()
    with pytest.raises(LimitError, match="time limit of 1 s"):
        matcalc.derive("sum(x)", shapes={"x": (2, 1)}, timeout=1)
    result = _cli(["derive", "sum(y)", "--timeout", "1"])
    assert result.exit_code == 2 and "time limit" in result.stderr, (result.output, result.stderr)
    assert time.perf_counter() - start < 10


def test_size_limits_are_documented_errors():
    with pytest.raises(MatcalcError, match="too long"):
        matcalc.derive("x+" * 60000 + "x")
    with pytest.raises(MatcalcError, match="nested too deeply"):
        matcalc.derive("(" * 1000 + "x" + ")" * 1000)


# ---------------------------------------------------------------- domains and kinks
def test_check_at_a_kink_or_outside_a_domain_says_so():
    # relu at 0 everywhere: the check keeps away from the kink and passes
    assert matcalc.derive("sum(relu(x))", shapes={"x": (3, 1)}).check().passed
    # log of a value that is never positive: a clear domain error, not a failure
    with pytest.raises(MatcalcError, match="domain|could not"):
        matcalc.derive("sum(log(-exp(x)))", shapes={"x": (3, 1)}).check()


# ---------------------------------------------------------------- regressions found by the generator
REGRESSIONS = [
    # SymPy's factor_terms (run by Pow on exponents) turned V/10 inside tr() into a scalar Mul
    ("f = (norm2(H)^2 + 1)^(tr(0.1*V))", {"H": (3, 2), "V": (2, 2)}),
    ("f = (a^2+1)^(tr(0.1*V))", {"a": (), "V": (2, 2)}),
    ("f = ((norm2(u))^2 + 1)^(norm2(sqrt(softplus(log(softplus(y) + 0.5)) + 0.5))^2)", {"u": (4, 1), "y": (3, 1)}),
    ("f = (a^2+1)^(norm2(0.5*y + 0.5*z))", {"a": (), "y": (3, 1), "z": (3, 1)}),
    # ... and Abs.eval's signsimp, run by Pow on abs(exponent), did the same to y'*(r/2)
    ("f = (exp(norm2(sqrt(exp(H)))^2))^(softplus((y)' * ((r) / ((a)^2 + 1) - ((sigmoid(r)) .^ 1.5))))",
     {"H": (3, 4), "y": (4, 1), "r": (4, 1), "a": ()}),
    ("f = (exp(det(((B) / ((e)^2 + 1))' * ((B) / ((e)^2 + 1)) + eye(3))))^(tr(((inv((N)' * (N) + eye(3))) / "
     "(sigmoid(e))) .* ((A)' - ((A) .^ 2))))", {"B": (3, 3), "e": (), "N": (4, 3), "A": (3, 3)}),
    ("f = (sigmoid(norm2(relu(H))^2))^((((exp(x)) .^ (a))' * (u - (q))) * (det((N)' * (N) + eye(3))))",
     {"H": (1, 4), "x": (4, 1), "a": (), "u": (4, 1), "q": (4, 1), "N": (3, 3)}),
    # a gradient that cancels to zero came out as the scalar 0 instead of a 2×2 zero matrix
    ("f = tr(N - ((N)'))", {"N": (2, 2)}),
    # one value (W'W + I) inside two statements was two stages, and delta code counted it twice
    ("z1 = (logdet((W)' * (W) + eye(2))) * ((sigmoid(d))^(d - 0.5)); f = z1 - det((W)' * (W) + eye(2))",
     {"W": (4, 2), "d": ()}),
    ("z1 = logdet((B)' * (B) + eye(2)); z2 = (q) .* (u) - ((v) ./ (softplus(v) + 0.5)) + (exp(u)) .^ (0.5 - b); "
     "f = ((sigmoid(((u) .* (u) + 1) .^ 1.5)) .^ (z1) + diag(inv((B)' * (B) + eye(2))))' * (z2)",
     {"u": (2, 1), "B": (1, 2), "q": (2, 1), "v": (2, 1), "b": ()}),
    # a named constant: the delta code must not leave a placeholder or invalid syntax
    ("z1 = 2; f = norm2(((2 * (C)) .* (2 * (C)) + 1) .^ (sigmoid(z1)))", {"C": (2, 3)}),
    ("z1 = 3; f = (z1) * (exp(logdet((A)' * (A) + eye(3))))", {"A": (1, 3)}),
    # a sum of zero matrices was the scalar 0: a wrong shape error, and an engine assertion
    ("f = ((z - (z) + 2 * (z - (z))) / (sigmoid(sum(z))))' * (z)", {"z": (3, 1)}),
    ("f = (sum((softmax(F))' + -(softmax(F)))) * (.5)", {"F": (3, 3)}),
]


@pytest.mark.parametrize("program,shapes", REGRESSIONS, ids=[str(i) for i in range(len(REGRESSIONS))])
def test_regressions(program, shapes):
    assert check_program(program, shapes) == ("ok", "")
