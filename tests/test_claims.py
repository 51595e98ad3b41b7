"""`matcalc check`: claims of the seed notes and synthetic mistakes, each with its diagnosis."""
import json
import subprocess
import sys

import pytest

import matcalc
from matcalc.errors import MatcalcError

LINREG = ("norm2(X*W - Y)^2", {"X": ("n", "d"), "W": ("d", "k"), "Y": ("n", "k")})
MLP = ("H = sigmoid(X*W1 + b1); Y_pred = H*W2 + b2; f = norm2(Y_pred - Y)^2",
       {"X": ("n", "d"), "W1": ("d", "h"), "b1": (1, "h"), "W2": ("h", "k"), "b2": (1, "k"), "Y": ("n", "k")})


def _check(program, wrt, claim, layout=None, sum_to_one=()):
    expr, shapes = program
    return matcalc.check(expr, wrt, claim, shapes, layout, sum_to_one)


# ---------------------------------------------------------------- correct claims, in any equivalent form
@pytest.mark.parametrize("program,wrt,claim", [
    (LINREG, "W", "2*X'*(X*W - Y)"),
    (LINREG, "W", "2*(X'*X*W - X'*Y)"),
    (LINREG, "W", "2*X'*X*W - 2*X'*Y"),
    # seed 004, the trace method for the two-layer net, in the user's names
    (MLP, "W2", "2*H'*(Y_pred - Y)"),
    (MLP, "b2", "2*ones(1,n)*(Y_pred - Y)"),
    (MLP, "W1", "X'*((2*(Y_pred - Y)*W2') .* H .* (1 - H))"),
    (MLP, "b1", "ones(1,n)*((2*(Y_pred - Y)*W2') .* H .* (1 - H))"),
    # seed 003's quadratic forms and traces
    (("x'*A*x", {"A": ("n", "n"), "x": ("n", 1)}), "x", "(A + A')*x"),
    (("tr(A*X*B)", {"A": ("n", "n"), "X": ("n", "n"), "B": ("n", "n")}), "X", "A'*B'"),
])
def test_correct_claims_are_accepted(program, wrt, claim):
    r = _check(program, wrt, claim)
    assert r.verdict == "correct", r.text()
    assert r.max_rel_error < 1e-9 and r.diagnosis == []


def test_seed_softmax_cross_entropy_collapses():
    # seed 003: ∂J/∂z = −y + softmax(z) for one-hot y (a row vector)
    r = matcalc.check("-log(softmax(z))*y'", "z", "softmax(z) - y", {"z": (1, "k"), "y": (1, "k")},
                      sum_to_one=["y"])
    assert r.verdict == "correct", r.text()


# ---------------------------------------------------------------- the seeds' mistakes
def test_seed_batch_bias_not_summed():
    """Seeds 003/004: ∂J/∂b = δ for a batch, a matrix instead of its column sums."""
    r = _check(MLP, "b2", "2*(Y_pred - Y)")
    assert r.verdict == "wrong"
    assert any("sum over the batch rows" in d for d in r.diagnosis), r.diagnosis


def test_seed_softmax_jacobian_written_as_a_diagonal():
    """Seed 001/003: the softmax Jacobian written as diag(softmax(z))."""
    r = matcalc.check("softmax(z)", "z", "diag(softmax(z))", {"z": ("n", 1)}, layout="numerator")
    assert r.verdict == "wrong"
    assert any("diagonal matrix where the full Jacobian belongs" in d for d in r.diagnosis)
    assert any("missing term" in d and "softmax(z)softmax(z)ᵀ" in d for d in r.diagnosis)
    assert r.expected == "diag(softmax(z)) - softmax(z)*softmax(z)'"


def test_seed_rnn_recurrence_without_the_activation_derivative_of_the_right_step():
    """Seed 003's RNN writes δ_t = … δ_{t+1} Whᵀ diag(1 − h_t²); one step of it, for one layer:
    the gradient w.r.t. the previous state is (δ ⊙ (1 − h²)) Whᵀ, not (δ Whᵀ) ⊙ (1 − h_prev²)."""
    expr = "h = tanh(x*Wx + hp*Wh); f = sum(G .* h)"
    shapes = {"x": ("B", "D"), "Wx": ("D", "H"), "hp": ("B", "H"), "Wh": ("H", "H"), "G": ("B", "H")}
    ok = matcalc.check(expr, "hp", "(G .* (1 - h .* h))*Wh'", shapes)
    assert ok.verdict == "correct", ok.text()
    bad = matcalc.check(expr, "hp", "(G*Wh') .* (1 - hp .* hp)", shapes)
    assert bad.verdict == "wrong" and bad.counterexample is not None


