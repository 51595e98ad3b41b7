"""The simplifier (issue 15): variants of the textbook families checked against finite
differences of the function itself, named results, symmetry proofs, --expand."""
import json
import zlib

import numpy as np
import pytest
from click.testing import CliRunner
from sympy import MatrixSymbol

import matcalc
from expr_eval import evaluate
from fd import fd_gradient, rel_err
from test_textbook import _draw

# (program, wrt, shapes, domain): unseen-style variants of the textbook families
VARIANTS = [
    ("-sum(y .* log(sigmoid(A*x + c)) + (1 - y) .* log(1 - sigmoid(A*x + c)))/5", ["x", "c"],
     {"A": (5, 3), "x": (3, 1), "c": (5, 1), "y": (5, 1)}, {"y": "prob"}),
    ("sum(log(1 + exp(-y .* (X*w))))", ["w"], {"X": (6, 3), "w": (3, 1), "y": (6, 1)}, {"y": "pm1"}),
    ("-sum(t .* log(sigmoid(X*w)) + (1 - t) .* log(sigmoid(-X*w)))", ["w"],
     {"X": (6, 3), "w": (3, 1), "t": (6, 1)}, {"t": "prob"}),
    ("-sum(Y .* log(sigmoid(X*W)) + (1 - Y) .* log(1 - sigmoid(X*W)))/6", ["W"],
     {"X": (6, 3), "W": (3, 2), "Y": (6, 2)}, {"Y": "prob"}),
    ("P = sigmoid(X*W + c); f = -sum(Y .* log(P) + (1 - Y) .* log(1 - P))", ["W", "c"],
     {"X": (6, 3), "W": (3, 2), "c": (1, 2), "Y": (6, 2)}, {"Y": "prob"}),
    ("sum((exp(2*X*w) - 1) ./ (exp(2*X*w) + 1))", ["w"], {"X": (5, 3), "w": (3, 1)}, {"X": "small"}),
    ("sum((exp(X*W) - exp(-X*W)) ./ (exp(X*W) + exp(-X*W)))", ["W"], {"X": (5, 3), "W": (3, 2)},
     {"X": "small"}),
    ("sum(1 ./ (1 + exp(-X*w)))", ["w"], {"X": (5, 3), "w": (3, 1)}, {}),
    ("sum(y .* log(1 ./ (1 + exp(-X*w))))", ["w"], {"X": (5, 3), "w": (3, 1), "y": (5, 1)}, {"y": "prob"}),
    ("-y'*log(exp(z)/sum(exp(z)))", ["z"], {"y": (4, 1), "z": (4, 1)}, {"y": "prob"}),
    ("log(sum(exp(W*x))) - y'*(W*x)", ["W", "x"], {"W": (4, 3), "x": (3, 1), "y": (4, 1)}, {"y": "prob"}),
    ("sum((x.^3) ./ (x.^2) .* (A*y))", ["x", "y"], {"x": (4, 1), "A": (4, 3), "y": (3, 1)}, {"x": "pos"}),
    ("sum(p .* log(p ./ q))", ["q"], {"p": (5, 1), "q": (5, 1)}, {"p": "pos", "q": "pos"}),
    ("sum(W*H - Y .* log(W*H))/4", ["W", "H"], {"W": (5, 2), "H": (2, 4), "Y": (5, 4)},
     {"W": "pos", "H": "pos", "Y": "pos"}),
    ("x'*A*x/(x'*x)", ["x"], {"x": (4, 1), "A": (4, 4)}, {}),
    ("log(2 + (x - m)'*(x - m))", ["x", "m"], {"x": (3, 1), "m": (3, 1)}, {}),
    ("0.25*x'*A*x + 0.25*x'*A'*x", ["x"], {"x": (4, 1), "A": (4, 4)}, {}),
    ("3*tr(A*X) - tr(X'*A')/4 + tr(B*X)", ["X"], {"A": (3, 4), "B": (3, 4), "X": (4, 3)}, {}),
    ("x'*inv(inv(A))*x", ["x", "A"], {"x": (3, 1), "A": (3, 3)}, {"A": "pd"}),
    ("log(det(inv(X')))", ["X"], {"X": (3, 3)}, {"X": "pd"}),
    ("det(inv(X))^2", ["X"], {"X": (3, 3)}, {"X": "pd"}),
    ("tr(inv(inv(X'))*B)", ["X"], {"X": (3, 3), "B": (3, 3)}, {"X": "pd"}),
    ("x'*inv(X'*X + c*eye(3))*x", ["x", "X"], {"x": (3, 1), "X": (5, 3), "c": ()}, {"c": "pos"}),
    ("0.5*(x - m)'*inv(S)*(x - m) + 0.5*log(det(S))", ["m", "S"], {"x": (3, 1), "m": (3, 1), "S": (3, 3)},
     {"S": "spd"}),
    ("norm2(X*w - y)^2/(2*n) + lam*norm2(w)^2/2", ["w"],
     {"X": (6, 3), "w": (3, 1), "y": (6, 1), "n": (), "lam": ()}, {"n": "pos", "lam": "pos"}),
    ("H = sigmoid(X*W1 + b1); f = -sum(y .* log(sigmoid(H*v)) + (1 - y) .* log(1 - sigmoid(H*v)))/6",
     ["W1", "b1", "v"], {"X": (6, 4), "W1": (4, 3), "b1": (1, 3), "v": (3, 1), "y": (6, 1)}, {"y": "prob"}),
    ("H = tanh(X*W1); f = -sum(Y .* logsoftmax(H*W2))", ["W1", "W2"],
     {"X": (5, 4), "W1": (4, 3), "W2": (3, 2), "Y": (5, 2)}, {"Y": "prob"}),
]


