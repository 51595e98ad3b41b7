"""Issue 19's measure on notes written with planted mistakes (tests/data/unseen_*.md, answer key
in tests/unseen_key.py): claims found and judged right, wrong ones diagnosed, none called wrong
that holds.  Also the LaTeX pieces these notes use: cases, zero vectors, max, comma lists,
index notation, elided patterns."""

import pytest

import matcalc
from matcalc.errors import ParseError
from matcalc.lang.latex_input import translate
from matcalc.judge.note_check import NoteReport

from unseen_key import BLIND, KEY, score

from note_reports import reports_for


@pytest.fixture(scope="module")
def reports():
    return reports_for(KEY)


def test_blind_notes_meet_the_issue_targets(reports):
    s = score({n: reports[n] for n in BLIND} | {n: NoteReport() for n in KEY if n not in BLIND})
    blind_claims = sum(len(KEY[n]) for n in BLIND)
    blind_wrong = sum(1 for n in BLIND for _, want in KEY[n] if want != "correct")
    assert s["correct_called_wrong"] == 0
    assert s["found_right"] >= 0.9 * blind_claims
    assert s["wrong_diagnosed"] >= 0.8 * blind_wrong


@pytest.mark.parametrize("name", sorted(KEY))
def test_each_claim_has_its_verdict(reports, name):
    got = [(c.link_line, c.verdict) for c in reports[name].claims]
    want = [(line, "correct" if w == "correct" else "wrong") for line, w in KEY[name]]
    assert got == want
    assert all(c.diagnosis for c in reports[name].claims if c.verdict == "wrong")


def test_named_diagnoses(reports):
    diag = {(n, c.link_line, c.claim): c.diagnosis for n, r in reports.items() for c in r.claims}
    assert diag[("unseen_trace_logdet.md", 20, "X^{-1}")].startswith("X⁻¹ where X⁻ᵀ belongs")
    assert diag[("unseen_softmax_rows.md", 26, "P - Y")].startswith("off by a factor n")
    assert diag[("unseen_logreg_cn.md", 28, "p - y")].startswith("not summed over the batch")
    assert diag[("unseen_mlp_columns.md", 25, "W_2^T (s - y)")].startswith("missing factor: ⊙ 1 − tanh")
    assert diag[("unseen_index_columns.md", 17, r"\frac{\partial f}{\partial y_j} x_i")].startswith(
        "read entrywise as ∂f/∂W")


def test_cases_read_as_masks():
    text = translate(r"\begin{cases} 0 & z \leq 0 \\ 1 & z > 0 \end{cases}").text
    assert text == "(step(-((z) - (0))) .* (0) + step((z) - (0)) .* (1))"
    other = translate(r"\begin{cases} 2a & \text{if } z > 0 \\ 0 & \text{otherwise} \end{cases}").text
    assert "1 - (step((z) - (0)))" in other
    with pytest.raises(ParseError, match="'&'"):
        translate(r"\begin{cases} 0 \end{cases}")


def test_relu_claims_by_cases_hold_and_fail():
    note = ("$$z = \\mathbf{w}^T \\mathbf{x} + b$$\n$$a = \\max(0, z)$$\n$$C = (a - y)^2$$\n"
            "$$\\frac{\\partial C}{\\partial b} = \\begin{cases} 0 & z \\leq 0 \\\\ 2(a - y) & z > 0 \\end{cases}$$\n"
            "$$\\frac{\\partial C}{\\partial b} = \\begin{cases} 0 & z \\leq 0 \\\\ 2(y - a) & z > 0 \\end{cases}$$\n"
            "$$\\frac{\\partial C}{\\partial b} = \\begin{cases} 0 & z \\leq 0 \\\\ 2(a - y) & \\text{otherwise} \\end{cases}$$\n")
    report = matcalc.check_note(note)
    assert [c.verdict for c in report.claims] == ["correct", "wrong", "correct"]
    assert "sign" in report.claims[1].diagnosis


def test_zero_vector_max_sum_and_ellipsis():
    assert translate(r"\vec{0}^T + x^T").text == "0 + x'"
    assert translate(r"\max(0, W x)").text == "max(0, W * x)" == translate(r"\max\{0, W x\}").text
    assert translate(r"sum(\mathbf{u})").text == "sum(u)"
    assert translate(r"\mathbf{1} - p").text == "1 - p"
    for tex in (r"x_1 + \cdots + x_n", r"a (b ... c)"):
        with pytest.raises(ParseError, match="elided"):
            translate(tex)
    with pytest.raises(ParseError, match="explicit matrix"):
        translate(r"\begin{bmatrix} a & b \end{bmatrix}")


