"""Issue 19, third round of unseen notes (tests/data/t19u_*.md, answer key in tests/t19u_key.py,
written before the notes were run): every claim's verdict, the issue's targets, and the readings
these notes needed (ReLU', a bare σ', δ_{ij}, labels in {0,1}^n, Unicode claims in the prose)."""

import pytest

import matcalc
from matcalc.lang.latex_input import translate

from t19u_key import KEY, C, score

from note_reports import reports_for


@pytest.fixture(scope="module")
def reports():
    return reports_for(KEY)


def test_the_issue_targets(reports):
    s = score(reports)
    assert s["correct_called_wrong"] == 0
    assert s["found_right"] >= 0.9 * s["claims"]
    assert s["wrong_diagnosed"] >= 0.8 * s["wrong"]


@pytest.mark.parametrize("name", sorted(KEY))
def test_each_claim_has_its_verdict(reports, name):
    got = [(c.link_line, c.verdict) for c in reports[name].claims]
    want = [(line, "correct" if w == C else "wrong") for line, w in KEY[name]]
    assert got == want
    assert all(c.diagnosis for c in reports[name].claims if c.verdict == "wrong")


def test_readings():
    assert translate(r"\operatorname{ReLU}'(Z_1)").text == "step(Z1)"
    assert translate(r"\sigma' \odot x", prime_arguments={"sigmoid": "z"}).text == \
        "(sigmoid(z) .* (1 - sigmoid(z))) .* x"
    with pytest.raises(matcalc.errors.ParseError):
        translate(r"\sigma' \odot x")               # which argument is not known: refused


def _claims(note):
    return [(c.link_line, c.verdict) for c in matcalc.check_note(note).claims]


def test_bare_sigma_prime_needs_one_argument():
    one = "$$z = Wx$$\n$$a = \\sigma(z)$$\n$$L = \\frac{1}{2}\\|a - y\\|^2$$\n" \
          "$$\\frac{\\partial L}{\\partial z} = (a - y) \\odot \\sigma'$$\n"
    assert _claims(one) == [(4, "correct")]
    two = "$$z = Wx$$\n$$a = \\sigma(z)$$\n$$u = Va$$\n$$s = \\sigma(u)$$\n$$L = \\frac{1}{2}\\|s - y\\|^2$$\n" \
          "$$\\frac{\\partial L}{\\partial u} = (s - y) \\odot \\sigma'$$\n"
    assert _claims(two) == [(6, "not_checked")]


def test_kronecker_jacobian_entries():
    head = "$$z = Wx$$\n$$p = \\operatorname{softmax}(z)$$\n"
    claims = ["p_i(\\delta_{ij} - p_j)", "p_i \\delta_{ij} - p_i p_j", "\\delta_{ij} p_i - p_j p_i",
              "p_i(\\delta_{ij} + p_j)", "-p_i p_j", "\\delta_{ij} p_i(1 - p_i)"]
    note = head + "".join(f"$$\\frac{{\\partial p_i}}{{\\partial z_j}} = {c}$$\n" for c in claims)
    got = [v for _, v in _claims(note)]
    assert got == ["correct", "correct", "correct", "wrong", "wrong", "wrong"]


def test_labels_in_zero_one_power_n_are_a_vector():
    note = ("$X \\in \\mathbb{R}^{n \\times d}$, $y \\in \\{0,1\\}^n$, $w \\in \\mathbb{R}^d$.\n"
            "$$p = \\sigma(Xw)$$\n$$L = -y^T \\log p - (1 - y)^T \\log(1 - p)$$\n"
            "$$\\nabla_w L = X^T(p - y)$$\n$$\\nabla_w L = X^T(y - p)$$\n")
    assert _claims(note) == [(4, "correct"), (5, "wrong")]


def test_unicode_claims_in_the_prose():
    note = ("$A \\in \\mathbb{R}^{n \\times n}$, $x \\in \\mathbb{R}^n$.\n$$f = x^T A x$$\n"
            "So ∂f/∂x = (A + Aᵀ)x, and not ∂f/∂x = 2Ax.\n")
    report = matcalc.check_note(note)
    assert [(c.link_line, c.verdict) for c in report.claims] == [(3, "correct"), (3, "wrong")]
    assert report.claims[0].claim == "(A + Aᵀ)x"


