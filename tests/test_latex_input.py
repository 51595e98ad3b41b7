"""LaTeX input: translation of the note subset, numerical agreement with the language, errors."""
import pytest

import matcalc
from matcalc.errors import ParseError
from matcalc.lang.latex_input import latex_to_language, translate

CASES = [
    (r"2X^T(Y_{pred}-Y)W_2^T \odot sigmoid'(h)",
     "2 * X' * (Y_pred - Y) * W2' .* (sigmoid(h) .* (1 - sigmoid(h)))"),
    (r"2h_{sigmoid}^T[(Y_{pred}-Y)]", "2 * h_sigmoid' * (Y_pred - Y)"),
    (r"||Y-Y_{pred}||^2_F", "norm2(Y - Y_pred)^2"),
    (r"\lVert Y - XW \rVert_F^2", "norm2(Y - X * W)^2"),
    (r"X^{-T} + W^{-1}", "inv(X)' + inv(W)"),
    (r"\operatorname{tr}(A^\top X)", "tr((A' * X))"),
    (r"\tanh^2(C^\tau)", "tanh(C_tau) .^ 2"),
    (r"\big(x^{(l)}-y\big)\odot f^\prime\big(u^{(l)}\big)", "(x_l - y) .* (1 - tanh(u_l) .^ 2)"),
    (r"\frac{1}{2}\|a - b\|_2^2", "1 / 2 * norm2(a - b)^2"),
    (r"\delta_2 * [a^1]^T_{colN(W^2)*1}", "delta2 * a1'"),
    (r"XW1 + b1", "X * W1 + b1"),
]


@pytest.mark.parametrize("tex,lang", CASES)
def test_translation(tex, lang):
    assert translate(tex, known_names={"a1"}).text == lang


def test_claim_latex_is_checked_numerically():
    good = matcalc.check("norm2(X*W - Y)^2", ["W"], latex_to_language(r"2X^{\top}(XW - Y)"))
    assert good.verdict == "correct"
    bad = matcalc.check("norm2(X*W - Y)^2", ["W"], latex_to_language(r"2(XW - Y)^T X"))
    assert bad.verdict == "wrong" and any("transpose" in d for d in bad.diagnosis)
    logdet = matcalc.check("logdet(X)", ["X"], latex_to_language(r"X^{-T}"))
    assert logdet.verdict == "correct"


def test_program_from_latex():
    src = latex_to_language(r"h = \sigma(XW_1 + b_1) \\ f = \|hW_2 - Y\|_F^2")
    assert src == "h = sigmoid((X * W1 + b1))\nf = norm2(h * W2 - Y)^2"
    d = matcalc.derive(src, wrt=["W1"], shapes={"b1": (1, "k")})
    assert d.check().passed


@pytest.mark.parametrize("tex,where", [(r"2X^T \star Y", 5), (r"\frac{1}{2}\lVert X", 19),
                                       (r"norm(X)", 0), (r"W^{1/2}", 2)])
def test_errors_point_at_the_token(tex, where):
    with pytest.raises(ParseError) as info:
        translate(tex)
    assert info.value.pos == where


@pytest.mark.parametrize("tex,lang", [
    (r"X^{\mathsf{T}}Y", "X' * Y"), (r"\frac12 \|Xw\|^2", "1 / 2 * norm2(X * w)^2"),
    (r"\log \det X", "log(det(X))"), (r"W^{(2)T}", "W2'"), (r"a^{[l-1]T} \delta^{[l]}", "a_lm1' * delta_l"),
    (r"\boldsymbol{\delta}^{(l)} \odot \sigma'(\mathbf{z}^{(l)})", "delta_l .* (sigmoid(z_l) .* (1 - sigmoid(z_l)))"),
    (r"\frac{\partial}{\partial w}(w^T x)", None),
])
def test_more_notation(tex, lang):
    if lang is None:
        seen = []
        out = translate(tex, derivative=lambda num, den, nabla: seen.append((num, den)) or "G").text
        assert out == "G" and seen == [(r"\partial (w^T x)", r"\partial w")]
    else:
        assert translate(tex).text == lang


@pytest.mark.parametrize("tex,lang", [
    # shape subscripts on a name and on an all-ones vector (1_{k,1} a column, 1_{1,k} a row)
    (r"\frac{\exp a_{1,k}}{\exp a 1_{k,1}}", "exp(a) / sumcols__(exp(a))"),
    (r"1_{1,n} A", "sumrows__(A)"),
    # an unbraced superscript takes one token, as in TeX: e^z1_{k,1} is e^{z} 1_{k,1}
    (r"e^z1_{k,1}", "sumcols__(exp(z))"), (r"e^{z1}", "exp(z1)"),
])
def test_shape_subscripts_and_one_token_superscripts(tex, lang):
    assert translate(tex, {"a", "z"}).text == lang


def test_ones_declared_a_row():
    """A note whose 1 is an all-ones row: 1^T is a column, a bare 1 beside an operand that row."""
    from matcalc.lang.latex_input import ONES_ROW
    token = ONES_ROW.set(True)
    try:
        assert translate(r"\frac{e^z}{e^z 1^T}", {"z"}).text == "exp(z) / sumcols__(exp(z))"
        # 1 s y^T = s (1 y^T): the row times the whole product after it, not 1 s alone
        assert translate(r"1\ln(e^z1^T)y^T", {"z", "y"}).text == "sumrows__(log(sumcols__(exp(z))) * y')"
        assert translate(r"1 - h^2", {"h"}).text == "1 - h .^ 2"            # a number where nothing multiplies
        assert translate(r"a 1_{k,1}", {"a"}).text == "sumcols__(a)"         # a size still says a column
    finally:
        ONES_ROW.reset(token)
    assert translate(r"\mathbf{1}^T A").text == "sumrows__(A)"               # otherwise 1 is a column
