"""Hostile review of check-note: notes with correct claims written in unusual but legitimate
ways (never called wrong), planted mistakes (caught), and the 'correct form' it prints, which
must itself be judged correct when written back into the note."""
import os

import pytest

import matcalc

DATA = os.path.join(os.path.dirname(__file__), "data")


def note(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as fh:
        return fh.read()


def verdicts(report):
    return [(c.link_line, c.verdict) for c in report.claims]


def expected_reads_back(text, report):
    """Each printed correct form, written back as a claim of the note, is judged correct."""
    for c in report.claims:
        if not c.expected:
            continue
        again = matcalc.check_note(text + f"\n\n$$\\frac{{\\partial {c.function}}}{{\\partial {c.wrt}}} = {c.expected}$$\n")
        assert again.claims[-1].verdict == "correct", (c.line, c.expected, again.claims[-1].diagnosis)


def test_ridge_cn_keeps_the_scalar_numerator_of_a_fraction():
    text = note("attack2_ridge_cn.md")
    report = matcalc.check_note(text)
    assert verdicts(report) == [(8, "correct"), (9, "correct"), (9, "correct"), (10, "wrong")]
    assert report.claims[0].expected.startswith(r"\frac{2}{N}")
    expected_reads_back(text, report.claims[-1:] and report)


@pytest.mark.parametrize("name", ["attack2_logreg_thin_space.md", "attack2_logreg_label_prose.md"])
def test_logistic_label_is_a_number(name):
    """'\\,' is a space, not a comma of an equation list; a label y (0 or 1) next to a scalar
    ŷ = σ(wᵀx + b) is a number: the loss ℓ stays a scalar (else correct claims fail to multiply)."""
    report = matcalc.check_note(note(name))
    assert verdicts(report) == [(8, "correct"), (9, "correct"), (9, "correct"), (10, "correct"),
                                (11, "correct"), (12, "wrong")]
    assert report.claims[1].claim == r"(\hat{y} - y) x"       # not cut at "\,"
    assert report.claims[-1].diagnosis.startswith("wrong sign")


def test_ones_row_sum_in_a_definition():
    """L = 1/n 1ᵀ(e ⊙ e): the all-ones row sums in the problem too, not only in claims."""
    report = matcalc.check_note(note("attack2_mean_ones_sum.md"))
    assert verdicts(report) == [(7, "correct"), (8, "correct"), (8, "not_checked"), (9, "correct"),
                                (10, "correct"), (11, "wrong")]
    assert report.claims[-1].diagnosis.startswith("off by a constant factor")


def test_undeclared_scalar_factor_in_a_note_with_declarations():
    report = matcalc.check_note(note("attack2_quadratic_scalar.md"))
    assert verdicts(report) == [(7, "correct"), (7, "correct"), (8, "correct"), (9, "correct"), (10, "wrong")]


def test_unbraced_transpose_before_a_letter():
    """X^TX is Xᵀ X (TeX takes one token after ^), not a name X_TX."""
    from matcalc.lang.latex_input import translate
    assert translate(r"X^TX\mathbf{w} - a^Tb").text == "X' * X * w - a' * b"
    report = matcalc.check_note(note("attack2_ridge_chain.md"))
    assert verdicts(report) == [(7, "correct"), (7, "correct"), (7, "correct"), (8, "wrong")]


def test_sample_rows_prose_with_column_equations():
    """'one sample per row' beside X w with w \\in R^D: the equations decide (columns); \\sum_i p_i
    over a vector's entries sums them all."""
    report = matcalc.check_note(note("attack2_logreg_sample_rows.md"))
    assert report.convention == "column vectors"
    assert verdicts(report) == [(8, "correct"), (9, "correct"), (9, "correct"), (10, "not_checked"), (11, "wrong")]
    assert report.claims[-1].diagnosis.startswith("a transpose missing on X")


def test_double_index_sum_loss():
    """L = -1/N Σ_i Σ_j Y_ij log P_ij: every entry; the correct form names Y, not Y_{ij}."""
    text = note("attack2_softmax_double_sum.md")
    report = matcalc.check_note(text)
    assert verdicts(report) == [(14, "correct"), (15, "correct"), (15, "correct"), (16, "correct"),
                                (17, "correct"), (19, "wrong"), (20, "wrong")]
    assert report.claims[-1].diagnosis.startswith("not summed over the batch")
    assert all("_{ij}" not in c.expected for c in report.claims)
    expected_reads_back(text, report)


def test_hat_names_survive_in_the_diagnosis():
    report = matcalc.check_note(note("attack2_mlp_rows_cn.md"))
    assert [c.verdict for c in report.claims] == ["correct"] * 4 + ["wrong"]
    assert "(Y\u0302 - Y)" in report.claims[-1].diagnosis      # Ŷ, not Y - Y


def test_indicator_and_step_masks():
    """𝟙[z > 0], 𝟙_{z ≥ 0}, \\mathrm{step}(z): the ReLU mask, as cases already read."""
    from matcalc.lang.latex_input import translate
    assert translate(r"g \odot \mathbb{1}[z > 0]").text == "g .* step((z) - (0))"
    assert translate(r"\mathbb{1}_{z \leq 0}").text == "step(-((z) - (0)))"
    assert translate(r"\mathbf{1}^T(p - y)").text == "sumrows__((p - y))"      # still a sum
    report = matcalc.check_note(note("attack2_relu_indicator.md"))
    assert verdicts(report) == [(7, "correct"), (8, "not_checked"), (9, "correct"), (10, "wrong")]


def test_accent_over_bold_and_printed_forms_read_back():
    """\\tilde{\\mathbf{h}} is a name; the correct form names it once (no \\mathbf{{\\mathbf{h}}}),
    and its entrywise power ^{\\circ 2} reads back."""
    from matcalc.lang.latex_input import translate
    assert translate(r"\tilde{\mathbf{h}} - \mathbf{\hat{y}}").text == "h_tilde - y_hat"
    assert translate(r"1 - \tanh(c)^{\circ 2}").text == "1 - tanh(c) .^ 2"
    gru = note("attack2_gru_step_cn.md")
    report = matcalc.check_note(gru)
    assert [c.verdict for c in report.claims] == ["correct"] * 4 + ["wrong"]
    assert report.claims[-1].expected == r"({\tilde{\mathbf{h}}} - {\mathbf{h}_{prev}}) \odot {\mathbf{u}}"
    lstm = note("attack2_lstm_cell.md")
    report = matcalc.check_note(lstm)
    assert [c.verdict for c in report.claims] == ["correct"] * 4 + ["wrong"]
    assert report.claims[-1].diagnosis.startswith("missing factor")
    expected_reads_back(lstm, report)
    expected_reads_back(gru, report=matcalc.check_note(gru))


def test_sum_over_steps_of_a_written_step_loss():
    """L_t written, L = Σ_t L_t: Σ_t (ŷ_t − y_t)h_tᵀ for the output weights is judged (V does not
    feed the recurrence); the transposed summand is caught."""
    report = matcalc.check_note(note("attack2_rnn_step_loss.md"))
    assert verdicts(report) == [(9, "correct"), (10, "correct"), (11, "wrong")]
    assert "transposed" in report.claims[-1].diagnosis


def test_hadamard_before_a_product_is_read_both_ways():
    """(1 − a²) ⊙ (ŷ − y)W₂ᵀ does not multiply left to right; read as A ⊙ (B C) it is the right
    gradient: correct, never 'shapes that cannot match'.  The mask dropped is still wrong."""
    report = matcalc.check_note(note("attack2_layers_rows_cn.md"))
    assert verdicts(report) == [(12, "correct"), (13, "correct"), (14, "correct"), (15, "correct"),
                                (16, "correct"), (18, "wrong"), (19, "wrong")]
    assert "looser" in report.claims[4].read_as
    assert report.claims[-1].diagnosis.startswith("wrong sign")


@pytest.mark.parametrize("name, want", [
    ("attack2_symmetric_quadratic.md", [(7, "correct"), (7, "correct")]),
    ("attack2_symmetric_cn.md", [(7, "correct")]),
    ("attack2_symmetric_logdet.md", [(7, "correct"), (8, "correct"), (9, "wrong"), (10, "wrong")]),
])
def test_matrices_stated_symmetric(name, want):
    """S = Sᵀ, 'symmetric', 对称, positive definite: 2Sx and Σ⁻¹ hold; planted mistakes still fail."""
    assert verdicts(matcalc.check_note(note(name))) == want


def test_symmetry_is_read_only_for_the_named_matrix():
    from matcalc.judge.note_model import _Note
    text = "Let $\\Sigma \\in R^{d \\times d}$ be symmetric positive definite and $S \\in R^{d \\times d}$.\n$$f = x$$"
    assert _Note(text, None).symmetric == {"Sigma"}
    assert _Note("$$A = A^T$$ and $B^{\\top} = B$; $C$ is general.", None).symmetric == {"A", "B"}


def test_bias_repeated_by_a_ones_row():
    """Z = WX + b1ᵀ (samples as columns): b repeated in every column; its gradient (Z − Y)1/m,
    and the unsummed one is 'not summed over the batch'.  A lone 1ᵀ is still refused."""
    from matcalc.errors import ParseError
    from matcalc.lang.latex_input import translate
    assert translate(r"WX + \mathbf{b}\mathbf{1}^T", bias_columns=True).text == "W * X + bcast__(b)"
    with pytest.raises(ParseError, match="outer product"):          # in a claim: refused clearly
        translate(r"\frac{1}{m} v \mathbf{1}^{T}")
    with pytest.raises(ParseError, match="all-ones row"):
        translate(r"x + \mathbf{1}^T")
    report = matcalc.check_note(note("attack2_column_batch.md"))
    assert verdicts(report) == [(8, "correct"), (9, "correct"), (10, "not_checked"), (11, "correct"),
                                (12, "wrong"), (13, "wrong")]
    assert report.claims[4].diagnosis.startswith("not summed over the batch")


def test_unicode_claims_and_a_layout_named_on_the_claims_line():
    """$∂f/∂A = CBᵀ$ in inline math; 'Row layout (numerator): … = BCᵀ' is read in numerator layout."""
    report = matcalc.check_note(note("attack2_unicode_layout_line.md"))
    assert verdicts(report) == [(7, "correct"), (7, "correct"), (7, "correct"), (9, "correct"), (10, "correct")]
    assert report.claims[3].layout == "numerator"      # line 10's ∂f/∂A = CBᵀ is typed in the prose


def test_hostile_inputs_are_bounded_and_explained(tmp_path):
    """Deep nesting is a reason, never a traceback; binary and empty notes exit 2 with one line."""
    import subprocess
    import sys
    import time
    start = time.time()
    deep = "$$L = \\|Xw - y\\|^2$$\n$$\\frac{\\partial L}{\\partial w} = " + "\\frac{" * 400 + "x" + "}{2}" * 400 + "$$\n"
    braces = "$$" + "{" * 5000 + "x" + "}" * 5000 + "$$\n$$" + "(" * 3000 + "x" + ")" * 3000 + " = 1$$\n"
    report = matcalc.check_note(deep + braces)
    assert [c.verdict for c in report.claims] == ["not_checked"]
    assert "nested" in report.claims[0].diagnosis
    assert time.time() - start < 30
    for name, data in (("bin.md", bytes(range(256)) * 4), ("empty.md", b"   \n")):
        path = tmp_path / name
        path.write_bytes(data)
        out = subprocess.run([sys.executable, "-m", "matcalc", "check-note", str(path)],
                             capture_output=True, text=True, timeout=120)
        assert out.returncode == 2 and out.stderr.count("\n") == 1 and "Traceback" not in out.stderr


def test_bold_vectors_are_never_read_as_numbers():
    """An undeclared bold v stays a vector (the note writes its vectors bold), so diag(v)1·2 reads."""
    report = matcalc.check_note(note("attack2_bold_vector_kept.md"))
    assert verdicts(report) == [(7, "correct"), (8, "correct"), (9, "correct"), (10, "wrong")]