# ---------------------------------------------------------------- synthetic mistakes of each kind
@pytest.mark.parametrize("program,wrt,claim,kind", [
    (LINREG, "W", "X'*(X*W - Y)", "a factor 2 is missing"),
    (LINREG, "W", "4*X'*(X*W - Y)", "a factor 2 too many"),
    (LINREG, "W", "-2*X'*(X*W - Y)", "wrong sign"),
    (LINREG, "W", "2*(X*W - Y)'*X", "transposed"),
    (LINREG, "W", "2*X'*X*W", "missing term"),
    (LINREG, "W", "2*X'*(X*W - Y) + X'*Y", "extra term"),
    (LINREG, "W", "2*X'*X*W + 2*X'*Y", "wrong sign of the term"),
    (MLP, "b1", "(2*(Y_pred - Y)*W2') .* H .* (1 - H)", "sum over the batch rows"),
    (MLP, "W1", "X'*((2*(Y_pred - Y)*W2') * (H .* (1 - H))')", None),
    (("x'*A*x", {"A": ("n", "n"), "x": ("n", 1)}), "x", "A*x", "missing term: Aᵀ x"),
    (("x'*A*x", {"A": ("n", "n"), "x": ("n", 1)}), "x", "2*A*x", None),
    (("tr(A*X*B)", {"A": ("n", "n"), "X": ("n", "n"), "B": ("n", "n")}), "X", "A' .* B'",
     "a Hadamard product (.*) at column 4 where a matrix product (*) belongs"),
    (("tr(A*X*B)", {"A": ("n", "n"), "X": ("n", "n"), "B": ("n", "n")}), "X", "B*A", "transposed"),
    (("tr(A*X*B)", {"A": ("n", "n"), "X": ("n", "n"), "B": ("n", "n")}), "X", "A*B'", "a transpose is missing at column 1"),
    (("sum(exp(X*w))", {"X": ("n", "d"), "w": ("d", 1)}), "w", "X'*exp(X*w) + X'*exp(X*w)", "a factor 2 too many"),
    (("sum((A*x) .* (B*x))", {"A": ("n", "n"), "B": ("n", "n"), "x": ("n", 1)}), "x",
     "A'*(B*x) .* B'*(A*x)", None),
])
def test_synthetic_mistakes_are_caught(program, wrt, claim, kind):
    try:
        r = _check(program, wrt, claim)
    except MatcalcError:   # an ill-typed claim is an input error, reported with its place
        assert kind is None
        return
    assert r.verdict == "wrong", r.text()
    assert r.expected and r.counterexample is not None
    if kind is not None:
        assert any(kind in d for d in r.diagnosis), r.diagnosis


def test_jacobian_in_the_other_layout():
    r = matcalc.check("W*x", "x", "W'", {"W": (2, 3), "x": (3, 1)}, layout="numerator")
    assert r.verdict == "wrong" and "denominator layout" in r.diagnosis[0]
    assert matcalc.check("W*x", "x", "W'", {"W": (2, 3), "x": (3, 1)}, layout="denominator").verdict == "correct"


def test_counterexample_uses_the_smallest_sizes():
    r = _check(LINREG, "W", "X'*(X*W - Y)")
    assert set(r.counterexample["sizes"].values()) == {1}
    assert r.counterexample["claim"] != r.counterexample["expected"]


# ---------------------------------------------------------------- CLI and input errors
def _cli(*args):
    return subprocess.run([sys.executable, "-m", "matcalc", "check", *args], capture_output=True, text=True,
                          timeout=120)


