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
