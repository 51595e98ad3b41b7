"""Hostile review 3 of check-note: fresh notes with correct claims in unusual but legitimate
notation (bold layer names at a generic layer l, named losses, a gradient through an intermediate,
numerator layout, row batches with \\mathbf names) and a few planted mistakes."""
import os

import pytest

import matcalc

DATA = os.path.join(os.path.dirname(__file__), "data")


def judged(name):
    with open(os.path.join(DATA, name), encoding="utf-8") as fh:
        text = fh.read()
    return text, matcalc.check_note(text)


def verdicts(report):
    return [(c.line, c.verdict) for c in report.claims]


CASES = {
    # generic layer l, bold column vectors: b^l = δ^l holds (the concrete network's leaf is a vector)
    "attack3_layer_l_columns.md": [(9, "correct"), (10, "correct"), (11, "correct"), (12, "correct"),
                                   (15, "wrong")],
    "attack3_softmax_ce_named.md": [(11, "correct"), (12, "correct"), (13, "correct"), (14, "correct"),
                                    (17, "wrong")],
    "attack3_boldsymbol_ridge.md": [(9, "correct"), (10, "correct"), (13, "wrong")],
    "attack3_numerator_layout.md": [(10, "correct"), (11, "correct"), (14, "wrong")],
    # L = -1/N Σ_{i,j} Y_ij log P_ij: \sum_{i,j} is a double sum (it was read as Σ_i over names Y_ij)
    "attack3_column_batch_ce.md": [(9, "correct"), (10, "correct"), (11, "correct"), (14, "wrong")],
    "attack3_trace_cn.md": [(9, "correct"), (10, "correct"), (11, "correct"), (14, "wrong"), (15, "wrong")],
    "attack3_layer_rows_cn.md": [(11, "correct"), (12, "correct"), (13, "correct"), (16, "wrong")],
    "attack3_chain_numerator.md": [(11, "correct"), (12, "correct"), (13, "correct"), (16, "wrong")],
    "attack3_bce_chain.md": [(8, "correct"), (8, "correct"), (8, "correct"), (9, "correct"), (10, "correct"),
                             (13, "wrong")],
    "attack3_mlp_rows_mathbf.md": [(9, "correct"), (10, "correct"), (11, "correct"), (12, "correct"),
                                   (15, "wrong")],
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_verdicts(name):
    _, report = judged(name)
    assert verdicts(report) == CASES[name]


def test_planted_diagnoses():
    assert judged("attack3_softmax_ce_named.md")[1].claims[-1].diagnosis.startswith("wrong sign")
    assert "1/n" in judged("attack3_boldsymbol_ridge.md")[1].claims[-1].diagnosis
    assert judged("attack3_mlp_rows_mathbf.md")[1].claims[-1].diagnosis.startswith("not summed over the batch")
    assert judged("attack3_chain_numerator.md")[1].claims[-1].diagnosis.startswith("a diagonal matrix")
    assert judged("attack3_layer_l_columns.md")[1].claims[-1].diagnosis.startswith("the factors of a product in the wrong order")


def test_printed_forms_read_back_as_correct():
    """The correct form printed for each planted mistake is itself judged correct in the note."""
    for name in ("attack3_softmax_ce_named.md", "attack3_boldsymbol_ridge.md", "attack3_layer_l_columns.md"):
        text, report = judged(name)
        c = report.claims[-1]
        again = matcalc.check_note(text + f"\n\n$$\\frac{{\\partial {c.function}}}{{\\partial {c.wrt}}} = {c.expected}$$\n")
        assert again.claims[-1].verdict == "correct", (name, c.expected, again.claims[-1].diagnosis)


def test_double_sum_with_a_comma_index():
    from matcalc.lang.latex_input import translate
    assert translate(r"\sum_{i,j} Y_{ij} \log P_{ij}", set()).text == "sum(Y .* log(P))"
    assert translate(r"\sum_{i, j}^{n} A_{i,j}", set()).text == "sum(A)"


@pytest.mark.parametrize("tex", [r"\sum_i \sum_j Y_{ij} P_{ji}", r"\sum_{i,j} Y_{ij} P_{ji}"])
def test_double_sum_in_both_index_orders_is_refused(tex):
    """Σ_ij Y_ij P_ji is tr(YP), not Σ Y ⊙ P: refused rather than misread."""
    from matcalc.lang.latex_input import translate
    with pytest.raises(Exception, match="both orders"):
        translate(tex, set())
