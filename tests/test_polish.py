"""Regressions of the hostile review of the integrated tree (branch polish): printed results
read back as claims, 1×1 results without a stray 𝟏/𝕀, check's --diagonal-vector, structure with
Hessians, recurrent named results, step names."""
import json

import numpy as np

import pytest
from click.testing import CliRunner

import matcalc
from matcalc.lang import printing
from matcalc.cli import main


def _run(*args):
    return CliRunner().invoke(main, list(args))


# ---------------------------------------------------------------- size names read back
@pytest.mark.parametrize("expr,wrt,shapes", [
    ("sum(mean(X,2)'*v)", "X", {}),
    ("sum(mean(X,2)'*v)", "v", {}),
    ("sum(mean(X,1)*v)", "X", {"X": ("n", "d"), "v": ("d", 1)}),
    ("mean(X*w)", "w", {"X": ("n", "d"), "w": ("d", 1)}),
    ("mean((X*w - y).^2)", "w", {"X": ("n", "d"), "w": ("d", 1), "y": ("n", 1)}),
])
def test_printed_results_with_sizes_read_back_as_claims(expr, wrt, shapes):
    d = matcalc.derive(expr, wrt=[wrt], shapes=shapes)
    for style in (printing.UNICODE, printing.LANGUAGE):
        text = d.result_text(wrt, style, use_names=False)
        assert matcalc.check(expr, [wrt], text, shapes).verdict == "correct", text


def test_a_size_name_in_a_claim_is_the_size_only_when_not_a_variable():
    assert matcalc.check("sum(mean(X,2)'*v)", ["X"], "v*ones(1,m)/m").verdict == "correct"
    assert matcalc.check("sum(mean(X,2)'*v)", ["X"], "v*ones(1,m)/n").verdict == "wrong"
    # m is a variable of this program, so the sizes are named otherwise and m is the vector
    with pytest.raises(matcalc.MatcalcError):
        matcalc.check("sum(mean(X,2)'*v) + m'*m", ["X"], "v*ones(1,m)/m")
    # an unknown name is still refused, never read as a size
    with pytest.raises(matcalc.MatcalcError):
        matcalc.check("sum(mean(X,2)'*v)", ["X"], "v*ones(1,m)/k")


def test_cli_check_reads_back_the_printed_mean_gradient():
    out = _run("derive", "sum(mean(X,2)'*v)", "--wrt", "X", "--format", "json")
    claim = json.loads(out.output)["wrt"]["X"]["result"]
    res = _run("check", "sum(mean(X,2)'*v)", "--wrt", "X", "--claim", claim)
    assert res.exit_code == 0, res.output


# ---------------------------------------------------------------- 1×1 results
ONE_BY_ONE = [
    ("sum(sigmoid(x))", {"x": (1, 1)}),
    ("sum(X)", {"X": (1, 1)}),
    ("x'*A*x", {"x": (1, 1), "A": (1, 1)}),
    ("sum(X*w)", {"X": (3, 1), "w": (1, 1)}),
    ("sum(exp(W*x))", {"W": (2, 1), "x": (1, 1)}),
]


@pytest.mark.parametrize("expr,shapes", ONE_BY_ONE)
@pytest.mark.parametrize("kw", [{}, {"order": 2}, {"layout": "numerator"}])
def test_one_by_one_results_print_without_a_stray_one(expr, shapes, kw):
    d = matcalc.derive(expr, shapes=shapes, **kw)
    for key, value in d.gradients.items():
        if tuple(getattr(value, "shape", ())) != (1, 1):
            continue
        all_scalar = all(s == (1, 1) for s in shapes.values())   # else 𝟏ᵀX (1×3 times 3×1) is right
        for style, marks in ((printing.UNICODE, ("𝟏", "𝕀")), (printing.LATEX, (r"\mathbf{1}", " I"))):
            text = d.result_text(key, style)
            assert not all_scalar or not any(m in text for m in marks), text
        if not kw:   # the printed text is still the gradient
            text = d.result_text(key, printing.UNICODE, use_names=False)
            assert matcalc.check(expr, [key], text, shapes).verdict == "correct", text
    if all(s == (1, 1) for s in shapes.values()):
        assert "𝕀" not in d.markdown() and "𝟏" not in d.text()


def test_a_one_by_one_factor_in_a_wider_product_is_kept_where_it_is_a_column():
    d = matcalc.derive("sum(X*w)", shapes={"X": (3, 1), "w": (1, 1)})
    assert d.result_text("X") == "w 𝟏"          # a (3×1) column of ones: not a 1×1
    assert d.result_text("w") == "sum(X)"


# ---------------------------------------------------------------- check --diagonal-vector
DIAG = "tr(A*D) + x'*D*x"