def test_comma_separated_equations_are_separate():
    note = ("Let $X \\in R^{n \\times d}$, $W \\in R^{d \\times k}$.\n"
            "$$Z = XW, \\quad L = \\frac{1}{2}\\|Z\\|_F^2$$\n"
            "$$\\frac{\\partial L}{\\partial Z} = Z, \\qquad \\frac{\\partial L}{\\partial W} = X^T Z$$\n"
            "$$\\frac{\\partial L}{\\partial W} = Z^T X, \\frac{\\partial L}{\\partial X} = Z W^T$$\n")
    report = matcalc.check_note(note)
    assert [(c.wrt, c.verdict) for c in report.claims] == [("Z", "correct"), ("W", "correct"),
                                                           ("W", "wrong"), ("X", "correct")]
    # a bracket's commas are not a list: diag(a, b) stays one claim (and is not read)
    single = matcalc.check_note("$$y = Wx$$\n$$\\nabla_x f = \\left[W^T \\nabla_y f, 0\\right]$$\n")
    assert len(single.claims) == 1 and single.claims[0].verdict == "not_checked"


def test_index_notation_is_judged_whole():
    note = ("Let $W \\in R^{m \\times n}$, $x \\in R^{n}$.\n$$y = Wx$$\n"
            "$$\\frac{\\partial f}{\\partial x_i} = \\sum_{j=1}^m w_{ji} \\frac{\\partial f}{\\partial y_j}$$\n"
            "$$\\frac{\\partial f}{\\partial x_i} = \\sum_{j} \\frac{\\partial f}{\\partial y_j} w_{i,j}$$\n"
            "$$\\frac{\\partial f}{\\partial w_{ij}} = \\frac{\\partial f}{\\partial y_i} x_j$$\n"
            "$$\\frac{\\partial f}{\\partial w_{ij}} = 2 \\frac{\\partial f}{\\partial y_i} x_j$$\n"
            "$$\\frac{\\partial f}{\\partial w_{ij}} = \\sum_k \\frac{\\partial f}{\\partial y_k} x_j$$\n")
    report = matcalc.check_note(note)
    assert [c.verdict for c in report.claims] == ["correct", "wrong", "correct", "wrong", "not_checked"]
    assert "transpose missing on W" in report.claims[1].diagnosis
    assert "factor" in report.claims[3].diagnosis
    assert report.claims[4].diagnosis.startswith("index notation not read")


def test_identity_E_and_a_derivative_of_an_expression():
    # row vectors (seed 003 style): E is the identity matrix when the note does not define E
    note = ("$x_{1,m}$, $y_{1,m}$ 为行向量。\n$$O = x - y$$\n$$J = \\frac{1}{2} O O^T$$\n"
            "其中 $\\frac{\\partial O}{\\partial x}=E$, $\\frac{\\partial OO^T}{\\partial O}=2O$\n"
            "$$\\frac{\\partial O}{\\partial x} = -E$$\n$$\\frac{\\partial OO^T}{\\partial O} = O$$\n")
    report = matcalc.check_note(note)
    assert [(c.wrt, c.verdict) for c in report.claims] == [("x", "correct"), ("O", "correct"),
                                                           ("x", "wrong"), ("O", "wrong")]
    assert "sign" in report.claims[2].diagnosis and "factor" in report.claims[3].diagnosis


def test_matrix_chain_rule_shorthand():
    note = ("$X \\in R^{n \\times d}$, $W \\in R^{d \\times k}$\n$$Z = XW$$\n$$H = \\tanh(Z)$$\n"
            "$$L = \\|H\\|_F^2$$\n"
            "$$\\frac{\\partial L}{\\partial W} = \\frac{\\partial L}{\\partial Z}\\frac{\\partial Z}{\\partial W}"
            " = X^T \\frac{\\partial L}{\\partial Z}$$\n"
            "$$\\frac{\\partial L}{\\partial W} = \\frac{\\partial L}{\\partial H}\\frac{\\partial Z}{\\partial W}$$\n")
    report = matcalc.check_note(note)
    assert [c.verdict for c in report.claims] == ["correct", "correct", "not_checked"]
    assert "contraction" in report.claims[0].read_as


def test_each_branch_of_cases_is_checked():
    # a scalar kink: enough points land on both sides that a wrong branch cannot pass unseen
    head = "$$z = \\mathbf{w}^T \\mathbf{x} + b$$\n$$a = \\max(0, z)$$\n$$C = (a - y)^2$$\n"
    for branches in ("0 & z \\leq 0 \\\\ 7 & z > 0", "5 & z \\leq 0 \\\\ 2(a-y) & z > 0"):
        note = head + f"$$\\frac{{\\partial C}}{{\\partial b}} = \\begin{{cases}} {branches} \\end{{cases}}$$\n"
        assert [c.verdict for c in matcalc.check_note(note).claims] == ["wrong"]