def test_a_dropped_activation_factor_inside_a_product():
    note = ("$X \\in \\mathbb{R}^{n \\times d}$, $W \\in \\mathbb{R}^{d \\times h}$, $V \\in \\mathbb{R}^{h \\times k}$\n"
            "$$H = \\tanh(XW)$$\n$$L = \\frac{1}{2}\\|HV - Y\\|_F^2$$\n"
            "$$\\frac{\\partial L}{\\partial W} = X^T (HV - Y) V^T$$\n")
    report = matcalc.check_note(note)
    assert report.claims[0].verdict == "wrong"
    assert report.claims[0].diagnosis.startswith("missing factor")


def test_a_product_named_after_the_equations():
    """s = Xw named after p = σ(Xw): ∂L/∂s is judged through the name, both ways."""
    note = ("$X \\in \\mathbb{R}^{n \\times d}$, $y \\in \\mathbb{R}^{n}$, $w \\in \\mathbb{R}^{d}$\n"
            "$$p = \\sigma(Xw)$$\n$$L = -y^T \\log p - (1 - y)^T \\log(1 - p)$$\n"
            "Name $s = Xw$: $\\frac{\\partial L}{\\partial s} = p - y$, not $\\frac{\\partial L}{\\partial s} = y - p$,"
            " and $\\frac{\\partial L}{\\partial w} = X^T(p - y)$.\n")
    assert _claims(note) == [(4, "correct"), (4, "wrong"), (4, "correct")]


def test_a_bias_sized_by_a_weights_rows_stays_a_row():
    """Z = X Wᵀ + b with W ∈ R^{h×d}: h is a weight's row count, not a number of samples."""
    note = ("Rows are samples: $X \\in \\mathbb{R}^{n \\times d}$, $W \\in \\mathbb{R}^{h \\times d}$, "
            "$b \\in \\mathbb{R}^{h}$.\n$$Z = XW^T + b$$\n$$L = \\frac{1}{2}\\|Z\\|_F^2$$\n"
            "$$\\frac{\\partial L}{\\partial W} = Z^T X$$\n$$\\frac{\\partial L}{\\partial W} = X^T Z$$\n")
    assert _claims(note) == [(4, "correct"), (5, "wrong")]


def test_a_size_in_a_claim():
    """1/N where the loss sums: wrong by that factor; where the loss is a mean, 1/N is the size (not judged)."""
    head = "$X \\in \\mathbb{R}^{N \\times D}$, $w \\in \\mathbb{R}^{D}$, $y \\in \\mathbb{R}^{N}$\n"
    summed = head + "$$L = \\frac{1}{2}\\|Xw - y\\|^2$$\n$$\\nabla_w L = \\frac{1}{N}X^T(Xw - y)$$\n"
    report = matcalc.check_note(summed)
    assert report.claims[0].verdict == "wrong" and "factor N" in report.claims[0].diagnosis
    averaged = head + "$$L = \\operatorname{mean}((Xw - y) \\odot (Xw - y))$$\n$$\\nabla_w L = \\frac{2}{N}X^T(Xw - y)$$\n"
    assert matcalc.check_note(averaged).claims[0].verdict != "wrong"


def test_transpose_fonts_and_primed_names():
    assert translate(r"X^\mathsf{T} y").text == translate(r"X^\mathrm{T} y").text == "X' * y"
    assert translate(r"x' - c", known_names={"x_prime"}).text == "x_prime - c"
    assert translate(r"x' - c").text == "x' - c"


def test_a_bracket_open_across_a_line_break():
    note = ("Rows are samples: $X \\in \\mathbb{R}^{n \\times d}$, $W \\in \\mathbb{R}^{d \\times k}$.\n"
            "$$H = \\tanh(XW)$$\n$$L = \\frac{1}{2}\\|H - Y\\|_F^2$$\n"
            "$$\n\\begin{aligned}\n\\frac{\\partial L}{\\partial W} &= X^\\top \\Big[ (H - Y) \\\\\n"
            "&\\qquad \\odot (1 - H \\odot H) \\Big]\n\\end{aligned}\n$$\n"
            "$$\n\\begin{aligned}\n\\frac{\\partial L}{\\partial W} &= X^\\top \\Big[ (H - Y) \\\\\n"
            "&\\qquad \\odot (1 - H) \\Big]\n\\end{aligned}\n$$\n")
    assert _claims(note) == [(6, "correct"), (12, "wrong")]
