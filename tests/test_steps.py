"""Step-by-step derivations: every step of every method holds numerically, steps are
short (no step that prints as the one before), name catalogue identities, and read
like the seed notes (named deltas, trace differentials, column-sum bias gradients)."""
import dataclasses
import json

import pytest
from click.testing import CliRunner

import matcalc
from matcalc.cli import main
from matcalc.errors import UnsupportedError
from matcalc.ir.nodes import _Placeholder
from matcalc.lang.printing import to_unicode
from matcalc.rules import lookup
from matcalc.verify.stepcheck import verify
from problem_set import PROBLEMS

GRADIENT = [pytest.param(p, id=p["id"]) for p in PROBLEMS if p["kind"] == "gradient"]
TOL = 1e-6

SEED004 = "h = X*W1 + b1; h_sigmoid = sigmoid(h); Y_pred = h_sigmoid*W2 + b2; f = norm2(Y - Y_pred)^2"
SEED004_SHAPES = {"X": (5, 3), "W1": (3, 4), "b1": (1, 4), "W2": (4, 2), "b2": (1, 2), "Y": (5, 2)}
MLP000 = "0.5*norm2(sigmoid(W2*sigmoid(W1*x + b1) + b2) - y)^2"
MLP000_SHAPES = {"x": (4, 1), "W1": (5, 4), "b1": (5, 1), "W2": (3, 5), "b2": (3, 1), "y": (3, 1)}


def _derive(p, method):
    return matcalc.derive(p["expr"], wrt=p["wrt"], shapes=p["shapes"], method=method,
                          sum_to_one=p.get("sum_to_one", ()))


def _results(d) -> set:
    return {s.lhs.of for s in d.steps if isinstance(s.lhs, _Placeholder) and s.lhs.role in ("grad", "nabla")}


@pytest.mark.parametrize("method", ["backprop", "trace", "jacobian"])
@pytest.mark.parametrize("p", GRADIENT)
def test_every_step_holds(p, method):
    d = _derive(p, method)
    try:
        steps = d.steps
    except UnsupportedError as err:   # the Jacobian chain needs vector intermediates
        assert method == "jacobian" and "--method backprop" in str(err)
        return
    assert steps
    assert _results(d) == set(p["wrt"])           # every variable's gradient is read off
    assert d.verify_steps() <= TOL
    for s in steps:                               # each names a documented identity
        assert lookup(s.rule) is not None and s.identity, s.rule
        assert all(lookup(r) is not None for r in s.rules), s.rules


@pytest.mark.parametrize("method", ["backprop", "trace"])
@pytest.mark.parametrize("p", GRADIENT[:40])
def test_no_step_changes_nothing(p, method):
    d = _derive(p, method)
    names = d.step_names
    for a, b in zip(d.steps, d.steps[1:]):
        if b.lhs is None:
            assert to_unicode(b.rhs, names) != to_unicode(a.rhs, names)


def test_a_wrong_step_is_caught():
    d = matcalc.derive(SEED004, shapes=SEED004_SHAPES, wrt=["W1", "b1", "W2", "b2"], method="trace")
    steps = list(d.steps)
    i = next(k for k, s in enumerate(steps) if s.lhs is not None and getattr(s.lhs, "of", "") == "W2")
    steps[i] = dataclasses.replace(steps[i], rhs=2 * steps[i].rhs)
    assert verify(d.plan, steps) > 1e-3


@pytest.mark.parametrize("method", ["backprop", "jacobian"])
def test_a_wrong_delta_is_caught(method):
    d = matcalc.derive(MLP000, shapes=MLP000_SHAPES, wrt=["W1", "x"], method=method)
    steps = list(d.steps)
    i = next(k for k, s in enumerate(steps) if s.lhs is not None and getattr(s.lhs, "of", "") == "u2")
    steps[i] = dataclasses.replace(steps[i], rhs=steps[i].rhs * 1.01)   # a 1% slip in one recurrence step
    assert verify(d.plan, steps) > 1e-4
    assert d.verify_steps() <= TOL


def test_a_wrong_local_jacobian_is_caught():
    d = matcalc.derive(MLP000, shapes=MLP000_SHAPES, wrt=["x"], method="jacobian")
    steps = list(d.steps)
    i = next(k for k, s in enumerate(steps) if getattr(s.lhs, "role", "") == "jac")
    assert d.verify_steps() <= TOL
    steps[i] = dataclasses.replace(steps[i], rhs=steps[i].rhs.T.T * 1.01)
    assert verify(d.plan, steps) > 1e-4


def test_methods_agree_on_results():
    for method in ("backprop", "trace"):
        d = matcalc.derive(SEED004, shapes=SEED004_SHAPES, method=method)
        assert d.verify_steps() <= TOL and d.check().passed