@pytest.mark.parametrize("claim,flags,code,says", [
    ("diag(A) + x.*x", ["--diagonal-vector"], 0, "correct"),
    ("diag(A) + x", ["--diagonal-vector"], 1, "wrong"),
    ("diag(diag(A) + x.*x)", ["--diagonal-vector"], 1, "vector of its diagonal"),
    ("diag(diag(A) + x.*x)", [], 0, "correct"),
    ("diag(A) + x.*x", [], 1, "--diagonal-vector asks for the vector"),
])
def test_check_takes_diagonal_vector(claim, flags, code, says):
    res = _run("check", DIAG, "--wrt", "D", "--diagonal", "D", *flags, "--claim", claim)
    assert res.exit_code == code, res.output
    assert says in res.output


def test_diagonal_vector_without_a_diagonal_variable_is_a_user_error():
    for cmd in (["derive", DIAG, "--wrt", "x"], ["check", DIAG, "--wrt", "x", "--claim", "2*D*x"]):
        res = _run(*cmd, "--diagonal-vector")
        assert res.exit_code == 2 and "--diagonal D" not in res.output and "--diagonal NAME" in res.output


def test_library_check_takes_diagonal_vector():
    r = matcalc.check(DIAG, ["D"], "diag(A) + x.*x", structure={"D": "diagonal"}, diagonal_vector=True)
    assert r.verdict == "correct"