def _point(program, shapes, domain, k):
    rng = np.random.default_rng(zlib.crc32(f"{program}:{k}".encode()))
    return {n: _draw(domain.get(n, "normal"), s, rng) for n, s in shapes.items()}


@pytest.mark.parametrize("program, wrt, shapes, domain", VARIANTS, ids=[v[0][:40] for v in VARIANTS])
def test_variant_results_match_finite_differences(program, wrt, shapes, domain):
    js = matcalc.derive(program, wrt=wrt, shapes=shapes).to_json()["wrt"]
    for k in range(2):
        env = _point(program, shapes, domain, k)
        for n in wrt:
            fd = fd_gradient(lambda **a: evaluate(program, a), env, n)
            got = np.asarray(evaluate(js[n]["result"], env), float).reshape(np.shape(fd))
            assert rel_err(got, fd) < 1e-6, (n, js[n]["result"])
            named = js[n]["named"]       # the where block and the named result give the same value
            text = "; ".join(f"{a} = {b}" for a, b in named["where"]) + f"; f = {named['result']}"
            value = np.asarray(evaluate(text if named["where"] else named["result"], env), float)
            assert rel_err(value.reshape(np.shape(fd)), fd) < 1e-6, (n, named)


def test_logistic_regression_reads_like_a_textbook():
    expr = "-sum(y .* log(sigmoid(X*w + b)) + (1 - y) .* log(1 - sigmoid(X*w + b)))"
    d = matcalc.derive(expr, wrt=["w", "b"], shapes={"X": (6, 3), "w": (3, 1), "b": (), "y": (6, 1)})
    js = d.to_json()["wrt"]
    assert js["w"]["result"] == "X'*(sigmoid(X*w + b) - y)"
    assert js["w"]["named"] == {"where": [["p", "sigmoid(X*w + b)"]], "result": "X'*(p - y)"}
    assert js["b"]["named"]["result"] == "sum(p - y)"
    text = d.text()
    assert "where p = sigmoid(Xw + b)" in text and "∂f/∂w = Xᵀ(p − y)" in text
    assert "p &= \\sigma" in d.latex()
    expanded = matcalc.derive(expr, wrt=["w", "b"], shapes={"X": (6, 3), "w": (3, 1), "b": (), "y": (6, 1)},
                              expand=True).text()
    assert "where p" not in expanded and "∂f/∂w = Xᵀ(sigmoid(Xw + b) − y)" in expanded