# ------------------------------------------------------------------ the seeds' notes
def test_seed004_trace_markdown_reads_like_the_note():
    d = matcalc.derive(SEED004, shapes=SEED004_SHAPES, wrt=["W1", "b1", "W2", "b2"], method="trace")
    md = d.markdown()
    for piece in (r"\operatorname{tr}\left(\left(Y - Y_{pred}\right)^{T} \left(Y - Y_{pred}\right)\right)",
                  r"\mathrm{d}Y_{pred}", r"\mathrm{d}\left(h_{sigmoid} W_{2} + b_{2}\right)",
                  r"\frac{\partial f}{\partial W_{2}} &= h_{sigmoid}^{T} \delta_{Y_{pred}}",
                  r"\frac{\partial f}{\partial b_{2}} &= \mathbf{1}^{T} \delta_{Y_{pred}}",
                  r"\frac{\partial f}{\partial b_{1}} &= \mathbf{1}^{T} \delta_{h}",
                  "## Results", r"$1 \times 4$"):
        assert piece in md, piece
    # the note's error: b's gradient is a column sum with b's shape, not the n x k matrix
    assert d.gradient("b2").shape == (1, 2) and d.gradient("b1").shape == (1, 4)
    assert md.count("### ") >= 4


def test_seed003_softmax_regression_backprop_delta():
    d = matcalc.derive("-sum(Y .* log(softmax(X*W)))", shapes={"X": (6, 4), "W": (4, 3), "Y": (6, 3)},
                       wrt=["W"], sum_to_one=["Y"])
    text = d.text(steps=True)
    assert "δ_u = softmax(u) − Y" in text and "∂f/∂W = Xᵀ δ_u" in text
    assert "∂f/∂W = Xᵀ(softmax(XW) − Y)" in text


def test_seed000_column_mlp_shows_the_recurrence():
    d = matcalc.derive(MLP000, shapes=MLP000_SHAPES, wrt=["W1", "b1", "W2", "b2"])
    text = d.text(steps=True)
    # the values the results name (p2 = σ(W1x + b1), p = σ(W2p2 + b2)) have those names here too
    for line in ("let p2 = sigmoid(u1)", "let p = sigmoid(u2)", "δ_u2 = δ_u3 ⊙ p ⊙ (1 − p)",
                 "δ_u1 = (W2ᵀ δ_u2) ⊙ p2 ⊙ (1 − p2)",
                 "∂f/∂W1 = δ_u1 xᵀ", "∂f/∂b1 = δ_u1", "∂f/∂W2 = δ_u2 p2ᵀ"):
        assert line in text, line


def test_user_names_are_kept_in_deltas():
    d = matcalc.derive(SEED004, shapes=SEED004_SHAPES, wrt=["W1", "W2"])
    text = d.text(steps=True)
    assert "δ_Y_pred = 2(Y_pred − Y)" in text
    assert "δ_h_sigmoid = δ_Y_pred W2ᵀ" in text
    assert "δ_h = δ_h_sigmoid ⊙ h_sigmoid ⊙ (1 − h_sigmoid)" in text
    assert r"\delta_{Y_{pred}}" in d.latex(steps=True)


def test_jacobian_method_states_layout():
    d = matcalc.derive(MLP000, shapes=MLP000_SHAPES, wrt=["x", "b1"], method="jacobian")
    text = d.text(steps=True)
    assert "numerator layout" in text and "diag(" in text
    assert d.verify_steps() <= TOL


SOFTMAX_ROWS = "-sum(Y .* log(softmax(X*W)))"


def test_jacobian_method_through_row_softmax():
    """Softmax per row of a matrix: the vec form diag(vec S) − diag(vec S)(𝟏𝟏ᵀ ⊗ I)diag(vec S)."""
    d = matcalc.derive(SOFTMAX_ROWS, method="jacobian", sum_to_one=["Y"])
    assert d.verify_steps() <= TOL


def test_jacobian_method_on_matrices_uses_vec_forms():
    d = matcalc.derive(SEED004, shapes=SEED004_SHAPES, method="jacobian")
    text = d.text(steps=True)
    assert "vec(δ_h)ᵀ = ∂f/∂h" in text and "W2ᵀ ⊗ 𝕀" in text
    assert d.verify_steps() <= TOL


def test_unknown_method_is_a_user_error():
    with pytest.raises(matcalc.MatcalcError, match="method"):
        matcalc.derive("sum(x)", method="magic")


# ------------------------------------------------------------------ outputs
def _cli(*args):
    return CliRunner().invoke(main, ["derive", *args])