# ---------------------------------------------------------------- structure held fixed in Hessians / Jacobians
@pytest.mark.parametrize("expr,wrt,structure,kw", [
    ("x'*A*x", ["x"], {"A": "symmetric"}, {"order": 2}),
    ("x'*inv(S)*x + logdet(S)", ["x"], {"S": "spd"}, {"order": 2}),
    ("x'*D*x + sum(exp(D*x))", ["x"], {"D": "diagonal"}, {"order": 2}),
    ("sigmoid(S*x)", ["x"], {"S": "spd"}, {"layout": "denominator"}),
    ("A*x", ["x"], {"A": "symmetric"}, {"layout": "numerator"}),
])
def test_structure_of_an_undifferentiated_variable_is_allowed_in_hessians_and_jacobians(expr, wrt, structure, kw):
    d = matcalc.derive(expr, wrt=wrt, structure=structure, **kw)
    assert d.check().passed
    assert "held fixed" in d.text()   # the results use the structure: the output says so
    # at structured points the generated result equals finite differences of the unstructured one
    plain = matcalc.derive(expr, wrt=wrt, **kw)
    from matcalc.verify.numeric import DomainSampler
    point = DomainSampler(d.program, seed=5).point()
    a, b = d.to_numpy()(**point), plain.to_numpy()(**point)
    for k in a:
        assert np.allclose(a[k], b[k], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("wrt,kw", [(["A"], {"order": 2}), (["x", "A"], {"order": 2}), (None, {"order": 2}),
                                    (["A"], {"layout": "numerator"})])
def test_a_differentiated_structured_variable_is_still_refused_beyond_gradients(wrt, kw):
    with pytest.raises(matcalc.MatcalcError, match="A is declared symmetric"):
        matcalc.derive("sum(A*x)", wrt=wrt, structure={"A": "symmetric"}, **kw)


# ---------------------------------------------------------------- recurrent JSON "named"
RNN = "h[t] = tanh(x[t]*Wx + h[t-1]*Wh + b); f = sum_t(norm2(h[t]*V - y[t])^2)"
RNN_DIMS = ["--dim", "x=B,D", "--dim", "y=B,K", "--dim", "Wx=D,H", "--dim", "Wh=H,H", "--dim", "b=1,H",
            "--dim", "V=H,K"]


def test_recurrent_json_has_named_results():
    out = json.loads(_run("derive", RNN, *RNN_DIMS, "--wrt", "V", "--wrt", "Wh", "--format", "json").output)
    for name, entry in out["wrt"].items():
        named = entry["named"]
        assert named["result"] == entry["result"]
        defined = [lhs for lhs, _ in named["where"]]
        # every name the result and the rows use is defined, and only rows that are used
        assert "u2[t]" in defined and "delta_u2[t]" in defined
        assert "delta_h[0]" not in defined   # the initial value's delta is not part of these sums
    assert "delta_u1[t]" in [lhs for lhs, _ in out["wrt"]["Wh"]["named"]["where"]]
    assert "delta_h[t]" not in [lhs for lhs, _ in out["wrt"]["V"]["named"]["where"]]


def test_recurrent_named_includes_the_initial_delta_when_the_result_is_it():
    out = json.loads(_run("derive", "--model", "rnn", "--initial", "param", "--wrt", "h0", "--format", "json").output)
    named = out["wrt"]["h0"]["named"]
    assert named["result"] == "delta_h[0]" and named["where"][-1][0] == "delta_h[0]"


# ---------------------------------------------------------------- steps use the results' names
LOGISTIC = "-sum(y .* log(sigmoid(X*w + b)) + (1 - y) .* log(1 - sigmoid(X*w + b)))"
TWO_LAYER = "norm2(sigmoid(W2*sigmoid(W1*x+b1)+b2)-y)^2"


def test_steps_name_values_as_the_results_do():
    d = matcalc.derive(LOGISTIC, wrt=["w", "b"], shapes={"b": ()})
    text = d.text(steps=True)
    assert "where p = sigmoid(Xw + b)" in text and "let p = sigmoid(u1)" in text and "δ_p" in text
    d = matcalc.derive(TWO_LAYER, wrt=["W1", "W2"])
    text = d.text(steps=True)
    assert "let p2 = sigmoid(u1)" in text and "let u2 = W2 p2 + b2" in text and "∂f/∂W2 = δ_u2 p2ᵀ" in text


@pytest.mark.parametrize("method", ["backprop", "trace", "jacobian"])
@pytest.mark.parametrize("expr", [LOGISTIC, TWO_LAYER, "sum(softmax(W*x) .* y) + norm2(softmax(W*x))^2",
                                  "sum(tanh(A*x) .* tanh(A*x)) + sum(inv(B) * x)"])
def test_named_steps_still_hold_and_define_names_before_use(expr, method):
    import re
    shapes = {"b": ()} if expr == LOGISTIC else {}
    d = matcalc.derive(expr, shapes=shapes, method=method)
    if method == "jacobian" and any(getattr(v, "shape", (1, 1))[1] != 1 for v in d.program.variables.values()):
        return
    assert d.verify_steps() < 1e-6
    defined = set(d.program.variables)
    for name, value, _ in d.definitions:
        text = printing.Printer(printing.LANGUAGE, {k: v for k, v in d.step_names.items() if k != value})(value)
        for used in set(re.findall(r"[A-Za-z_]\w*", text)) - {"sigmoid", "tanh", "softmax", "inv", "ones", "eye",
                                                             "log", "exp", "sum", "diag", "norm2", "tr"}:
            assert used in defined, (name, text)
        defined.add(name)
    d.markdown()
    d.latex(steps=True)
    d.to_json(steps=True)


def test_expand_keeps_matcalcs_stage_names_in_steps():
    d = matcalc.derive(LOGISTIC, wrt=["w", "b"], shapes={"b": ()}, expand=True)
    assert "let u2 = sigmoid(u1)" in d.text(steps=True)


# ---------------------------------------------------------------- found by the attack
def _fd_hessian_ok(expr, shapes, wrt):
    from fd import fd_jacobian, rel_err
    from matcalc.verify.numeric import DomainSampler
    d = matcalc.derive(expr, shapes=shapes, wrt=[wrt])
    h = matcalc.derive(expr, shapes=shapes, wrt=[wrt], order=2)
    point = DomainSampler(d.program, seed=1).point()
    grad = d.to_numpy()
    J = fd_jacobian(lambda **a: np.asarray(grad(**a)[wrt], float), point, wrt)
    return rel_err(np.asarray(h.to_numpy()(**point)[wrt]).reshape(J.shape), J)


@pytest.mark.parametrize("expr,shapes,wrt", [
    ("norm2(x/norm2(x) - y)^2", {"x": (3, 1), "y": (3, 1)}, "x"),
    ("norm2(X/norm2(X) - Y)^2", {"X": (2, 3), "Y": (2, 3)}, "X"),
])
def test_a_norm_power_left_inside_a_product_is_a_coefficient(expr, shapes, wrt):
    """The Hessian's code (and the steps' check) crashed on ‖x‖⁴·unit(x)·A: a scalar that the
    unit-vector absorption left inside a matrix product."""
    assert _fd_hessian_ok(expr, shapes, wrt) < 1e-5
    d = matcalc.derive(expr, shapes=shapes)
    assert d.verify_steps() < 1e-6


@pytest.mark.parametrize("expr", ["sum(exp(x) .* exp(-x))", "sum(sigmoid(x) + sigmoid(-x))"])
def test_a_zero_gradient_reads_back(expr):
    d = matcalc.derive(expr, shapes={"x": (3, 1)})
    assert d.result_text("x") == "0"
    assert matcalc.check(expr, ["x"], "0", {"x": (3, 1)}).verdict == "correct"
    assert matcalc.check(expr + " + x'*x", ["x"], "0", {"x": (3, 1)}).verdict == "wrong"


@pytest.mark.parametrize("program,where", [
    ("sum(inv(A-A)*x)", "inv() of zero"), ("inv(a-a)*b", "inv() of zero"), ("sum(inv(0*A)*x)", "inv() of zero"),
    ("(a-a)^(-1)*b", "division by zero"), ("b*(a-a)^-b", "divides by zero"),
])
def test_inverses_of_zero_are_user_errors(program, where):
    for args in (["derive", program], ["derive", program, "--check"]):
        res = _run(*args)
        assert res.exit_code == 2 and where in res.output and "internal" not in res.output, res.output


def test_a_claim_inverting_zero_or_a_singular_matrix_is_judged_not_crashed():
    res = _run("check", "x'*A*x", "--wrt", "x", "--claim", "inv(A-A)*x")
    assert res.exit_code == 2 and "inv() of zero" in res.output
    res = _run("check", "x'*A*x", "--wrt", "x", "--claim", "inv(x*x')*x")   # singular at every point
    assert res.exit_code == 1 and "wrong" in res.output


def test_latex_lambda_is_the_variable_lambda():
    res = _run("derive", r"\frac{1}{2}\|Xw - y\|_2^2 + \lambda \|w\|^2", "--latex-input", "--wrt", "w",
               "--scalar", "lambda", "--check")
    assert res.exit_code == 0 and "λ_" not in res.output and "2λ w" in res.output, res.output
    res = _run("check", r"\lambda x^T x", "--latex-input", "--scalar", "λ", "--wrt", "x", "--claim-latex", r"2\lambda x")
    assert res.exit_code == 0, res.output


def test_a_size_that_is_also_a_variable_is_refused():
    """x/n with --dim x=n,1 and a scalar n printed n𝟏/n: which n is which cannot be read back."""
    res = _run("derive", "mean(x)*n", "--dim", "x=n,1", "--dim", "n=")
    assert res.exit_code == 2 and "names both a value of the program and a size" in res.output
    res = _run("derive", "n = x'*x; f = n*sum(x)", "--dim", "x=n,1")
    assert res.exit_code == 2
    assert _run("derive", "mean(x)*n", "--dim", "x=m,1", "--dim", "n=").exit_code == 0
    with pytest.raises(matcalc.MatcalcError, match="names both"):
        matcalc.check("mean(x)*n", ["x"], "n*ones(n,1)/n", {"x": ("n", 1), "n": ()})


def test_a_latex_program_with_an_index_sum_is_refused_without_internal_names():
    for args in (["derive", r"\sum_i (x_i - \mu)^2", "--latex-input"],
                 ["check", r"h = XW \\ f = \sum_i \|h_i - y_i\|^2", "--latex-input", "--wrt", "W", "--claim", "W"]):
        res = _run(*args)
        assert res.exit_code == 2 and "__" not in res.output and r"\sum_i" in res.output, res.output


def test_a_juxtaposition_never_spells_another_variable():
    """With variables X, w and Xw, X·w printed 'Xw' read back as the variable Xw (and the check's
    'correct form' equalled the wrong claim's text)."""
    shapes = {"X": (2, 2), "w": (2, 1), "Xw": (2, 1)}
    program = "norm2(X*w)^2 + sum(Xw)"
    d = matcalc.derive(program, shapes=shapes, wrt=["X", "w"])
    assert d.text().splitlines()[0] == "f = ‖X w‖^2 + sum(Xw)"
    for name in ("X", "w"):
        text = d.result_text(name)
        assert "Xw" not in text
        assert matcalc.check(program, [name], text, shapes).verdict == "correct"
    r = matcalc.check(program, ["X"], "2Xw wᵀ", shapes)   # the variable Xw: wrong, and said so distinctly
    assert r.verdict == "wrong" and r.expected_unicode == "2X w wᵀ"
    assert matcalc.derive("norm2(X*w - y)^2", wrt=["w"]).result_text("w") == "2Xᵀ(Xw − y)"


def test_generated_code_does_not_choose_display_names():
    """Choosing the results' names prints every candidate (42 s on a 101-statement chain): code
    generation and the check must not pay for it."""
    d = matcalc.derive(TWO_LAYER, wrt=["W1", "W2"])
    d.numpy_source()
    d.check()
    assert getattr(d, "_chosen", None) is None
    assert "let p2 = sigmoid(u1)" in d.text(steps=True)   # the steps still use them


def test_a_latex_outer_product_with_a_ones_row_is_refused_clearly():
    res = _run("check", "sum(mean(X,2)'*v)", "--wrt", "X", "--claim-latex", r"\frac{1}{m} v \mathbf{1}^{T}")
    assert res.exit_code == 2 and "outer product" in res.output
    assert _run("check", "sum(X*w)", "--wrt", "w", "--claim-latex", r"X^T \mathbf{1}").exit_code == 0