def test_cli_exit_codes_and_json():
    ok = _cli("norm2(X*W - Y)^2", "--wrt", "W", "--claim", "2*(X'*X*W - X'*Y)", "--format", "json")
    assert ok.returncode == 0, ok.stderr
    data = json.loads(ok.stdout)
    assert data["verdict"] == "correct" and data["diagnosis"] == [] and data["expected"] == "2*X'*(X*W - Y)"
    bad = _cli("norm2(X*W - Y)^2", "--wrt", "W", "--claim", "X'*(X*W - Y)")
    assert bad.returncode == 1
    assert "a factor 2 is missing" in bad.stdout and "correct form: ∂f/∂W = 2Xᵀ(XW − Y)" in bad.stdout
    assert "counterexample" in bad.stdout
    data = json.loads(_cli("norm2(X*W - Y)^2", "--wrt", "W", "--claim", "X'*(X*W - Y)", "--format",
                           "json").stdout)
    assert set(data) >= {"verdict", "diagnosis", "max_rel_error", "expected"} and data["verdict"] == "wrong"


@pytest.mark.parametrize("claim,message", [
    ("2*X'*(X*W - Q)", "the claim uses 'Q'"),
    ("2*X*(X*W - Y)", "in the claim: cannot multiply"),
    ("2*X'*(X*W - Y", "expected ')'"),
    ("", "the claim is empty"),
    ("a = X; a", "one expression"),
])
def test_cli_claim_errors_exit_2(claim, message):
    r = _cli("norm2(X*W - Y)^2", "--wrt", "W", "--claim", claim)
    assert r.returncode == 2, (r.stdout, r.stderr)
    assert message in r.stderr.splitlines()[0] and "Traceback" not in r.stderr


def test_cli_requires_the_claim():
    r = _cli("norm2(X*W - Y)^2", "--wrt", "W")
    assert r.returncode == 2


# ---------------------------------------------------------------- regressions from a review
def test_transposes_of_det_and_inv_gradients_are_caught():
    """Points for det/inv/logdet are not symmetric, so inv(X) vs inv(X)' shows."""
    for expr, claim in (("det(X)", "det(X)*inv(X)"), ("logdet(X)", "inv(X)"), ("log(det(X))", "inv(X)")):
        r = matcalc.check(expr, "X", claim, {"X": ("n", "n")})
        assert r.verdict == "wrong" and any("transpose" in d for d in r.diagnosis), (expr, r.diagnosis)
    assert matcalc.check("u'*inv(A)*x", "x", "inv(A)*u", {"A": ("n", "n")}).verdict == "wrong"
    assert matcalc.check("u'*inv(A)*x", "x", "inv(A)'*u", {"A": ("n", "n")}).verdict == "correct"


def test_small_gradients_are_compared_relatively():
    assert matcalc.check("1e-9*sum(x)", "x", "0*x", {"x": ("n", 1)}).verdict == "wrong"
    assert matcalc.check("1e-9*sum(x)", "x", "1e-9*ones(n,1)", {"x": ("n", 1)}).verdict == "correct"


def test_one_by_one_values_and_scalars_compare():
    r = matcalc.check("norm2(X*w - y)^2", "w", "2*X'*(X*w - y)", {"X": (3, 1), "w": (1, 1), "y": (3, 1)})
    assert r.verdict == "correct", r.text()


def test_sizes_differ_between_points():
    r = matcalc.check("sum(x)", "x", "ones(n,1)*(ones(1,n)*ones(n,1))/3", {"x": ("n", 1)})
    assert r.verdict == "wrong" and r.counterexample is not None


def test_block_diagonal_jacobian_diagnosis_is_true():
    r = matcalc.check("A*X", "X", "eye(4)", {"A": (2, 2), "X": (2, 2)}, layout="numerator")
    assert r.verdict == "wrong"
    assert not any("every output depends on every input" in d for d in r.diagnosis)


@pytest.mark.parametrize("args,message", [
    (["sum(x)", "--wrt", "x", "--claim", "(0/0)*x"], "division by zero"),
    (["sum(x)", "--wrt", "x", "--claim", "x[t]"], "only recurrent programs"),
    (["sum(x)", "--wrt", "x", "--wrt", "y", "--claim", "x"], "one variable at a time"),
    (["norm2(X*w-y)^2", "--wrt", "w", "--claim", "2*X'*(X*w-y)", "--dim", "X=100000,100000"], "too many"),
])
def test_review_inputs_exit_2(args, message):
    r = _cli(*args)
    assert r.returncode == 2 and message in r.stderr.splitlines()[0], r.stderr


def test_overflowing_claim_is_reported_without_warnings():
    r = _cli("sum(x)", "--wrt", "x", "--claim", "1e300*x*1e300")
    assert r.returncode == 1 and "RuntimeWarning" not in r.stderr