def test_cli_json_steps():
    r = _cli(SEED004, "--dim", "X=5,3", "--dim", "W1=3,4", "--dim", "b1=1,4", "--dim", "W2=4,2",
             "--dim", "b2=1,2", "--dim", "Y=5,2", "--wrt", "W2", "--steps", "--method", "trace",
             "--format", "json", "--check")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert out["method"] == "trace" and out["check"]["passed"]
    assert out["wrt"]["W2"]["shape"] == [4, 2]
    assert all({"lhs", "rhs", "rule", "identity", "rhs_latex"} <= set(s) for s in out["steps"])
    assert any(s["rule"] == "trace_cyclic" for s in out["steps"])


def test_cli_jacobian_method_error_exit_2():
    r = _cli(SOFTMAX_ROWS, "--method", "jacobians", "--steps")
    assert r.exit_code == 2 and "Traceback" not in r.output


def test_cli_standalone_is_a_document():
    r = _cli("norm2(X*w - y)^2", "--wrt", "w", "--format", "latex", "--standalone")
    assert r.exit_code == 0
    assert r.output.startswith(r"\documentclass") and r"\end{document}" in r.output
    assert "δ" not in r.output and "ᵀ" not in r.output


def test_jupyter_reprs():
    d = matcalc.derive(SEED004, shapes=SEED004_SHAPES, wrt=["W2"])
    assert d._repr_latex_().startswith("$$") and r"\frac{\partial f}" in d._repr_latex_()
    assert "## Results" in d._repr_markdown_() and "$$" in d._repr_markdown_()


# ------------------------------------------------------------------ review regressions
EDGE_PROGRAMS = [
    "s = norm2(x)^2; f = 2*s", "n = norm2(x); f = n^2", "f = norm2(norm2(x)^2*x)^2",
    "n = norm2(x - y); f = n^2 + n", "f = a", "f = x'*x - x'*x + a", "f = 3", "f = 0*sum(x)",
    "A = X; f = sum(A*w)", "f = x'*A*A*x", "H = X*W; f = sum(exp(H)) + sum(H*V)",
    "r = X*w - y; f = r'*r + r'*y", "H = X*W; f = sum(H) + tr(H'*H)", "c = a*b; f = c^2 + sin(c)",
    "M = X*X; f = tr(M) + tr(M*M)", "k = 2; h = k*x; f = h'*h", "p = softmax(W*x); f = y'*log(p)",
    "H = X*W; f = norm2(H*V)^2", "y_hat = X*w + b; f = norm2(y_hat - y)^2",
    "A1 = X*W1; A2 = A1*W2; A3 = A2*W3; f = sum(A3)", "u = X*w; f = sum(X*v)",
    "t = tanh(a*b); f = t^2", "dd = det(X); f = log(dd)", "sum(sigmoid(W*u + z + q*g))",
    "H = X*W; G = H; f = sum(G.*H)",
]


@pytest.mark.parametrize("method", ["backprop", "trace", "jacobian"])
@pytest.mark.parametrize("src", EDGE_PROGRAMS)
def test_edge_programs(src, method):
    d = matcalc.derive(src, method=method)
    try:
        d.steps
    except UnsupportedError as err:
        assert method == "jacobian" and "--method backprop" in str(err)
        return
    assert d.verify_steps() <= TOL
    assert _results(d) == set(d.wrt)
    d.text(steps=True), d.markdown(), d.latex(standalone=True), json.dumps(d.to_json(steps=True))
    r = _cli(src, "--steps", "--method", method)
    assert r.exit_code == 0, r.output


def test_delta_counts_every_use_of_a_name():
    """SymPy would absorb H*V into X*W*V; the δ of H still counts that use."""
    d = matcalc.derive("H = X*W; f = sum(exp(H)) + sum(H*V)")
    assert to_unicode(d.deltas["H"], d.names) in ("𝟏𝟏ᵀ Vᵀ + exp(H)", "exp(H) + 𝟏𝟏ᵀ Vᵀ")
    assert "δ_H = 𝟏𝟏ᵀ Vᵀ + exp(H)" in d.text(steps=True) or "δ_H = exp(H) + 𝟏𝟏ᵀ Vᵀ" in d.text(steps=True)
    d = matcalc.derive("r = X*w - y; f = r'*r + r'*y")
    assert "∂f/∂r = 2r + y" in d.text()
    assert "rᵀ r" in d.text() and "rᵀ y" in d.text()     # the user's form, names kept


def test_an_alias_does_not_rename_its_variable():
    d = matcalc.derive("A = X; f = sum(A*w)", wrt=["X", "w"])
    assert "∂f/∂X = 𝟏 wᵀ" in d.text() and "Xᵀ 𝟏" in d.text()