def test_cli_expand_flag():
    from cli import main
    expr = "-sum(y .* log(sigmoid(X*w + b)) + (1 - y) .* log(1 - sigmoid(X*w + b)))"
    args = ["derive", expr, "--wrt", "w", "--wrt", "b", "--scalar", "b"]
    named = CliRunner().invoke(main, args)
    inline = CliRunner().invoke(main, args + ["--expand"])
    assert named.exit_code == inline.exit_code == 0
    assert "where p = sigmoid(Xw + b)" in named.output and "Xᵀ(p − y)" in named.output
    assert "where p" not in inline.output and "Xᵀ(sigmoid(Xw + b) − y)" in inline.output
    data = json.loads(CliRunner().invoke(main, args + ["--format", "json"]).output)
    assert data["wrt"]["w"]["result"] == "X'*(sigmoid(X*w + b) - y)"
    assert data["wrt"]["w"]["named"]["where"] == [["p", "sigmoid(X*w + b)"]]
    single = CliRunner().invoke(main, ["derive", "sum(softplus(X*w))", "--wrt", "w"])
    assert "where" not in single.output   # a value used once is not named


def test_inverse_and_determinant_identities():
    shapes = {"X": (3, 3), "A": (3, 3)}
    assert matcalc.derive("tr(A*inv(inv(X)))", wrt="X", shapes=shapes).to_json()["wrt"]["X"]["result"] == "A'"
    one = {"X": (3, 3)}
    assert matcalc.derive("log(det(inv(X)))", wrt="X", shapes=one).to_json()["wrt"]["X"]["result"] == "-inv(X)'"
    assert matcalc.derive("log(det(inv(X)))", wrt="X", shapes=one).text().endswith("∂f/∂X = −X⁻ᵀ   (3×3)")
    assert matcalc.derive("det(inv(X))", wrt="X", shapes=one).to_json()["wrt"]["X"]["result"] == "-inv(X)'/det(X)"


def test_symmetry_is_proved_not_assumed():
    from matcalc.differentiate.matrix_algebra import is_symmetric
    A, B, X = MatrixSymbol("A", 3, 3), MatrixSymbol("B", 3, 3), MatrixSymbol("X", 5, 3)
    assert is_symmetric(X.T * X) and is_symmetric(A + A.T) and is_symmetric(A * B * B.T * A.T)
    assert is_symmetric((X.T * X).I)
    assert not is_symmetric(A) and not is_symmetric(A * B) and not is_symmetric(A + B)
    assert not is_symmetric(A * B * A.T) and not is_symmetric(A.I)
    # a transpose of a non-symmetric inverse is kept: the two terms stay apart
    r = matcalc.derive("x'*inv(A)*x", wrt="x", shapes={"x": (3, 1), "A": (3, 3)}).to_json()["wrt"]["x"]["result"]
    assert "inv(A)'" in r
    r = matcalc.derive("x'*inv(X'*X)*x", wrt="x", shapes={"x": (3, 1), "X": (5, 3)}).to_json()["wrt"]["x"]["result"]
    assert r == "2*inv(X'*X)*x"


def test_a_wrong_simplification_fails_its_selftest(monkeypatch):
    from matcalc.differentiate import matrix_algebra
    from matcalc import rules
    from matcalc.judge.selftest import run_selftests
    monkeypatch.setattr(matrix_algebra, "inverse_of_inverse",
                        lambda node: node.arg if type(node).__name__ == "Inverse" else None)  # (X⁻¹)⁻¹ -> X⁻¹
    ok, message = run_selftests(rules.IDENTITIES["simplify:inverse_of_inverse"])
    assert not ok, message


def test_simplification_keeps_shared_forward_values():
    """σ(1 − σ) stays a product of the forward value (σ − σ² would not reuse H in code)."""
    d = matcalc.derive("sum(softplus(X*w)) - y'*X*w", wrt="w", order=2)
    assert "sigmoid(X*w) .* (1 - sigmoid(X*w))" in d.to_json()["wrt"]["w"]["result"]
